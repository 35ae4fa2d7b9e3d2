"""Linux: constants from <sys/socket.h>, <asm-generic/socket.h> and struct layouts.

Values that :mod:`socket` does not export on every Python version are spelled out
here; they are part of the stable kernel ABI. Every module of :mod:`uds._sys`
defines the names of the "shared names" section below; a feature the OS lacks is
``None`` (or an empty mapping) there.

Control data that Linux attaches to unix-socket messages (measured on 6.18 by
``tests/test_ancillary.py``): ``SCM_CREDENTIALS`` (``SO_PASSCRED``) and
``SCM_PIDFD`` (``SO_PASSPIDFD``, 6.5+) on stream, datagram and seqpacket
sockets; ``SCM_TIMESTAMP``/``SCM_TIMESTAMPNS`` on datagram and seqpacket
sockets only, never on stream sockets; ``SCM_SECURITY`` (``SO_PASSSEC``) only
when a security module labels sockets (SELinux, Smack, AppArmor 4.x): without
one the option is accepted and nothing is sent.
"""

from __future__ import annotations

import errno
import struct

NAME = "linux"

SUN_PATH_LEN = 108
PATH_NEEDS_NUL = False  # the kernel accepts a path that fills sun_path without a NUL
HAS_ABSTRACT_ADDRESSES = True
HAS_SEQPACKET = True
# Every send on a seqpacket socket is one record already (net/unix/af_unix.c,
# unix_seqpacket_sendmsg); MSG_EOR is accepted and changes nothing.
SEQPACKET_NEEDS_EOR = False
# bind(2) gives the new socket file the socket inode's mode (set with fchmod) minus the umask.
BIND_USES_SOCKET_INODE_MODE = True
HAS_ACCEPT4 = True
SCM_MAX_FD = 253

SOL_SOCKET = 1
SCM_RIGHTS = 1
SCM_CREDENTIALS = 2
SCM_SECURITY = 3
SCM_PIDFD = 4

SO_PASSCRED = 16
SO_PEERCRED = 17
SO_ACCEPTCONN = 30
SO_TIMESTAMP = 29  # SO_TIMESTAMP_OLD: struct timeval with the native long
SO_PEERSEC = 31
SO_PASSSEC = 34
SO_TIMESTAMPNS = 35  # SO_TIMESTAMPNS_OLD: struct timespec with the native long
SO_PEERGROUPS = 59
SO_PASSPIDFD = 76
SO_PEERPIDFD = 77
SO_PASSRIGHTS = 83  # Linux 6.16+ (asm-generic; parisc/sparc number it differently)
SCM_TIMESTAMP = SO_TIMESTAMP
SCM_TIMESTAMPNS = SO_TIMESTAMPNS

MSG_PEEK = 0x2
MSG_CTRUNC = 0x8
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
MSG_EOR = 0x80
MSG_NOSIGNAL = 0x4000
MSG_CMSG_CLOEXEC = 0x40000000
MSG_WAITFORONE = 0x10000  # recvmmsg: wait for the first message only

SO_NOSIGPIPE = None  # MSG_NOSIGNAL on every send does the job

# Shared names ------------------------------------------------------------------
# (level, option) pairs that make the kernel attach control data to messages;
# None where the OS has no such option.
PASSCRED_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_PASSCRED)
TIMESTAMP_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_TIMESTAMP)
TIMESTAMPNS_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_TIMESTAMPNS)
PASSPIDFD_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_PASSPIDFD)
PASSSEC_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_PASSSEC)
NOSIGPIPE_OPTION: tuple[int, int] | None = None
# Whether the socket accepts SCM_RIGHTS at all (on by default).
PASSRIGHTS_OPTION: tuple[int, int] | None = (SOL_SOCKET, SO_PASSRIGHTS)
#: Per-message credentials arrive on every message while the option is set.
PASSCRED_EVERY_MESSAGE = True

# struct ucred { pid_t pid; uid_t uid; gid_t gid; }: used for SO_PEERCRED and
# SCM_CREDENTIALS alike.
UCRED = struct.Struct("=iII")
# struct timeval / struct timespec with the native long (SO_TIMESTAMP*_OLD).
TIMEVAL = struct.Struct("@ll")
TIMESPEC = struct.Struct("@ll")
GID = struct.Struct("=I")


def parse_ucred(raw: bytes) -> tuple[int, int, int]:
    """Unpack a ``struct ucred`` into ``(pid, uid, gid)``.

    Raises:
        ValueError: ``raw`` is shorter than the structure.
    """
    if len(raw) < UCRED.size:
        raise ValueError(f"struct ucred needs {UCRED.size} bytes, got {len(raw)}")
    pid, uid, gid = UCRED.unpack_from(raw)
    return pid, uid, gid


def pack_ucred(pid: int, uid: int, gid: int) -> bytes:
    """Pack ``(pid, uid, gid)`` as a ``struct ucred`` for ``SCM_CREDENTIALS``."""
    return UCRED.pack(pid, uid, gid)


def parse_groups(raw: bytes) -> tuple[int, ...]:
    """Unpack the ``gid_t`` array that ``SO_PEERGROUPS`` returns."""
    count = len(raw) // GID.size
    return struct.unpack(f"={count}I", raw[: count * GID.size])


