/* System calls on fds and the control messages around them. */
#include "native.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

uds_config U;

/* The head of CPython's PySocketSockObject (Modules/socketmodule.h, unchanged
 * from 3.9 to 3.13). It is read only after setup() has compared it with what
 * fileno(), family and gettimeout() report on live sockets; otherwise every
 * socket object goes to the Python twin. */
typedef struct {
    PyObject_HEAD
    int sock_fd;
    int sock_family;
    int sock_type;
    int sock_proto;
    PyObject *(*errorhandler)(void);
    int64_t sock_timeout; /* nanoseconds; -1 blocking, 0 non-blocking */
} socket_mirror;

int
uds_socket_object_fd(PyObject *sock)
{
    return ((socket_mirror *)sock)->sock_fd;
}

PyObject *
uds_set_errno(int error)
{
    errno = error;
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* Fill ref from an int fd, a socket object or anything with fileno().
 * Returns 0, SOCK_FALLBACK (the Python twin decides: odd input, a socket with a
 * timeout, whose waiting CPython does) or SOCK_ERROR (fileno() raised). */
int
uds_sock_ref(PyObject *sock, sock_ref *ref)
{
    ref->is_socket_object = 0;
    ref->family = 0;
    ref->type = 0;
    ref->timeout = -1;
    if (!U.ready) {
        PyErr_SetString(PyExc_RuntimeError, "uds._native is used before uds._impl set it up");
        return SOCK_ERROR;
    }
    if (PyLong_CheckExact(sock)) {
        int overflow;
        long value = PyLong_AsLongAndOverflow(sock, &overflow);
        if (overflow || value < 0 || value > INT_MAX) {
            PyErr_Clear();
            return SOCK_FALLBACK;
        }
        ref->fd = (int)value;
        return 0;
    }
    if (PyObject_TypeCheck(sock, U.socket_type)) {
        socket_mirror *mirror = (socket_mirror *)sock;
        if (!U.sock_layout_ok || mirror->sock_timeout > 0) {
            return SOCK_FALLBACK;
        }
        /* A closed socket has fd -1: the system call then fails with EBADF, as CPython's does. */
        ref->fd = mirror->sock_fd;
        ref->is_socket_object = 1;
        ref->family = mirror->sock_family;
        ref->type = mirror->sock_type;
        ref->timeout = mirror->sock_timeout;
        return 0;
    }
    PyObject *method = PyObject_GetAttrString(sock, "fileno");
    if (method == NULL) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            return SOCK_FALLBACK;
        }
        return SOCK_ERROR;
    }
    PyObject *number = PyObject_CallNoArgs(method);
    Py_DECREF(method);
    if (number == NULL) {
        return SOCK_ERROR;
    }
    int result = SOCK_FALLBACK;
    if (PyLong_CheckExact(number)) {
        int overflow;
        long value = PyLong_AsLongAndOverflow(number, &overflow);
        if (!overflow && value >= 0 && value <= INT_MAX) {
            ref->fd = (int)value;
            result = 0;
        }
        PyErr_Clear();
    }
    Py_DECREF(number);
    return result;
}

/* 0 when ref is an AF_UNIX socket, SOCK_FALLBACK otherwise (the twin explains). */
int
uds_check_unix(const sock_ref *ref)
{
    if (ref->is_socket_object) {
        return ref->family == AF_UNIX ? 0 : SOCK_FALLBACK;
    }
#ifdef SO_DOMAIN
    int family = 0;
    socklen_t size = sizeof(family);
    if (getsockopt(ref->fd, SOL_SOCKET, SO_DOMAIN, &family, &size) != 0 || family != AF_UNIX) {
        return SOCK_FALLBACK;
    }
#endif
    return 0;
}

