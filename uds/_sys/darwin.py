"""macOS: constants and struct layouts from the XNU headers.

Sources: ``bsd/sys/socket.h`` (SOL_SOCKET, SO_*, MSG_*, SCM_*), ``bsd/sys/un.h``
(SOL_LOCAL, LOCAL_PEERCRED, LOCAL_PEERPID), ``bsd/sys/ucred.h`` (struct xucred).
Layouts are native (x86_64 and arm64 alike: LP64, little-endian).

What macOS lacks, and what the library does instead:

- No ``MSG_NOSIGNAL``: ``SEND_FLAGS`` is 0 and a write to a closed peer raises
  ``SIGPIPE`` unless the socket has ``SO_NOSIGPIPE`` set
  (:func:`uds.ancillary.set_nosigpipe`); Python ignores ``SIGPIPE`` by default,
  so sends still fail with :class:`BrokenPipeError`.
- No ``MSG_CMSG_CLOEXEC``: received fds get ``FD_CLOEXEC`` right after
  ``recvmsg`` returns. A ``fork``+``exec`` by another thread in between inherits
  them: that window cannot be closed on macOS.
- No ``SOCK_SEQPACKET`` for unix sockets, no abstract addresses, no per-message
  credentials (``SCM_CREDS`` exists in the header but unix sockets do not send it).
"""

from __future__ import annotations

import struct

from uds._sys._structs import gids, timeval_ns, unpack

NAME = "darwin"

SUN_PATH_LEN = 104  # bsd/sys/un.h: char sun_path[104]
PATH_NEEDS_NUL = True  # the kernel needs the NUL inside sun_path
HAS_ABSTRACT_ADDRESSES = False
HAS_SEQPACKET = False
SEQPACKET_NEEDS_EOR = False  # no seqpacket at all
# bind(2) ignores the socket's own mode; uds._bind uses a private directory instead.
BIND_USES_SOCKET_INODE_MODE = False
HAS_ACCEPT4 = False
# No SCM_MAX_FD in the headers; the Linux limit keeps code alike and in bounds.
SCM_MAX_FD = 253

SOL_SOCKET = 0xFFFF  # bsd/sys/socket.h
SOL_LOCAL = 0  # bsd/sys/un.h
SCM_RIGHTS = 0x01  # bsd/sys/socket.h
SCM_TIMESTAMP = 0x02

SO_TIMESTAMP = 0x0400  # bsd/sys/socket.h
SO_NOSIGPIPE = 0x1022
LOCAL_PEERCRED = 0x001  # bsd/sys/un.h
LOCAL_PEERPID = 0x002

MSG_PEEK = 0x2  # bsd/sys/socket.h
MSG_EOR = 0x8
MSG_TRUNC = 0x10
MSG_CTRUNC = 0x20
MSG_DONTWAIT = 0x80
MSG_NOSIGNAL = 0  # absent: see the module docstring
MSG_CMSG_CLOEXEC = 0  # absent: see the module docstring

PASSCRED_OPTION: tuple[int, int] | None = None
TIMESTAMP_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_TIMESTAMP)
TIMESTAMPNS_OPTION: tuple[int, int] | None = None
PASSPIDFD_OPTION: tuple[int, int] | None = None
PASSSEC_OPTION: tuple[int, int] | None = None
NOSIGPIPE_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_NOSIGPIPE)
PASSRIGHTS_OPTION: tuple[int, int] | None = None  # no SO_PASSRIGHTS: fds always accepted
PASSCRED_EVERY_MESSAGE = False

XU_NGROUPS = 16  # bsd/sys/ucred.h: gid_t cr_groups[NGROUPS], NGROUPS 16
XUCRED_VERSION = 0
# struct xucred { u_int cr_version; uid_t cr_uid; short cr_ngroups;
#   gid_t cr_groups[NGROUPS]; }: no pid (LOCAL_PEERPID gives it); cr_groups[0]
# is the effective gid.
XUCRED = struct.Struct(f"=IIh2x{XU_NGROUPS}I")
_PID = struct.Struct("=i")
# struct timeval { __darwin_time_t tv_sec (long); __darwin_suseconds_t tv_usec (int); }
TIMEVAL = struct.Struct("@li")

# sizeof(struct timeval) on LP64 is 16: the C struct ends with 4 bytes of
# padding after the int tv_usec, which struct.Struct("@li") does not count.
TIMEVAL_C_SIZE = 16
UNSOLICITED_CMSG_SIZES = (TIMEVAL_C_SIZE,)


def parse_xucred(raw: bytes) -> tuple[int, int | None, tuple[int, ...]]:
    """``(euid, egid, groups)`` from a ``struct xucred`` (LOCAL_PEERCRED).

    Raises:
        ValueError: short buffer, unknown ``cr_version`` or bad group count.
    """
    version, uid, ngroups = unpack(XUCRED, raw, "struct xucred")[:3]
    if version != XUCRED_VERSION:
        raise ValueError(f"struct xucred version {version} is not {XUCRED_VERSION}")
    groups = gids(raw, 12, ngroups, XU_NGROUPS, "struct xucred")
    return uid, (groups[0] if groups else None), groups[1:]


def parse_pid(raw: bytes) -> int:
    """The ``pid_t`` that ``LOCAL_PEERPID`` returns."""
    pid: int = unpack(_PID, raw, "pid_t")[0]
    return pid


def parse_timeval_ns(raw: bytes) -> int:
    """Nanoseconds since the epoch from an ``SCM_TIMESTAMP`` payload."""
    return timeval_ns(TIMEVAL, raw)


credentials_cmsg = None
own_credentials_cmsg = None
CREDENTIALS_PARSERS: dict[int, object] = {}
TIMESTAMP_PARSERS = {SCM_TIMESTAMP: parse_timeval_ns}


def read_peer_credentials(sock: object) -> tuple[int | None, int, int | None, tuple[int, ...]]:
    """``(pid, euid, egid, groups)`` of the peer: LOCAL_PEERCRED and LOCAL_PEERPID.

    ``pid`` is ``None`` where LOCAL_PEERPID is missing (before macOS 10.8).
    """
    raw = sock.getsockopt(SOL_LOCAL, LOCAL_PEERCRED, XUCRED.size)  # type: ignore[attr-defined]
    euid, egid, groups = parse_xucred(raw)
    try:
        pid: int | None = parse_pid(
            sock.getsockopt(SOL_LOCAL, LOCAL_PEERPID, _PID.size)  # type: ignore[attr-defined]
        )
    except OSError:
        pid = None
    return pid, euid, egid, groups
