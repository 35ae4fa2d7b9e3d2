/* The seqpacket types' data methods, so that conn.send() reaches the system
 * call without a Python frame in between.
 *
 * SocketSlots holds the two attributes every seqpacket object has (_sock, the
 * _socket.socket that owns the fd, and _state, the shared BlockingState);
 * SeqpacketIO adds the data methods. The Python classes in uds._seqpacket*
 * derive from them. A call that would block asks the Python side what to do
 * (self._blocked: raise BlockingIOError, or wait for the timeout and retry
 * with MSG_DONTWAIT); odd arguments go to the pure-Python twin
 * (uds._seqpacket_io.SeqpacketIO), which raises what CPython would. */
#include "native.h"

#include <errno.h>
#include <string.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyObject *sock;
    PyObject *state;
} SocketSlots;

typedef union {
    struct cmsghdr align;
    char bytes[UDS_CONTROL_MAX];
} control_buffer;

static int
slots_traverse(SocketSlots *self, visitproc visit, void *arg)
{
    Py_VISIT(self->sock);
    Py_VISIT(self->state);
    return 0;
}

static int
slots_clear(SocketSlots *self)
{
    Py_CLEAR(self->sock);
    Py_CLEAR(self->state);
    return 0;
}

static void
slots_dealloc(SocketSlots *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    slots_clear(self);
    type->tp_free((PyObject *)self);
}

static PyMemberDef slots_members[] = {
    {"_sock", T_OBJECT_EX, offsetof(SocketSlots, sock), 0, "the _socket.socket that owns the fd"},
    {"_state", T_OBJECT_EX, offsetof(SocketSlots, state), 0, "the BlockingState clones share"},
    {NULL, 0, 0, 0, NULL},
};

PyTypeObject uds_SocketSlots_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "uds._native.SocketSlots",
    .tp_basicsize = sizeof(SocketSlots),
    .tp_dealloc = (destructor)slots_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The _sock and _state slots of every seqpacket object.",
    .tp_traverse = (traverseproc)slots_traverse,
    .tp_clear = (inquiry)slots_clear,
    .tp_members = slots_members,
    .tp_new = PyType_GenericNew,
};

/* self's fd, or -1 with *fallback set when the twin must handle the call;
 * *mode says how its system calls run (a seqpacket send is all or nothing). */
static int
own_fd(SocketSlots *self, int *fallback, uds_io_mode *mode)
{
    *fallback = !U.ready || self->sock == NULL || !U.sock_layout_ok ||
                !PyObject_TypeCheck(self->sock, U.socket_type);
    if (*fallback) {
        return -1;
    }
    *mode = uds_socket_object_mode(self->sock);
    return uds_socket_object_fd(self->sock);
}

typedef struct {
    int fd;
    void *buf;
    size_t len;
} buffer_call;

static Py_ssize_t
call_send(void *context, int flags)
{
    buffer_call *c = context;
    return send(c->fd, c->buf, c->len, flags);
}

static Py_ssize_t
call_recv(void *context, int flags)
{
    buffer_call *c = context;
    return recv(c->fd, c->buf, c->len, flags);
}

/* The pure-Python twin of a method, called with self in front of args. */
static PyObject *
twin_method(const char *name, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
            PyObject *kwnames)
{
    if (!U.ready) {
        PyErr_SetString(PyExc_RuntimeError, "uds._native is used before uds._impl set it up");
        return NULL;
    }
    Py_ssize_t total = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
    PyObject *small[8];
    PyObject **stack = total + 1 <= 8 ? small : PyMem_New(PyObject *, total + 1);
    if (stack == NULL) {
        return PyErr_NoMemory();
    }
    stack[0] = self;
    for (Py_ssize_t i = 0; i < total; i++) {
        stack[i + 1] = args[i];
    }
    PyObject *result = NULL;
    PyObject *cls = PyObject_GetAttrString(U.twins, "SeqpacketIO");
    PyObject *method = cls ? PyObject_GetAttrString(cls, name) : NULL;
    if (method != NULL) {
        result = PyObject_Vectorcall(method, stack, (size_t)(nargs + 1), kwnames);
    }
    Py_XDECREF(method);
    Py_XDECREF(cls);
    if (stack != small) {
        PyMem_Free(stack);
    }
    return result;
}

