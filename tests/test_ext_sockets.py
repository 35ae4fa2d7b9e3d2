"""Extension functions for addresses, bind/connect/accept and datagrams."""

from __future__ import annotations

import errno
import os
import pathlib
import socket

import pytest

import uds
from tests.helpers import FilenoOnly, assert_cloexec
from uds import UnixSocketAddr


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_SEQPACKET])
def test_bind_connect_accept_abstract(kind: int, abstract_name: str) -> None:
    with uds.bind_unix_addr(abstract_name, kind) as listener:
        assert_cloexec(listener)
        assert uds.local_unix_addr(listener) == UnixSocketAddr.new(abstract_name)
        with uds.connect_to_unix_addr(abstract_name, kind) as client:
            assert_cloexec(client)
            conn, peer = uds.accept_unix_addr(listener)
            with conn:
                assert_cloexec(conn)
                assert conn.type == kind
                assert peer.is_unnamed
                assert uds.peer_unix_addr(client) == UnixSocketAddr.new(abstract_name)
                assert uds.local_unix_addr(conn) == UnixSocketAddr.new(abstract_name)
                client.send(b"ping")
                assert conn.recv(4) == b"ping"


def test_path_listener_relative_and_absolute(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with uds.bind_unix_addr("rel.sock") as listener:
        addr = uds.local_unix_addr(listener)
        assert addr.is_relative_path and addr.as_pathname() == pathlib.Path("rel.sock")
        with uds.connect_to_unix_addr(tmp_path / "rel.sock") as client:
            conn, _ = uds.accept_unix_addr(listener)
            conn.close()
            # The kernel reports the name the listener bound, not the path we dialled.
            assert uds.peer_unix_addr(client) == UnixSocketAddr.from_path("rel.sock")


def test_connect_from_to_shows_the_source(abstract_name: str) -> None:
    source = abstract_name + "-from"
    with (
        uds.bind_unix_addr(abstract_name) as listener,
        uds.connect_from_to_unix_addr(source, abstract_name) as client,
    ):
        conn, peer = uds.accept_unix_addr(FilenoOnly(listener))
        with conn:
            assert peer == UnixSocketAddr.new(source)
            assert uds.peer_unix_addr(conn) == UnixSocketAddr.new(source)
            assert uds.local_unix_addr(client) == UnixSocketAddr.new(source)


def test_accept_on_a_raw_nonblocking_fd(abstract_name: str) -> None:
    with uds.bind_unix_addr(abstract_name) as listener:
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            uds.accept_unix_addr(listener.fileno())
        assert os.get_blocking(listener.fileno()) is False


def test_errors_leak_nothing(tmp_path: pathlib.Path, abstract_name: str) -> None:
    with pytest.raises(FileNotFoundError):
        uds.connect_to_unix_addr(tmp_path / "missing.sock")
    with pytest.raises(ConnectionRefusedError):
        uds.connect_to_unix_addr(abstract_name)
    with uds.bind_unix_addr(abstract_name), pytest.raises(OSError) as info:
        uds.bind_unix_addr(abstract_name)
    assert info.value.errno == errno.EADDRINUSE
    (tmp_path / "file").write_text("not a socket")
    with pytest.raises(OSError) as info:
        uds.bind_unix_addr(tmp_path / "file")
    assert info.value.errno == errno.EADDRINUSE
    assert (tmp_path / "file").read_text() == "not a socket"
    with pytest.raises(ValueError, match=f"limit of {uds.UnixSocketAddr.max_path_len()}"):
        uds.connect_to_unix_addr("/" + "x" * 200)


def test_unnamed_bind_autobinds_to_an_abstract_name() -> None:
    with uds.bind_unix_addr("", socket.SOCK_DGRAM) as sock:
        addr = uds.local_unix_addr(sock)
        assert addr.is_abstract and len(addr.as_abstract() or b"") == 5


def test_socketpair_addresses_are_unnamed(stream_pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = stream_pair
    assert uds.local_unix_addr(a).is_unnamed
    assert uds.peer_unix_addr(b.fileno()).is_unnamed


def test_peer_of_unconnected_socket_is_enotconn() -> None:
    with socket.socket(socket.AF_UNIX) as s, pytest.raises(OSError) as info:
        uds.peer_unix_addr(s)
    assert info.value.errno == errno.ENOTCONN


def test_not_a_socket() -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(OSError) as info:
            uds.local_unix_addr(r)
        assert info.value.errno == errno.ENOTSOCK
    finally:
        os.close(r)
        os.close(w)


def test_datagram_send_to_recv_from_and_peek(abstract_name: str) -> None:
    client_name = abstract_name + "-c"
    with (
        uds.bind_unix_addr(abstract_name, socket.SOCK_DGRAM) as server,
        uds.bind_unix_addr(client_name, socket.SOCK_DGRAM) as client,
    ):
        assert uds.send_to_unix_addr(client, b"one", abstract_name) == 3
        assert uds.send_vectored_to_unix_addr(FilenoOnly(client), [b"tw", b"o"], abstract_name) == 3
        data, sender = uds.peek_from_unix_addr(server, 10)
        assert (data, sender) == (b"one", UnixSocketAddr.new(client_name))
        assert uds.recv_from_unix_addr(server, 10) == (b"one", UnixSocketAddr.new(client_name))
        first, second = bytearray(1), bytearray(10)
        n, truncated, sender = uds.peek_vectored_from_unix_addr(server, [first, second])
        assert (n, truncated, bytes(first) + bytes(second[:2])) == (3, False, b"two")
        n, truncated, sender = uds.recv_vectored_from_unix_addr(server.fileno(), [bytearray(2)])
        assert (n, truncated, sender) == (2, True, UnixSocketAddr.new(client_name))


def test_datagram_from_unbound_sender_is_unnamed(abstract_name: str) -> None:
    with (
        uds.bind_unix_addr(abstract_name, socket.SOCK_DGRAM) as server,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as anonymous,
    ):
        uds.send_to_unix_addr(anonymous, b"who?", abstract_name)
        assert uds.recv_from_unix_addr(server, 10) == (b"who?", UnixSocketAddr.new_unspecified())


def test_datagram_to_a_path(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "d.sock"
    with (
        uds.bind_unix_addr(path, socket.SOCK_DGRAM) as server,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client,
    ):
        uds.send_to_unix_addr(client, b"p", UnixSocketAddr.from_path(path))
        data, _ = uds.recv_from_unix_addr(server, 1)
        assert data == b"p"


def test_addresses_of_an_inet_socket_are_refused_with_eafnosupport() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            for sock in (client, FilenoOnly(client), client.fileno()):
                for lookup in (uds.local_unix_addr, uds.peer_unix_addr):
                    with pytest.raises(OSError) as refused:
                        lookup(sock)
                    assert refused.value.errno == errno.EAFNOSUPPORT
            listener.accept()[0].close()


@pytest.mark.parametrize(
    "kind",
    [
        socket.SOCK_STREAM | socket.SOCK_NONBLOCK,
        socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC,
    ],
)
def test_bind_listens_even_with_type_flags(kind: int, abstract_name: str) -> None:
    with uds.bind_unix_addr(abstract_name, kind) as listener:
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        with uds.connect_to_unix_addr(
            abstract_name, kind & ~socket.SOCK_NONBLOCK & ~socket.SOCK_CLOEXEC
        ):
            pass
