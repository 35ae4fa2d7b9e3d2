/* The extension functions' fast paths: same signatures as uds.ext, on any
 * socket object, fileno() object or int fd. Whatever leaves the fast path
 * (keywords, odd types, a socket with a timeout, a non-unix socket) is handed
 * to the pure-Python twin of the same name, which does the work or raises. */
#include "native.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>

#define TWIN(name) return uds_call_twin(name, args, nargs, kwnames)

typedef union {
    struct cmsghdr align;
    char bytes[UDS_CONTROL_MAX];
} control_buffer;

/* sendmsg for send_fds. On a blocking stream socket the call is first tried
 * with MSG_DONTWAIT under the GIL like the others; if only part of the data
 * fits, the rest follows (without the fds, which went with the first byte)
 * in blocking sends, as one blocking sendmsg would have done. */
static Py_ssize_t
send_all_or_part(sock_ref ref, struct msghdr *msg, struct iovec *iov, int *error)
{
    uds_io_mode mode = uds_sock_mode(&ref, 0);
    if (mode != UDS_IO_RELEASE || !ref.is_socket_object || ref.timeout >= 0) {
        return uds_sendmsg(ref.fd, msg, U.send_flags, mode, error);
    }
    Py_ssize_t sent = uds_sendmsg(ref.fd, msg, U.send_flags, UDS_IO_TRY_FIRST, error);
    size_t total = iov->iov_len;
    msg->msg_control = NULL;
    msg->msg_controllen = 0;
    while (sent > 0 && (size_t)sent < total) {
        struct iovec rest = {(char *)iov->iov_base + sent, total - (size_t)sent};
        msg->msg_iov = &rest;
        Py_ssize_t more = uds_sendmsg(ref.fd, msg, U.send_flags, UDS_IO_RELEASE, error);
        msg->msg_iov = iov;
        if (more == -2) {
            return -2;
        }
        if (more <= 0) {
            break; /* report what went out; the error repeats on the next call */
        }
        sent += more;
    }
    return sent;
}

static PyObject *
ext_send_fds(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)module;
    if (kwnames != NULL || nargs != 3) {
        TWIN("send_fds");
    }
    sock_ref ref;
    int status = uds_sock_ref(args[0], &ref);
    if (status == SOCK_ERROR) {
        return NULL;
    }
    int fds[UDS_CONTROL_MAX / sizeof(int)];
    Py_ssize_t count = 0;
    if (status == SOCK_FALLBACK || uds_pack_fds(args[2], fds, &count) != 0 ||
        (count > 0 && uds_check_unix(&ref) != 0)) {
        TWIN("send_fds");
    }
    Py_buffer data;
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        TWIN("send_fds");
    }
    if (data.len == 0) {
        /* Empty data: the twin decides (stream sockets refuse fds without bytes). */
        PyBuffer_Release(&data);
        TWIN("send_fds");
    }
    control_buffer control;
    struct iovec iov = {data.buf, (size_t)data.len};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    uds_build_rights(&msg, &control, fds, count);
    int error = 0;
    Py_ssize_t sent = send_all_or_part(ref, &msg, &iov, &error);
    PyBuffer_Release(&data);
    if (sent == -2) {
        return NULL;
    }
    if (sent < 0) {
        return uds_set_errno(error);
    }
    return PyLong_FromSsize_t(sent);
}

/* recvmsg for recv_fds and recv_fds_into: into buf, with room for max_fds fds. */
static PyObject *
receive_with_fds(int fd, char *buf, Py_ssize_t len, int max_fds, uds_io_mode mode,
                 Py_ssize_t *received)
{
    control_buffer control;
    struct iovec iov = {buf, (size_t)len};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = &control;
    msg.msg_controllen = (size_t)uds_fds_space(max_fds);
    int error = 0;
    Py_ssize_t n = uds_recvmsg(fd, &msg, U.recv_flags, mode, &error);
    if (n == -2) {
        return NULL;
    }
    if (n < 0) {
        return uds_set_errno(error);
    }
    *received = n;
    return uds_collect_fds(&msg, msg.msg_flags, max_fds);
}

