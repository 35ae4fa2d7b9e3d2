"""asyncio streams over the fd-aware transport: open_connection and start_server.

The shapes of ``asyncio.open_unix_connection``/``asyncio.start_unix_server``:
a :class:`FdStreamReader` (an :class:`asyncio.StreamReader` that also keeps
the fds that arrived, each with the stream position of the bytes it came
with) and an :class:`FdStreamWriter` (an :class:`asyncio.StreamWriter` whose
``write`` takes ``fds``; ``drain`` waits on the transport's write-buffer
limits as usual). Unix stream sockets only: a StreamReader does not keep
packet boundaries (use the protocol API or the seqpacket types for those).
"""

from __future__ import annotations

import asyncio
import collections
import socket
from asyncio.streams import FlowControlMixin
from typing import Any, Awaitable, Callable, Iterable, Optional, SupportsIndex, Union

from uds._addr import AddrLike
from uds._asyncio_protocol import UnixFdServer, UnixFdTransport, create_connection, create_server
from uds._fd import FileDescriptorLike
from uds._fds import ReceivedFds, close_all

__all__ = ["FdStreamReader", "FdStreamWriter", "open_connection", "start_server"]

_DEFAULT_LIMIT = 2**16
ClientConnected = Callable[["FdStreamReader", "FdStreamWriter"], Optional[Awaitable[None]]]
_Bytes = Union[bytes, bytearray, memoryview]


class FdStreamReader(asyncio.StreamReader):
    """A StreamReader that keeps received fds with the bytes they came with.

    Read bytes as from any StreamReader, then call :meth:`take_fds` for the
    fds that arrived with bytes already read. (The kernel hands over fds
    with a chunk that may start with earlier bytes: see
    :class:`uds.asyncio.UnixFdTransport`.)
    """

    def __init__(self, limit: int = _DEFAULT_LIMIT) -> None:
        super().__init__(limit=limit)
        self._fed = 0
        # (stream position of the first byte of the chunk, the fds that came with it)
        self._pending_fds: collections.deque[tuple[int, list[int]]] = collections.deque()
        self._fds_truncated = False

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        """Add ``data`` to the buffer (called by the protocol)."""
        self._fed += len(data)  # type: ignore[arg-type]  # bytes-like, as the base takes
        super().feed_data(data)

    def feed_fds(self, fds: ReceivedFds) -> None:
        """Keep ``fds`` for the bytes fed next (called by the protocol); now owned here."""
        self._fds_truncated = self._fds_truncated or fds.truncated
        self._pending_fds.append((self._fed, fds.detach()))

    def take_fds(self) -> ReceivedFds:
        """Hand out, in order, the fds that came with bytes already read.

        The caller owns the result (a :class:`uds.ReceivedFds`; close it or
        use it as a context manager). Its ``truncated`` is True when the
        kernel dropped fds that did not fit since the last call.
        """
        read = self._fed - len(self._buffer)  # type: ignore[attr-defined]
        taken: list[int] = []
        pending = self._pending_fds
        while pending and pending[0][0] < read:
            taken.extend(pending.popleft()[1])
        truncated, self._fds_truncated = self._fds_truncated, False
        return ReceivedFds(taken, truncated)

    def close_fds(self) -> None:
        """Close every fd received and not taken yet."""
        pending, self._pending_fds = self._pending_fds, collections.deque()
        close_all(fd for _, fds in pending for fd in fds)


class FdStreamWriter(asyncio.StreamWriter):
    """A StreamWriter whose :meth:`write` also sends fds, with the first byte of ``data``."""

    def write(self, data: _Bytes, fds: Iterable[FileDescriptorLike] = ()) -> None:
        """Write ``data`` and ``fds`` (see :meth:`uds.asyncio.UnixFdTransport.write`).

        The caller's fds may be closed as soon as this returns; await
        :meth:`drain` as after any write.

        Raises:
            ValueError: fds with empty ``data``; more than 253 fds.
            OSError: ``EBADF`` for an fd that is not open (nothing is sent).
        """
        transport: UnixFdTransport = self.transport  # type: ignore[assignment]
        transport.write(data, fds)

    def close(self) -> None:
        """Close the connection, and the fds received that were not taken."""
        try:
            super().close()
        finally:
            reader = getattr(self, "_reader", None)
            if isinstance(reader, FdStreamReader):
                reader.close_fds()


