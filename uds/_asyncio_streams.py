"""fd-passing for asyncio streams and for non-blocking sockets on a running loop.

asyncio transports have no ``sendmsg``/``recvmsg``; these helpers call them on
the transport's socket directly, keeping the byte order of the stream intact.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable, Union

from uds._ancillary import Buffer
from uds._asyncio_wait import call_on_fd, call_on_socket
from uds._ext import recv_fds as _recv_fds
from uds._ext import send_fds as _send_fds
from uds._fd import FileDescriptorLike, fileno_of
from uds._fds import ReceivedFds

__all__ = ["recv_fds", "send_fds"]


def _transport_socket(transport: Any, what: str) -> Any:
    sock = None if transport is None else transport.get_extra_info("socket")
    if sock is None:
        raise TypeError(f"the {what}'s transport has no socket (is it a unix stream?)")
    return sock


async def send_fds(
    writer_or_socket: Union[asyncio.StreamWriter, FileDescriptorLike],
    data: Buffer,
    fds: Iterable[FileDescriptorLike],
) -> int:
    """Send ``data`` with duplicates of ``fds`` on a StreamWriter or a non-blocking socket.

    For a :class:`asyncio.StreamWriter`, bytes written earlier and still
    buffered by the transport are flushed first, so the stream order is kept;
    the fds travel with the first byte of ``data``; whatever of ``data`` the
    socket does not take at once is queued on the writer (await
    ``writer.drain()`` as after ``write()``), and ``len(data)`` is returned.
    For a socket, the number of bytes sent is returned, as by
    :func:`uds.send_fds`. ``data`` must not be empty on a stream.

    A socket must be non-blocking or have a timeout (``settimeout(t)``,
    ``t > 0``): the call then waits on the loop, never in it, and the
    timeout bounds that wait; the socket itself is left as it is.

    Raises:
        ValueError: a blocking socket, empty data with fds on a stream, too many fds.
        OSError: ``EBADF`` for an fd that is not open (nothing is sent).
        BrokenPipeError: the peer is gone.
        TimeoutError: the socket's timeout expired.
    """
    fds = tuple(fds)
    if not isinstance(writer_or_socket, asyncio.StreamWriter):
        sent: int = await call_on_socket(writer_or_socket, True, _send_fds, data, fds)
        return sent
    writer = writer_or_socket
    transport = writer.transport
    sock = _transport_socket(transport, "writer")
    if transport.get_write_buffer_size():
        low, high = transport.get_write_buffer_limits()
        transport.set_write_buffer_limits(high=0)  # drain() now waits for an empty buffer
        try:
            await writer.drain()
        finally:
            transport.set_write_buffer_limits(high=high, low=low)
    sent = await call_on_fd(fileno_of(sock), True, _send_fds, sock, data, fds)
    view = memoryview(data)
    if sent < len(view):
        writer.write(view[sent:])
    return len(view)


async def recv_fds(
    reader_or_socket: Union[asyncio.StreamReader, FileDescriptorLike],
    bufsize: int,
    max_fds: int,
) -> tuple[bytes, ReceivedFds]:
    """Receive up to ``bufsize`` bytes and ``max_fds`` fds from a StreamReader or a socket.

    Received fds are close-on-exec and owned by the caller. For a
    :class:`asyncio.StreamReader`, bytes the reader has already buffered are
    returned first (with no fds: the transport read them without room for
    control data); only then is the socket read directly, with the transport's
    reading paused for the duration so that it cannot take the fds' bytes.

    fds sent while the transport is reading are lost (the kernel closes fds
    whose bytes are read without room for them): use this where the peer
    sends fds in answer to a request, or call ``transport.pause_reading()``
    beforehand, in which case reading stays paused afterwards.

    A socket must be non-blocking or have a timeout, as for :func:`send_fds`.

    Returns:
        ``(data, fds)``; ``b""`` and no fds at end of stream.

    Raises:
        ValueError: a blocking socket, ``max_fds`` out of range.
        TypeError: the reader has no socket transport.
        TimeoutError: the socket's timeout expired.
    """
    if not isinstance(reader_or_socket, asyncio.StreamReader):
        received: tuple[bytes, ReceivedFds] = await call_on_socket(
            reader_or_socket, False, _recv_fds, bufsize, max_fds
        )
        return received
    reader = reader_or_socket
    buffered = getattr(reader, "_buffer", None)
    if buffered:
        return await reader.read(bufsize), ReceivedFds()
    if reader.at_eof():
        return b"", ReceivedFds()
    transport: Any = getattr(reader, "_transport", None)
    sock = _transport_socket(transport, "reader")
    paused_here = transport.is_reading()
    if paused_here:
        transport.pause_reading()
    try:
        received = await call_on_fd(fileno_of(sock), False, _recv_fds, sock, bufsize, max_fds)
    finally:
        if paused_here and not transport.is_closing():
            transport.resume_reading()
    return received