# Getters over a socket object ------------------------------------------------
# They take a ``_socket.socket`` (possibly a borrowed shell) and return plain
# tuples; uds._credentials turns them into the public classes.

_GROUPS_START = 64 * GID.size
_GROUPS_LIMIT = 65536 * GID.size
_ERANGE = 34
_ENOPROTOOPT = 92


def read_peer_credentials(sock: object) -> tuple[int | None, int, int | None, tuple[int, ...]]:
    """``(pid, euid, egid, groups)`` of the peer, from SO_PEERCRED and SO_PEERGROUPS.

    Raises:
        OSError: ``ENODATA`` when the kernel recorded no peer (a connected
            datagram socket that is not a socketpair end).
    """
    raw = sock.getsockopt(SOL_SOCKET, SO_PEERCRED, UCRED.size)  # type: ignore[attr-defined]
    pid, uid, gid = parse_ucred(raw)
    if pid == 0 and uid == 0xFFFFFFFF:
        raise OSError(errno.ENODATA, "the kernel recorded no peer credentials for this socket")
    if sock.getsockopt(SOL_SOCKET, SO_ACCEPTCONN):  # type: ignore[attr-defined]
        # listen() records the listener's own credentials there, for its clients.
        raise OSError(
            errno.EINVAL, "a listening socket has no peer (its own credentials are recorded)"
        )
    return pid, uid, gid, read_peer_groups(sock)


def read_peer_groups(sock: object) -> tuple[int, ...]:
    """The peer's supplementary groups (SO_PEERGROUPS, Linux 4.13); () if unavailable."""
    size = _GROUPS_START
    while True:
        try:
            raw = sock.getsockopt(SOL_SOCKET, SO_PEERGROUPS, size)  # type: ignore[attr-defined]
        except OSError as error:
            if error.errno == _ERANGE and size < _GROUPS_LIMIT:
                size *= 4
                continue
            if error.errno == _ENOPROTOOPT:
                return ()
            raise
        return parse_groups(raw)


def read_peer_pidfd(sock: object) -> int:
    """A pidfd for the peer process (SO_PEERPIDFD, Linux 6.5); the caller owns it."""
    fd: int = sock.getsockopt(SOL_SOCKET, SO_PEERPIDFD)  # type: ignore[attr-defined]
    return fd


def read_peer_security(sock: object) -> bytes:
    """The peer's security label (SO_PEERSEC), without the trailing NUL."""
    size = 256
    while True:
        try:
            raw: bytes = sock.getsockopt(SOL_SOCKET, SO_PEERSEC, size)  # type: ignore[attr-defined]
        except OSError as error:
            if error.errno == _ERANGE and size < 65536:
                size *= 4
                continue
            raise
        return raw.rstrip(b"\0")


# Control-message payloads ----------------------------------------------------

#: Payload sizes of control data that can arrive without the receive call asking
#: (SO_PASSCRED, SO_PASSPIDFD, SO_TIMESTAMP* set on the socket): credentials, a
#: pidfd and a timestamp. The kernel writes the timestamp before the fds, so
#: without room for it an fd array that fits would still be flagged MSG_CTRUNC.
UNSOLICITED_CMSG_SIZES = (UCRED.size, 4, max(TIMEVAL.size, TIMESPEC.size))


def parse_scm_credentials(raw: bytes) -> tuple[int, int, int]:
    """``(pid, uid, gid)`` from an ``SCM_CREDENTIALS`` payload."""
    return parse_ucred(raw)


def parse_timeval_ns(raw: bytes) -> int:
    """Nanoseconds since the epoch from an ``SCM_TIMESTAMP`` (struct timeval) payload."""
    if len(raw) < TIMEVAL.size:
        raise ValueError(f"struct timeval needs {TIMEVAL.size} bytes, got {len(raw)}")
    seconds, micros = TIMEVAL.unpack_from(raw)
    return int(seconds) * 1_000_000_000 + int(micros) * 1000


def parse_timespec_ns(raw: bytes) -> int:
    """Nanoseconds since the epoch from an ``SCM_TIMESTAMPNS`` (struct timespec) payload."""
    if len(raw) < TIMESPEC.size:
        raise ValueError(f"struct timespec needs {TIMESPEC.size} bytes, got {len(raw)}")
    seconds, nanos = TIMESPEC.unpack_from(raw)
    return int(seconds) * 1_000_000_000 + int(nanos)


def credentials_cmsg(pid: int, uid: int, gid: int) -> tuple[int, int, bytes]:
    """The ``SCM_CREDENTIALS`` control message claiming ``pid``/``uid``/``gid``."""
    return (SOL_SOCKET, SCM_CREDENTIALS, pack_ucred(pid, uid, gid))


def own_credentials_cmsg(pid: int, uid: int, gid: int) -> tuple[int, int, bytes]:
    """The control message that sends the caller's own credentials (given here)."""
    return credentials_cmsg(pid, uid, gid)


#: cmsg type -> parser of its payload into ``ReceivedCredentials`` fields
#: (pid, uid, gid[, euid, egid, groups]).
CREDENTIALS_PARSERS = {SCM_CREDENTIALS: parse_scm_credentials}
#: cmsg type -> parser of its payload into nanoseconds since the epoch.
TIMESTAMP_PARSERS = {SCM_TIMESTAMP: parse_timeval_ns, SCM_TIMESTAMPNS: parse_timespec_ns}
