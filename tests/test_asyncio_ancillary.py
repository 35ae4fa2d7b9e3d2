"""uds.asyncio.send_ancillary/recv_ancillary and the seqpacket types' own, on asyncio and uvloop."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import assert_cloexec, same_file
from tests.loops import ASYNCIO_LOOPS, Runner, runner
from uds import ancillary as blocking
from uds.ancillary import set_passcred, set_timestamps
from uds.asyncio import UnixSeqpacketConn, recv_ancillary, send_ancillary


@pytest.fixture(params=ASYNCIO_LOOPS)
def run(request: pytest.FixtureRequest) -> Iterator[Runner[Any]]:
    yield runner(request.param)


def _nonblocking_pair(kind: int) -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair(socket.AF_UNIX, kind)
    a.setblocking(False)
    b.setblocking(False)
    return a, b


KINDS = [
    pytest.param(socket.SOCK_STREAM, id="stream"),
    pytest.param(socket.SOCK_DGRAM, id="dgram"),
    pytest.param(socket.SOCK_SEQPACKET, id="seqpacket"),
]


@pytest.mark.parametrize("kind", KINDS)
def test_fds_and_credentials_on_stdlib_sockets(
    run: Runner[None], kind: int, pipe: tuple[int, int]
) -> None:
    async def main() -> None:
        a, b = _nonblocking_pair(kind)
        with a, b:
            set_passcred(b, True)
            receiving = asyncio.ensure_future(recv_ancillary(b, 64, max_fds=2, credentials=True))
            await asyncio.sleep(0.01)
            assert not receiving.done()  # waits on the loop
            sent = await send_ancillary(a, [b"he", b"llo"], fds=pipe, credentials=True)
            assert sent == 5
            with await receiving as received:
                assert received.data == b"hello" and received.nbytes == 5
                assert len(received.fds) == 2 and not received.ancillary_truncated
                for fd, original in zip(received.fds, pipe):
                    assert_cloexec(fd)
                    assert same_file(fd, original)
                assert received.credentials is not None
                assert received.credentials.pid == os.getpid()
                assert received.credentials.uid == os.getuid()

    run(main())


def test_int_fds_and_scatter_buffers(run: Runner[None], pipe: tuple[int, int]) -> None:
    async def main() -> None:
        a, b = _nonblocking_pair(socket.SOCK_SEQPACKET)
        with a, b:
            await send_ancillary(a.fileno(), b"scattered!", fds=[pipe[1]])
            first, second = bytearray(4), bytearray(4)
            with await recv_ancillary(b.fileno(), [first, second], max_fds=1) as received:
                assert received.data is None and received.nbytes == 8
                assert received.message_truncated
                assert (first, second) == (b"scat", b"tere")
                assert same_file(received.fds[0], pipe[1])

    run(main())


def test_datagram_addresses(run: Runner[None], abstract_name: str) -> None:
    async def main() -> None:
        with (
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server,
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client,
        ):
            server.bind("\0" + abstract_name[1:])
            client.bind("\0" + abstract_name[1:] + "-c")
            server.setblocking(False)
            client.setblocking(False)
            assert await send_ancillary(client, b"to you", addr=abstract_name) == 6
            with await recv_ancillary(server, 16) as received:
                assert received.data == b"to you"
                assert str(received.addr) == abstract_name + "-c"

    run(main())


def test_cancelled_receive_loses_nothing(run: Runner[None], pipe: tuple[int, int]) -> None:
    async def main() -> None:
        a, b = _nonblocking_pair(socket.SOCK_SEQPACKET)
        with a, b:
            for _ in range(3):
                receiving = asyncio.ensure_future(recv_ancillary(b, 64, max_fds=1))
                await asyncio.sleep(0)
                receiving.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await receiving
            await send_ancillary(a, b"kept", fds=[pipe[0]])
            # Cancel a receive woken by the packet, before it runs: it read nothing.
            receiving = asyncio.ensure_future(recv_ancillary(b, 64, max_fds=1))
            receiving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await receiving
            with blocking.recv_ancillary(b, 64, max_fds=1) as received:
                assert received.data == b"kept"
                assert same_file(received.fds[0], pipe[0])

    run(main())


def test_send_waits_for_room(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = _nonblocking_pair(socket.SOCK_DGRAM)
        with a, b:
            count = 0
            while True:
                try:
                    blocking.send_ancillary(a, b"x" * 512)
                except BlockingIOError:
                    break
                count += 1
            sending = asyncio.ensure_future(send_ancillary(a, b"last"))
            await asyncio.sleep(0.01)
            assert not sending.done()
            for _ in range(count):
                await recv_ancillary(b, 512)
            assert await sending == 4
            assert (await recv_ancillary(b, 16)).data == b"last"

    run(main())


def test_refuses_blocking_sockets_and_honours_timeouts(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with a, b:
            with pytest.raises(ValueError, match="blocking"):
                await recv_ancillary(a, 1)
            with pytest.raises(ValueError, match="blocking"):
                await send_ancillary(a, b"x")
            b.settimeout(0.05)
            with pytest.raises(TimeoutError):
                await recv_ancillary(b, 1)
            assert b.gettimeout() == 0.05  # left as it was
            a.sendall(b"late")
            assert (await recv_ancillary(b, 16)).data == b"late"

    run(main())


def test_seqpacket_methods(run: Runner[None], pipe: tuple[int, int]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        with a, b:
            set_passcred(b, True)
            set_timestamps(b, True)
            receiving = asyncio.ensure_future(
                b.recv_ancillary(64, max_fds=1, credentials=True, timestamps=True)
            )
            await asyncio.sleep(0)
            assert await a.send_ancillary([b"a", b"b"], fds=[pipe[0]], credentials=True) == 2
            with await receiving as received:
                assert received.data == b"ab"
                assert received.credentials is not None
                assert received.credentials.pid == os.getpid()
                assert received.timestamp_ns is not None and received.timestamp_ns > 0
                assert same_file(received.fds[0], pipe[0])
            # The module functions use a seqpacket object's own methods.
            await send_ancillary(a, b"via module", fds=pipe)
            with await recv_ancillary(b, 64, max_fds=1) as received:
                assert received.data == b"via module"
                assert len(received.fds) == 1 and received.fds.truncated
            with pytest.raises(ValueError):
                await b.recv_ancillary(1, max_fds=-1)
            with pytest.raises(ValueError):
                await send_ancillary(a, b"x", addr="@nowhere")

    run(main())


def test_seqpacket_cancelled_receive_loses_nothing(
    run: Runner[None], pipe: tuple[int, int]
) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        with a, b:
            receiving = asyncio.ensure_future(b.recv_ancillary(64, max_fds=1))
            await asyncio.sleep(0)
            await a.send_ancillary(b"only", fds=[pipe[1]])
            receiving.cancel()  # woken but not yet run: nothing read
            with pytest.raises(asyncio.CancelledError):
                await receiving
            with await b.recv_ancillary(64, max_fds=1) as received:
                assert received.data == b"only" and same_file(received.fds[0], pipe[1])

    run(main())
