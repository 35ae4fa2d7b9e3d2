"""uds.asyncio.open_connection/start_server: asyncio streams that carry fds (asyncio, uvloop)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import assert_cloexec, open_fds, same_file
from tests.loops import ASYNCIO_LOOPS, Runner, runner
from uds.asyncio import FdStreamReader, FdStreamWriter, open_connection, start_server


@pytest.fixture(params=ASYNCIO_LOOPS)
def run(request: pytest.FixtureRequest) -> Iterator[Runner[Any]]:
    yield runner(request.param, timeout=10)


def test_fds_with_their_bytes_both_ways(
    run: Runner[None], abstract_name: str, pipe: tuple[int, int]
) -> None:
    async def main() -> None:
        async def handle(reader: FdStreamReader, writer: FdStreamWriter) -> None:
            assert reader.take_fds() == []  # nothing read yet
            line = await reader.readline()
            with reader.take_fds() as fds:
                assert line == b"two fds\n" and len(fds) == 2 and not fds.truncated
                for fd in fds:
                    assert_cloexec(fd)
                assert same_file(fds[0], pipe[0]) and same_file(fds[1], pipe[1])
                writer.write(b"one back\n", fds=[fds[1]])
            await writer.drain()
            assert await reader.read() == b""  # the client closed
            writer.close()
            await writer.wait_closed()

        async with await start_server(handle, abstract_name):
            reader, writer = await open_connection(abstract_name)
            writer.write(b"two fds\n", fds=pipe)
            await writer.drain()
            assert await reader.readline() == b"one back\n"
            with reader.take_fds() as fds:
                assert len(fds) == 1 and same_file(fds[0], pipe[1])
            writer.close()
            await writer.wait_closed()

    run(main())


def test_drain_waits_for_the_peer(run: Runner[None], abstract_name: str) -> None:
    async def main() -> None:
        peer: asyncio.Future[tuple[FdStreamReader, FdStreamWriter]]
        peer = asyncio.get_running_loop().create_future()

        def handle(reader: FdStreamReader, writer: FdStreamWriter) -> None:
            writer.transport.pause_reading()  # type: ignore[attr-defined]
            peer.set_result((reader, writer))

        async with await start_server(handle, abstract_name):
            reader, writer = await open_connection(abstract_name)
            writer.transport.set_write_buffer_limits(high=1024)
            chunk = b"d" * 65536
            for _ in range(64):
                writer.write(chunk)
                draining = asyncio.ensure_future(writer.drain())
                await asyncio.sleep(0)
                if not draining.done():
                    break
                await draining
            assert not draining.done()  # the peer is not reading: drain waits
            peer_reader, peer_writer = await peer
            peer_writer.transport.resume_reading()  # type: ignore[attr-defined]
            total = 0
            while not draining.done():
                total += len(await peer_reader.read(65536))
            await draining
            writer.close()
            await writer.wait_closed()
            total += len(await peer_reader.read())  # up to the end (a limit above all)
            while not peer_reader.at_eof():
                total += len(await peer_reader.read())
            assert total % len(chunk) == 0 and total >= len(chunk)
            peer_writer.close()
            await peer_writer.wait_closed()

    run(main())


def test_close_closes_fds_not_taken(
    run: Runner[None], abstract_name: str, pipe: tuple[int, int]
) -> None:
    async def main() -> None:
        got: asyncio.Future[FdStreamWriter] = asyncio.get_running_loop().create_future()

        async def handle(reader: FdStreamReader, writer: FdStreamWriter) -> None:
            await reader.readexactly(3)
            got.set_result(writer)

        async with await start_server(handle, abstract_name):
            reader, writer = await open_connection(abstract_name)
            before = open_fds()
            writer.write(b"abc", fds=pipe)
            peer_writer = await got
            assert len(open_fds() - before) == 2  # received, held by the peer's reader
            peer_writer.close()  # never taken: closed with the writer
            assert open_fds() - before == set()
            await peer_writer.wait_closed()
            writer.close()
            await writer.wait_closed()
        assert os.fstat(pipe[0])  # the sender's own fds stay open

    run(main())
