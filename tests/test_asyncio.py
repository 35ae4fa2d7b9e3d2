"""uds.asyncio on the default event loop and on uvloop, with real sockets and peers."""

from __future__ import annotations

import asyncio
import errno
import os
import resource
import socket
import struct
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, Callable, TypeVar

import pytest

from tests.helpers import assert_blocking, assert_cloexec, assert_nonblocking, same_file
from uds.asyncio import UnixSeqpacketConn, UnixSeqpacketListener, recv_fds, send_fds

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the dev extra
    uvloop = None
else:
    # libuv opens a process-wide signal pipe with its first loop; open it now,
    # before the leak check of any test counts fds.
    uvloop.new_event_loop().close()

_T = TypeVar("_T")
Runner = Callable[[Coroutine[Any, Any, _T]], _T]

LOOPS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param(
        "uvloop",
        id="uvloop",
        marks=pytest.mark.skipif(uvloop is None, reason="uvloop is not installed"),
    ),
]


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Iterator[Runner[Any]]:
    def runner(coro: Coroutine[Any, Any, _T]) -> _T:
        loop = uvloop.new_event_loop() if request.param == "uvloop" else asyncio.new_event_loop()
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, 30))
        finally:
            loop.close()

    yield runner


def test_listener_connect_accept_roundtrip(run: Runner[None], abstract_name: str) -> None:
    async def main() -> None:
        async with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
            assert_cloexec(listener)
            assert_nonblocking(listener)
            assert str(listener.local_unix_addr()) == abstract_name
            accepting = asyncio.ensure_future(listener.accept())
            await asyncio.sleep(0)  # the accept waits: nobody has connected
            async with await UnixSeqpacketConn.connect_unix_addr(abstract_name) as client:
                server, peer = await accepting
                async with server:
                    for s in (client, server):
                        assert_cloexec(s)
                        assert_nonblocking(s)
                    assert peer.is_unnamed
                    assert str(client.peer_unix_addr()) == abstract_name
                    assert server.initial_peer_credentials().pid == os.getpid()
                    assert await client.send(b"one") == 3
                    assert await client.send(b"") == 0
                    assert await client.send(b"three") == 5
                    assert await server.recv(64) == b"one"
                    assert await server.recv(64) == b""  # a zero-length packet
                    buf = bytearray(64)
                    assert await server.recv_into(buf) == 5 and buf[:5] == b"three"
                    client.shutdown(socket.SHUT_WR)
                    assert await server.recv(64) == b""

    run(main())


