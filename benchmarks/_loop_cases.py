"""Round trip on every event loop: our seqpacket types and the protocol API beside streams.

One row per loop (asyncio, uvloop, anyio on asyncio, anyio on trio), each a
64-byte echo in one thread: ``uds`` is our seqpacket connection pair on that
loop (``uds.asyncio`` on asyncio and uvloop, ``uds.anyio`` on anyio's
backends), ``by hand`` is the loop's own stream API over a unix stream pair
with a 4-byte length prefix (asyncio streams; anyio's UNIX socket stream on
anyio). Two more rows put the fd-aware protocol API
(``uds.asyncio.create_server``/``create_connection`` with an
:class:`~uds.asyncio.FdProtocol`, a unix stream with the same length prefix)
beside asyncio streams, on asyncio and on uvloop.

The asyncio-based rows keep one loop for the whole case. trio has no loop
that can be left and re-entered, so each timed call of the anyio-on-trio row
is one ``trio.run``; its start-up and shutdown (about a millisecond of CPU) is
spread over :data:`TRIO_BATCH` round trips per iteration, where it adds a
microsecond or two to both columns alike.
"""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import socket
import struct
from contextlib import ExitStack
from typing import Any, Awaitable, Callable, Coroutine, Optional

from benchmarks._case import BY_HAND, OURS, Case, Unavailable, abstract_name
from benchmarks._timing import Loop

__all__ = ["CASES", "TRIO_BATCH"]

_SMALL = bytes(64)
_LENGTH = struct.Struct("!I")
_FRAME = _LENGTH.pack(len(_SMALL)) + _SMALL
_RECV_SIZE = 65536

#: Round trips per iteration of the anyio-on-trio row (one ``trio.run`` each).
TRIO_BATCH = 500

RoundTrip = Callable[[], Awaitable[object]]


class _Opened:
    """What a case opened on its loop: background tasks, closers (run in reverse), ends to await."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []
        self.closers: list[Callable[[], object]] = []
        self.ends: list[Callable[[], Awaitable[None]]] = []

    def spawn(self, coroutine: Awaitable[None]) -> None:
        self.tasks.append(asyncio.ensure_future(coroutine))


Maker = Callable[[_Opened], Awaitable[RoundTrip]]


def _need(module: str, why: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise Unavailable(why)


def _new_loop(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        _need("uvloop", "uvloop is not installed")
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def _on_loop(
    stack: ExitStack, new_loop: Callable[[], asyncio.AbstractEventLoop], makers: dict[str, Maker]
) -> dict[str, Loop]:
    """Set each maker's round trip up on one new loop (closed with ``stack``): their loops."""
    loop = new_loop()
    opened = _Opened()

    def shut_down() -> None:
        try:
            for close in reversed(opened.closers):
                close()
            for task in opened.tasks:
                task.cancel()
            loop.run_until_complete(_finish(opened))
            # Transports close their sockets in callbacks of the next iteration.
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            loop.close()

    stack.callback(shut_down)
    loops: dict[str, Loop] = {}
    for name, make in makers.items():
        round_trip = loop.run_until_complete(make(opened))
        loops[name] = _runner(loop, round_trip)
    return loops


async def _finish(opened: _Opened) -> None:
    ends = [end() for end in opened.ends]
    await asyncio.gather(*opened.tasks, *ends, return_exceptions=True)


def _runner(loop: asyncio.AbstractEventLoop, round_trip: RoundTrip) -> Loop:
    async def many(n: int) -> None:
        for _ in range(n):
            await round_trip()

    return lambda n: loop.run_until_complete(many(n))


def _frames(buffer: bytearray, data: bytes) -> list[bytes]:
    """The complete length-prefixed frames of what ``buffer`` held, then ``data``.

    The rest stays in ``buffer``. The usual read, one whole frame and nothing
    buffered, is not copied.
    """
    if (
        not buffer
        and len(data) >= _LENGTH.size
        and len(data) == _LENGTH.size + _LENGTH.unpack_from(data)[0]
    ):
        return [data]
    buffer += data
    frames = []
    while len(buffer) >= _LENGTH.size:
        end = _LENGTH.size + _LENGTH.unpack_from(buffer)[0]
        if len(buffer) < end:
            break
        frames.append(bytes(buffer[:end]))
        del buffer[:end]
    return frames


# Our seqpacket types -----------------------------------------------------------------


async def _asyncio_seqpacket(opened: _Opened) -> RoundTrip:
    from uds.asyncio import UnixSeqpacketConn

    client, server = UnixSeqpacketConn.pair()
    opened.closers += [client.close, server.close]

    async def echo() -> None:
        while data := await server.recv(_RECV_SIZE):
            await server.send(data)

    opened.spawn(echo())

    async def round_trip() -> bytes:
        await client.send(_SMALL)
        return await client.recv(_RECV_SIZE)

    return round_trip


