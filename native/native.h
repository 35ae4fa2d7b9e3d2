/* uds._native: the hot paths of uds in C (see uds/_impl.py for the switch).
 *
 * The C layer is thin: system calls on int fds, building and walking control
 * messages, returning plain objects. Every rule that is not a system call
 * (argument errors and their messages, timeouts, unusual inputs) stays in the
 * pure-Python twin, which the C code calls when an input leaves its fast path,
 * so both implementations raise the same errors by construction.
 *
 * Constants come from the Python platform module through setup(): one source.
 * State is process-global (single-phase init): the module is not meant for
 * sub-interpreters.
 */
#ifndef UDS_NATIVE_H
#define UDS_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *
uds_new_ref(PyObject *obj)
{
    Py_INCREF(obj);
    return obj;
}
#define Py_NewRef(obj) uds_new_ref((PyObject *)(obj))
#endif

/* What setup() stores: constants, types and the Python twins called on the slow path. */
typedef struct {
    int ready;
    int send_flags;           /* MSG_NOSIGNAL where the OS has it */
    int seqpacket_send_flags; /* send_flags, plus MSG_EOR where records need it */
    int recv_flags;           /* MSG_CMSG_CLOEXEC where the OS has it */
    int msg_dontwait;
    int msg_peek;
    int msg_trunc;
    int msg_ctrunc;
    int msg_waitforone;       /* 0 where the OS lacks it */
    int scm_max_fd;
    int scm_pidfd;            /* -1 where the OS has no SCM_PIDFD */
    Py_ssize_t unsolicited_space; /* control-buffer room kept for unsolicited data */
    PyTypeObject *socket_type;      /* _socket.socket */
    PyTypeObject *received_fds_type;/* uds.ReceivedFds */
    PyObject *addr_from_std;        /* UnixSocketAddr.from_std */
    PyObject *twins;                /* object whose attributes are the pure-Python twins */
    PyObject *packet_type;          /* uds.Packet (a structseq made here) */
    int sock_layout_ok;             /* the socket object mirror was verified */
} uds_config;

extern uds_config U;

/* How an fd was obtained from a "sock" argument. */
typedef enum {
    SOCK_FALLBACK = -2, /* leave this call to the Python twin */
    SOCK_ERROR = -1,    /* an exception is set */
} sock_status;

typedef struct {
    int fd;
    int is_socket_object; /* a _socket.socket: family, type and mode known without a syscall */
    int family;           /* only when is_socket_object */
    int type;             /* only when is_socket_object */
    int64_t timeout;      /* only when is_socket_object: -1 s blocking, 0 non-blocking */
} sock_ref;

/* How a system call runs (see uds_io). */
typedef enum {
    UDS_IO_RELEASE,   /* the fd may block: release the GIL around the call */
    UDS_IO_HOLD,      /* the fd is non-blocking: the call cannot wait, keep the GIL */
    UDS_IO_TRY_FIRST, /* blocking fd: try with MSG_DONTWAIT under the GIL, then wait without it */
} uds_io_mode;

/* One system call taking MSG_* flags, for uds_io. */
typedef Py_ssize_t (*uds_io_call)(void *context, int flags);

/* io.c: fds, system calls, control messages */
int uds_sock_ref(PyObject *sock, sock_ref *ref);
int uds_socket_object_fd(PyObject *sock);
int uds_check_unix(const sock_ref *ref);
PyObject *uds_call_twin(const char *name, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames);
PyObject *uds_set_errno(int error);
int uds_pack_fds(PyObject *fds, int *out, Py_ssize_t *count);
uds_io_mode uds_sock_mode(const sock_ref *ref, int atomic);
uds_io_mode uds_socket_object_mode(PyObject *sock);
Py_ssize_t uds_io(uds_io_call call, void *context, int flags, uds_io_mode mode, int *error);
Py_ssize_t uds_sendmsg(int fd, struct msghdr *msg, int flags, uds_io_mode mode, int *error);
Py_ssize_t uds_recvmsg(int fd, struct msghdr *msg, int flags, uds_io_mode mode, int *error);
void uds_build_rights(struct msghdr *msg, void *control, const int *fds, Py_ssize_t count);
PyObject *uds_collect_fds(struct msghdr *msg, int msg_flags, int max_fds);
void uds_close_control_fds(struct msghdr *msg);
Py_ssize_t uds_fds_space(int max_fds);
int uds_max_fds_arg(PyObject *arg);
PyObject *uds_unix_addr(const struct sockaddr_un *addr, socklen_t len);
int uds_close_list(PyObject *list);

/* Bytes of control buffer for SCM_MAX_FD fds plus unsolicited data, with room to spare. */
#define UDS_CONTROL_MAX 4096

/* ext.c, seqpacket.c, batch.c */
extern PyMethodDef uds_ext_methods[];
extern PyMethodDef uds_io_methods[];
extern PyMethodDef uds_received_fds_methods[];
extern PyTypeObject uds_SocketSlots_Type;
extern PyTypeObject uds_SeqpacketIO_Type;
PyObject *uds_send_many(int fd, PyObject *packets, int flags, uds_io_mode mode,
                        int *would_block);
PyObject *uds_recv_many(int fd, Py_ssize_t bufsize, Py_ssize_t max_packets, int max_fds,
                        int want_addr, int flags, uds_io_mode mode, int *would_block);
int uds_batch_init(PyObject *module);

#endif
