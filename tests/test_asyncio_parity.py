"""uds.asyncio's seqpacket types have every method of the blocking types, and they work."""

from __future__ import annotations

import array
import asyncio
import inspect
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

import uds
import uds.asyncio
import uds.nonblocking
from tests.helpers import assert_cloexec, assert_nonblocking, same_file
from tests.loops import ASYNCIO_LOOPS, Runner, runner
from uds.asyncio import UnixSeqpacketConn, UnixSeqpacketListener

# Blocking-type methods that cannot apply to an asyncio object, and why.
NOT_APPLICABLE = {
    # Timeouts belong to the awaiting code (asyncio.wait_for, asyncio.timeout).
    "set_read_timeout",
    "read_timeout",
    "set_write_timeout",
    "write_timeout",
    "set_timeout",
    "timeout",
    # An asyncio socket is always non-blocking; into_blocking/into_nonblocking convert.
    "set_nonblocking",
}
# Methods whose arguments differ on purpose, and why.
DIFFERENT_ARGUMENTS = {
    # The blocking bind takes a path with file options (mode, replace_stale,
    # unlink_on_close); the asyncio bind/connect predate them (issue 12 settles
    # what "@name" means in bind/connect): bind_unix_addr/connect_unix_addr match.
    "bind",
    "connect",
}
# Operations that may wait: coroutine functions on the asyncio types.
WAITING = {
    "connect",
    "connect_unix_addr",
    "connect_from_to_unix_addr",
    "accept_unix_addr",
    "send",
    "send_vectored",
    "send_fds",
    "recv",
    "recv_into",
    "recv_vectored",
    "recv_fds",
    "peek",
    "peek_vectored",
    "send_many",
    "recv_many",
}

PAIRS = [
    pytest.param(UnixSeqpacketConn, uds.UnixSeqpacketConn, id="conn-blocking"),
    pytest.param(UnixSeqpacketConn, uds.nonblocking.UnixSeqpacketConn, id="conn-nonblocking"),
    pytest.param(UnixSeqpacketListener, uds.UnixSeqpacketListener, id="listener-blocking"),
    pytest.param(
        UnixSeqpacketListener, uds.nonblocking.UnixSeqpacketListener, id="listener-nonblocking"
    ),
]


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name))}


def _parameters(function: Any) -> list[tuple[str, Any]]:
    params = list(inspect.signature(function).parameters.values())
    if params and params[0].name == "self":
        del params[0]  # positional-only in C methods, not in Python ones
    return [(p.name, p.kind) for p in params]


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS)
def test_every_blocking_method_has_an_asyncio_counterpart(async_cls: type, sync_cls: type) -> None:
    missing = _public(sync_cls) - NOT_APPLICABLE - _public(async_cls)
    assert not missing, f"{async_cls.__name__} lacks {sorted(missing)}"


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS)
def test_counterparts_take_the_same_arguments(async_cls: type, sync_cls: type) -> None:
    common = (_public(sync_cls) & _public(async_cls)) - DIFFERENT_ARGUMENTS
    assert len(common) >= 8
    for name in sorted(common):
        # Bound class methods and plain functions alike: compare without self/cls.
        ours = getattr(async_cls, name)
        theirs = getattr(sync_cls, name)
        assert _parameters(ours) == _parameters(theirs), name


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS)
def test_awaitable_exactly_where_it_may_wait(async_cls: type, sync_cls: type) -> None:
    for name in sorted(_public(sync_cls) & _public(async_cls)):
        waits = inspect.iscoroutinefunction(getattr(async_cls, name))
        assert waits == (name in WAITING), name


@pytest.fixture(params=ASYNCIO_LOOPS)
def run(request: pytest.FixtureRequest) -> Iterator[Runner[Any]]:
    yield runner(request.param)


