"""One behavioural suite for every event loop: asyncio, uvloop, anyio-on-asyncio, anyio-on-trio.

The same test bodies run on each through a small driver (sleep, gather, a
timeout that cancels, background tasks) and on the seqpacket types of the
loop's module (:mod:`uds.asyncio` for the first two, :mod:`uds.anyio` for the
others). The fd-leak fixture checks every run. Cancellation is tested at each
await point of the types: a cancelled receive or accept consumes nothing, a
cancelled send sends nothing, a cancelled connect leaves no socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any, Callable, TypeVar

import pytest

import uds.asyncio
from tests.helpers import same_file
from uds.ancillary import set_passcred

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the dev extra
    uvloop = None
else:
    uvloop.new_event_loop().close()  # libuv's process-wide fds, before any leak check
try:
    import anyio

    import uds.anyio
except ImportError:  # pragma: no cover - anyio is in the dev extra
    anyio = None
try:
    import trio
except ImportError:  # pragma: no cover - trio is in the dev extra
    trio = None

_T = TypeVar("_T")
Spawn = Callable[[Callable[[], Awaitable[Any]]], None]


class Driver:
    """How a test body sleeps, runs tasks and cancels on one kind of loop."""

    name: str
    mod: Any  # uds.asyncio or uds.anyio

    def run(self, main: Callable[[], Awaitable[None]]) -> None:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    async def gather(self, functions: list[Callable[[], Awaitable[_T]]]) -> list[_T]:
        raise NotImplementedError

    async def completes_within(
        self, function: Callable[[], Awaitable[Any]], seconds: float
    ) -> bool:
        """Run ``function``; cancel it after ``seconds``. True if it finished first."""
        raise NotImplementedError

    def background(self) -> contextlib.AbstractAsyncContextManager[Spawn]:
        """Tasks started with the yielded function are cancelled on the way out."""
        raise NotImplementedError


class AsyncioDriver(Driver):
    mod = uds.asyncio

    def __init__(self, use_uvloop: bool) -> None:
        self.name = "uvloop" if use_uvloop else "asyncio"
        self._uvloop = use_uvloop

    def run(self, main: Callable[[], Awaitable[None]]) -> None:
        loop = uvloop.new_event_loop() if self._uvloop else asyncio.new_event_loop()
        try:
            loop.run_until_complete(asyncio.wait_for(main(), 30))
        finally:
            loop.close()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def gather(self, functions: list[Callable[[], Awaitable[_T]]]) -> list[_T]:
        return list(await asyncio.gather(*(function() for function in functions)))

    async def completes_within(
        self, function: Callable[[], Awaitable[Any]], seconds: float
    ) -> bool:
        try:
            await asyncio.wait_for(function(), seconds)
        except asyncio.TimeoutError:
            return False
        return True

    @contextlib.asynccontextmanager
    async def background(self) -> AsyncIterator[Spawn]:
        tasks: list[asyncio.Future[Any]] = []
        try:
            yield lambda function: tasks.append(asyncio.ensure_future(function()))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class AnyioDriver(Driver):
    def __init__(self, backend: str, name: str) -> None:
        self.name = name
        self._backend = backend
        self.mod = uds.anyio

    def run(self, main: Callable[[], Awaitable[None]]) -> None:
        async def bounded() -> None:
            with anyio.fail_after(30):
                await main()

        anyio.run(bounded, backend=self._backend)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    async def gather(self, functions: list[Callable[[], Awaitable[_T]]]) -> list[_T]:
        results: list[Any] = [None] * len(functions)

        async def one(index: int) -> None:
            results[index] = await functions[index]()

        async with anyio.create_task_group() as group:
            for index in range(len(functions)):
                group.start_soon(one, index)
        return results

    async def completes_within(
        self, function: Callable[[], Awaitable[Any]], seconds: float
    ) -> bool:
        with anyio.move_on_after(seconds) as scope:
            await function()
        return not scope.cancelled_caught

    @contextlib.asynccontextmanager
    async def background(self) -> AsyncIterator[Spawn]:
        async with anyio.create_task_group() as group:
            try:
                yield lambda function: group.start_soon(function)
            finally:
                group.cancel_scope.cancel()


_no_anyio = pytest.mark.skipif(anyio is None, reason="anyio is not installed")
DRIVERS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param(
        "uvloop",
        id="uvloop",
        marks=pytest.mark.skipif(uvloop is None, reason="uvloop is not installed"),
    ),
    pytest.param("anyio-asyncio", id="anyio-asyncio", marks=_no_anyio),
    pytest.param(
        "anyio-trio",
        id="anyio-trio",
        marks=[_no_anyio, pytest.mark.skipif(trio is None, reason="trio is not installed")],
    ),
]


@pytest.fixture(params=DRIVERS)
def loop(request: pytest.FixtureRequest) -> Driver:
    name = request.param
    if name in ("asyncio", "uvloop"):
        return AsyncioDriver(name == "uvloop")
    return AnyioDriver(name.split("-")[1], name)


@pytest.fixture
def many_fds() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if wanted < 2200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low for 1000 connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_roundtrip_with_fds_and_credentials(
    loop: Driver, abstract_name: str, pipe: tuple[int, int]
) -> None:
    async def main() -> None:
        async with loop.mod.UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
            client, (server, _) = await loop.gather(
                [
                    lambda: loop.mod.UnixSeqpacketConn.connect_unix_addr(abstract_name),
                    listener.accept_unix_addr,
                ]
            )
            async with client, server:
                await client.send_fds(b"fds", pipe)
                data, truncated, fds = await server.recv_fds(16, 2)
                with fds:
                    assert (data, truncated) == (b"fds", False)
                    assert [same_file(a, b) for a, b in zip(fds, pipe)] == [True, True]
                set_passcred(server, True)
                await loop.mod.send_ancillary(client, [b"an", b"c"], credentials=True)
                with await loop.mod.recv_ancillary(server, 8, credentials=True) as received:
                    assert received.data == b"anc"
                    assert received.credentials.pid == os.getpid()

    loop.run(main)


# Every receive method, as (name, call on the connection).
RECEIVES: list[tuple[str, Callable[[Any], Awaitable[Any]]]] = [
    ("recv", lambda conn: conn.recv(64)),
    ("recv_into", lambda conn: conn.recv_into(bytearray(64))),
    ("recv_vectored", lambda conn: conn.recv_vectored([bytearray(64)])),
    ("recv_fds", lambda conn: conn.recv_fds(64, 2)),
    ("recv_many", lambda conn: conn.recv_many(64, 4, 2)),
    ("recv_ancillary", lambda conn: conn.recv_ancillary(64, max_fds=2)),
    ("peek", lambda conn: conn.peek(64)),
    ("peek_vectored", lambda conn: conn.peek_vectored([bytearray(64)])),
]


@pytest.mark.parametrize(("name", "receive"), RECEIVES, ids=[name for name, _ in RECEIVES])
def test_cancelled_receive_consumes_nothing(
    loop: Driver, name: str, receive: Callable[[Any], Awaitable[Any]], pipe: tuple[int, int]
) -> None:
    async def main() -> None:
        a, b = loop.mod.UnixSeqpacketConn.pair()
        async with a, b:
            assert not await loop.completes_within(lambda: receive(b), 0.01)
            await a.send_fds(b"after the cancel", pipe)
            data, truncated, fds = await b.recv_fds(64, 2)
            with fds:
                assert (data, truncated) == (b"after the cancel", False)
                assert len(fds) == 2 and same_file(fds[0], pipe[0])

    loop.run(main)


def test_cancelled_accept_and_connect(loop: Driver, abstract_name: str) -> None:
    async def main() -> None:
        async with loop.mod.UnixSeqpacketListener.bind_unix_addr(
            abstract_name, backlog=0
        ) as listener:
            assert not await loop.completes_within(listener.accept, 0.01)
            # Fill the backlog so that a connect has to wait, then cancel it: no
            # socket may be left behind (the fd-leak check).
            queued: list[socket.socket] = []
            try:
                for _ in range(64):
                    raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                    raw.setblocking(False)
                    try:
                        raw.connect(b"\0" + abstract_name[1:].encode())
                    except BlockingIOError:
                        raw.close()
                        break
                    queued.append(raw)
                connect = loop.mod.UnixSeqpacketConn.connect_unix_addr
                assert not await loop.completes_within(lambda: connect(abstract_name), 0.05)
                for raw in queued:
                    raw.send(b"queued")
                for _ in queued:
                    conn, _ = await listener.accept()
                    async with conn:
                        assert await conn.recv(16) == b"queued"  # the cancel took none
            finally:
                for raw in queued:
                    raw.close()

    loop.run(main)


def test_cancelled_send_sends_nothing(loop: Driver) -> None:
    async def main() -> None:
        a, b = loop.mod.UnixSeqpacketConn.pair()
        async with a, b:
            sent = 0
            while await loop.completes_within(lambda packet=b"%08d" % sent: a.send(packet), 0.02):
                sent += 1
            assert sent > 0
            received = []
            while len(received) < sent:
                received.append(await b.recv(16))
            assert received == [b"%08d" % i for i in range(sent)]
            assert not await loop.completes_within(lambda: b.recv(16), 0.01)  # no extra

    loop.run(main)


def test_a_thousand_concurrent_connections(
    loop: Driver, abstract_name: str, many_fds: None
) -> None:
    clients, messages = 1000, 3
    frame = struct.Struct("=II")

    async def main() -> None:
        async with loop.mod.UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
            accepted = 0

            async def serve(conn: Any) -> None:
                async with conn:
                    while True:
                        packet = await conn.recv(64)
                        if not packet:
                            return
                        await conn.send(packet)

            async def client(index: int) -> list[tuple[int, int]]:
                conn = await loop.mod.UnixSeqpacketConn.connect_unix_addr(abstract_name)
                async with conn:
                    got = []
                    for seq in range(messages):
                        await conn.send(frame.pack(index, seq))
                        got.append(frame.unpack(await conn.recv(64)))
                    return got

            async with loop.background() as spawn:

                async def acceptor() -> None:
                    nonlocal accepted
                    while True:
                        conn, _ = await listener.accept()
                        accepted += 1
                        spawn(lambda conn=conn: serve(conn))

                spawn(acceptor)
                results = await loop.gather(
                    [(lambda index=index: client(index)) for index in range(clients)]
                )
            assert accepted == clients
            for index, got in enumerate(results):
                assert got == [(index, seq) for seq in range(messages)]

    loop.run(main)