#define TWIN(name) return twin_method(name, (PyObject *)self, args, nargs, kwnames)

/* The call would block: raise BlockingIOError if MSG_DONTWAIT was asked for,
 * else let self._blocked() raise or wait, then call self.<name>(*retry_args). */
static PyObject *
would_block(SocketSlots *self, int error, int flags, int reading, const char *name,
            PyObject *retry_args)
{
    if (flags & U.msg_dontwait) {
        return uds_set_errno(error);
    }
    PyObject *method = PyObject_GetAttrString((PyObject *)self, name);
    if (method == NULL) {
        return NULL;
    }
    PyObject *head = Py_BuildValue("(OsO)", reading ? Py_True : Py_False,
                                   reading ? "recv" : "send", method);
    Py_DECREF(method);
    if (head == NULL) {
        return NULL;
    }
    PyObject *all = PySequence_Concat(head, retry_args);
    Py_DECREF(head);
    if (all == NULL) {
        return NULL;
    }
    PyObject *blocked = PyObject_GetAttrString((PyObject *)self, "_blocked");
    PyObject *result = blocked ? PyObject_CallObject(blocked, all) : NULL;
    Py_XDECREF(blocked);
    Py_DECREF(all);
    return result;
}

static int
is_would_block(int error)
{
    return error == EAGAIN || error == EWOULDBLOCK;
}

/* An optional int argument (flags, nbytes): 0 when absent, -1 when it is not a plain int. */
static int
int_arg(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t index, long *value)
{
    *value = 0;
    if (nargs <= index) {
        return 0;
    }
    if (!PyLong_CheckExact(args[index])) {
        return -1;
    }
    int overflow;
    *value = PyLong_AsLongAndOverflow(args[index], &overflow);
    if (overflow || *value < INT_MIN || *value > INT_MAX) {
        PyErr_Clear();
        return -1;
    }
    return 0;
}

static PyObject *
io_send(SocketSlots *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    long flags;
    int fallback;
    uds_io_mode mode;
    int fd = own_fd(self, &fallback, &mode);
    if (fallback || kwnames != NULL || nargs < 1 || nargs > 2 ||
        int_arg(args, nargs, 1, &flags) < 0) {
        TWIN("send");
    }
    Py_buffer data;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        TWIN("send");
    }
    int error = 0;
    buffer_call context = {fd, data.buf, (size_t)data.len};
    Py_ssize_t n = uds_io(call_send, &context, (int)flags | U.seqpacket_send_flags, mode, &error);
    PyBuffer_Release(&data);
    if (n >= 0) {
        return PyLong_FromSsize_t(n);
    }
    if (n == -2) {
        return NULL;
    }
    if (!is_would_block(error)) {
        return uds_set_errno(error);
    }
    PyObject *retry = Py_BuildValue("(Ol)", args[0], flags | U.msg_dontwait);
    if (retry == NULL) {
        return NULL;
    }
    PyObject *result = would_block(self, error, (int)flags, 0, "send", retry);
    Py_DECREF(retry);
    return result;
}

/* recv(2) into buf: the count, -1 with an exception set, or -3 for EAGAIN. */
static Py_ssize_t
receive(int fd, char *buf, Py_ssize_t len, int flags, uds_io_mode mode, int *error)
{
    buffer_call context = {fd, buf, (size_t)len};
    Py_ssize_t n = uds_io(call_recv, &context, flags, mode, error);
    if (n >= 0 || n == -2) {
        return n == -2 ? -1 : n;
    }
    if (is_would_block(*error)) {
        return -3;
    }
    uds_set_errno(*error);
    return -1;
}