def test_fd_passing_and_truncation(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        r, w = os.pipe()
        try:
            async with a, b:
                receiving = asyncio.ensure_future(b.recv_fds(64, 2))
                await asyncio.sleep(0)
                assert await a.send_fds(b"fds", [r, w]) == 3
                data, truncated, fds = await receiving
                with fds:
                    assert (data, truncated, len(fds), fds.truncated) == (b"fds", False, 2, False)
                    assert same_file(fds[0], r) and same_file(fds[1], w)
                    for fd in fds:
                        assert_cloexec(fd)
                await a.send_fds(b"long message", [r, w])
                data, truncated, fds = await b.recv_fds(4, 1)
                with fds:
                    assert (data, truncated, len(fds), fds.truncated) == (b"long", True, 1, True)
                with pytest.raises(OSError) as info:
                    await a.send_fds(b"x", [w + 1000])
                assert info.value.errno == 9  # EBADF
        finally:
            os.close(r)
            os.close(w)

    run(main())


def test_cancelled_recv_loses_nothing(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        r, _w = os.pipe()
        try:
            async with a, b:
                pending = asyncio.ensure_future(b.recv(64))
                await asyncio.sleep(0.01)
                pending.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await pending
                await a.send(b"after cancel")
                assert await b.recv(64) == b"after cancel"

                pending_fds = asyncio.ensure_future(b.recv_fds(64, 1))
                await asyncio.sleep(0.01)
                pending_fds.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await pending_fds
                await a.send_fds(b"with fd", [r])
                data, _, fds = await b.recv_fds(64, 1)
                with fds:
                    assert data == b"with fd" and len(fds) == 1 and same_file(fds[0], r)
        finally:
            os.close(r)
            os.close(_w)

    run(main())


def test_waiters_share_a_connection(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        async with a, b:
            receivers = [asyncio.ensure_future(b.recv(8)) for _ in range(3)]
            await asyncio.sleep(0)
            for i in range(3):
                await a.send(b"m%d" % i)
            assert sorted(await asyncio.gather(*receivers)) == [b"m0", b"m1", b"m2"]

    run(main())


def test_peer_closing_mid_conversation(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        async with b:
            pending = asyncio.ensure_future(b.recv(64))
            await asyncio.sleep(0)
            await a.send(b"last words")
            a.close()
            assert await pending == b"last words"
            assert await b.recv(64) == b""
            with pytest.raises(BrokenPipeError):
                await b.send(b"anyone?")

    run(main())


def test_send_waits_for_room(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        async with a, b:
            a._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            sent = 0
            payload = b"x" * 1024

            async def writer() -> None:
                nonlocal sent
                for _ in range(200):
                    await a.send(payload)
                    sent += 1

            task = asyncio.ensure_future(writer())
            await asyncio.sleep(0.02)
            assert not task.done()  # the peer's queue is full: send is waiting
            received = 0
            while received < 200:
                assert await b.recv(2048) == payload
                received += 1
            await task
            assert sent == 200

    run(main())


def test_close_wakes_pending_operations(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        with a:
            pending = asyncio.ensure_future(b.recv(8))
            await asyncio.sleep(0)
            b.close()
            with pytest.raises(OSError):
                await pending

    run(main())


def test_connect_refused(run: Runner[None], abstract_name: str) -> None:
    async def main() -> None:
        with pytest.raises(ConnectionRefusedError):
            await UnixSeqpacketConn.connect_unix_addr(abstract_name)

    run(main())


@pytest.fixture
def many_fds() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if wanted < 2200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low for 1000 connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_thousand_connections_keep_order(
    run: Runner[None], abstract_name: str, many_fds: None
) -> None:
    clients_n, messages = 1000, 5
    frame = struct.Struct("=II")

    async def serve(conn: UnixSeqpacketConn) -> None:
        async with conn:
            while True:
                packet = await conn.recv(64)
                if not packet:
                    return
                await conn.send(packet)

    async def client(i: int) -> list[tuple[int, int]]:
        async with await UnixSeqpacketConn.connect_unix_addr(abstract_name) as conn:
            got = []
            for seq in range(messages):
                await conn.send(frame.pack(i, seq))
                got.append(frame.unpack(await conn.recv(64)))
            return got

    async def main() -> None:
        async with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
            servers: list[asyncio.Task[None]] = []

            async def acceptor() -> None:
                while True:
                    conn, _ = await listener.accept()
                    servers.append(asyncio.ensure_future(serve(conn)))

            accepting = asyncio.ensure_future(acceptor())
            results = await asyncio.gather(*(client(i) for i in range(clients_n)))
            accepting.cancel()
            await asyncio.gather(*servers)
            assert len(servers) == clients_n
            for i, got in enumerate(results):
                assert got == [(i, seq) for seq in range(messages)]

    run(main())


# fd-passing over asyncio streams ---------------------------------------------------


def test_send_fds_on_a_stream_writer_keeps_byte_order(run: Runner[None]) -> None:
    async def main() -> None:
        a, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        peer.setblocking(False)
        r, w = os.pipe()
        try:
            with peer:
                reader, writer = await asyncio.open_unix_connection(sock=a)
                big = b"b" * (1 << 20)  # more than the socket takes: the transport buffers it
                writer.write(big)
                assert writer.transport.get_write_buffer_size() > 0
                loop = asyncio.get_running_loop()
                collected = bytearray()
                got_fds: list[int] = []

                async def drain_peer() -> None:
                    while len(collected) < len(big) + 6:
                        data, fds = await recv_fds(peer, 65536, 2)
                        assert data, "EOF before everything arrived"
                        if fds:
                            # the read that carries the fds ends with their byte, "X"
                            assert len(collected) + len(data) == len(big) + 1
                            got_fds.extend(fds.detach())
                        collected.extend(data)

                draining = loop.create_task(drain_peer())
                assert await send_fds(writer, b"X", [r]) == 1
                writer.write(b"after")
                await writer.drain()
                await draining
                assert bytes(collected) == big + b"Xafter"
                assert len(got_fds) == 1 and same_file(got_fds[0], r)
                os.close(got_fds[0])
                writer.close()
                await writer.wait_closed()
        finally:
            os.close(r)
            os.close(w)

    run(main())


def test_recv_fds_on_a_stream_reader_returns_buffered_bytes_first(run: Runner[None]) -> None:
    async def main() -> None:
        a, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        r, w = os.pipe()
        try:
            with peer:
                reader, writer = await asyncio.open_unix_connection(sock=a)
                peer.sendall(b"hello")
                assert await reader.readexactly(2) == b"he"  # "llo" stays buffered
                writer.transport.pause_reading()
                peer.sendmsg([b"F"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", r))])
                data, fds = await recv_fds(reader, 16, 2)
                assert (data, list(fds)) == (b"llo", [])
                data, fds = await recv_fds(reader, 16, 2)
                with fds:
                    assert data == b"F" and len(fds) == 1 and same_file(fds[0], r)
                    assert_cloexec(fds[0])
                assert not writer.transport.is_reading()  # paused by us: left paused
                writer.transport.resume_reading()
                peer.sendall(b"end")
                assert await reader.readexactly(3) == b"end"
                peer.shutdown(socket.SHUT_WR)
                assert await reader.read() == b""
                assert await recv_fds(reader, 16, 1) == (b"", [])
                writer.close()
                await writer.wait_closed()
        finally:
            os.close(r)
            os.close(w)

    run(main())


def test_recv_fds_request_response_on_streams(run: Runner[None], tmp_path: Path) -> None:
    path = str(tmp_path / "server.sock")  # uvloop does not take abstract names

    async def main() -> None:
        r, w = os.pipe()
        try:

            async def handle(sreader: asyncio.StreamReader, swriter: asyncio.StreamWriter) -> None:
                while await sreader.read(3):
                    await send_fds(swriter, b"fd!", [r])
                swriter.close()

            server = await asyncio.start_unix_server(handle, path)
            async with server:
                reader, writer = await asyncio.open_unix_connection(path)
                for _ in range(20):
                    writer.write(b"req")
                    data, fds = await recv_fds(reader, 16, 1)
                    with fds:
                        assert data == b"fd!" and len(fds) == 1 and same_file(fds[0], r)
                    assert writer.transport.is_reading()  # resumed after each call
                writer.close()
                await writer.wait_closed()
        finally:
            os.close(r)
            os.close(w)

    run(main())


def test_socket_helpers_refuse_blocking_sockets(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        with a, b:
            with pytest.raises(ValueError, match="blocking"):
                await recv_fds(a, 1, 1)
            with pytest.raises(ValueError, match="blocking"):
                await send_fds(a, b"x", [])

    run(main())


def test_recv_ancillary_caps_fds_at_max_fds(
    seqpacket_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    # The control buffer keeps room for unsolicited data, which two fds fit in.
    from uds import send_fds as send_fds_blocking
    from uds.ancillary import recv_ancillary

    a, b = seqpacket_pair
    send_fds_blocking(a, b"x", list(pipe))
    with recv_ancillary(b, 8, max_fds=1) as received:
        assert len(received.fds) == 1 and received.fds.truncated
        assert same_file(received.fds[0], pipe[0])


def test_from_fd_adopts_uds_nonblocking_types(run: Runner[None], abstract_name: str) -> None:
    from uds.nonblocking import UnixSeqpacketConn as NbConn
    from uds.nonblocking import UnixSeqpacketListener as NbListener

    async def main() -> None:
        with NbListener.bind_unix_addr(abstract_name) as nb_listener:
            listener = UnixSeqpacketListener.from_fd(os.dup(nb_listener.fileno()))
        async with listener:
            nb_client = NbConn.connect_unix_addr(abstract_name)
            async with UnixSeqpacketConn.from_fd(nb_client.detach()) as client:
                server, _ = await listener.accept()
                async with server:
                    await client.send(b"adopted")
                    assert await server.recv(16) == b"adopted"

    run(main())


def test_receives_after_many_waits_still_get_queued_packets(run: Runner[None]) -> None:
    # After receives that all had to wait, receives wait for readiness first;
    # packets already queued must still come out, in order, none lost.
    async def main() -> None:
        a, b = UnixSeqpacketConn.pair()
        async with a, b:

            async def echo() -> None:
                while packet := await b.recv(64):
                    await b.send(packet)

            server = asyncio.ensure_future(echo())
            for i in range(40):
                await a.send(b"%d" % i)
                assert await a.recv(64) == b"%d" % i
            assert a._waiter is not None and a._waiter.read_misses >= 2
            for i in range(40):  # a burst: the answers queue up before a reads
                await a.send(b"burst %d" % i)
            await asyncio.sleep(0.05)
            assert [await a.recv(64) for _ in range(40)] == [b"burst %d" % i for i in range(40)]
            assert a._waiter.read_misses == 0  # a probe found data at once: try-first again
            a.shutdown(socket.SHUT_WR)
            await server

    run(main())


def test_stream_peer_closing_mid_message(run: Runner[None], pipe: tuple[int, int]) -> None:
    # A length-prefixed frame cut short: what arrived (and its fd) is delivered, then EOF.
    async def main() -> None:
        a, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with peer:
            reader, writer = await asyncio.open_unix_connection(sock=a)
            writer.transport.pause_reading()
            peer.sendmsg(
                [struct.pack("!I", 100) + b"partial"],
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", pipe[0]))],
            )
            peer.close()
            data, fds = await recv_fds(reader, 1024, 1)
            with fds:
                assert data == struct.pack("!I", 100) + b"partial"
                assert len(fds) == 1 and same_file(fds[0], pipe[0])
            assert await recv_fds(reader, 1024, 1) == (b"", [])
            writer.close()
            await writer.wait_closed()

    run(main())


def test_close_after_the_loop_closed(run: Runner[None]) -> None:
    a, b = UnixSeqpacketConn.pair()

    async def main() -> None:
        pending = asyncio.ensure_future(b.recv(8))
        await asyncio.sleep(0)
        pending.cancel()
        await a.send(b"unread")

    run(main())
    a.close()
    b.close()
    assert b.fileno() == -1


def test_socket_helpers_use_a_socket_with_a_timeout_without_freezing_the_loop(
    run: Runner[None], pipe: tuple[int, int]
) -> None:
    # CPython polls for the whole timeout inside the C method of a socket with a
    # positive timeout: the helpers must wait on the loop instead.
    async def main() -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with a, b:
            a.settimeout(5.0)
            receiving = asyncio.ensure_future(recv_fds(a, 16, 1))
            await asyncio.sleep(0)  # the receive starts and must wait on the loop
            assert not receiving.done()
            b.sendmsg(
                [b"hello"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", pipe[0]))]
            )
            data, fds = await receiving
            with fds:
                assert data == b"hello" and len(fds) == 1 and same_file(fds[0], pipe[0])

            b.setblocking(False)
            a.setblocking(False)
            queued = 0
            while True:  # fill the peer's queue
                try:
                    a.send(b"x" * 1024)
                except BlockingIOError:
                    break
                queued += 1
            a.settimeout(5.0)
            sending = asyncio.ensure_future(send_fds(a, b"fds", [pipe[1]]))
            await asyncio.sleep(0)
            assert not sending.done()  # no room: the send waits on the loop
            for _ in range(queued):
                assert b.recv(2048) == b"x" * 1024
            assert await sending == 3
            data, fds = await recv_fds(b, 16, 1)
            with fds:
                assert data == b"fds" and len(fds) == 1 and same_file(fds[0], pipe[1])
            assert a.gettimeout() == 5.0  # the caller's socket is unchanged
            assert_nonblocking(a)
            a.settimeout(0.05)  # and its timeout bounds the wait
            with pytest.raises(TimeoutError):
                await recv_fds(a, 16, 1)
            assert a.gettimeout() == 0.05

    run(main())


def _fill_backlog(address: str) -> list[socket.socket]:
    """Connect non-blocking clients to ``address`` until its backlog is full."""
    clients: list[socket.socket] = []
    target = b"\0" + address[1:].encode()
    for _ in range(64):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        client.setblocking(False)
        try:
            client.connect(target)
        except BlockingIOError:
            client.close()
            return clients
        except BaseException:
            client.close()
            raise
        clients.append(client)
    for client in clients:
        client.close()
    raise AssertionError("the backlog never filled")


def test_connect_to_a_full_backlog_waits_without_spinning(
    run: Runner[None], abstract_name: str
) -> None:
    async def main() -> None:
        async with UnixSeqpacketListener.bind_unix_addr(abstract_name, backlog=0) as listener:
            queued = _fill_backlog(abstract_name)
            try:
                started = time.process_time()
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(UnixSeqpacketConn.connect_unix_addr(abstract_name), 0.5)
                assert time.process_time() - started < 0.2  # it slept, it did not spin

                connecting = asyncio.ensure_future(
                    UnixSeqpacketConn.connect_unix_addr(abstract_name)
                )
                await asyncio.sleep(0.05)
                assert not connecting.done()  # still waiting for room in the backlog
                for _ in queued:  # accepting makes room: the retry gets through
                    accepted, _ = await listener.accept()
                    accepted.close()
                async with await connecting as client:
                    server, _ = await listener.accept()
                    async with server:
                        await client.send(b"in at last")
                        assert await server.recv(32) == b"in at last"
            finally:
                for client in queued:
                    client.close()

    run(main())


@pytest.mark.parametrize("cls", [UnixSeqpacketConn, UnixSeqpacketListener])
def test_from_fd_refuses_other_fds_and_leaves_them_unchanged(
    cls: type[UnixSeqpacketConn | UnixSeqpacketListener],
    stream_pair: tuple[socket.socket, socket.socket],
    pipe: tuple[int, int],
) -> None:
    # As the blocking from_fd: OSError with the errno that says what is wrong.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(3.0)  # must not make the caller's fd non-blocking
    try:
        with pytest.raises(OSError) as info:
            cls.from_fd(stream_pair[0].fileno())
        assert info.value.errno == errno.EPROTOTYPE
        assert_blocking(stream_pair[0])
        with pytest.raises(OSError) as info:
            cls.from_fd(pipe[0])
        assert info.value.errno == errno.ENOTSOCK
        assert os.get_blocking(pipe[0])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as inet:
            inet.setblocking(True)
            with pytest.raises(OSError) as info:
                cls.from_fd(inet.fileno())
            assert info.value.errno == errno.EAFNOSUPPORT
            assert_blocking(inet)
    finally:
        socket.setdefaulttimeout(previous)


def test_from_fd_checks_listening_state_and_sets_cloexec(run: Runner[None]) -> None:
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with listening, a, b:
        listening.bind(b"")  # autobind: an abstract name of the kernel's choosing
        listening.listen()
        with pytest.raises(OSError, match="listening") as info:
            UnixSeqpacketConn.from_fd(listening.fileno())
        assert info.value.errno == errno.EINVAL
        with pytest.raises(OSError, match="listening") as info:
            UnixSeqpacketListener.from_fd(a.fileno())
        assert info.value.errno == errno.EINVAL
        assert_blocking(listening)
        assert_blocking(a)

        for sock in (a, listening):
            sock.set_inheritable(True)
        conn = UnixSeqpacketConn.from_fd(a.detach())
        listener = UnixSeqpacketListener.from_fd(listening.detach())

        async def main() -> None:
            async with conn, listener:
                for adopted in (conn, listener):
                    assert_cloexec(adopted)
                    assert_nonblocking(adopted)
                await conn.send(b"adopted")
                assert b.recv(16) == b"adopted"
                async with await UnixSeqpacketConn.connect_unix_addr(
                    listener.local_unix_addr()
                ) as client:
                    server, _ = await listener.accept()
                    async with server:
                        await client.send(b"through the listener")
                        assert await server.recv(32) == b"through the listener"

        run(main())
