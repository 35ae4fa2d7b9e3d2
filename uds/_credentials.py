"""Credentials of a peer: from the connection, per message, and to send."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Optional

from uds import _platform
from uds._errors import UnsupportedPlatformError
from uds._fd import FileDescriptorLike, call_on, call_on_unix

__all__ = [
    "ConnCredentials",
    "ReceivedCredentials",
    "SendCredentials",
    "initial_peer_credentials",
    "initial_pair_credentials",
    "initial_peer_selinux_context",
    "peer_pidfd",
]

_sys = _platform.current


@dataclass(frozen=True)
class ConnCredentials:
    """Who the peer was when the connection was made (or the pair created).

    ``pid`` and ``egid`` are ``None`` on systems that do not report them.
    ``groups`` are the supplementary groups where the OS reports them.
    """

    pid: Optional[int]
    euid: int
    egid: Optional[int]
    groups: tuple[int, ...] = ()


@dataclass(frozen=True)
class ReceivedCredentials:
    """Credentials attached by the kernel to one message (SCM_CREDENTIALS/SCM_CREDS).

    ``euid``/``egid``/``groups`` are filled where the OS sends them (the BSDs),
    ``None``/``()`` otherwise.
    """

    pid: int
    uid: int
    gid: int
    euid: Optional[int] = None
    egid: Optional[int] = None
    groups: tuple[int, ...] = ()


@dataclass(frozen=True)
class SendCredentials:
    """Credentials to attach to a message (Linux SCM_CREDENTIALS).

    Anyone may send their own pid, uid/euid and gid/egid; claiming others needs
    CAP_SYS_ADMIN (pid) or CAP_SETUID/CAP_SETGID, else the send fails with
    :class:`PermissionError`.
    """

    pid: int
    uid: int
    gid: int

    @classmethod
    def current(cls) -> SendCredentials:
        """The calling process's own pid, uid and gid."""
        return cls(os.getpid(), os.getuid(), os.getgid())


def _unsupported(feature: str) -> UnsupportedPlatformError:
    return UnsupportedPlatformError(feature)


def initial_peer_credentials(sock: FileDescriptorLike) -> ConnCredentials:
    """The credentials the peer had when the connection was made.

    Works on connected unix stream and seqpacket sockets, and on socketpair ends.

    Raises:
        OSError: ``EAFNOSUPPORT`` for a socket that is not a unix socket (TCP,
            UDP...); ``ENODATA`` when the kernel recorded no peer (an
            unconnected socket, or a connected datagram socket that is not a
            socketpair end); ``EINVAL`` for a listening socket;
            ``ENOTSOCK``/``EBADF`` for something that is no socket.
        ValueError, TypeError: ``sock`` is a negative fd or not an fd at all.
        UnsupportedPlatformError: the OS cannot report peer credentials.
    """
    reader = getattr(_sys, "read_peer_credentials", None)
    if reader is None:
        raise _unsupported("peer credentials")
    # Linux answers SO_PEERCRED on a TCP socket too, with "no peer": say why.
    pid, euid, egid, groups = call_on_unix(sock, reader)
    return ConnCredentials(pid, euid, egid, groups)


def initial_pair_credentials(sock: FileDescriptorLike) -> ConnCredentials:
    """The credentials of the process that created this ``socketpair()``.

    Linux records them for datagram pairs too, where ordinary connected datagram
    sockets have none.

    Raises:
        OSError: as :func:`initial_peer_credentials`.
    """
    return initial_peer_credentials(sock)


def initial_peer_selinux_context(sock: FileDescriptorLike) -> bytes:
    """The peer's security label (SELinux/AppArmor/Smack context) at connect time.

    Raises:
        UnsupportedPlatformError: the OS or the running kernel has no security
            module that labels sockets (``ENOPROTOOPT`` from ``SO_PEERSEC``).
    """
    reader = getattr(_sys, "read_peer_security", None)
    if reader is None:
        raise _unsupported("SO_PEERSEC security labels")
    try:
        label: bytes = call_on(sock, reader)
    except OSError as error:
        if error.errno == errno.ENOPROTOOPT:
            raise UnsupportedPlatformError(
                "SO_PEERSEC security labels", "no security module labels sockets here"
            ) from None
        raise
    return label


def peer_pidfd(sock: FileDescriptorLike) -> int:
    """Open a pidfd for the peer process (Linux 6.5+ ``SO_PEERPIDFD``).

    A pidfd keeps referring to the same process even after its pid is reused,
    so it is the race-free way to signal or inspect the peer. The caller owns
    the returned fd (close-on-exec) and must close it.

    Raises:
        UnsupportedPlatformError: the OS or kernel lacks ``SO_PEERPIDFD``.
        OSError: ``ENODATA`` when there is no peer (not connected), ``ESRCH``
            when the peer is gone, ``EAFNOSUPPORT`` for a socket that is not
            a unix socket, ``ENOTSOCK``/``EBADF`` for something that is no socket.
    """
    reader = getattr(_sys, "read_peer_pidfd", None)
    if reader is None:
        raise _unsupported("SO_PEERPIDFD")
    try:
        fd: int = call_on_unix(sock, reader)
    except OSError as error:
        if error.errno == errno.ENOPROTOOPT:
            raise UnsupportedPlatformError("SO_PEERPIDFD", "needs Linux 6.5 or later") from None
        raise
    return fd
