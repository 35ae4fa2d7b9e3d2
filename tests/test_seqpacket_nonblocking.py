"""Non-blocking seqpacket types: BlockingIOError instead of waiting, and selectors driving them."""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading
from collections.abc import Iterator

import pytest

import uds
import uds.nonblocking
from tests.helpers import assert_blocking, assert_cloexec, assert_nonblocking, same_file
from uds import NonblockingUnixSeqpacketConn as Conn
from uds import NonblockingUnixSeqpacketListener as Listener

SELECTORS = [
    name
    for name in ("DefaultSelector", "PollSelector", "EpollSelector", "SelectSelector")
    if hasattr(selectors, name)
]


@pytest.fixture
def pair() -> Iterator[tuple[Conn, Conn]]:
    a, b = Conn.pair()
    with a, b:
        yield a, b


def test_public_names() -> None:
    assert uds.nonblocking.UnixSeqpacketConn is uds.NonblockingUnixSeqpacketConn
    assert uds.nonblocking.UnixSeqpacketListener is uds.NonblockingUnixSeqpacketListener
    assert uds.nonblocking.UnixSeqpacketConn is not uds.UnixSeqpacketConn
    assert not hasattr(Conn, "set_read_timeout")
    assert not hasattr(Listener, "set_timeout")


def test_everything_is_nonblocking_and_close_on_exec(abstract_name: str) -> None:
    with Listener.bind_unix_addr(abstract_name) as listener:
        client = Conn.connect_unix_addr(abstract_name)
        with client:
            # accept4() does not pass O_NONBLOCK on: the library must set it.
            server, _ = listener.accept_unix_addr()
            a, b = Conn.pair()
            with server, a, b, client.try_clone() as clone:
                for sock in (listener, client, server, a, b, clone):
                    assert_nonblocking(sock)
                    assert_cloexec(sock)
                assert isinstance(server, Conn)


def test_blocking_listener_accepts_blocking_conns_even_when_switched(abstract_name: str) -> None:
    with uds.UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
        listener.set_nonblocking(True)
        assert_nonblocking(listener)
        with pytest.raises(BlockingIOError):
            listener.accept_unix_addr()
        with Conn.connect_unix_addr(abstract_name):
            server, _ = listener.accept_unix_addr()
            with server:
                assert isinstance(server, uds.UnixSeqpacketConn)
                assert_blocking(server)


def test_would_block_raises_blocking_io_error(pair: tuple[Conn, Conn], abstract_name: str) -> None:
    a, b = pair
    buffer = bytearray(8)
    for call in (
        lambda: b.recv(8),
        lambda: b.recv_into(buffer),
        lambda: b.recv_vectored([buffer]),
        lambda: b.recv_fds(8, 2),
        lambda: b.peek(8),
        lambda: b.peek_vectored([buffer]),
    ):
        with pytest.raises(BlockingIOError):
            call()
    sent = 0
    with pytest.raises(BlockingIOError):
        for _ in range(100_000):  # until the peer's queue is full
            a.send(b"x" * 4096)
            sent += 1
    assert sent > 0
    with pytest.raises(BlockingIOError):
        a.send_fds(b"x", [0])
    with pytest.raises(BlockingIOError):
        a.send_vectored([b"x"])
    assert b.recv(8) == b"x" * 8  # the first packet, truncated
    with Listener.bind_unix_addr(abstract_name) as listener, pytest.raises(BlockingIOError):
        listener.accept_unix_addr()


def test_switching_to_blocking(pair: tuple[Conn, Conn]) -> None:
    a, b = pair
    b.set_nonblocking(False)
    assert_blocking(b)
    a.send(b"now blocking")
    assert b.recv(64) == b"now blocking"
    b.set_nonblocking(True)
    assert_nonblocking(b)
    with pytest.raises(BlockingIOError):
        b.recv(64)


def test_connect_with_a_full_backlog_would_block(abstract_name: str) -> None:
    clients = []
    with Listener.bind_unix_addr(abstract_name, backlog=1):
        try:
            with pytest.raises(BlockingIOError):
                for _ in range(100):
                    clients.append(Conn.connect_unix_addr(abstract_name))
            assert clients  # the backlog took at least one
        finally:
            for client in clients:
                client.close()