static PyObject *
recv_impl(SocketSlots *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
          const char *name, long extra_flags)
{
    long flags;
    int fallback;
    uds_io_mode mode;
    int fd = own_fd(self, &fallback, &mode);
    if (fallback || kwnames != NULL || nargs < 1 || nargs > (extra_flags ? 1 : 2) ||
        !PyLong_CheckExact(args[0]) || int_arg(args, nargs, 1, &flags) < 0) {
        TWIN(name);
    }
    flags |= extra_flags;
    Py_ssize_t bufsize = PyLong_AsSsize_t(args[0]);
    if (bufsize <= 0) {
        /* CPython returns b"" for 0 without a system call; negative sizes are errors. */
        PyErr_Clear();
        TWIN(name);
    }
    PyObject *data = PyBytes_FromStringAndSize(NULL, bufsize);
    if (data == NULL) {
        return NULL;
    }
    int error;
    Py_ssize_t n = receive(fd, PyBytes_AS_STRING(data), bufsize, (int)flags, mode, &error);
    if (n >= 0) {
        if (n != bufsize && _PyBytes_Resize(&data, n) < 0) {
            return NULL;
        }
        return data;
    }
    Py_DECREF(data);
    if (n == -1) {
        return NULL;
    }
    /* peek retries through recv, with MSG_PEEK among the flags. */
    PyObject *retry = Py_BuildValue("(Ol)", args[0], flags | U.msg_dontwait);
    if (retry == NULL) {
        return NULL;
    }
    PyObject *result = would_block(self, error, (int)flags, 1, "recv", retry);
    Py_DECREF(retry);
    return result;
}

static PyObject *
io_recv(SocketSlots *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return recv_impl(self, args, nargs, kwnames, "recv", 0);
}

static PyObject *
io_peek(SocketSlots *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return recv_impl(self, args, nargs, kwnames, "peek", U.msg_peek);
}

static PyObject *
io_recv_into(SocketSlots *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    long nbytes, flags;
    int fallback;
    uds_io_mode mode;
    int fd = own_fd(self, &fallback, &mode);
    if (fallback || kwnames != NULL || nargs < 1 || nargs > 3 ||
        int_arg(args, nargs, 1, &nbytes) < 0 || int_arg(args, nargs, 2, &flags) < 0 ||
        nbytes < 0) {
        TWIN("recv_into");
    }
    Py_buffer buffer;
    if (PyObject_GetBuffer(args[0], &buffer, PyBUF_WRITABLE) < 0) {
        PyErr_Clear();
        TWIN("recv_into");
    }
    if (nbytes > buffer.len) {
        PyBuffer_Release(&buffer);
        TWIN("recv_into"); /* "buffer too small for requested bytes" */
    }
    if ((nbytes ? nbytes : buffer.len) == 0) {
        PyBuffer_Release(&buffer);
        TWIN("recv_into"); /* CPython returns 0 without a system call */
    }
    int error;
    Py_ssize_t n =
        receive(fd, buffer.buf, nbytes ? nbytes : buffer.len, (int)flags, mode, &error);
    PyBuffer_Release(&buffer);
    if (n >= 0) {
        return PyLong_FromSsize_t(n);
    }
    if (n == -1) {
        return NULL;
    }
    PyObject *retry = Py_BuildValue("(Oll)", args[0], nbytes, flags | U.msg_dontwait);
    if (retry == NULL) {
        return NULL;
    }
    PyObject *result = would_block(self, error, (int)flags, 1, "recv_into", retry);
    Py_DECREF(retry);
    return result;
}

