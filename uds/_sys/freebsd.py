"""FreeBSD: constants and struct layouts from the FreeBSD headers (13.0 and later).

Sources: ``sys/sys/socket.h`` (SOL_SOCKET, SO_*, MSG_*, SCM_*, struct cmsgcred,
struct sockcred2), ``sys/sys/un.h`` (SOL_LOCAL, LOCAL_*), ``sys/sys/ucred.h``
(struct xucred). Layouts are native (amd64 and arm64 alike: LP64, little-endian).

Per-message credentials: with ``LOCAL_CREDS_PERSISTENT`` (13.0+) on the receiving
socket the kernel attaches ``SCM_CREDS2`` (struct sockcred2, with the pid) to
every message; a sender may instead attach ``SCM_CREDS`` itself (struct cmsgcred,
filled in by the kernel, so it cannot lie). The one-shot ``LOCAL_CREDS`` (struct
sockcred, no pid) is not used. Timestamps: ``SO_TIMESTAMP`` gives ``SCM_TIMESTAMP``
(struct timeval); there is no nanosecond variant under that name.
"""

from __future__ import annotations

import struct

from uds._sys._structs import POINTER_SIZE, align, gids, timeval_ns, unpack

NAME = "freebsd"

SUN_PATH_LEN = 104  # sys/un.h: char sun_path[104]
PATH_NEEDS_NUL = False  # the kernel accepts a path that fills sun_path without a NUL
HAS_ABSTRACT_ADDRESSES = False
HAS_SEQPACKET = True
# FreeBSD 15 reworked unix SOCK_SEQPACKET (sys/kern/uipc_usrreq.c) to follow POSIX:
# the socket is a byte stream cut into records only where a send carries MSG_EOR,
# so two sends without it can arrive as one packet (tokio-seqpacket PR #28,
# dhcpcd PR #533). Earlier releases accept MSG_EOR on seqpacket sends too.
SEQPACKET_NEEDS_EOR = True
# bind(2) ignores the socket's own mode; uds._bind uses a private directory instead.
BIND_USES_SOCKET_INODE_MODE = False
HAS_ACCEPT4 = True  # sys/socket.h: accept4() (FreeBSD 10+)
# No SCM_MAX_FD in the headers: the kernel bounds the control buffer instead.
# The Linux limit is used so code behaves alike and stays well inside it.
SCM_MAX_FD = 253

SOL_SOCKET = 0xFFFF  # sys/socket.h
SOL_LOCAL = 0  # sys/un.h
SCM_RIGHTS = 0x01  # sys/socket.h
SCM_TIMESTAMP = 0x02
SCM_CREDS = 0x03
SCM_CREDS2 = 0x08  # FreeBSD 13.0+

SO_TIMESTAMP = 0x0400  # sys/socket.h
SO_NOSIGPIPE = 0x0800
LOCAL_PEERCRED = 1  # sys/un.h
LOCAL_CREDS = 2
LOCAL_CREDS_PERSISTENT = 3  # FreeBSD 13.0+

MSG_PEEK = 0x2  # sys/socket.h
MSG_EOR = 0x8
MSG_TRUNC = 0x10
MSG_CTRUNC = 0x20
MSG_DONTWAIT = 0x80
MSG_NOSIGNAL = 0x20000
MSG_CMSG_CLOEXEC = 0x40000

PASSCRED_OPTION: tuple[int, int] | None = (SOL_LOCAL, LOCAL_CREDS_PERSISTENT)
TIMESTAMP_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_TIMESTAMP)
TIMESTAMPNS_OPTION: tuple[int, int] | None = None
PASSPIDFD_OPTION: tuple[int, int] | None = None
PASSSEC_OPTION: tuple[int, int] | None = None
NOSIGPIPE_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_NOSIGPIPE)
PASSRIGHTS_OPTION: tuple[int, int] | None = None  # no SO_PASSRIGHTS: fds always accepted
PASSCRED_EVERY_MESSAGE = True