def test_fds_and_truncation_without_blocking(pair: tuple[Conn, Conn]) -> None:
    a, b = pair
    r, w = os.pipe()
    try:
        a.send_fds(b"0123456789", [w, r])
        data, truncated, fds = b.recv_fds(4, 2)
    finally:
        os.close(r)
        os.close(w)
    with fds:
        assert (data, truncated, len(fds)) == (b"0123", True, 2)
        for fd in fds:
            assert_cloexec(fd)
        assert same_file(fds[0], fds[1])  # two ends of one pipe
    with pytest.raises(BlockingIOError):
        b.recv(64)  # the tail was dropped, not kept


@pytest.mark.parametrize("selector_name", SELECTORS)
def test_selector_echo_server_with_many_concurrent_clients(
    selector_name: str, abstract_name: str
) -> None:
    clients = 120
    rounds = 3
    selector: selectors.BaseSelector = getattr(selectors, selector_name)()
    listener = Listener.bind_unix_addr(abstract_name)
    stop_r, stop_w = socket.socketpair()
    failures: list[BaseException] = []

    def serve() -> None:
        finished = 0
        try:
            selector.register(listener, selectors.EVENT_READ, None)
            selector.register(stop_r, selectors.EVENT_READ, "stop")
            while finished < clients:
                for key, _ in selector.select(timeout=30):
                    if key.data == "stop":
                        return
                    if key.fileobj is listener:
                        while True:  # drain: level-triggered, but fewer wake-ups
                            try:
                                conn, _ = listener.accept_unix_addr()
                            except BlockingIOError:
                                break
                            selector.register(conn, selectors.EVENT_READ, "conn")
                        continue
                    conn = key.fileobj
                    assert isinstance(conn, Conn)
                    try:
                        data, truncated, fds = conn.recv_fds(256, 4)
                    except BlockingIOError:
                        continue  # spurious readiness
                    with fds:
                        if not data and not fds:
                            selector.unregister(conn)
                            conn.close()
                            finished += 1
                            continue
                        assert not truncated
                        conn.send_fds(data[::-1], fds)
        except BaseException as error:
            failures.append(error)
        finally:
            for key in list(selector.get_map().values()):
                if isinstance(key.fileobj, Conn):
                    key.fileobj.close()
            selector.close()

    server = threading.Thread(target=serve)
    server.start()
    conns: list[uds.UnixSeqpacketConn] = []
    r, w = os.pipe()
    try:
        with listener:
            for _ in range(clients):  # all connected at once
                conn = uds.UnixSeqpacketConn.connect_unix_addr(abstract_name)
                conns.append(conn)
                conn.set_read_timeout(30)
            for n in range(rounds):
                for i, conn in enumerate(conns):
                    if i % 10 == n:
                        conn.send_fds(f"{i}:{n}".encode(), [r])
                    else:
                        conn.send(f"{i}:{n}".encode())
                for i, conn in enumerate(conns):
                    data, truncated, fds = conn.recv_fds(256, 4)
                    with fds:
                        assert (data, truncated) == (f"{i}:{n}".encode()[::-1], False)
                        assert len(fds) == (1 if i % 10 == n else 0)
                        assert all(same_file(fd, r) for fd in fds)
            for conn in conns:
                conn.close()
            server.join(60)
            assert not server.is_alive()
    finally:
        if server.is_alive():
            stop_w.send(b"stop")
            server.join(10)
        for conn in conns:
            conn.close()
        stop_r.close()
        stop_w.close()
        os.close(r)
        os.close(w)
    assert not failures, failures


def test_from_fd_makes_the_fd_nonblocking() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with b:
        conn = Conn.from_fd(a.detach())
        with conn:
            assert_nonblocking(conn)
            with pytest.raises(BlockingIOError):
                conn.recv(10)
            b.send(b"ok")
            assert conn.recv(10) == b"ok"


def test_from_fd_leaves_a_rejected_fd_alone() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream:
        with pytest.raises(OSError) as info:
            Conn.from_fd(stream.fileno())
        assert info.value.errno == errno.EPROTOTYPE
        assert_blocking(stream)  # not switched by the failed adoption