static PyObject *
ext_recv_fds(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)module;
    if (kwnames != NULL || nargs != 3 || !PyLong_CheckExact(args[1])) {
        TWIN("recv_fds");
    }
    sock_ref ref;
    int status = uds_sock_ref(args[0], &ref);
    if (status == SOCK_ERROR) {
        return NULL;
    }
    Py_ssize_t bufsize = PyLong_AsSsize_t(args[1]);
    int max_fds = uds_max_fds_arg(args[2]);
    if (status == SOCK_FALLBACK || bufsize < 0 || max_fds < 0 ||
        (max_fds > 0 && uds_check_unix(&ref) != 0)) {
        PyErr_Clear();
        TWIN("recv_fds");
    }
    PyObject *data = PyBytes_FromStringAndSize(NULL, bufsize);
    if (data == NULL) {
        return NULL;
    }
    Py_ssize_t n = 0;
    PyObject *fds = receive_with_fds(ref.fd, PyBytes_AS_STRING(data), bufsize, max_fds,
                                     uds_sock_mode(&ref, 1), &n);
    if (fds == NULL) {
        Py_DECREF(data);
        return NULL;
    }
    if (n != bufsize && _PyBytes_Resize(&data, n) < 0) {
        uds_close_list(fds);
        Py_DECREF(fds);
        return NULL;
    }
    PyObject *result = PyTuple_New(2);
    if (result == NULL) {
        uds_close_list(fds);
        Py_DECREF(fds);
        Py_DECREF(data);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, data);
    PyTuple_SET_ITEM(result, 1, fds);
    return result;
}

static PyObject *
ext_recv_fds_into(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)module;
    if (kwnames != NULL || nargs != 3) {
        TWIN("recv_fds_into");
    }
    sock_ref ref;
    int status = uds_sock_ref(args[0], &ref);
    if (status == SOCK_ERROR) {
        return NULL;
    }
    int max_fds = uds_max_fds_arg(args[2]);
    if (status == SOCK_FALLBACK || max_fds < 0 || (max_fds > 0 && uds_check_unix(&ref) != 0)) {
        TWIN("recv_fds_into");
    }
    Py_buffer buffer;
    if (PyObject_GetBuffer(args[1], &buffer, PyBUF_WRITABLE) < 0) {
        PyErr_Clear();
        TWIN("recv_fds_into");
    }
    Py_ssize_t n = 0;
    PyObject *fds =
        receive_with_fds(ref.fd, buffer.buf, buffer.len, max_fds, uds_sock_mode(&ref, 1), &n);
    PyBuffer_Release(&buffer);
    if (fds == NULL) {
        return NULL;
    }
    PyObject *count = PyLong_FromSsize_t(n);
    PyObject *result = count == NULL ? NULL : PyTuple_New(2);
    if (result == NULL) {
        Py_XDECREF(count);
        uds_close_list(fds);
        Py_DECREF(fds);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, count);
    PyTuple_SET_ITEM(result, 1, fds);
    return result;
}

typedef int (*name_getter)(int, struct sockaddr *, socklen_t *);

static PyObject *
unix_name(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, const char *twin,
          name_getter getter)
{
    sock_ref ref;
    int status = nargs == 1 && kwnames == NULL ? uds_sock_ref(args[0], &ref) : SOCK_FALLBACK;
    if (status == SOCK_ERROR) {
        return NULL;
    }
    if (status == SOCK_FALLBACK || (ref.is_socket_object && ref.family != AF_UNIX)) {
        return uds_call_twin(twin, args, nargs, kwnames);
    }
    union {
        struct sockaddr_un un;
        char bytes[sizeof(struct sockaddr_un) + 1];
    } addr;
    memset(&addr, 0, sizeof(addr));
    socklen_t len = sizeof(struct sockaddr_un);
    if (getter(ref.fd, (struct sockaddr *)&addr.un, &len) != 0) {
        return uds_set_errno(errno);
    }
    if (addr.un.sun_family != AF_UNIX) {
        return uds_call_twin(twin, args, nargs, kwnames);
    }
    return uds_unix_addr(&addr.un, len);
}

static PyObject *
ext_local_unix_addr(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)module;
    return unix_name(args, nargs, kwnames, "local_unix_addr", getsockname);
}

static PyObject *
ext_peer_unix_addr(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)module;
    return unix_name(args, nargs, kwnames, "peer_unix_addr", getpeername);
}

