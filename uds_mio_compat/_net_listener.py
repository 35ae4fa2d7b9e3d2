"""UnixListener: a non-blocking unix stream listener (mio-uds ``UnixListener``)."""

from __future__ import annotations

import socket
from typing import Optional

from uds._addr import AddrLike, UnixSocketAddr
from uds._ext import accept_unix_addr, bind_unix_addr
from uds_mio_compat._net_base import NONBLOCK, NetSocket, adopt
from uds_mio_compat._net_stream import UnixStream

__all__ = ["UnixListener"]

_STREAM = socket.SOCK_STREAM
_DEFAULT_BACKLOG = 128


class UnixListener(NetSocket):
    """A non-blocking unix stream listener; close-on-exec, owns its fd."""

    __slots__ = ()

    @classmethod
    def bind(cls, addr: AddrLike, *, backlog: Optional[int] = None) -> UnixListener:
        """Listen on ``addr`` (a path, ``"@name"``, or a :class:`UnixSocketAddr`).

        Binding goes through :func:`uds.bind_unix_addr`: an existing file at a
        path is never replaced.

        Raises:
            FileExistsError, OSError: the address is taken (``EADDRINUSE``).
            ValueError: invalid address.
        """
        # SOCK_NONBLOCK in the type: created non-blocking (timeout 0) and
        # close-on-exec at once, and bind_unix_addr makes it listen.
        backlog = _DEFAULT_BACKLOG if backlog is None else backlog
        sock = bind_unix_addr(addr, _STREAM | NONBLOCK, backlog=backlog)
        if not NONBLOCK:  # no SOCK_NONBLOCK flag on this OS (macOS)
            sock.setblocking(False)
        return cls(sock)

    @classmethod
    def from_std(cls, sock: socket.socket) -> UnixListener:
        """Take ownership of a listening unix stream ``socket.socket``; make it non-blocking.

        Raises:
            TypeError, ValueError: not a unix stream socket.
        """
        return cls(adopt(sock, _STREAM, cls.__name__))

    def accept(self) -> tuple[UnixStream, UnixSocketAddr]:
        """Accept a waiting connection: a non-blocking :class:`UnixStream` and the peer's address.

        The new socket is close-on-exec from the start (``accept4``); it is made
        non-blocking right after.

        Raises:
            BlockingIOError: no connection is waiting.
        """
        conn, addr = accept_unix_addr(self._sock)
        try:
            conn.setblocking(False)
        except BaseException:
            conn.close()
            raise
        return UnixStream(conn), addr
