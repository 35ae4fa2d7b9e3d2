"""UnixDatagram: a non-blocking unix datagram socket (mio-uds ``UnixDatagram``)."""

from __future__ import annotations

import socket

from uds._addr import AddrLike, UnixSocketAddr
from uds._ancillary import Buffer, WritableBuffer
from uds._ext import bind_unix_addr, recv_from_unix_addr, send_to_unix_addr
from uds_mio_compat._net_base import (
    NONBLOCK,
    SEND_FLAGS,
    ConnectedSocket,
    adopt,
    new_pair,
    new_socket,
)

__all__ = ["UnixDatagram"]

_DGRAM = socket.SOCK_DGRAM


class UnixDatagram(ConnectedSocket):
    """A non-blocking unix datagram socket; close-on-exec, owns its fd.

    A datagram longer than the buffer given to a receive is truncated by the
    kernel; :func:`uds.recv_vectored_from_unix_addr` on this object reports it.
    """

    __slots__ = ()

    @classmethod
    def bind(cls, addr: AddrLike) -> UnixDatagram:
        """A datagram socket bound to ``addr``.

        Raises:
            OSError: the address is taken (``EADDRINUSE``).
            ValueError: invalid address.
        """
        sock = bind_unix_addr(addr, _DGRAM | NONBLOCK)
        if not NONBLOCK:
            sock.setblocking(False)
        return cls(sock)

    @classmethod
    def unbound(cls) -> UnixDatagram:
        """A datagram socket bound to nothing (it can send, and receive replies once connected)."""
        return cls(new_socket(_DGRAM))

    @classmethod
    def pair(cls) -> tuple[UnixDatagram, UnixDatagram]:
        """Two connected datagram sockets (``socketpair``)."""
        a, b = new_pair(_DGRAM)
        return cls(a), cls(b)

    @classmethod
    def from_std(cls, sock: socket.socket) -> UnixDatagram:
        """Take ownership of a unix datagram ``socket.socket``; make it non-blocking.

        Raises:
            TypeError, ValueError: not a unix datagram socket.
        """
        return cls(adopt(sock, _DGRAM, cls.__name__))

    def connect(self, addr: AddrLike) -> None:
        """Send to and receive from ``addr`` only.

        Raises:
            ConnectionRefusedError, FileNotFoundError: no socket there.
        """
        self._sock.connect(UnixSocketAddr.new(addr).to_std())

    def send(self, data: Buffer) -> int:
        """Send ``data`` as one datagram to the connected peer.

        Raises:
            BlockingIOError: the peer's queue is full.
            ConnectionRefusedError: the peer is gone.
        """
        return self._sock.send(data, SEND_FLAGS)

    def recv(self, bufsize: int) -> bytes:
        """Receive one datagram of up to ``bufsize`` bytes (the rest is discarded)."""
        return self._sock.recv(bufsize)

    def recv_into(self, buffer: WritableBuffer) -> int:
        """Receive one datagram into ``buffer``; return its byte count."""
        return self._sock.recv_into(buffer)

    def send_to(self, data: Buffer, addr: AddrLike) -> int:
        """Send ``data`` as one datagram to ``addr``."""
        return send_to_unix_addr(self._sock, data, addr)

    def recv_from(self, bufsize: int) -> tuple[bytes, UnixSocketAddr]:
        """Receive one datagram and its sender's address (unnamed for an unbound sender)."""
        return recv_from_unix_addr(self._sock, bufsize)