static PyObject *
ext_close_fds(PyObject *module, PyObject *list)
{
    (void)module;
    if (!PyList_Check(list)) {
        PyErr_Format(PyExc_TypeError, "close_fds() takes a list, not %.100s",
                     Py_TYPE(list)->tp_name);
        return NULL;
    }
    if (uds_close_list(list) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* bind(2)/connect(2) with a sockaddr_un built here, so that a path may fill
 * all of sun_path without a NUL (108 bytes on Linux), which CPython refuses.
 * raw is the sun_path content: a path, or a NUL and an abstract name. */
static int
sockaddr_from_raw(PyObject *raw, struct sockaddr_un *addr, socklen_t *len)
{
    if (!PyBytes_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "the address must be bytes");
        return -1;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(raw);
    if (size < 1 || (size_t)size > sizeof(addr->sun_path)) {
        PyErr_Format(PyExc_ValueError, "an address of %zd bytes does not fit in sun_path", size);
        return -1;
    }
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, PyBytes_AS_STRING(raw), (size_t)size);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)size);
    return 0;
}

static PyObject *
ext_bind_unix(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    sock_ref ref;
    struct sockaddr_un addr;
    socklen_t len;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "bind_unix(sock, raw) takes 2 arguments");
        return NULL;
    }
    int status = uds_sock_ref(args[0], &ref);
    if (status == SOCK_ERROR || sockaddr_from_raw(args[1], &addr, &len) < 0) {
        return NULL;
    }
    if (status == SOCK_FALLBACK) {
        PyErr_SetString(PyExc_TypeError, "bind_unix() needs a socket or an fd");
        return NULL;
    }
    if (bind(ref.fd, (struct sockaddr *)&addr, len) != 0) {
        return uds_set_errno(errno);
    }
    Py_RETURN_NONE;
}

static PyObject *
ext_connect_unix(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    sock_ref ref;
    struct sockaddr_un addr;
    socklen_t len;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "connect_unix(sock, raw) takes 2 arguments");
        return NULL;
    }
    int status = uds_sock_ref(args[0], &ref);
    if (status == SOCK_ERROR || sockaddr_from_raw(args[1], &addr, &len) < 0) {
        return NULL;
    }
    if (status == SOCK_FALLBACK) {
        PyErr_SetString(PyExc_TypeError, "connect_unix() needs a socket or an fd");
        return NULL;
    }
    int result, error = 0;
    Py_BEGIN_ALLOW_THREADS
    result = connect(ref.fd, (struct sockaddr *)&addr, len);
    error = errno;
    Py_END_ALLOW_THREADS
    if (result != 0 && error == EINTR) {
        /* The connection goes on: wait for it as CPython does, then read its outcome. */
        if (PyErr_CheckSignals() < 0) {
            return NULL;
        }
        struct pollfd poller = {ref.fd, POLLOUT, 0};
        int ready;
        do {
            Py_BEGIN_ALLOW_THREADS
            ready = poll(&poller, 1, -1);
            error = errno;
            Py_END_ALLOW_THREADS
            if (ready < 0 && error == EINTR && PyErr_CheckSignals() < 0) {
                return NULL;
            }
        } while (ready < 0 && error == EINTR);
        socklen_t size = sizeof(error);
        if (ready < 0 || getsockopt(ref.fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) {
            return uds_set_errno(errno);
        }
        result = error ? -1 : 0;
    }
    if (result != 0) {
        return uds_set_errno(error);
    }
    Py_RETURN_NONE;
}

