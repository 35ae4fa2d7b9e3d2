/* Batches: many packets per system call (sendmmsg/recvmmsg on Linux).
 * Elsewhere the functions return None and the pure-Python twin loops. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "native.h"

#include <errno.h>
#include <string.h>

#define SEND_CHUNK 64

/* Send each buffer of packets (a list or tuple) as one message.
 * Returns the count sent (an int), NULL with an exception, or None when an
 * item is not a buffer (nothing was sent; the twin raises). *blocked is set
 * when the kernel would block before every packet went out. */
#ifdef __linux__
typedef struct {
    int fd;
    struct mmsghdr *msgs;
    unsigned count;
} mmsg_call;

static Py_ssize_t
call_sendmmsg(void *context, int flags)
{
    mmsg_call *c = context;
    return sendmmsg(c->fd, c->msgs, c->count, flags);
}

static Py_ssize_t
call_recvmmsg(void *context, int flags)
{
    mmsg_call *c = context;
    return recvmmsg(c->fd, c->msgs, c->count, flags, NULL);
}
#endif

PyObject *
uds_send_many(int fd, PyObject *packets, int flags, uds_io_mode mode, int *blocked)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(packets);
    PyObject **items = PySequence_Fast_ITEMS(packets);
    *blocked = 0;
    if (n == 0) {
        return PyLong_FromLong(0);
    }
    Py_buffer *views = PyMem_New(Py_buffer, n);
    if (views == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t held = 0;
    for (; held < n; held++) {
        if (PyObject_GetBuffer(items[held], &views[held], PyBUF_SIMPLE) < 0) {
            PyErr_Clear();
            break;
        }
    }
    PyObject *result = NULL;
    if (held < n) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t sent = 0;
    int error = 0;
#ifdef __linux__
    struct mmsghdr msgs[SEND_CHUNK];
    struct iovec iovs[SEND_CHUNK];
    while (sent < n) {
        unsigned count = (unsigned)(n - sent < SEND_CHUNK ? n - sent : SEND_CHUNK);
        memset(msgs, 0, sizeof(msgs[0]) * count);
        for (unsigned i = 0; i < count; i++) {
            iovs[i].iov_base = views[sent + i].buf;
            iovs[i].iov_len = (size_t)views[sent + i].len;
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        mmsg_call context = {fd, msgs, count};
        Py_ssize_t done_now = uds_io(call_sendmmsg, &context, flags, mode, &error);
        if (done_now >= 0) {
            sent += done_now;
            continue; /* after a short count the next call reports why */
        }
        if (done_now == -2) {
            goto done;
        }
        break;
    }
#else
    while (sent < n) {
        struct iovec iov = {views[sent].buf, (size_t)views[sent].len};
        struct msghdr msg;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        Py_ssize_t one = uds_sendmsg(fd, &msg, flags, mode, &error);
        if (one == -2) {
            goto done;
        }
        if (one < 0) {
            break;
        }
        sent++;
    }
#endif
    if (sent < n) {
        if (error == EAGAIN || error == EWOULDBLOCK) {
            *blocked = 1;
        } else if (sent == 0) {
            uds_set_errno(error);
            goto done;
        }
        /* Otherwise the error repeats on the next call; report what went out. */
    }
    result = PyLong_FromSsize_t(sent);
done:
    for (Py_ssize_t i = 0; i < held; i++) {
        PyBuffer_Release(&views[i]);
    }
    PyMem_Free(views);
    return result;
}

#ifdef __linux__
/* Close the fds of packets[from:] (ReceivedFds or None at index 2). */
static void
close_packet_fds(PyObject *list, Py_ssize_t from)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    for (Py_ssize_t i = from; i < PyList_GET_SIZE(list); i++) {
        PyObject *packet = PyList_GET_ITEM(list, i);
        if (packet != NULL && PyTuple_GET_ITEM(packet, 2) != Py_None) {
            if (uds_close_list(PyTuple_GET_ITEM(packet, 2)) < 0) {
                PyErr_Clear();
            }
        }
    }
    PyErr_Restore(type, value, traceback);
}

static PyObject *
make_packet(PyObject *data, int truncated, PyObject *fds, PyObject *addr)
{
    PyTypeObject *type = (PyTypeObject *)U.packet_type;
    PyObject *packet = type->tp_alloc(type, 4);
    if (packet == NULL) {
        return NULL;
    }
    PyTuple_SET_ITEM(packet, 0, data);
    PyTuple_SET_ITEM(packet, 1, Py_NewRef(truncated ? Py_True : Py_False));
    PyTuple_SET_ITEM(packet, 2, fds);
    PyTuple_SET_ITEM(packet, 3, addr);
    return packet;
}
#endif

