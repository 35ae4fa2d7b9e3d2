"""Cross-process ping-pong: a 64 B round trip with an echo peer in another process.

The peer is the C program's echo loop for every column (a Python one when there
is no compiler), so the rows differ only in the calling side. The row used for
the ratio pins both ends to one CPU: unpinned, it measures how fast the
scheduler wakes a process on the other CPU more than the library.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from contextlib import ExitStack

import uds
from benchmarks._case import (
    BY_HAND,
    MSG_CMSG_CLOEXEC,
    MSG_NOSIGNAL,
    OURS,
    STDLIB_FDS,
    Case,
    pin_to_one_cpu,
    socket_pair,
)
from benchmarks._native import c_echo_command
from benchmarks._timing import WALL, Loop

__all__ = ["CASES"]

_SMALL = bytes(64)
# The fallback peer when the C program was not built (the same for every column).
_ECHO = """
import socket, sys
sock = socket.socket(fileno=int(sys.argv[1]))
recv, send = sock.recv, sock.send
while True:
    data = recv(65536)
    if not data:
        break
    send(data)
"""


def _start_echo_peer(stack: ExitStack, sock: socket.socket) -> int:
    fd = sock.fileno()
    command = c_echo_command(fd) or [sys.executable, "-c", _ECHO, str(fd)]
    peer = subprocess.Popen(
        command, pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    stack.callback(peer.wait, 10)
    sock.close()
    return peer.pid


def _pingpong(stack: ExitStack, pinned: bool) -> dict[str, Loop]:
    ours_end, peer_end = socket_pair(stack, socket.SOCK_SEQPACKET)
    peer = _start_echo_peer(stack, peer_end)
    if pinned:
        pin_to_one_cpu(stack, peer)
    # Registered after the peer's wait, so it runs first: the peer sees EOF and exits.
    stack.callback(ours_end.close)
    a = ours_end

    def ours(n: int) -> None:
        send, recv = uds.send_fds, uds.recv_fds
        for _ in range(n):
            send(a, _SMALL, ())
            recv(a, 64, 0)

    def by_hand(n: int) -> None:
        sendmsg, recvmsg = a.sendmsg, a.recvmsg
        for _ in range(n):
            sendmsg((_SMALL,), (), MSG_NOSIGNAL)
            _, _, flags, _ = recvmsg(64, 0, MSG_CMSG_CLOEXEC)
            if flags & socket.MSG_CTRUNC:
                raise RuntimeError("control data truncated")

    def stdlib(n: int) -> None:
        send, recv = socket.send_fds, socket.recv_fds
        for _ in range(n):
            send(a, (_SMALL,), (), MSG_NOSIGNAL)
            recv(a, 64, 0, MSG_CMSG_CLOEXEC)

    return {OURS: ours, BY_HAND: by_hand, STDLIB_FDS: stdlib}


CASES = [
    Case(
        "pingpong",
        "cross-process ping-pong, 64 B, both ends on one CPU (wall clock)",
        lambda stack: _pingpong(stack, pinned=True),
        "pingpong",
        clock=WALL,
    ),
    Case(
        "pingpong_unpinned",
        "cross-process ping-pong, 64 B, unpinned (wall clock, cross-CPU wake-ups)",
        lambda stack: _pingpong(stack, pinned=False),
        "pingpong_unpinned",
        clock=WALL,
    ),
]