static PyObject *
io_send_fds(SocketSlots *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    long flags;
    int fallback;
    uds_io_mode mode;
    int fd = own_fd(self, &fallback, &mode);
    int fds[UDS_CONTROL_MAX / sizeof(int)];
    Py_ssize_t count = 0;
    if (fallback || kwnames != NULL || nargs < 2 || nargs > 3 ||
        int_arg(args, nargs, 2, &flags) < 0 || uds_pack_fds(args[1], fds, &count) != 0) {
        TWIN("send_fds");
    }
    Py_buffer data;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
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
    Py_ssize_t sent = uds_sendmsg(fd, &msg, (int)flags | U.seqpacket_send_flags, mode, &error);
    PyBuffer_Release(&data);
    if (sent >= 0) {
        return PyLong_FromSsize_t(sent);
    }
    if (sent == -2) {
        return NULL;
    }
    if (!is_would_block(error)) {
        return uds_set_errno(error);
    }
    PyObject *retry = Py_BuildValue("(OOl)", args[0], args[1], flags | U.msg_dontwait);
    if (retry == NULL) {
        return NULL;
    }
    PyObject *result = would_block(self, error, (int)flags, 0, "send_fds", retry);
    Py_DECREF(retry);
    return result;
}

static PyObject *
io_recv_fds(SocketSlots *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    long flags;
    int fallback;
    uds_io_mode mode;
    int fd = own_fd(self, &fallback, &mode);
    int max_fds = nargs >= 2 ? uds_max_fds_arg(args[1]) : -1;
    if (fallback || kwnames != NULL || nargs < 2 || nargs > 3 || max_fds < 0 ||
        !PyLong_CheckExact(args[0]) || int_arg(args, nargs, 2, &flags) < 0) {
        TWIN("recv_fds");
    }
    Py_ssize_t bufsize = PyLong_AsSsize_t(args[0]);
    if (bufsize < 0) {
        PyErr_Clear();
        TWIN("recv_fds");
    }
    PyObject *data = PyBytes_FromStringAndSize(NULL, bufsize);
    if (data == NULL) {
        return NULL;
    }
    control_buffer control;
    struct iovec iov = {PyBytes_AS_STRING(data), (size_t)bufsize};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = &control;
    msg.msg_controllen = (size_t)uds_fds_space(max_fds);
    int error = 0;
    Py_ssize_t n = uds_recvmsg(fd, &msg, (int)flags | U.recv_flags, mode, &error);
    if (n < 0) {
        Py_DECREF(data);
        if (n == -2) {
            return NULL;
        }
        if (!is_would_block(error)) {
            return uds_set_errno(error);
        }
        PyObject *retry = Py_BuildValue("(OOl)", args[0], args[1], flags | U.msg_dontwait);
        if (retry == NULL) {
            return NULL;
        }
        PyObject *result = would_block(self, error, (int)flags, 1, "recv_fds", retry);
        Py_DECREF(retry);
        return result;
    }
    PyObject *fds = uds_collect_fds(&msg, msg.msg_flags, max_fds);
    if (fds == NULL) {
        Py_DECREF(data);
        return NULL;
    }
    PyObject *result = NULL;
    if (n == bufsize || _PyBytes_Resize(&data, n) == 0) {
        result = PyTuple_New(3);
    } else {
        data = NULL;
    }
    if (result == NULL) {
        Py_XDECREF(data);
        uds_close_list(fds);
        Py_DECREF(fds);
        return NULL;
    }
    PyObject *truncated = (msg.msg_flags & U.msg_trunc) ? Py_True : Py_False;
    Py_INCREF(truncated);
    PyTuple_SET_ITEM(result, 0, data);
    PyTuple_SET_ITEM(result, 1, truncated);
    PyTuple_SET_ITEM(result, 2, fds);
    return result;
}

static PyObject *
io_send_many(SocketSlots *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    long flags;
    int fallback;
    uds_io_mode mode;
    int fd = own_fd(self, &fallback, &mode);
    if (fallback || kwnames != NULL || nargs < 1 || nargs > 2 ||
        int_arg(args, nargs, 1, &flags) < 0 ||
        (!PyList_CheckExact(args[0]) && !PyTuple_CheckExact(args[0]))) {
        TWIN("send_many");
    }
    int blocked = 0;
    PyObject *sent =
        uds_send_many(fd, args[0], (int)flags | U.seqpacket_send_flags, mode, &blocked);
    if (sent == Py_None) {
        Py_DECREF(sent);
        TWIN("send_many");
    }
    if (sent == NULL || !blocked) {
        return sent;
    }
    if (flags & U.msg_dontwait) {
        if (PyLong_AsSsize_t(sent) > 0) {
            return sent;
        }
        Py_DECREF(sent);
        return uds_set_errno(EAGAIN);
    }
    /* Part of the batch would block: the Python side raises, returns or waits. */
    PyObject *result = PyObject_CallMethod((PyObject *)self, "_finish_send_many", "OOl", args[0],
                                           sent, flags);
    Py_DECREF(sent);
    return result;
}

