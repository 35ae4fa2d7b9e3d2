"""UnixStream: a non-blocking unix stream connection (mio-uds ``UnixStream``)."""

from __future__ import annotations

import errno
import os
import socket

from uds._addr import AddrLike, UnixSocketAddr
from uds._ancillary import Buffer, WritableBuffer
from uds_mio_compat._net_base import (
    SEND_FLAGS,
    ConnectedSocket,
    adopt,
    new_pair,
    new_socket,
)

__all__ = ["UnixStream"]

_STREAM = socket.SOCK_STREAM


class UnixStream(ConnectedSocket):
    """A non-blocking unix stream socket; close-on-exec, owns its fd.

    Every I/O method raises :class:`BlockingIOError` instead of waiting;
    register the stream with a :class:`~uds_mio_compat.Registry` to learn when
    to retry. Sends never raise ``SIGPIPE`` (a gone peer gives
    :class:`BrokenPipeError`).
    """

    __slots__ = ()

    @classmethod
    def connect(cls, addr: AddrLike) -> UnixStream:
        """Connect to ``addr`` without waiting.

        Unix stream connections complete at once or fail; a listener whose
        backlog is full makes this raise :class:`BlockingIOError` (``EAGAIN``).

        Raises:
            ConnectionRefusedError, FileNotFoundError: nobody listens there.
            BlockingIOError: the listener's backlog is full.
            ValueError: invalid address.
        """
        target = UnixSocketAddr.new(addr).to_std()
        sock = new_socket(_STREAM)
        try:
            code = sock.connect_ex(target)
            if code and code != errno.EINPROGRESS:
                raise OSError(code, f"connecting to {target!r}: {os.strerror(code)}")
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    @classmethod
    def pair(cls) -> tuple[UnixStream, UnixStream]:
        """Two connected streams (``socketpair``)."""
        a, b = new_pair(_STREAM)
        return cls(a), cls(b)

    @classmethod
    def from_std(cls, sock: socket.socket) -> UnixStream:
        """Take ownership of a connected unix stream ``socket.socket``; make it non-blocking.

        Raises:
            TypeError, ValueError: not a unix stream socket.
        """
        return cls(adopt(sock, _STREAM, cls.__name__))

    def read(self, bufsize: int) -> bytes:
        """Read up to ``bufsize`` bytes; ``b""`` at end of stream.

        Raises:
            BlockingIOError: nothing to read yet.
        """
        return self._sock.recv(bufsize)

    recv = read

    def recv_into(self, buffer: WritableBuffer) -> int:
        """Read into ``buffer``; return the byte count (0 at end of stream)."""
        return self._sock.recv_into(buffer)

    def write(self, data: Buffer) -> int:
        """Write as much of ``data`` as fits; return the byte count.

        Raises:
            BlockingIOError: the send buffer is full.
            BrokenPipeError: the peer is gone.
        """
        return self._sock.send(data, SEND_FLAGS)

    send = write