# asyncio streams -----------------------------------------------------------------------


def _settle_malloc() -> None:
    """Free one large block, so glibc stops mapping and unmapping 256 KiB per stream read.

    asyncio's transports read with ``recv(256 KiB)``, a fresh buffer each time.
    Above glibc's mmap threshold (128 KiB at start) that is an ``mmap`` and a
    ``munmap`` per read, until the first ``free`` of a mapped block raises the
    threshold for the rest of the process: streams then cost half as much. A
    long-running program gets there soon; doing it here puts the streams at
    their best every time, whatever ran before in this process.
    """
    block = bytes(1 << 20)
    del block


async def _asyncio_streams(opened: _Opened) -> RoundTrip:
    _settle_malloc()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    opened.closers += [a.close, b.close]  # a no-op once the transports own them
    reader, writer = await asyncio.open_unix_connection(sock=a)
    opened.closers.append(writer.close)
    server_reader, server_writer = await asyncio.open_unix_connection(sock=b)
    opened.closers.append(server_writer.close)

    async def echo() -> None:
        while True:
            header = await server_reader.readexactly(_LENGTH.size)
            body = await server_reader.readexactly(_LENGTH.unpack(header)[0])
            server_writer.write(header + body)
            await server_writer.drain()

    opened.spawn(echo())

    async def round_trip() -> bytes:
        writer.write(_FRAME)
        await writer.drain()
        header = await reader.readexactly(_LENGTH.size)
        return await reader.readexactly(_LENGTH.unpack(header)[0])

    return round_trip


# The fd-aware protocol API ---------------------------------------------------------------


def _protocols() -> tuple[type[Any], type[Any]]:
    """The echo server's and the client's protocol classes (uds.asyncio imported lazily)."""
    from uds.asyncio import FdProtocol

    class Echo(FdProtocol):
        def __init__(self) -> None:
            self.transport: Any = None  # has write(): uvloop's transports are no asyncio.Transport
            self.buffer = bytearray()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            assert self.transport is not None
            for frame in _frames(self.buffer, data):
                self.transport.write(frame)

    class Client(FdProtocol):
        def __init__(self) -> None:
            self.buffer = bytearray()
            self.replies: collections.deque[asyncio.Future[bytes]] = collections.deque()

        def data_received(self, data: bytes) -> None:
            for frame in _frames(self.buffer, data):
                reply = self.replies.popleft()
                if not reply.done():
                    reply.set_result(frame[_LENGTH.size :])

        def connection_lost(self, exc: Optional[Exception]) -> None:
            for reply in self.replies:
                if not reply.done():
                    reply.set_exception(exc or ConnectionResetError("the echo server went away"))

    return Echo, Client


async def _protocol_api(opened: _Opened) -> RoundTrip:
    from uds.asyncio import create_connection, create_server

    echo, client_protocol = _protocols()
    address = abstract_name()
    server = await create_server(echo, address)
    opened.closers.append(server.close)
    opened.ends.append(server.wait_closed)  # until the server's side has closed too
    transport, client = await create_connection(client_protocol, address)
    opened.closers.append(transport.close)
    loop = asyncio.get_running_loop()

    async def round_trip() -> bytes:
        reply: asyncio.Future[bytes] = loop.create_future()
        client.replies.append(reply)
        transport.write(_FRAME)
        return await reply

    return round_trip


# anyio -----------------------------------------------------------------------------------


class _AnyioPairs:
    """Both anyio round trips over socket pairs, usable from any run of either backend.

    The echo tasks run in the task group given to :meth:`start`; the anyio
    streams wrap their sockets lazily, in the first run (wrapping needs one).
    """

    def __init__(self, stack: ExitStack) -> None:
        from uds.anyio import UnixSeqpacketConn

        self._client, self._server = UnixSeqpacketConn.pair()
        stack.callback(self._server.close)
        stack.callback(self._client.close)
        self._a, self._b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        stack.enter_context(self._a)
        stack.enter_context(self._b)
        self._streams: Optional[tuple[Any, Any, Any, Any]] = None

    async def seqpacket_echo(self) -> None:
        server = self._server
        while data := await server.recv(_RECV_SIZE):
            await server.send(data)

    async def seqpacket_round_trip(self) -> bytes:
        await self._client.send(_SMALL)
        return await self._client.recv(_RECV_SIZE)

    async def _wrapped(self) -> tuple[Any, Any, Any, Any]:
        if self._streams is None:
            from anyio.abc import UNIXSocketStream
            from anyio.streams.buffered import BufferedByteReceiveStream

            # The streams wrap (not duplicate) the pair's sockets: closing those closes them.
            client = await UNIXSocketStream.from_socket(self._a)
            server = await UNIXSocketStream.from_socket(self._b)
            self._streams = (
                client,
                BufferedByteReceiveStream(client),
                server,
                BufferedByteReceiveStream(server),
            )
        return self._streams

    async def stream_echo(self) -> None:
        _, _, server, server_reader = await self._wrapped()
        while True:
            header = await server_reader.receive_exactly(_LENGTH.size)
            body = await server_reader.receive_exactly(_LENGTH.unpack(header)[0])
            await server.send(header + body)

    async def stream_round_trip(self) -> bytes:
        client, reader, _, _ = await self._wrapped()
        await client.send(_FRAME)
        header = await reader.receive_exactly(_LENGTH.size)
        return await reader.receive_exactly(_LENGTH.unpack(header)[0])  # type: ignore[no-any-return]


