"""Abstract addresses belong to a network namespace; path sockets belong to the filesystem."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import uds

UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"

# The peer prints what happened when it connected to argv[1] (an address for
# UnixSocketAddr.new) and, on success, sends its pid so the listener can tell
# who it was.
PEER = """
import os, sys, socket, uds
try:
    with uds.connect_to_unix_addr(sys.argv[1], socket.SOCK_SEQPACKET) as sock:
        sock.send(str(os.getpid()).encode())
        sock.recv(1)
except ConnectionRefusedError:
    print("refused")
except FileNotFoundError:
    print("not found")
else:
    print("connected")
"""


def _new_netns_works() -> str | None:
    """``None`` when ``unshare -n`` works here, else why not."""
    if not os.path.exists(UNSHARE):
        return f"{UNSHARE} is not installed"
    result = subprocess.run(
        [UNSHARE, "-n", "true"], capture_output=True, text=True, check=False, timeout=30
    )
    if result.returncode != 0:
        return f"unshare -n is not permitted here: {result.stderr.strip()}"
    return None


_WHY_NOT = _new_netns_works()
needs_netns = pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or "")


def _peer(address: str, *, new_netns: bool) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", PEER, address]
    if new_netns:
        command = [UNSHARE, "-n", *command]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def _answer(peer: subprocess.Popen[str]) -> str:
    out, _ = peer.communicate(timeout=30)
    assert peer.returncode == 0
    return out.strip()


@needs_netns
def test_a_peer_in_another_netns_cannot_reach_our_abstract_listener(abstract_name: str) -> None:
    with uds.bind_unix_addr(abstract_name, socket.SOCK_SEQPACKET) as listener:
        outsider = _peer(abstract_name, new_netns=True)
        assert _answer(outsider) == "refused"

        neighbour = _peer(abstract_name, new_netns=False)
        conn, _ = uds.accept_unix_addr(listener)
        with conn:
            assert int(conn.recv(16)) == neighbour.pid
            assert uds.initial_peer_credentials(conn).pid == neighbour.pid
            conn.send(b"k")
            assert _answer(neighbour) == "connected"
        # Nobody else got in: the outsider never reached the accept queue.
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            uds.accept_unix_addr(listener)


@needs_netns
def test_a_path_socket_is_reachable_from_another_netns(tmp_path: Path) -> None:
    """The contrast: filesystem sockets are not namespaced by the network namespace."""
    path = str(tmp_path / "s.sock")
    with uds.bind_unix_addr(path, socket.SOCK_SEQPACKET) as listener:
        outsider = _peer(path, new_netns=True)
        conn, _ = uds.accept_unix_addr(listener)
        with conn:
            assert int(conn.recv(16)) == outsider.pid
            conn.send(b"k")
            assert _answer(outsider) == "connected"


@needs_netns
def test_an_abstract_listener_inside_a_netns_is_invisible_to_us(abstract_name: str) -> None:
    server = (
        "import socket, sys, uds\n"
        "with uds.bind_unix_addr(sys.argv[1], socket.SOCK_SEQPACKET):\n"
        "    print('listening', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    inside = subprocess.Popen(
        [UNSHARE, "-n", sys.executable, "-c", server, abstract_name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert inside.stdout is not None and inside.stdout.readline().strip() == "listening"
        with pytest.raises(ConnectionRefusedError):
            uds.connect_to_unix_addr(abstract_name, socket.SOCK_SEQPACKET)
        # The same name is free in our namespace.
        with uds.bind_unix_addr(abstract_name, socket.SOCK_SEQPACKET):
            pass
    finally:
        inside.communicate("", timeout=30)
    assert inside.returncode == 0