class _FdStreamProtocol(FlowControlMixin, asyncio.Protocol):
    """Feeds an FdStreamReader from a UnixFdTransport; flow control for the writer's drain."""

    def __init__(
        self,
        reader: FdStreamReader,
        loop: asyncio.AbstractEventLoop,
        client_connected: Optional[ClientConnected] = None,
    ) -> None:
        super().__init__(loop=loop)
        self._loop = loop
        self._reader = reader
        self._client_connected = client_connected
        self._closed: asyncio.Future[None] = loop.create_future()
        self._task: Optional[asyncio.Future[None]] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._reader.set_transport(transport)
        if self._client_connected is None:
            return
        writer = FdStreamWriter(transport, self, self._reader, self._loop)  # type: ignore[arg-type]
        result = self._client_connected(self._reader, writer)
        if asyncio.iscoroutine(result):
            self._task = asyncio.ensure_future(result)

    def fds_received(self, fds: ReceivedFds) -> None:
        self._reader.feed_fds(fds)

    def data_received(self, data: bytes) -> None:
        self._reader.feed_data(data)

    def eof_received(self) -> bool:
        self._reader.feed_eof()
        return True  # as asyncio's streams: the writer may still write (half-close)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if exc is None:
            self._reader.feed_eof()
        else:
            self._reader.set_exception(exc)
        if not self._closed.done():
            if exc is None:
                self._closed.set_result(None)
            else:
                self._closed.set_exception(exc)
                self._closed.exception()  # retrieved: nobody may wait for it
        super().connection_lost(exc)

    def _get_close_waiter(self, stream: Any) -> asyncio.Future[None]:
        return self._closed


async def open_connection(
    addr: Optional[AddrLike] = None,
    *,
    limit: int = _DEFAULT_LIMIT,
    sock: Optional[socket.socket] = None,
) -> tuple[FdStreamReader, FdStreamWriter]:
    """Connect to a unix stream listener; return an fd-aware reader and writer.

    As ``asyncio.open_unix_connection``: ``addr`` is a path, ``"@name"``
    (abstract) or a :class:`uds.UnixSocketAddr`, or ``sock`` a connected unix
    stream socket to take over. ``limit`` is the reader's buffer limit.

    Raises:
        ConnectionRefusedError, FileNotFoundError: nobody listens at ``addr``.
        ValueError: both or neither of ``addr`` and ``sock``.
    """
    loop = asyncio.get_running_loop()
    reader = FdStreamReader(limit=limit)
    transport, protocol = await create_connection(
        lambda: _FdStreamProtocol(reader, loop), addr, sock=sock
    )
    return reader, FdStreamWriter(transport, protocol, reader, loop)


async def start_server(
    client_connected: ClientConnected,
    addr: Optional[AddrLike] = None,
    *,
    limit: int = _DEFAULT_LIMIT,
    sock: Optional[socket.socket] = None,
    backlog: int = 100,
    start_serving: bool = True,
    cleanup_socket: bool = True,
) -> UnixFdServer:
    """Serve unix stream connections with fd-aware readers and writers.

    As ``asyncio.start_unix_server``: ``client_connected(reader, writer)`` is
    called (or, if a coroutine function, scheduled as a task) for each
    connection; the rest as :func:`uds.asyncio.create_server`.

    Raises:
        FileExistsError: the path is taken (``EADDRINUSE``).
        OSError: ``EADDRINUSE`` for a taken abstract name.
    """
    loop = asyncio.get_running_loop()

    def factory() -> _FdStreamProtocol:
        return _FdStreamProtocol(FdStreamReader(limit=limit), loop, client_connected)

    return await create_server(
        factory,
        addr,
        sock=sock,
        backlog=backlog,
        start_serving=start_serving,
        cleanup_socket=cleanup_socket,
    )
