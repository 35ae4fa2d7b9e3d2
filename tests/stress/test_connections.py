"""Many concurrent seqpacket connections to one listener."""

from __future__ import annotations

import os
import socket
import struct
from contextlib import ExitStack

import pytest

import uds
from tests.helpers import assert_cloexec, open_fds
from tests.stress.conftest import Profile

INDEX = struct.Struct("=I")


def test_concurrent_seqpacket_connections(
    abstract_name: str, profile: Profile, fd_limit_raised: int
) -> None:
    count = profile.connections
    needed = 2 * count + len(open_fds()) + 16
    if fd_limit_raised < needed:
        pytest.skip(f"RLIMIT_NOFILE hard limit {fd_limit_raised} < {needed} fds needed")
    with ExitStack() as stack:
        listener = stack.enter_context(uds.bind_unix_addr(abstract_name, socket.SOCK_SEQPACKET))
        clients = []
        servers = []
        # Accept as we go: the kernel caps the backlog at net.core.somaxconn.
        for _ in range(count):
            clients.append(
                stack.enter_context(uds.connect_to_unix_addr(abstract_name, socket.SOCK_SEQPACKET))
            )
            conn, peer = uds.accept_unix_addr(listener)
            stack.enter_context(conn)
            assert peer.is_unnamed
            servers.append(conn)
        assert_cloexec(servers[-1])
        # Every connection is open at once; each carries its own traffic.
        for index, client in enumerate(clients):
            assert client.send(INDEX.pack(index) * (1 + index % 7)) == 4 * (1 + index % 7)
        for conn in servers:
            data = conn.recv(64)
            conn.send(data[::-1])
        received = set()
        for index, client in enumerate(clients):
            reply = client.recv(64)
            assert reply == (INDEX.pack(index) * (1 + index % 7))[::-1]
            received.add(index)
        assert len(received) == count
        assert uds.initial_peer_credentials(servers[count // 2]).pid == os.getpid()
        # Half the clients leave: their servers see EOF, the others still work.
        for client in clients[::2]:
            client.close()
        for position, conn in enumerate(servers):
            if position % 2 == 0:
                assert conn.recv(64) == b""
            else:
                conn.send(b"still here")
        for client in clients[1::2]:
            assert client.recv(64) == b"still here"