PyObject *
uds_call_twin(const char *name, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (!U.ready) {
        PyErr_SetString(PyExc_RuntimeError, "uds._native is used before uds._impl set it up");
        return NULL;
    }
    PyObject *twin = PyObject_GetAttrString(U.twins, name);
    if (twin == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_Vectorcall(twin, args, (size_t)nargs, kwnames);
    Py_DECREF(twin);
    return result;
}

/* Copy a list or tuple of plain int fds into out. Returns 0, or SOCK_FALLBACK
 * for anything else (other iterables, bools, fileno() objects, out of range,
 * too many): the twin converts those or raises the error that explains. */
int
uds_pack_fds(PyObject *fds, int *out, Py_ssize_t *count)
{
    if (!PyList_CheckExact(fds) && !PyTuple_CheckExact(fds)) {
        return SOCK_FALLBACK;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fds);
    if (n > U.scm_max_fd) {
        return SOCK_FALLBACK;
    }
    PyObject **items = PySequence_Fast_ITEMS(fds);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyLong_CheckExact(items[i])) {
            return SOCK_FALLBACK;
        }
        int overflow;
        long value = PyLong_AsLongAndOverflow(items[i], &overflow);
        if (overflow || value < 0 || value > INT_MAX) {
            PyErr_Clear();
            return SOCK_FALLBACK;
        }
        out[i] = (int)value;
    }
    *count = n;
    return 0;
}

/* The mode for a call on ref: only socket objects say whether their fd
 * blocks. A send may be tried with MSG_DONTWAIT first only where it is all or
 * nothing (datagram, seqpacket): a stream send could go out in part. */
uds_io_mode
uds_sock_mode(const sock_ref *ref, int atomic)
{
    if (!ref->is_socket_object) {
        return UDS_IO_RELEASE;
    }
    if (ref->timeout == 0) {
        return UDS_IO_HOLD;
    }
    if (atomic || ref->type == SOCK_SEQPACKET || ref->type == SOCK_DGRAM) {
        return UDS_IO_TRY_FIRST;
    }
    return UDS_IO_RELEASE;
}

/* The mode of a seqpacket object's socket (CPython's timeout 0 = O_NONBLOCK). */
uds_io_mode
uds_socket_object_mode(PyObject *sock)
{
    return ((socket_mirror *)sock)->sock_timeout == 0 ? UDS_IO_HOLD : UDS_IO_TRY_FIRST;
}

static int
is_would_block(int error)
{
    return error == EAGAIN || error == EWOULDBLOCK;
}

/* Run call(context, flags) as mode says; retry after EINTR once signal
 * handlers have run (PEP 475). Releasing the GIL costs about as much as a
 * small send: where the fd blocks, the call is first tried with MSG_DONTWAIT
 * (the data or the room is usually there), and only if it would block does
 * the thread wait without the GIL. Returns the count, -1 with *error set, or
 * -2 when a signal handler raised (its exception is set). */
Py_ssize_t
uds_io(uds_io_call call, void *context, int flags, uds_io_mode mode, int *error)
{
    if (mode != UDS_IO_RELEASE) {
        /* MSG_DONTWAIT in both modes: even an fd whose O_NONBLOCK was cleared
         * behind CPython's back never blocks while this thread holds the GIL. */
        int first = flags | MSG_DONTWAIT;
        for (;;) {
            Py_ssize_t n = call(context, first);
            int saved = errno;
            if (n >= 0) {
                return n;
            }
            if (saved == EINTR) {
                if (PyErr_CheckSignals() < 0) {
                    return -2;
                }
                continue;
            }
            if (mode == UDS_IO_HOLD || (flags & MSG_DONTWAIT) || !is_would_block(saved)) {
                *error = saved;
                return -1;
            }
            break; /* a blocking fd with nothing to do yet: wait below */
        }
    }
    for (;;) {
        Py_ssize_t n;
        int saved;
        Py_BEGIN_ALLOW_THREADS
        n = call(context, flags);
        saved = errno;
        Py_END_ALLOW_THREADS
        if (n >= 0) {
            return n;
        }
        if (saved != EINTR) {
            *error = saved;
            return -1;
        }
        if (PyErr_CheckSignals() < 0) {
            return -2;
        }
    }
}

typedef struct {
    int fd;
    struct msghdr *msg;
} msg_call;

static Py_ssize_t
call_sendmsg(void *context, int flags)
{
    msg_call *c = context;
    return sendmsg(c->fd, c->msg, flags);
}

static Py_ssize_t
call_recvmsg(void *context, int flags)
{
    msg_call *c = context;
    return recvmsg(c->fd, c->msg, flags);
}

Py_ssize_t
uds_sendmsg(int fd, struct msghdr *msg, int flags, uds_io_mode mode, int *error)
{
    msg_call context = {fd, msg};
    return uds_io(call_sendmsg, &context, flags, mode, error);
}

