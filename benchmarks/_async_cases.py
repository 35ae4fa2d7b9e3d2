"""asyncio round trip: uds.asyncio seqpacket against asyncio streams and anyio, length-prefixed."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import struct
from contextlib import ExitStack
from typing import Any, Awaitable, Callable

from benchmarks._case import ANYIO, BY_HAND, OURS, Case, Unavailable
from benchmarks._timing import Loop

__all__ = ["CASES"]

_SMALL = bytes(64)
_LENGTH = struct.Struct("!I")
_FRAME = _LENGTH.pack(len(_SMALL)) + _SMALL


def _runner(loop: asyncio.AbstractEventLoop, round_trip: Callable[[], Awaitable[object]]) -> Loop:
    async def many(n: int) -> None:
        for _ in range(n):
            await round_trip()

    return lambda n: loop.run_until_complete(many(n))


async def _ours(tasks: list[asyncio.Task[None]]) -> Callable[[], Awaitable[object]]:
    from uds.asyncio import UnixSeqpacketConn

    client, server = UnixSeqpacketConn.pair()

    async def echo() -> None:
        with server:
            while data := await server.recv(65536):
                await server.send(data)

    tasks.append(asyncio.ensure_future(echo()))

    async def round_trip() -> bytes:
        await client.send(_SMALL)
        return await client.recv(65536)

    tasks.append(asyncio.ensure_future(_close_later(client.close)))
    return round_trip


async def _close_later(close: Callable[[], object]) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        close()


async def _streams(tasks: list[asyncio.Task[None]]) -> Callable[[], Awaitable[object]]:
    a, b = socket.socketpair()
    reader, writer = await asyncio.open_unix_connection(sock=a)
    server_reader, server_writer = await asyncio.open_unix_connection(sock=b)

    async def echo() -> None:
        try:
            while True:
                header = await server_reader.readexactly(_LENGTH.size)
                body = await server_reader.readexactly(_LENGTH.unpack(header)[0])
                server_writer.write(header + body)
                await server_writer.drain()
        finally:
            server_writer.close()

    tasks.append(asyncio.ensure_future(echo()))
    tasks.append(asyncio.ensure_future(_close_later(writer.close)))

    async def round_trip() -> bytes:
        writer.write(_FRAME)
        await writer.drain()
        header = await reader.readexactly(_LENGTH.size)
        return await reader.readexactly(_LENGTH.unpack(header)[0])

    return round_trip


async def _anyio(tasks: list[asyncio.Task[None]]) -> Callable[[], Awaitable[object]]:
    from anyio.abc import UNIXSocketStream
    from anyio.streams.buffered import BufferedByteReceiveStream

    a, b = socket.socketpair()
    client: Any = await UNIXSocketStream.from_socket(a)
    server: Any = await UNIXSocketStream.from_socket(b)
    reader = BufferedByteReceiveStream(client)
    server_reader = BufferedByteReceiveStream(server)

    async def echo() -> None:
        try:
            while True:
                header = await server_reader.receive_exactly(_LENGTH.size)
                body = await server_reader.receive_exactly(_LENGTH.unpack(header)[0])
                await server.send(header + body)
        finally:
            await server.aclose()

    tasks.append(asyncio.ensure_future(echo()))
    tasks.append(asyncio.ensure_future(_close_later(a.close)))

    async def round_trip() -> bytes:
        await client.send(_FRAME)
        header = await reader.receive_exactly(_LENGTH.size)
        return await reader.receive_exactly(_LENGTH.unpack(header)[0])

    return round_trip


def _round_trip(stack: ExitStack) -> dict[str, Loop]:
    if importlib.util.find_spec("uds.asyncio") is None:
        raise Unavailable("uds.asyncio is not built yet")
    loop = asyncio.new_event_loop()
    tasks: list[asyncio.Task[None]] = []

    def shut_down() -> None:
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.close()

    stack.callback(shut_down)
    makers = {OURS: _ours, BY_HAND: _streams}
    if importlib.util.find_spec("anyio") is not None:
        makers[ANYIO] = _anyio
    return {
        name: _runner(loop, loop.run_until_complete(make(tasks))) for name, make in makers.items()
    }


CASES = [
    Case(
        "asyncio_64",
        "asyncio round trip, 64 B (seqpacket vs length-prefixed streams)",
        _round_trip,
    )
]
