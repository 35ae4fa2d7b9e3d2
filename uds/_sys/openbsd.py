"""OpenBSD: constants and struct layouts from ``sys/sys/socket.h``.

Layouts are native (amd64 and arm64 alike: LP64, little-endian). Peer
credentials come from ``SO_PEERCRED`` as ``struct sockpeercred``, whose fields
are in a different order from Linux's ``struct ucred``: uid, gid, pid. There is
no per-message credential option.
"""

from __future__ import annotations

import struct

from uds._sys._structs import timeval_ns, unpack

NAME = "openbsd"

SUN_PATH_LEN = 104  # sys/un.h: char sun_path[104]
PATH_NEEDS_NUL = True  # the kernel needs the NUL inside sun_path
HAS_ABSTRACT_ADDRESSES = False
HAS_SEQPACKET = True
# sys/kern/uipc_usrreq.c appends every seqpacket send as its own record
# (sbappendrecord/sbappendcontrol): no MSG_EOR needed.
SEQPACKET_NEEDS_EOR = False
# bind(2) ignores the socket's own mode; uds._bind uses a private directory instead.
BIND_USES_SOCKET_INODE_MODE = False
HAS_ACCEPT4 = True  # sys/socket.h: accept4()
# No SCM_MAX_FD in the headers; the Linux limit keeps code alike and in bounds.
SCM_MAX_FD = 253

SOL_SOCKET = 0xFFFF  # sys/socket.h
SCM_RIGHTS = 0x01
SCM_TIMESTAMP = 0x04
SO_TIMESTAMP = 0x0800
SO_PEERCRED = 0x1022
SO_NOSIGPIPE = None  # MSG_NOSIGNAL does the job

MSG_PEEK = 0x2  # sys/socket.h
MSG_EOR = 0x8
MSG_TRUNC = 0x10
MSG_CTRUNC = 0x20
MSG_DONTWAIT = 0x80
MSG_NOSIGNAL = 0x400
MSG_CMSG_CLOEXEC = 0x800

PASSCRED_OPTION: tuple[int, int] | None = None
TIMESTAMP_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_TIMESTAMP)
TIMESTAMPNS_OPTION: tuple[int, int] | None = None
PASSPIDFD_OPTION: tuple[int, int] | None = None
PASSSEC_OPTION: tuple[int, int] | None = None
NOSIGPIPE_OPTION: tuple[int, int] | None = None
PASSRIGHTS_OPTION: tuple[int, int] | None = None  # no SO_PASSRIGHTS: fds always accepted
PASSCRED_EVERY_MESSAGE = False

# struct sockpeercred { uid_t uid; gid_t gid; pid_t pid; }
SOCKPEERCRED = struct.Struct("=IIi")
# struct timeval { time_t tv_sec (int64); suseconds_t tv_usec (long); }
TIMEVAL = struct.Struct("@ql")

UNSOLICITED_CMSG_SIZES = (TIMEVAL.size,)


def parse_sockpeercred(raw: bytes) -> tuple[int, int, int]:
    """``(pid, euid, egid)`` from a ``struct sockpeercred`` (stored uid, gid, pid).

    Raises:
        ValueError: ``raw`` is shorter than the structure.
    """
    uid, gid, pid = unpack(SOCKPEERCRED, raw, "struct sockpeercred")
    return pid, uid, gid


def parse_timeval_ns(raw: bytes) -> int:
    """Nanoseconds since the epoch from an ``SCM_TIMESTAMP`` payload."""
    return timeval_ns(TIMEVAL, raw)


credentials_cmsg = None
own_credentials_cmsg = None
CREDENTIALS_PARSERS: dict[int, object] = {}
TIMESTAMP_PARSERS = {SCM_TIMESTAMP: parse_timeval_ns}


def read_peer_credentials(sock: object) -> tuple[int | None, int, int | None, tuple[int, ...]]:
    """``(pid, euid, egid, groups)`` of the peer, from SO_PEERCRED (no groups)."""
    raw = sock.getsockopt(SOL_SOCKET, SO_PEERCRED, SOCKPEERCRED.size)  # type: ignore[attr-defined]
    pid, uid, gid = parse_sockpeercred(raw)
    return pid, uid, gid, ()
