"""anyio support (asyncio or trio backend): seqpacket types, fd-passing on UNIX streams.

The seqpacket types are the :mod:`uds.asyncio` ones with anyio's waiting: the
same methods, arguments and results, the same "system call first, wait only
when it would block" rule, so a cancelled receive loses nothing. anyio lets
one task at a time wait on each direction of a socket; a second concurrent
receiver (or sender) gets :class:`anyio.BusyResourceError`.

The stream functions work on anyio's UNIX socket streams (what
``anyio.connect_unix`` and the listeners of ``anyio.create_unix_listener``
give) and on non-blocking unix sockets: fds and other control data, with
``MSG_CTRUNC`` reported and no fd leaked on any error path.
"""

from __future__ import annotations

import _socket
import socket
from typing import Any, Iterable, Optional, Union, cast

import anyio
import anyio.abc

from uds import _ancillary, _ext
from uds import _seqpacket as _core
from uds._addr import AddrLike, UnixSocketAddr
from uds._ancillary import Buffer, Received, WritableBuffer, as_buffers
from uds._anyio_wait import AnyioWaiter, call_on_socket
from uds._asyncio_seqpacket import UnixSeqpacketConn as _AsyncioConn
from uds._asyncio_seqpacket import UnixSeqpacketListener as _AsyncioListener
from uds._asyncio_seqpacket import _connect_waiting
from uds._asyncio_wait import Waiter, nonblocking_call
from uds._credentials import SendCredentials
from uds._fd import FileDescriptorLike
from uds._fds import ReceivedFds

__all__ = [
    "UnixSeqpacketConn",
    "UnixSeqpacketListener",
    "UnixStreamListener",
    "connect_unix_addr",
    "create_unix_listener",
    "recv_ancillary",
    "recv_fds",
    "send_ancillary",
    "send_fds",
]

_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)
_DEFAULT_BACKLOG = 128
SocketOrStream = Union[anyio.abc.SocketStream, FileDescriptorLike]


class _AnyioWaiting:
    """Wait through anyio instead of the asyncio loop."""

    __slots__ = ()
    _sock: _socket.socket

    def _new_waiter(self) -> Waiter:
        return AnyioWaiter(self._sock)

    @staticmethod
    async def _sleep(delay: float) -> None:
        await anyio.sleep(delay)


class UnixSeqpacketConn(_AnyioWaiting, _AsyncioConn):
    """A seqpacket connection for anyio: the methods of :class:`uds.asyncio.UnixSeqpacketConn`.

    Runs on either anyio backend. Close it with ``await conn.aclose()`` (or
    ``async with``); a task still waiting on it then gets
    :class:`anyio.ClosedResourceError`.
    """

    __slots__ = ()


class UnixSeqpacketListener(_AnyioWaiting, _AsyncioListener):
    """A seqpacket listener for anyio; it accepts :class:`UnixSeqpacketConn` objects."""

    __slots__ = ()
    _CONN = UnixSeqpacketConn

    async def accept(self) -> tuple[UnixSeqpacketConn, UnixSocketAddr]:
        """Wait for a connection; return it and the peer's address.

        The connection is close-on-exec from the start (``accept4``).
        """
        conn, addr = await super().accept()
        return cast(UnixSeqpacketConn, conn), addr

    async def accept_unix_addr(self) -> tuple[UnixSeqpacketConn, UnixSocketAddr]:
        """Wait for a connection; return it and the peer's address (as :meth:`accept`)."""
        return await self.accept()


def _from_socket(cls: Any) -> Any:
    """``cls.from_socket`` (anyio 4.10 and newer).

    Raises:
        RuntimeError: an older anyio.
    """
    from_socket = getattr(cls, "from_socket", None)
    if from_socket is None:
        raise RuntimeError(f"{cls.__name__}.from_socket needs anyio 4.10 or newer")
    return from_socket


def _socket_of(obj: SocketOrStream) -> tuple[FileDescriptorLike, Optional[anyio.abc.SocketStream]]:
    """The socket to call, and the stream when ``obj`` is an anyio stream."""
    if not isinstance(obj, anyio.abc.SocketStream):
        return obj, None
    sock = obj.extra(anyio.abc.SocketAttribute.raw_socket)
    if sock.family != socket.AF_UNIX:
        raise TypeError(f"{type(obj).__name__} is not a UNIX socket stream")
    return sock, obj


