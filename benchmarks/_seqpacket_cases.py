"""Seqpacket connections: uds.UnixSeqpacketConn against a plain SOCK_SEQPACKET socket."""

from __future__ import annotations

import os
import socket
from contextlib import ExitStack
from typing import Any

from benchmarks._case import BY_HAND, MSG_NOSIGNAL, OURS, Case, Unavailable, socket_pair
from benchmarks._sync_cases import fd_passing_baselines
from benchmarks._timing import Loop

__all__ = ["CASES"]

_SMALL = bytes(64)


def conn_pair(stack: ExitStack) -> tuple[Any, Any]:
    """A connected ``uds.UnixSeqpacketConn`` pair, closed when ``stack`` unwinds."""
    try:
        from uds import UnixSeqpacketConn
    except ImportError as missing:
        raise Unavailable(f"uds has no seqpacket connection yet ({missing})") from None
    a, b = (stack.enter_context(conn) for conn in UnixSeqpacketConn.pair())
    return a, b


def _send_recv(stack: ExitStack) -> dict[str, Loop]:
    a, b = conn_pair(stack)
    plain_a, plain_b = socket_pair(stack, socket.SOCK_SEQPACKET)

    def ours(n: int) -> None:
        send, recv = a.send, b.recv
        for _ in range(n):
            send(_SMALL)
            recv(64)

    def by_hand(n: int) -> None:
        send, recv = plain_a.send, plain_b.recv
        for _ in range(n):
            send(_SMALL, MSG_NOSIGNAL)
            recv(64)

    return {OURS: ours, BY_HAND: by_hand}


def _fds(stack: ExitStack, count: int) -> dict[str, Loop]:
    a, b = conn_pair(stack)
    plain_a, plain_b = socket_pair(stack, socket.SOCK_SEQPACKET)
    r, w = os.pipe()
    stack.callback(os.close, r)
    stack.callback(os.close, w)
    fds = [r] * count
    # No fds: the 64 B message of the other rows; with fds, one byte like fd-passing.
    data = b"x" if count else _SMALL
    size = len(data)

    def ours(n: int) -> None:
        send, recv = a.send_fds, b.recv_fds
        if count:
            for _ in range(n):
                send(data, fds)
                recv(size, count)[2].close()
        else:
            for _ in range(n):
                send(data, fds)
                recv(size, 0)

    return {OURS: ours, **fd_passing_baselines(plain_a, plain_b, data, count, r)}


def _fds_case(count: int) -> Case:
    what = f"{count} fd{'s' if count != 1 else ''}" if count else "64 B, no fds"
    return Case(
        f"seqpacket_fds_{count}",
        f"seqpacket send_fds+recv_fds, {what} (UnixSeqpacketConn)",
        lambda stack: _fds(stack, count),
        f"seqpacket_fds_{count}",
    )


CASES = [
    Case(
        "seqpacket_64",
        "seqpacket 64 B send+recv (UnixSeqpacketConn)",
        _send_recv,
        "seqpacket_64",
    ),
    _fds_case(0),
    _fds_case(1),
    _fds_case(8),
]