Py_ssize_t
uds_recvmsg(int fd, struct msghdr *msg, int flags, uds_io_mode mode, int *error)
{
    msg_call context = {fd, msg};
    return uds_io(call_recvmsg, &context, flags, mode, error);
}

void
uds_build_rights(struct msghdr *msg, void *control, const int *fds, Py_ssize_t count)
{
    if (count == 0) {
        msg->msg_control = NULL;
        msg->msg_controllen = 0;
        return;
    }
    size_t size = (size_t)count * sizeof(int);
    memset(control, 0, CMSG_SPACE(size));
    msg->msg_control = control;
    msg->msg_controllen = CMSG_SPACE(size);
    struct cmsghdr *header = CMSG_FIRSTHDR(msg);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(size);
    memcpy(CMSG_DATA(header), fds, size);
}

Py_ssize_t
uds_fds_space(int max_fds)
{
    return U.unsolicited_space + (max_fds ? (Py_ssize_t)CMSG_SPACE((size_t)max_fds * sizeof(int)) : 0);
}

/* max_fds as a C int when it is a plain int in 0..SCM_MAX_FD, else -1 (the twin explains). */
int
uds_max_fds_arg(PyObject *arg)
{
    if (!PyLong_CheckExact(arg)) {
        return -1;
    }
    int overflow;
    long value = PyLong_AsLongAndOverflow(arg, &overflow);
    if (overflow || value < 0 || value > U.scm_max_fd) {
        PyErr_Clear();
        return -1;
    }
    return (int)value;
}

/* The bytes of a control message's payload that are inside the buffer. */
static size_t
payload_length(const struct msghdr *msg, const struct cmsghdr *header)
{
    const char *end = (const char *)msg->msg_control + msg->msg_controllen;
    const char *data = (const char *)CMSG_DATA(header);
    if (header->cmsg_len < CMSG_LEN(0) || data > end) {
        return 0;
    }
    size_t length = header->cmsg_len - CMSG_LEN(0);
    size_t available = (size_t)(end - data);
    return length < available ? length : available;
}

static int
carries_fds(const struct cmsghdr *header)
{
    return header->cmsg_level == SOL_SOCKET &&
           (header->cmsg_type == SCM_RIGHTS ||
            (U.scm_pidfd >= 0 && header->cmsg_type == U.scm_pidfd));
}

static void
close_quietly(int fd)
{
    if (fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
}

void
uds_close_control_fds(struct msghdr *msg)
{
    if (msg->msg_controllen == 0) {
        return;
    }
    for (struct cmsghdr *h = CMSG_FIRSTHDR(msg); h != NULL; h = CMSG_NXTHDR(msg, h)) {
        if (carries_fds(h)) {
            size_t count = payload_length(msg, h) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int fd;
                memcpy(&fd, (char *)CMSG_DATA(h) + i * sizeof(int), sizeof(int));
                close_quietly(fd);
            }
        }
    }
}

/* The rules of uds._cmsg.parse_fds: the fds of every SCM_RIGHTS message in
 * order; pidfds (and anything else that installs fds) closed; fds past max_fds
 * closed and reported as truncation, as is MSG_CTRUNC; FD_CLOEXEC set where
 * the OS cannot do it on receipt. On failure every fd is closed. */
PyObject *
uds_collect_fds(struct msghdr *msg, int msg_flags, int max_fds)
{
    int fds[UDS_CONTROL_MAX / sizeof(int)];
    Py_ssize_t count = 0;
    int truncated = (msg_flags & U.msg_ctrunc) != 0;
    if (msg->msg_controllen > 0) {
        for (struct cmsghdr *h = CMSG_FIRSTHDR(msg); h != NULL; h = CMSG_NXTHDR(msg, h)) {
            if (!carries_fds(h)) {
                continue;
            }
            size_t n = payload_length(msg, h) / sizeof(int);
            int rights = h->cmsg_type == SCM_RIGHTS;
            for (size_t i = 0; i < n; i++) {
                int fd;
                memcpy(&fd, (char *)CMSG_DATA(h) + i * sizeof(int), sizeof(int));
                if (!rights) {
                    close_quietly(fd); /* a pidfd recv_fds did not ask for (or -errno) */
                } else if (count < max_fds) {
                    fds[count++] = fd;
                } else {
                    close_quietly(fd);
                    truncated = 1;
                }
            }
        }
    }
    if (!(U.recv_flags & MSG_CMSG_CLOEXEC)) {
        for (Py_ssize_t i = 0; i < count; i++) {
            fcntl(fds[i], F_SETFD, fcntl(fds[i], F_GETFD) | FD_CLOEXEC);
        }
    }
    PyTypeObject *type = U.received_fds_type;
    PyObject *result = type->tp_alloc(type, 0);
    if (result == NULL) {
        goto fail;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *number = PyLong_FromLong(fds[i]);
        if (number == NULL || PyList_Append(result, number) < 0) {
            Py_XDECREF(number);
            Py_DECREF(result);
            goto fail;
        }
        Py_DECREF(number);
    }
    if (truncated && PyObject_SetAttrString(result, "truncated", Py_True) < 0) {
        Py_DECREF(result);
        goto fail;
    }
    return result;
fail:
    for (Py_ssize_t i = 0; i < count; i++) {
        close_quietly(fds[i]);
    }
    return NULL;
}

