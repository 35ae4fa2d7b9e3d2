"""NetBSD: constants and struct layouts from ``sys/sys/socket.h`` and ``sys/sys/un.h``.

Layouts are native (amd64 and arm64 alike: LP64, little-endian). Values are those
of NetBSD 8 and later, where ``LOCAL_CREDS`` is 0x0004 and ``struct sockcred``
starts with the pid (the old layout lives on as ``LOCAL_OCREDS`` 0x0001, unused
here).

Peer credentials: ``LOCAL_PEEREID`` gives ``struct unpcbid`` {pid, euid, egid}.
Per-message credentials: ``LOCAL_CREDS`` on the receiver makes the kernel attach
``SCM_CREDS`` (struct sockcred). On datagram sockets every message carries them;
on stream and seqpacket sockets only the first message after the option is set.
"""

from __future__ import annotations

import struct

from uds._sys._structs import gids, timeval_ns, unpack

NAME = "netbsd"

SUN_PATH_LEN = 104  # sys/un.h: char sun_path[104]
PATH_NEEDS_NUL = False  # the kernel accepts a path that fills sun_path without a NUL
HAS_ABSTRACT_ADDRESSES = False
HAS_SEQPACKET = True
# sys/kern/uipc_usrreq.c appends every seqpacket send as its own record
# (sbappendrecord/sbappendcontrol): no MSG_EOR needed.
SEQPACKET_NEEDS_EOR = False
# bind(2) ignores the socket's own mode; uds._bind uses a private directory instead.
BIND_USES_SOCKET_INODE_MODE = False
HAS_ACCEPT4 = True  # accept4() since NetBSD 8
# No SCM_MAX_FD in the headers; the Linux limit keeps code alike and in bounds.
SCM_MAX_FD = 253

SOL_SOCKET = 0xFFFF  # sys/socket.h
SOL_LOCAL = 0  # sys/un.h
SCM_RIGHTS = 0x01  # sys/socket.h
SCM_TIMESTAMP = 0x08
SCM_CREDS = 0x10
SO_NOSIGPIPE = 0x0800
SO_TIMESTAMP = 0x2000
LOCAL_CONNWAIT = 0x0002  # sys/un.h
LOCAL_PEEREID = 0x0003
LOCAL_CREDS = 0x0004

MSG_PEEK = 0x0002  # sys/socket.h
MSG_EOR = 0x0008
MSG_TRUNC = 0x0010
MSG_CTRUNC = 0x0020
MSG_DONTWAIT = 0x0080
MSG_NOSIGNAL = 0x0400
MSG_CMSG_CLOEXEC = 0x0800

PASSCRED_OPTION: tuple[int, int] | None = (SOL_LOCAL, LOCAL_CREDS)
TIMESTAMP_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_TIMESTAMP)
TIMESTAMPNS_OPTION: tuple[int, int] | None = None
PASSPIDFD_OPTION: tuple[int, int] | None = None
PASSSEC_OPTION: tuple[int, int] | None = None
NOSIGPIPE_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_NOSIGPIPE)
PASSRIGHTS_OPTION: tuple[int, int] | None = None  # no SO_PASSRIGHTS: fds always accepted
PASSCRED_EVERY_MESSAGE = False  # datagram sockets only; see the module docstring

# struct unpcbid { pid_t unp_pid; uid_t unp_euid; gid_t unp_egid; }
UNPCBID = struct.Struct("=iII")
# struct sockcred { pid_t sc_pid; uid_t sc_uid; uid_t sc_euid; gid_t sc_gid;
#   gid_t sc_egid; int sc_ngroups; gid_t sc_groups[1]; }
SOCKCRED_HEAD = struct.Struct("=iIIIIi")
# struct timeval { time_t tv_sec (int64); suseconds_t tv_usec (int); }
TIMEVAL = struct.Struct("@qi")
_NGROUPS_MAX = 16  # sys/syslimits.h NGROUPS_MAX

UNSOLICITED_CMSG_SIZES = (SOCKCRED_HEAD.size + _NGROUPS_MAX * 4, 16)


def parse_unpcbid(raw: bytes) -> tuple[int, int, int]:
    """``(pid, euid, egid)`` from a ``struct unpcbid`` (LOCAL_PEEREID).

    Raises:
        ValueError: ``raw`` is shorter than the structure.
    """
    pid, euid, egid = unpack(UNPCBID, raw, "struct unpcbid")
    return pid, euid, egid


def parse_sockcred(raw: bytes) -> tuple[int, int, int, int, int, tuple[int, ...]]:
    """``(pid, uid, gid, euid, egid, groups)`` from an ``SCM_CREDS`` struct sockcred.

    Raises:
        ValueError: short buffer or a group count the buffer does not hold.
    """
    pid, uid, euid, gid, egid, ngroups = unpack(SOCKCRED_HEAD, raw, "struct sockcred")
    groups = gids(raw, SOCKCRED_HEAD.size, ngroups, _NGROUPS_MAX, "struct sockcred")
    return pid, uid, gid, euid, egid, groups


def parse_timeval_ns(raw: bytes) -> int:
    """Nanoseconds since the epoch from an ``SCM_TIMESTAMP`` payload."""
    return timeval_ns(TIMEVAL, raw)


credentials_cmsg = None
own_credentials_cmsg = None
CREDENTIALS_PARSERS = {SCM_CREDS: parse_sockcred}
TIMESTAMP_PARSERS = {SCM_TIMESTAMP: parse_timeval_ns}


def read_peer_credentials(sock: object) -> tuple[int | None, int, int | None, tuple[int, ...]]:
    """``(pid, euid, egid, groups)`` of the peer, from LOCAL_PEEREID (no groups)."""
    raw = sock.getsockopt(SOL_LOCAL, LOCAL_PEEREID, UNPCBID.size)  # type: ignore[attr-defined]
    pid, euid, egid = parse_unpcbid(raw)
    return pid, euid, egid, ()