async def send_fds(
    stream_or_socket: SocketOrStream, data: Buffer, fds: Iterable[FileDescriptorLike]
) -> int:
    """Send ``data`` with duplicates of ``fds`` on an anyio UNIX stream or a non-blocking socket.

    The fds travel with the first byte of ``data``. On a stream, all of
    ``data`` is sent (the rest through the stream after the first part) and
    ``len(data)`` returned; on a socket, the bytes sent, as :func:`uds.send_fds`.

    Raises:
        ValueError: a blocking socket; empty ``data`` with fds on a stream; too many fds.
        OSError: ``EBADF`` for an fd that is not open (nothing is sent).
        BrokenPipeError: the peer is gone.
        TypeError: a stream that is not a UNIX socket stream.
    """
    sock, stream = _socket_of(stream_or_socket)
    fds = tuple(fds)
    view = memoryview(data)
    if stream is not None and fds and not len(view):
        raise ValueError("a stream cannot carry fds without data: send at least one byte")
    sent: int = await call_on_socket(sock, True, _ext.send_fds, view, fds)
    if stream is None:
        return sent
    if sent < len(view):
        await stream.send(bytes(view[sent:]))
    return len(view)


async def recv_fds(
    stream_or_socket: SocketOrStream, bufsize: int, max_fds: int
) -> tuple[bytes, ReceivedFds]:
    """Receive up to ``bufsize`` bytes and ``max_fds`` fds from an anyio UNIX stream or a socket.

    Received fds are close-on-exec and the caller's. Nothing is read until the
    socket is readable, so cancelling the call loses nothing.

    Returns:
        ``(data, fds)``; ``b""`` and no fds at end of stream.

    Raises:
        ValueError: a blocking socket; ``max_fds`` out of range.
        TypeError: a stream that is not a UNIX socket stream.
    """
    sock, _ = _socket_of(stream_or_socket)
    received: tuple[bytes, ReceivedFds] = await call_on_socket(
        sock, False, _ext.recv_fds, bufsize, max_fds
    )
    return received


async def send_ancillary(
    stream_or_socket: SocketOrStream,
    buffers: Union[Buffer, Iterable[Buffer]],
    *,
    fds: Iterable[FileDescriptorLike] = (),
    credentials: Union[bool, SendCredentials, None] = None,
    addr: Optional[AddrLike] = None,
    flags: int = 0,
) -> int:
    """Send one message with fds, credentials or an address (:func:`uds.ancillary.send_ancillary`).

    ``stream_or_socket`` is an anyio UNIX socket stream, a non-blocking unix
    socket, or a :class:`UnixSeqpacketConn` of this module.

    Returns:
        The number of bytes sent (a stream may take fewer; the fds then went
        with the first byte).

    Raises:
        as :func:`uds.ancillary.send_ancillary`; ``ValueError`` for a blocking socket.
    """
    if isinstance(stream_or_socket, UnixSeqpacketConn):
        if addr is not None:
            raise ValueError("a connected seqpacket socket takes no destination address")
        return await stream_or_socket.send_ancillary(
            buffers, fds=fds, credentials=credentials, flags=flags
        )
    sock, _ = _socket_of(stream_or_socket)
    data = as_buffers(buffers)
    fds = tuple(fds)

    def send(target: FileDescriptorLike) -> int:
        return _ancillary.send_ancillary(
            target, data, fds=fds, credentials=credentials, addr=addr, flags=flags
        )

    return await call_on_socket(sock, True, send)


async def recv_ancillary(
    stream_or_socket: SocketOrStream,
    bufsize_or_buffers: Union[int, Iterable[WritableBuffer]],
    *,
    max_fds: int = 0,
    credentials: bool = False,
    timestamps: bool = False,
    security: bool = False,
    flags: int = 0,
) -> Received:
    """Receive one message and its control data (:func:`uds.ancillary.recv_ancillary`).

    On an anyio UNIX stream, a non-blocking unix socket, or a
    :class:`UnixSeqpacketConn` of this module. Credentials sent with
    ``SO_PASSCRED`` on come back in ``Received.credentials`` beside the fds
    (anyio's own ``receive_fds`` refuses them). Cancelling loses nothing.

    Raises:
        as :func:`uds.ancillary.recv_ancillary`; ``ValueError`` for a blocking socket.
    """
    if isinstance(stream_or_socket, UnixSeqpacketConn):
        return await stream_or_socket.recv_ancillary(
            bufsize_or_buffers,
            max_fds=max_fds,
            credentials=credentials,
            timestamps=timestamps,
            security=security,
            flags=flags,
        )
    sock, _ = _socket_of(stream_or_socket)
    target = bufsize_or_buffers if isinstance(bufsize_or_buffers, int) else list(bufsize_or_buffers)

    def recv(source: FileDescriptorLike) -> Received:
        return _ancillary.recv_ancillary(
            source,
            target,
            max_fds=max_fds,
            credentials=credentials,
            timestamps=timestamps,
            security=security,
            flags=flags,
        )

    return await call_on_socket(sock, False, recv)


