/* uds._native: module definition and setup(), which hands the C layer the
 * constants, types and Python twins it uses (see native.h). */
#include "native.h"

#include <string.h>

/* Verify the socket-object mirror against live sockets: each probe is
 * (socket, fd, family, timeout_ns) as Python reports them. */
static int
verify_layout(PyObject *probes)
{
    if (!PyTuple_Check(probes) || PyTuple_GET_SIZE(probes) == 0) {
        return 0;
    }
    U.sock_layout_ok = 1; /* so uds_sock_ref reads the mirror below */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(probes); i++) {
        PyObject *sock;
        int fd, family;
        long long timeout;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(probes, i), "OiiL", &sock, &fd, &family, &timeout)) {
            U.sock_layout_ok = 0;
            return -1;
        }
        if (!PyObject_TypeCheck(sock, U.socket_type)) {
            U.sock_layout_ok = 0;
            return 0;
        }
        struct {
            PyObject_HEAD
            int sock_fd;
            int sock_family;
            int sock_type;
            int sock_proto;
            PyObject *(*errorhandler)(void);
            int64_t sock_timeout;
        } *mirror = (void *)sock;
        if (mirror->sock_fd != fd || mirror->sock_family != family ||
            mirror->sock_timeout != (int64_t)timeout) {
            U.sock_layout_ok = 0;
            return 0;
        }
    }
    return 0;
}

static PyObject *
native_setup(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *twins, *received_fds, *from_std, *packet, *probes;
    int scm_pidfd;
    Py_ssize_t unsolicited;
    if (!PyArg_ParseTuple(args, "OO!OO!iiiiiiiiiinO:setup", &twins, &PyType_Type, &received_fds,
                          &from_std, &PyType_Type, &packet, &U.send_flags,
                          &U.seqpacket_send_flags, &U.recv_flags, &U.msg_dontwait, &U.msg_peek,
                          &U.msg_trunc, &U.msg_ctrunc, &U.msg_waitforone, &U.scm_max_fd,
                          &scm_pidfd, &unsolicited, &probes)) {
        return NULL;
    }
    if (!PyType_IsSubtype((PyTypeObject *)received_fds, &PyList_Type) ||
        !PyType_IsSubtype((PyTypeObject *)packet, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "setup() needs a list type and a tuple type");
        return NULL;
    }
    if (U.scm_max_fd < 0 || (size_t)U.scm_max_fd * sizeof(int) + 256 > UDS_CONTROL_MAX / 2 ||
        unsolicited < 0 || unsolicited > UDS_CONTROL_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "setup(): control-buffer sizes out of range");
        return NULL;
    }
    U.scm_pidfd = scm_pidfd;
    U.unsolicited_space = unsolicited;
    Py_XSETREF(U.twins, Py_NewRef(twins));
    Py_XSETREF(U.received_fds_type, (PyTypeObject *)Py_NewRef(received_fds));
    Py_XSETREF(U.addr_from_std, Py_NewRef(from_std));
    Py_XSETREF(U.packet_type, Py_NewRef(packet));
    if (verify_layout(probes) < 0) {
        return NULL;
    }
    U.ready = 1;
    return PyBool_FromLong(U.sock_layout_ok);
}

/* Point the ml_doc of the named methods at a copy of each docstring (kept for
 * the life of the process): help() and inspect then show the twin's text and
 * signature, which CPython reads from the "name(...)\n--\n\n" prefix. */
static int
replace_docs(PyMethodDef *methods, PyObject *docs)
{
    if (docs == Py_None) {
        return 0;
    }
    if (!PyDict_Check(docs)) {
        PyErr_SetString(PyExc_TypeError, "set_docs() takes dicts or None");
        return -1;
    }
    for (PyMethodDef *method = methods; method->ml_name != NULL; method++) {
        PyObject *doc = PyDict_GetItemString(docs, method->ml_name);
        if (doc == NULL) {
            continue;
        }
        const char *text = PyUnicode_AsUTF8(doc);
        if (text == NULL) {
            return -1;
        }
        char *copy = PyMem_RawMalloc(strlen(text) + 1);
        if (copy == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        strcpy(copy, text);
        method->ml_doc = copy;
    }
    return 0;
}

static PyObject *
native_set_docs(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *function_docs, *method_docs;
    if (!PyArg_ParseTuple(args, "OO:set_docs", &function_docs, &method_docs) ||
        replace_docs(uds_ext_methods, function_docs) < 0 ||
        replace_docs(uds_io_methods, method_docs) < 0 ||
        (method_docs != Py_None &&
         replace_docs(uds_received_fds_methods, method_docs) < 0)) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef native_methods[] = {
    {"set_docs", native_set_docs, METH_VARARGS,
     "set_docs(function_docs, method_docs): docstrings from the Python twins."},
    {"setup", native_setup, METH_VARARGS,
     "setup(...): constants, types and twins from uds._impl; returns whether socket objects "
     "are read directly."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "uds._native",
    .m_doc = "The hot paths of uds in C; uds._impl decides whether they are used.",
    .m_size = -1,
    .m_methods = native_methods,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    PyObject *socket_module = PyImport_ImportModule("_socket");
    if (socket_module == NULL) {
        return NULL;
    }
    PyObject *socket_type = PyObject_GetAttrString(socket_module, "socket");
    Py_DECREF(socket_module);
    if (socket_type == NULL) {
        return NULL;
    }
    if (!PyType_Check(socket_type)) {
        Py_DECREF(socket_type);
        PyErr_SetString(PyExc_ImportError, "_socket.socket is not a type");
        return NULL;
    }
    U.socket_type = (PyTypeObject *)socket_type;
    if (PyType_Ready(&uds_SocketSlots_Type) < 0 || PyType_Ready(&uds_SeqpacketIO_Type) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&native_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddFunctions(module, uds_ext_methods) < 0) {
        goto fail;
    }
    PyObject *close = PyDescr_NewMethod(&PyList_Type, &uds_received_fds_methods[0]);
    if (close == NULL || PyModule_AddObject(module, "received_fds_close", close) < 0) {
        Py_XDECREF(close);
        goto fail;
    }
    Py_INCREF(&uds_SocketSlots_Type);
    if (PyModule_AddObject(module, "SocketSlots", (PyObject *)&uds_SocketSlots_Type) < 0) {
        Py_DECREF(&uds_SocketSlots_Type);
        goto fail;
    }
    Py_INCREF(&uds_SeqpacketIO_Type);
    if (PyModule_AddObject(module, "SeqpacketIO", (PyObject *)&uds_SeqpacketIO_Type) < 0) {
        Py_DECREF(&uds_SeqpacketIO_Type);
        goto fail;
    }
    return module;
fail:
    Py_DECREF(module);
    return NULL;
}