/* Receive up to max_packets messages in one recvmmsg call.
 * Returns a list of Packet (data, truncated, fds or None, addr or None), NULL
 * with an exception, NULL without one and *blocked set when nothing is queued,
 * or None where the OS has no recvmmsg (the twin loops). */
PyObject *
uds_recv_many(int fd, Py_ssize_t bufsize, Py_ssize_t max_packets, int max_fds, int want_addr,
              int flags, uds_io_mode mode, int *blocked)
{
    *blocked = 0;
#ifndef __linux__
    (void)fd; (void)bufsize; (void)max_packets; (void)max_fds; (void)want_addr; (void)flags;
    (void)mode;
    return Py_NewRef(Py_None);
#else
    PyObject *list = NULL;
    Py_ssize_t space = max_fds ? uds_fds_space(max_fds) : 0;
    PyObject **datas = PyMem_Calloc((size_t)max_packets, sizeof(PyObject *));
    struct mmsghdr *msgs = PyMem_Calloc((size_t)max_packets, sizeof(struct mmsghdr));
    struct iovec *iovs = PyMem_Calloc((size_t)max_packets, sizeof(struct iovec));
    char *controls = space ? PyMem_Malloc((size_t)(space * max_packets)) : NULL;
    struct sockaddr_un *names =
        want_addr ? PyMem_Calloc((size_t)max_packets, sizeof(struct sockaddr_un)) : NULL;
    int received = 0;
    if (!datas || !msgs || !iovs || (space && !controls) || (want_addr && !names)) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < max_packets; i++) {
        datas[i] = PyBytes_FromStringAndSize(NULL, bufsize);
        if (datas[i] == NULL) {
            goto done;
        }
        iovs[i].iov_base = PyBytes_AS_STRING(datas[i]);
        iovs[i].iov_len = (size_t)bufsize;
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        if (space) {
            msgs[i].msg_hdr.msg_control = controls + i * space;
            msgs[i].msg_hdr.msg_controllen = (size_t)space;
        }
        if (want_addr) {
            msgs[i].msg_hdr.msg_name = &names[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_un);
        }
    }
    {
        int error = 0;
        mmsg_call context = {fd, msgs, (unsigned)max_packets};
        Py_ssize_t got = uds_io(call_recvmmsg, &context, flags, mode, &error);
        if (got < 0) {
            if (got == -1) {
                if (error == EAGAIN || error == EWOULDBLOCK) {
                    *blocked = 1;
                } else {
                    uds_set_errno(error);
                }
            }
            goto done;
        }
        received = (int)got;
    }
    list = PyList_New(received);
    if (list == NULL) {
        goto done;
    }
    for (int i = 0; i < received; i++) {
        struct msghdr *hdr = &msgs[i].msg_hdr;
        PyObject *data = datas[i];
        datas[i] = NULL;
        if ((Py_ssize_t)msgs[i].msg_len != bufsize &&
            _PyBytes_Resize(&data, (Py_ssize_t)msgs[i].msg_len) < 0) {
            goto fail_at;
        }
        PyObject *fds = Py_None;
        if (space) {
            fds = uds_collect_fds(hdr, hdr->msg_flags, max_fds);
            if (fds == NULL) {
                hdr->msg_controllen = 0; /* collect_fds closed them */
                Py_DECREF(data);
                goto fail_at;
            }
            hdr->msg_controllen = 0; /* owned by fds now */
        } else {
            Py_INCREF(fds);
        }
        PyObject *addr = Py_None;
        if (want_addr && hdr->msg_namelen > 0) {
            addr = uds_unix_addr(&names[i], hdr->msg_namelen);
        } else {
            Py_INCREF(addr);
        }
        PyObject *packet = addr ? make_packet(data, (hdr->msg_flags & U.msg_trunc) != 0, fds, addr)
                                : NULL;
        if (packet == NULL) {
            if (fds != Py_None && uds_close_list(fds) < 0) {
                PyErr_Clear();
            }
            Py_XDECREF(addr);
            Py_DECREF(fds);
            Py_DECREF(data);
            goto fail_at;
        }
        PyList_SET_ITEM(list, i, packet);
        continue;
    fail_at:
        /* Close what the not yet converted messages carry, and what was built. */
        for (int j = i; j < received; j++) {
            uds_close_control_fds(&msgs[j].msg_hdr);
        }
        close_packet_fds(list, 0);
        Py_CLEAR(list);
        goto done;
    }
done:
    if (datas != NULL) {
        for (Py_ssize_t i = 0; i < max_packets; i++) {
            Py_XDECREF(datas[i]);
        }
    }
    PyMem_Free(datas);
    PyMem_Free(msgs);
    PyMem_Free(iovs);
    PyMem_Free(controls);
    PyMem_Free(names);
    return list;
#endif
}