def _anyio_on_asyncio(stack: ExitStack) -> dict[str, Loop]:
    _need("anyio", "anyio is not installed")
    loop = asyncio.new_event_loop()
    stack.callback(loop.close)
    pairs = _AnyioPairs(stack)  # closed after the echo tasks end, before the loop
    tasks = [loop.create_task(pairs.seqpacket_echo()), loop.create_task(pairs.stream_echo())]

    def end_tasks() -> None:
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

    stack.callback(end_tasks)
    return {
        OURS: _runner(loop, pairs.seqpacket_round_trip),
        BY_HAND: _runner(loop, pairs.stream_round_trip),
    }


def _anyio_on_trio(stack: ExitStack) -> dict[str, Loop]:
    _need("anyio", "anyio is not installed")
    _need("trio", "trio is not installed")
    import anyio
    import trio

    pairs = _AnyioPairs(stack)

    def runner(echo: Callable[[], Coroutine[Any, Any, None]], round_trip: RoundTrip) -> Loop:
        async def many(n: int) -> None:
            async with anyio.create_task_group() as group:
                group.start_soon(echo)
                for _ in range(n * TRIO_BATCH):
                    await round_trip()
                # The echo waits for the next request: cancelling it there loses nothing.
                group.cancel_scope.cancel()

        return lambda n: trio.run(many, n)

    return {
        OURS: runner(pairs.seqpacket_echo, pairs.seqpacket_round_trip),
        BY_HAND: runner(pairs.stream_echo, pairs.stream_round_trip),
    }


# Cases -----------------------------------------------------------------------------------


def _seqpacket_on(loop_name: str) -> Callable[[ExitStack], dict[str, Loop]]:
    def setup(stack: ExitStack) -> dict[str, Loop]:
        _need("uds.asyncio", "uds.asyncio is not built yet")
        makers: dict[str, Maker] = {OURS: _asyncio_seqpacket, BY_HAND: _asyncio_streams}
        return _on_loop(stack, _new_loop(loop_name), makers)

    return setup


def _protocol_on(loop_name: str) -> Callable[[ExitStack], dict[str, Loop]]:
    def setup(stack: ExitStack) -> dict[str, Loop]:
        _need("uds.asyncio", "uds.asyncio is not built yet")
        makers: dict[str, Maker] = {OURS: _protocol_api, BY_HAND: _asyncio_streams}
        return _on_loop(stack, _new_loop(loop_name), makers)

    return setup


CASES = [
    Case(
        "loop_asyncio_64",
        "asyncio loop round trip, 64 B (uds.asyncio seqpacket vs asyncio streams)",
        _seqpacket_on("asyncio"),
    ),
    Case(
        "loop_uvloop_64",
        "uvloop round trip, 64 B (uds.asyncio seqpacket vs asyncio streams)",
        _seqpacket_on("uvloop"),
    ),
    Case(
        "loop_anyio_asyncio_64",
        "anyio-on-asyncio round trip, 64 B (uds.anyio seqpacket vs anyio UNIX streams)",
        _anyio_on_asyncio,
    ),
    Case(
        "loop_anyio_trio_64",
        "anyio-on-trio round trip, 64 B (uds.anyio seqpacket vs anyio UNIX streams)",
        _anyio_on_trio,
        per=TRIO_BATCH,
    ),
    Case(
        "loop_protocol_asyncio_64",
        "asyncio loop round trip, 64 B (uds.asyncio protocol API vs asyncio streams)",
        _protocol_on("asyncio"),
    ),
    Case(
        "loop_protocol_uvloop_64",
        "uvloop round trip, 64 B (uds.asyncio protocol API vs asyncio streams)",
        _protocol_on("uvloop"),
    ),
]