def test_vectored_and_peek(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        with a, b:
            assert await a.send_vectored([b"he", bytearray(b"ll"), memoryview(b"o!")]) == 6
            assert await b.peek(3) == b"hel"
            first, second = bytearray(2), bytearray(10)
            assert await b.peek_vectored([first, second]) == (6, False)
            assert (first, second[:4]) == (b"he", b"llo!")
            small = bytearray(4)
            assert await b.recv_vectored([small]) == (4, True)  # the tail is lost
            assert small == b"hell"
            await a.send(b"next")
            buf = bytearray(8)
            assert await b.recv_into(buf, 2) == 2 and buf[:2] == b"ne"  # nbytes caps it
            await a.send(b"peeked")
            assert await b.recv(16, socket.MSG_PEEK) == b"peeked"
            assert await b.recv(16) == b"peeked"

    run(main())


def test_peek_waits_for_a_packet_and_leaves_it(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        with a, b:
            peeking = asyncio.ensure_future(b.peek(16))
            await asyncio.sleep(0.01)
            assert not peeking.done()
            await a.send(b"late")
            assert await peeking == b"late"
            assert await b.recv(16) == b"late"

    run(main())


def test_addresses_errors_and_labels(run: Runner[None], abstract_name: str) -> None:
    async def main() -> None:
        client_name = abstract_name + "-client"
        async with UnixSeqpacketListener.bind_unix_addr(abstract_name, backlog=4) as listener:
            assert listener.take_error() is None
            conn = await UnixSeqpacketConn.connect_from_to_unix_addr(client_name, abstract_name)
            server, peer = await listener.accept_unix_addr()
            async with conn, server:
                assert str(peer) == client_name
                assert str(conn.local_unix_addr()) == client_name
                assert conn.take_error() is None
                other = await UnixSeqpacketConn.connect_unix_addr(
                    uds.UnixSocketAddr.new(abstract_name)
                )
                other2, _ = await listener.accept_unix_addr()
                async with other, other2:
                    await other.send(b"via addr")
                    assert await other2.recv(16) == b"via addr"
                # Same answer as the blocking function on the same socket.
                try:
                    expected: Any = uds.initial_peer_selinux_context(server)
                except OSError as error:
                    with pytest.raises(type(error)):
                        server.initial_peer_selinux_context()
                else:
                    assert server.initial_peer_selinux_context() == expected
                try:
                    pidfd = server.peer_pidfd()
                except uds.UnsupportedPlatformError:
                    pass
                else:
                    try:
                        assert_cloexec(pidfd)
                        with open(f"/proc/self/fdinfo/{pidfd}") as info:
                            assert f"Pid:\t{os.getpid()}" in info.read()
                    finally:
                        os.close(pidfd)

    run(main())


def test_take_error_reports_a_pending_error(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        with a:
            b.close()
            with pytest.raises(BrokenPipeError):
                await a.send(b"x")
            assert a.take_error() is None  # EPIPE is returned, never left pending

    run(main())


def test_detach_and_try_clone(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        with a, b:
            clone = a.try_clone()
            with clone:
                assert clone.fileno() != a.fileno() and same_file(clone.fileno(), a.fileno())
                assert_cloexec(clone)
                assert_nonblocking(clone)
                await b.send(b"one")
                assert await clone.recv(8) == b"one"  # one queue
            fd = a.fileno()
            waiting = asyncio.ensure_future(a.recv(8))
            await asyncio.sleep(0)
            assert a.detach() == fd
            assert a.fileno() == -1
            with pytest.raises(OSError):  # woken, and the object no longer has the fd
                await waiting
            with socket.socket(fileno=fd) as sock:
                assert_nonblocking(sock)
                sock.send(b"still open")
                assert await b.recv(16) == b"still open"

    run(main())


def test_conversions_keep_the_fd_and_the_queue(run: Runner[None], abstract_name: str) -> None:
    async def main() -> None:
        sync_a, sync_b = uds.UnixSeqpacketConn.pair()
        sync_a.set_read_timeout(5)
        sync_b.send(b"queued")
        fd = sync_a.fileno()
        a = UnixSeqpacketConn.from_blocking(sync_a)
        assert sync_a.fileno() == -1 and a.fileno() == fd
        assert_nonblocking(a)
        with sync_b:
            async with a:
                assert await a.recv(16) == b"queued"
                nb = a.into_nonblocking()
            assert a.fileno() == -1
            with nb:
                assert isinstance(nb, uds.nonblocking.UnixSeqpacketConn)
                assert nb.fileno() == fd
                with pytest.raises(BlockingIOError):
                    nb.recv(16)
                back = UnixSeqpacketConn.from_nonblocking(nb)
            async with back:
                sync_b.send(b"again")
                assert await back.recv(16) == b"again"
                blocking = back.into_blocking()
            with blocking:
                assert blocking.fileno() == fd
                sync_b.send(b"blocking")
                assert blocking.recv(16) == b"blocking"
        with pytest.raises(TypeError):
            UnixSeqpacketConn.from_nonblocking(uds.UnixSeqpacketListener)  # type: ignore[arg-type]

        with uds.nonblocking.UnixSeqpacketListener.bind_unix_addr(abstract_name) as nb_listener:
            client = uds.UnixSeqpacketConn.connect_unix_addr(abstract_name)  # queued
            with pytest.raises(TypeError):
                UnixSeqpacketConn.from_nonblocking(nb_listener)  # type: ignore[arg-type]
            listener = UnixSeqpacketListener.from_nonblocking(nb_listener)
        async with listener:
            with client:
                server, _ = await listener.accept_unix_addr()
                async with server:
                    client.send(b"accepted after conversion")
                    assert await server.recv(64) == b"accepted after conversion"
            blocking_listener = listener.into_blocking()
        with blocking_listener:
            assert isinstance(blocking_listener, uds.UnixSeqpacketListener)
            listener2 = UnixSeqpacketListener.from_blocking(blocking_listener)
            async with listener2:
                assert str(listener2.local_unix_addr()) == abstract_name
                nb_again = listener2.into_nonblocking()
            with nb_again, pytest.raises(BlockingIOError):
                nb_again.accept_unix_addr()

    run(main())


def test_vectored_sends_accept_arrays(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        with a, b:
            numbers = array.array("i", [1, 2])
            assert await a.send_vectored([memoryview(numbers).cast("B")]) == numbers.itemsize * 2
            assert await b.recv(64) == numbers.tobytes()

    run(main())


def test_batches_wait_for_room_and_keep_order(run: Runner[None], pipe: tuple[int, int]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        with a, b:
            packets = [b"%05d" % i for i in range(3000)]  # more than the socket holds
            sending = asyncio.ensure_future(a.send_many(packets))
            await asyncio.sleep(0.01)
            assert not sending.done()  # waiting for room
            received: list[bytes] = []
            while len(received) < len(packets):
                batch = await b.recv_many(16, 64)
                assert 1 <= len(batch) <= 64
                for packet in batch:
                    assert packet.fds is None and not packet.truncated
                received.extend(packet.data for packet in batch)
            assert await sending == len(packets)
            assert received == packets
            assert await a.send_many([]) == 0
            with pytest.raises(TypeError):
                await a.send_many([b"ok", 3])  # type: ignore[list-item]
            await a.send_fds(b"one", [pipe[0]])
            await a.send_fds(b"two", pipe, socket.MSG_DONTWAIT)
            batch = await b.recv_many(2, 8, max_fds=1)
            assert [(p.data, p.truncated) for p in batch] == [(b"on", True), (b"tw", True)]
            assert batch[0].fds is not None and batch[1].fds is not None
            assert len(batch[0].fds) == 1 and not batch[0].fds.truncated
            assert len(batch[1].fds) == 1 and batch[1].fds.truncated
            assert same_file(batch[1].fds[0], pipe[0])
            for packet in batch:
                assert packet.fds is not None
                packet.fds.close()
            with pytest.raises(ValueError):
                await b.recv_many(8, 0)
            with pytest.raises(ValueError):
                await b.recv_fds(8, 254)

    run(main())


def test_cancelled_batch_receive_loses_nothing(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        with a, b:
            receiving = asyncio.ensure_future(b.recv_many(16, 8))
            await asyncio.sleep(0)
            await a.send_many([b"x", b"y"])
            receiving.cancel()  # woken, not yet run
            with pytest.raises(asyncio.CancelledError):
                await receiving
            assert [p.data for p in await b.recv_many(16, 8)] == [b"x", b"y"]
            await a.send(b"flagged", socket.MSG_DONTWAIT)
            data, truncated, fds = await b.recv_fds(64, 0, socket.MSG_PEEK)
            assert (data, truncated, list(fds)) == (b"flagged", False, [])
            assert await b.recv(64) == b"flagged"

    run(main())