XU_NGROUPS = 16  # sys/ucred.h
CMGROUP_MAX = 16  # sys/socket.h
XUCRED_VERSION = 0
# struct xucred { u_int cr_version; uid_t cr_uid; short cr_ngroups;
#   gid_t cr_groups[XU_NGROUPS]; union { void *_cr_unused1; pid_t cr_pid; }; }
# cr_groups[0] is the effective gid. cr_pid (13.0+) sits in the pointer-aligned
# union after the groups; older kernels leave it zero.
XUCRED_HEAD = struct.Struct(f"=IIh2x{XU_NGROUPS}I")
XUCRED_PID_OFFSET = align(XUCRED_HEAD.size, POINTER_SIZE)
XUCRED_SIZE = XUCRED_PID_OFFSET + POINTER_SIZE
_PID = struct.Struct("=i")
# struct cmsgcred { pid_t cmcred_pid; uid_t cmcred_uid; uid_t cmcred_euid;
#   gid_t cmcred_gid; short cmcred_ngroups; gid_t cmcred_groups[CMGROUP_MAX]; }
CMSGCRED = struct.Struct(f"=iIIIh2x{CMGROUP_MAX}I")
# struct sockcred2 { int sc_version; pid_t sc_pid; uid_t sc_uid; uid_t sc_euid;
#   gid_t sc_gid; gid_t sc_egid; int sc_ngroups; gid_t sc_groups[1]; }
SOCKCRED2_HEAD = struct.Struct("=iiIIIIi")
# struct timeval { time_t tv_sec; suseconds_t tv_usec; } (both long on LP64)
TIMEVAL = struct.Struct("@ll")
_NGROUPS_MAX = 1023  # sys/syslimits.h NGROUPS_MAX: bounds sc_ngroups

#: Room for control data the receive call did not ask for: SCM_CREDS2 with up to
#: 16 groups, and a timestamp.
UNSOLICITED_CMSG_SIZES = (SOCKCRED2_HEAD.size + 16 * 4, TIMEVAL.size)


def parse_xucred(raw: bytes) -> tuple[int | None, int, int | None, tuple[int, ...]]:
    """``(pid, euid, egid, groups)`` from a ``struct xucred`` (LOCAL_PEERCRED).

    ``pid`` is ``None`` when the kernel predates ``cr_pid`` (it reads 0).

    Raises:
        ValueError: short buffer, unknown ``cr_version`` or bad group count.
    """
    fields = unpack(XUCRED_HEAD, raw, "struct xucred")
    version, uid, ngroups = fields[:3]
    if version != XUCRED_VERSION:
        raise ValueError(f"struct xucred version {version} is not {XUCRED_VERSION}")
    groups = gids(raw, 12, ngroups, XU_NGROUPS, "struct xucred")
    pid = _PID.unpack_from(raw, XUCRED_PID_OFFSET)[0] if len(raw) >= XUCRED_SIZE else 0
    egid = groups[0] if groups else None
    return (pid or None), uid, egid, groups[1:]


def parse_cmsgcred(raw: bytes) -> tuple[int, int, int, int, None, tuple[int, ...]]:
    """``(pid, uid, gid, euid, egid, groups)`` from an ``SCM_CREDS`` struct cmsgcred.

    ``cmcred_groups[0]`` is the effective gid; ``egid`` is reported there, in
    ``groups``, and left ``None``.

    Raises:
        ValueError: short buffer or a group count above CMGROUP_MAX.
    """
    pid, uid, euid, gid, ngroups = unpack(CMSGCRED, raw, "struct cmsgcred")[:5]
    groups = gids(raw, 20, ngroups, CMGROUP_MAX, "struct cmsgcred")
    return pid, uid, gid, euid, None, groups


def parse_sockcred2(raw: bytes) -> tuple[int, int, int, int, int, tuple[int, ...]]:
    """``(pid, uid, gid, euid, egid, groups)`` from an ``SCM_CREDS2`` struct sockcred2.

    Raises:
        ValueError: short buffer or a group count the buffer does not hold.
    """
    _version, pid, uid, euid, gid, egid, ngroups = unpack(SOCKCRED2_HEAD, raw, "struct sockcred2")
    groups = gids(raw, SOCKCRED2_HEAD.size, ngroups, _NGROUPS_MAX, "struct sockcred2")
    return pid, uid, gid, euid, egid, groups


def parse_timeval_ns(raw: bytes) -> int:
    """Nanoseconds since the epoch from an ``SCM_TIMESTAMP`` payload."""
    return timeval_ns(TIMEVAL, raw)


def own_credentials_cmsg(pid: int, uid: int, gid: int) -> tuple[int, int, bytes]:
    """``SCM_CREDS`` with an empty struct cmsgcred: the kernel fills in the sender.

    The arguments are ignored: FreeBSD lets no process choose what it claims.
    """
    return (SOL_SOCKET, SCM_CREDS, bytes(CMSGCRED.size))


credentials_cmsg = None  # no way to claim chosen credentials
CREDENTIALS_PARSERS = {SCM_CREDS: parse_cmsgcred, SCM_CREDS2: parse_sockcred2}
TIMESTAMP_PARSERS = {SCM_TIMESTAMP: parse_timeval_ns}


def read_peer_credentials(sock: object) -> tuple[int | None, int, int | None, tuple[int, ...]]:
    """``(pid, euid, egid, groups)`` of the peer, from LOCAL_PEERCRED."""
    raw = sock.getsockopt(SOL_LOCAL, LOCAL_PEERCRED, XUCRED_SIZE)  # type: ignore[attr-defined]
    return parse_xucred(raw)
