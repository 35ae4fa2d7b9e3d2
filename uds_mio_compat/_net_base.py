"""What the non-blocking socket types of uds_mio_compat.net share."""

from __future__ import annotations

import os
import socket
from typing import Optional, TypeVar

from uds import _platform
from uds._addr import UnixSocketAddr
from uds._closeable import Closeable
from uds._ext import local_unix_addr, peer_unix_addr

__all__ = [
    "ConnectedSocket",
    "NetSocket",
    "new_socket",
    "new_pair",
    "adopt",
    "NONBLOCK",
    "SEND_FLAGS",
]

#: Added to the socket type so the fd is non-blocking from the start; Python
#: adds SOCK_CLOEXEC itself. 0 where the OS lacks it (then set right after).
NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)
SEND_FLAGS = _platform.SEND_FLAGS

_T = TypeVar("_T", bound="NetSocket")


def new_socket(kind: int) -> socket.socket:
    """A unix socket of ``kind``, non-blocking and close-on-exec."""
    sock = socket.socket(socket.AF_UNIX, kind | NONBLOCK)
    if not NONBLOCK:
        sock.setblocking(False)
    return sock


def new_pair(kind: int) -> tuple[socket.socket, socket.socket]:
    """Two connected unix sockets of ``kind`` (``socketpair``), non-blocking and close-on-exec."""
    a, b = socket.socketpair(socket.AF_UNIX, kind | NONBLOCK)
    if not NONBLOCK:
        a.setblocking(False)
        b.setblocking(False)
    return a, b


def adopt(sock: socket.socket, kind: int, what: str) -> socket.socket:
    """Check that ``sock`` is a unix socket of ``kind`` and make it non-blocking.

    Raises:
        TypeError: ``sock`` is not a ``socket.socket``.
        ValueError: wrong family or type (``sock`` is left as it was).
    """
    if not isinstance(sock, socket.socket):
        raise TypeError(f"{what}.from_std() needs a socket.socket, not {type(sock).__name__}")
    if sock.family != socket.AF_UNIX or sock.type != kind:
        raise ValueError(
            f"{what}.from_std() needs an AF_UNIX {socket.SocketKind(kind).name} socket, "
            f"got {sock.family!r} {sock.type!r}"
        )
    sock.setblocking(False)
    return sock


class NetSocket(Closeable):
    """A non-blocking unix socket that owns its fd; base of the net types."""

    __slots__ = ("_sock",)

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def fileno(self) -> int:
        """The fd, for selectors, :class:`Registry` and the uds extension functions."""
        return self._sock.fileno()

    def local_addr(self) -> UnixSocketAddr:
        """The address this socket is bound to (unnamed when it is not)."""
        return local_unix_addr(self._sock)

    def take_error(self) -> Optional[OSError]:
        """Clear and return the pending socket error (``SO_ERROR``), or ``None``."""
        code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return OSError(code, os.strerror(code)) if code else None

    def close(self) -> None:
        """Close the socket; safe to call twice."""
        self._sock.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(fd={self._sock.fileno()})"


class ConnectedSocket(NetSocket):
    """A socket that can have a peer (stream, datagram)."""

    __slots__ = ()

    def peer_addr(self) -> UnixSocketAddr:
        """The peer's address (unnamed for an unbound peer).

        Raises:
            OSError: ``ENOTCONN`` when not connected.
        """
        return peer_unix_addr(self._sock)

    def shutdown(self, how: int) -> None:
        """Shut down reading (``SHUT_RD``), writing (``SHUT_WR``) or both (``SHUT_RDWR``)."""
        self._sock.shutdown(how)