static PyObject *
io_recv_many(SocketSlots *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    long flags;
    int fallback;
    uds_io_mode mode;
    int fd = own_fd(self, &fallback, &mode);
    int max_fds = nargs >= 3 ? uds_max_fds_arg(args[2]) : 0;
    if (fallback || kwnames != NULL || nargs < 2 || nargs > 4 || max_fds < 0 ||
        !PyLong_CheckExact(args[0]) || !PyLong_CheckExact(args[1]) ||
        int_arg(args, nargs, 3, &flags) < 0) {
        TWIN("recv_many");
    }
    Py_ssize_t bufsize = PyLong_AsSsize_t(args[0]);
    Py_ssize_t max_packets = PyLong_AsSsize_t(args[1]);
    if (bufsize < 0 || max_packets < 1 || max_packets > 1024) {
        PyErr_Clear();
        TWIN("recv_many");
    }
    int blocked = 0;
    PyObject *packets = uds_recv_many(fd, bufsize, max_packets, max_fds, 0,
                                      (int)flags | U.recv_flags | U.msg_waitforone, mode,
                                      &blocked);
    if (packets == Py_None) {
        Py_DECREF(packets);
        TWIN("recv_many");
    }
    if (packets != NULL || !blocked) {
        return packets;
    }
    PyObject *retry = Py_BuildValue("(OOil)", args[0], args[1], max_fds, flags | U.msg_dontwait);
    if (retry == NULL) {
        return NULL;
    }
    PyObject *result = would_block(self, EAGAIN, (int)flags, 1, "recv_many", retry);
    Py_DECREF(retry);
    return result;
}

#define FAST(name, doc)                                                                     \
    {                                                                                       \
        #name, (PyCFunction)(void (*)(void))io_##name, METH_FASTCALL | METH_KEYWORDS, doc \
    }

PyMethodDef uds_io_methods[] = {
    FAST(send, "send(data, flags=0) -> int\n\nSend data as one packet; return its length."),
    FAST(recv, "recv(bufsize, flags=0) -> bytes\n\nReceive one packet of up to bufsize bytes."),
    FAST(recv_into, "recv_into(buffer, nbytes=0, flags=0) -> int\n\n"
                    "Receive one packet into buffer; return the bytes stored."),
    FAST(peek, "peek(bufsize) -> bytes\n\nLike recv(), but leave the packet queued."),
    FAST(send_fds, "send_fds(data, fds) -> int\n\nSend data as one packet carrying fds."),
    FAST(recv_fds, "recv_fds(bufsize, max_fds) -> (data, truncated, fds)\n\n"
                   "Receive one packet and up to max_fds fds (close-on-exec, owned by the caller)."),
    FAST(send_many, "send_many(packets) -> int\n\n"
                    "Send each buffer of packets as one packet; return how many were sent."),
    FAST(recv_many, "recv_many(bufsize, max_packets, max_fds=0) -> list[Packet]\n\n"
                    "Receive up to max_packets queued packets (waiting for the first)."),
    {NULL, NULL, 0, NULL},
};

PyTypeObject uds_SeqpacketIO_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "uds._native.SeqpacketIO",
    .tp_basicsize = sizeof(SocketSlots),
    .tp_dealloc = (destructor)slots_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The data methods of seqpacket connections, in C (twin: uds._seqpacket_io).",
    .tp_traverse = (traverseproc)slots_traverse,
    .tp_clear = (inquiry)slots_clear,
    .tp_methods = uds_io_methods,
    .tp_base = &uds_SocketSlots_Type,
    .tp_new = PyType_GenericNew,
};