/* A direct-mapped cache from sun_path bytes to UnixSocketAddr objects: servers
 * look up the same few addresses (their own, each client's) over and over. */
#define ADDR_CACHE_SLOTS 64

typedef struct {
    socklen_t length;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    PyObject *addr;
} addr_slot;

static addr_slot addr_cache[ADDR_CACHE_SLOTS];

/* A slot from the length and the last bytes: names of one service differ at
 * the end (a counter, a pid), and memcmp confirms every hit anyway. */
static unsigned
addr_hash(const char *bytes, socklen_t length)
{
    uint32_t hash = 2166136261u ^ (uint32_t)length;
    socklen_t from = length > 8 ? length - 8 : 0;
    for (socklen_t i = from; i < length; i++) {
        hash = (hash ^ (unsigned char)bytes[i]) * 16777619u;
    }
    return hash % ADDR_CACHE_SLOTS;
}

/* What CPython's getsockname() returns for this address, then
 * UnixSocketAddr.from_std of it (which also fills the Python-side cache). */
PyObject *
uds_unix_addr(const struct sockaddr_un *addr, socklen_t len)
{
    socklen_t offset = (socklen_t)offsetof(struct sockaddr_un, sun_path);
    socklen_t length = len > offset ? len - offset : 0;
    if (length > (socklen_t)sizeof(addr->sun_path)) {
        length = (socklen_t)sizeof(addr->sun_path);
    }
    addr_slot *slot = &addr_cache[addr_hash(addr->sun_path, length)];
    if (slot->addr != NULL && slot->length == length &&
        memcmp(slot->path, addr->sun_path, (size_t)length) == 0) {
        Py_INCREF(slot->addr);
        return slot->addr;
    }
    PyObject *std;
#ifdef __linux__
    if (length > 0 && addr->sun_path[0] == '\0') {
        std = PyBytes_FromStringAndSize(addr->sun_path, length);
    } else
#endif
    {
        size_t text = strnlen(addr->sun_path, (size_t)length);
        std = PyUnicode_DecodeFSDefaultAndSize(addr->sun_path, (Py_ssize_t)text);
    }
    if (std == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_CallOneArg(U.addr_from_std, std);
    Py_DECREF(std);
    if (result == NULL) {
        return NULL;
    }
    Py_XSETREF(slot->addr, Py_NewRef(result));
    slot->length = length;
    memcpy(slot->path, addr->sun_path, (size_t)length);
    return result;
}

/* Close every fd in list (plain ints >= 0; -1 marks a taken slot), empty it,
 * then raise the first error: one bad fd never keeps the others open. */
int
uds_close_list(PyObject *list)
{
    int first_error = 0;
    Py_ssize_t n = PyList_GET_SIZE(list);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        long fd = PyLong_AsLong(item);
        if (fd == -1 && PyErr_Occurred()) {
            return -1; /* not an int: nothing was closed past this point */
        }
        if (fd < 0 || fd > INT_MAX) {
            continue;
        }
        if (close((int)fd) != 0 && errno != EINTR && first_error == 0) {
            first_error = errno;
        }
    }
    if (PyList_SetSlice(list, 0, n, NULL) < 0) {
        return -1;
    }
    if (first_error) {
        uds_set_errno(first_error);
        return -1;
    }
    return 0;
}
