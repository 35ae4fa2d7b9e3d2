"""uds_mio_compat.net: non-blocking UnixStream, UnixListener, UnixDatagram on real sockets."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

import uds
from tests.helpers import assert_cloexec, assert_nonblocking, same_file
from uds_mio_compat import Events, Interest, Poll, Token
from uds_mio_compat.net import UnixDatagram, UnixListener, UnixStream


def test_listener_accept_stream_roundtrip(abstract_name: str) -> None:
    with UnixListener.bind(abstract_name) as listener:
        assert_cloexec(listener)
        assert_nonblocking(listener)
        assert str(listener.local_addr()) == abstract_name
        with pytest.raises(BlockingIOError):
            listener.accept()
        with UnixStream.connect(abstract_name) as client:
            assert_cloexec(client)
            assert_nonblocking(client)
            server, peer = listener.accept()
            with server:
                assert_cloexec(server)
                assert_nonblocking(server)
                assert peer.is_unnamed
                assert str(client.peer_addr()) == abstract_name
                with pytest.raises(BlockingIOError):
                    server.read(10)
                assert client.write(b"hello") == 5
                assert server.read(10) == b"hello"
                buf = bytearray(8)
                assert server.send(b"back") == 4
                assert client.recv_into(buf) == 4 and buf[:4] == b"back"
                client.shutdown(socket.SHUT_WR)
                assert server.recv(10) == b""
                assert client.take_error() is None


def test_path_listener_and_connect_errors(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with UnixListener.bind(path) as listener:
        with UnixStream.connect(path) as client:
            conn, _ = listener.accept()
            conn.close()
            with pytest.raises(BrokenPipeError):
                client.write(b"x")
        with pytest.raises(FileExistsError):
            UnixListener.bind(path)
    with pytest.raises((ConnectionRefusedError, FileNotFoundError)):
        UnixStream.connect(tmp_path / "missing")


def test_stream_pair_and_from_std() -> None:
    a, b = UnixStream.pair()
    with a, b:
        for s in (a, b):
            assert_cloexec(s)
            assert_nonblocking(s)
        a.write(b"x")
        assert b.read(1) == b"x"
    std = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with UnixStream.from_std(std) as adopted:
        assert_nonblocking(adopted)
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with dgram, pytest.raises(ValueError, match="SOCK_STREAM"):
        UnixStream.from_std(dgram)
    with pytest.raises(TypeError):
        UnixStream.from_std(3)  # type: ignore[arg-type]


def test_datagram_bind_send_to_recv_from(abstract_name: str) -> None:
    with UnixDatagram.bind(abstract_name) as server, UnixDatagram.unbound() as client:
        for s in (server, client):
            assert_cloexec(s)
            assert_nonblocking(s)
        with pytest.raises(BlockingIOError):
            server.recv_from(10)
        assert client.send_to(b"dgram", abstract_name) == 5
        data, sender = server.recv_from(10)
        assert data == b"dgram" and sender.is_unnamed
        client.connect(abstract_name)
        client.send(b"again")
        assert server.recv(3) == b"aga"  # truncated datagram: the tail is gone
        with pytest.raises(BlockingIOError):
            server.recv(10)
        assert str(client.peer_addr()) == abstract_name


def test_datagram_pair_recv_into() -> None:
    a, b = UnixDatagram.pair()
    with a, b:
        a.send(b"abc")
        buf = bytearray(10)
        assert b.recv_into(buf) == 3 and buf[:3] == b"abc"


def test_extension_functions_accept_net_types(abstract_name: str) -> None:
    r, w = os.pipe()
    try:
        a, b = UnixStream.pair()
        with a, b:
            assert uds.send_fds(a, b"fd", [r, w]) == 2
            data, fds = uds.recv_fds(b, 16, 4)
            with fds:
                assert data == b"fd" and len(fds) == 2 and not fds.truncated
                assert same_file(fds[0], r) and same_file(fds[1], w)
                for fd in fds:
                    assert_cloexec(fd)
            assert uds.local_unix_addr(a).is_unnamed
            assert uds.initial_peer_credentials(a).pid == os.getpid()
            # the extension functions never change the borrowed socket's mode
            assert_nonblocking(a)
            with pytest.raises(BlockingIOError):
                uds.recv_fds(b, 16, 1)
        with UnixDatagram.bind(abstract_name) as server, UnixDatagram.unbound() as client:
            uds.send_fds_to(client, b"to", [r], abstract_name)
            data, fds, sender = uds.recv_fds_from(server, 16, 1)
            with fds:
                assert data == b"to" and len(fds) == 1 and sender.is_unnamed
            assert uds.local_unix_addr(server) == uds.UnixSocketAddr.new(abstract_name)
    finally:
        os.close(r)
        os.close(w)


def test_net_types_drive_a_poll_echo(abstract_name: str) -> None:
    with Poll() as poll, UnixListener.bind(abstract_name) as listener:
        registry = poll.registry
        registry.register(listener, Token(0), Interest.READABLE)
        clients = [UnixStream.connect(abstract_name) for _ in range(3)]
        conns: dict[int, UnixStream] = {}
        events = Events.with_capacity(16)
        try:
            for i, client in enumerate(clients):
                client.write(f"msg{i}".encode())
            replies: dict[int, bytes] = {}
            while len(replies) < len(clients):
                poll.poll(events, 5)
                assert not events.is_empty()
                for event in events:
                    if event.token == 0:
                        while True:
                            try:
                                conn, _ = listener.accept()
                            except BlockingIOError:
                                break
                            token = len(conns) + 1
                            conns[token] = conn
                            registry.register(conn, Token(token), Interest.READABLE)
                    else:
                        conn = conns[event.token]
                        data = conn.read(64)
                        conn.write(data.upper())
                for i, client in enumerate(clients):
                    if i not in replies:
                        try:
                            replies[i] = client.read(64)
                        except BlockingIOError:
                            pass
            assert replies == {i: f"MSG{i}".encode() for i in range(3)}
        finally:
            for s in (*clients, *conns.values()):
                s.close()
