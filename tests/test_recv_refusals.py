"""recv_fds and recv_fds_into refuse non-unix sockets as send_fds does (nothing is read)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

import pytest

import uds
from tests.helpers import FilenoOnly


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        conn, _ = server.accept()
        with client, conn:
            yield client, conn


@pytest.mark.parametrize("wrap", [lambda s: s, FilenoOnly, lambda s: s.fileno()])
def test_receiving_fds_on_tcp_is_refused_and_reads_nothing(
    tcp_pair: tuple[socket.socket, socket.socket], wrap: object
) -> None:
    client, conn = tcp_pair
    client.sendall(b"kept")
    target = wrap(conn)  # type: ignore[operator]
    for receive in (
        lambda: uds.recv_fds(target, 16, 1),
        lambda: uds.recv_fds_into(target, bytearray(16), 1),
        lambda: uds.send_fds(target, b"x", [0]),
    ):
        with pytest.raises(OSError) as refused:
            receive()
        assert refused.value.errno == errno.EAFNOSUPPORT
        assert "AF_INET" in str(refused.value)
    assert conn.recv(16) == b"kept"


def test_without_fds_any_socket_works_both_ways(
    tcp_pair: tuple[socket.socket, socket.socket],
) -> None:
    """max_fds=0 and an empty fd list are plain receives and sends, on any family."""
    client, conn = tcp_pair
    assert uds.send_fds(client, b"plain", []) == 5
    data, fds = uds.recv_fds(conn, 16, 0)
    assert (data, fds) == (b"plain", [])
    client.sendall(b"into")
    buffer = bytearray(8)
    count, fds = uds.recv_fds_into(FilenoOnly(conn), buffer, 0)
    assert (bytes(buffer[:count]), fds) == (b"into", [])