async def create_unix_listener(
    addr: AddrLike,
    *,
    mode: Optional[int] = None,
    replace_stale: bool = False,
    backlog: int = _DEFAULT_BACKLOG,
) -> UnixStreamListener:
    """Listen for unix stream connections at ``addr``, as an anyio listener (trio included).

    ``addr`` is a path, ``"@name"`` (abstract) or a :class:`uds.UnixSocketAddr`.
    Unlike ``anyio.create_unix_listener``, nothing at a path is removed:
    ``mode`` sets the file's permissions exactly, and only ``replace_stale``
    replaces a socket file nobody listens on (see :func:`uds.bind_path`).
    The socket file stays after the listener closes. Accepted connections are
    anyio UNIX socket streams, which :func:`send_fds`/:func:`recv_fds` take.

    Raises:
        FileExistsError: the path is taken (``EADDRINUSE``).
        OSError: ``EADDRINUSE`` for a taken abstract name.
        ValueError: an invalid address; ``mode`` for an address that is not a path.
    """
    target = UnixSocketAddr.new(addr)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | _NONBLOCK)  # close-on-exec
    socket_file = None
    try:
        if not _NONBLOCK:
            sock.setblocking(False)
        socket_file = _core.bind_to(
            sock, target, mode=mode, replace_stale=replace_stale, backlog=backlog
        )
        sock.listen(backlog)
    except BaseException:
        sock.close()
        if socket_file is not None:
            socket_file.unlink()
        raise
    return UnixStreamListener(sock)


class UnixStreamListener(anyio.abc.SocketListener):
    """An anyio listener on a unix stream socket; :func:`create_unix_listener` makes one.

    Accepted connections are anyio UNIX socket streams (close-on-exec). Its
    own class rather than ``SocketListener.from_socket``, which some anyio
    versions wrap as a TCP listener (setting ``TCP_NODELAY`` fails on unix
    sockets).
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._waiter = AnyioWaiter(sock)

    @property
    def _raw_socket(self) -> socket.socket:
        return self._sock

    async def accept(self) -> anyio.abc.UNIXSocketStream:
        """Wait for a connection and return it as an anyio UNIX socket stream.

        Raises:
            anyio.ClosedResourceError: the listener was closed while waiting.
        """
        conn, _ = await nonblocking_call(self._waiter, False, self._sock.accept)
        try:
            stream: anyio.abc.UNIXSocketStream = await _from_socket(anyio.abc.UNIXSocketStream)(
                conn
            )
        except BaseException:
            conn.close()
            raise
        return stream

    async def aclose(self) -> None:
        """Close the listening socket (the socket file stays); pending accepts wake."""
        if self._sock.fileno() >= 0:
            self._waiter.close()
        self._sock.close()


async def connect_unix_addr(addr: AddrLike) -> anyio.abc.UNIXSocketStream:
    """Connect a unix stream socket to ``addr`` (a path, ``"@name"`` or a UnixSocketAddr).

    A full backlog is waited out (retried from 1 ms up to 50 ms); cancelling
    closes the socket.

    Returns:
        An anyio UNIX socket stream.

    Raises:
        ConnectionRefusedError, FileNotFoundError: nobody listens there.
        ValueError: an invalid address.
    """
    target = UnixSocketAddr.new(addr).to_std()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | _NONBLOCK)
    try:
        if not _NONBLOCK:
            sock.setblocking(False)
        await _connect_waiting(sock, target, anyio.sleep)
        stream: anyio.abc.UNIXSocketStream = await _from_socket(anyio.abc.UNIXSocketStream)(sock)
        return stream
    except BaseException:
        sock.close()
        raise