/* ReceivedFds.close, installed on the class by uds._impl: close() without a Python frame. */
static PyObject *
received_fds_close(PyObject *self, PyObject *unused)
{
    (void)unused;
    if (uds_close_list(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyMethodDef uds_received_fds_methods[] = {
    {"close", received_fds_close, METH_NOARGS,
     "close($self, /)\n--\n\nClose every fd not yet taken; safe to call more than once."},
    {NULL, NULL, 0, NULL},
};

static PyObject *
ext_send_many(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)module;
    if (kwnames != NULL || nargs != 2) {
        TWIN("send_many");
    }
    sock_ref ref;
    int status = uds_sock_ref(args[0], &ref);
    if (status == SOCK_ERROR) {
        return NULL;
    }
    if (status == SOCK_FALLBACK || (!PyList_CheckExact(args[1]) && !PyTuple_CheckExact(args[1]))) {
        TWIN("send_many");
    }
    int would_block = 0;
    PyObject *sent =
        uds_send_many(ref.fd, args[1], U.send_flags, uds_sock_mode(&ref, 0), &would_block);
    if (sent == Py_None) {
        Py_DECREF(sent);
        TWIN("send_many"); /* something the fast path does not take: the twin explains */
    }
    if (sent != NULL && would_block && PyLong_AsSsize_t(sent) == 0) {
        Py_DECREF(sent);
        return uds_set_errno(EAGAIN);
    }
    return sent;
}

static PyObject *
ext_recv_many(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)module;
    if (kwnames != NULL || nargs < 3 || nargs > 4 || !PyLong_CheckExact(args[1]) ||
        !PyLong_CheckExact(args[2])) {
        TWIN("recv_many");
    }
    sock_ref ref;
    int status = uds_sock_ref(args[0], &ref);
    if (status == SOCK_ERROR) {
        return NULL;
    }
    Py_ssize_t bufsize = PyLong_AsSsize_t(args[1]);
    Py_ssize_t max_packets = PyLong_AsSsize_t(args[2]);
    int max_fds = nargs == 4 ? uds_max_fds_arg(args[3]) : 0;
    if (status == SOCK_FALLBACK || bufsize < 0 || max_packets < 1 || max_packets > 1024 ||
        max_fds < 0) {
        PyErr_Clear();
        TWIN("recv_many");
    }
    int would_block = 0;
    PyObject *packets =
        uds_recv_many(ref.fd, bufsize, max_packets, max_fds, 1, U.recv_flags | U.msg_waitforone,
                      uds_sock_mode(&ref, 1), &would_block);
    if (packets == Py_None) {
        Py_DECREF(packets);
        TWIN("recv_many");
    }
    if (packets == NULL && would_block) {
        return uds_set_errno(EAGAIN);
    }
    return packets;
}

PyMethodDef uds_ext_methods[] = {
    {"send_fds", (PyCFunction)(void (*)(void))ext_send_fds, METH_FASTCALL | METH_KEYWORDS,
     "send_fds(sock, data, fds): see uds.send_fds."},
    {"recv_fds", (PyCFunction)(void (*)(void))ext_recv_fds, METH_FASTCALL | METH_KEYWORDS,
     "recv_fds(sock, bufsize, max_fds): see uds.recv_fds."},
    {"recv_fds_into", (PyCFunction)(void (*)(void))ext_recv_fds_into,
     METH_FASTCALL | METH_KEYWORDS, "recv_fds_into(sock, buffer, max_fds): see uds.recv_fds_into."},
    {"local_unix_addr", (PyCFunction)(void (*)(void))ext_local_unix_addr,
     METH_FASTCALL | METH_KEYWORDS, "local_unix_addr(sock): see uds.local_unix_addr."},
    {"peer_unix_addr", (PyCFunction)(void (*)(void))ext_peer_unix_addr,
     METH_FASTCALL | METH_KEYWORDS, "peer_unix_addr(sock): see uds.peer_unix_addr."},
    {"bind_unix", (PyCFunction)(void (*)(void))ext_bind_unix, METH_FASTCALL,
     "bind_unix(sock, raw): bind(2) to the sun_path bytes raw (a path may fill sun_path)."},
    {"connect_unix", (PyCFunction)(void (*)(void))ext_connect_unix, METH_FASTCALL,
     "connect_unix(sock, raw): connect(2) to the sun_path bytes raw."},
    {"close_fds", (PyCFunction)ext_close_fds, METH_O,
     "close_fds(list): close every fd >= 0 in list, empty it, then raise the first error."},
    {"send_many", (PyCFunction)(void (*)(void))ext_send_many, METH_FASTCALL | METH_KEYWORDS,
     "send_many(sock, packets): see uds.send_many."},
    {"recv_many", (PyCFunction)(void (*)(void))ext_recv_many, METH_FASTCALL | METH_KEYWORDS,
     "recv_many(sock, bufsize, max_packets, max_fds=0): see uds.recv_many."},
    {NULL, NULL, 0, NULL},
};
