"""Seqpacket connections: uds.UnixSeqpacketConn against a plain SOCK_SEQPACKET socket."""

from __future__ import annotations

import socket
from contextlib import ExitStack

from benchmarks._case import BY_HAND, MSG_NOSIGNAL, OURS, Case, Unavailable, socket_pair
from benchmarks._timing import Loop

__all__ = ["CASES"]

_SMALL = bytes(64)


def _send_recv(stack: ExitStack) -> dict[str, Loop]:
    try:
        from uds import UnixSeqpacketConn
    except ImportError as missing:
        raise Unavailable(f"uds has no seqpacket connection yet ({missing})") from None
    a, b = (stack.enter_context(conn) for conn in UnixSeqpacketConn.pair())
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


CASES = [Case("seqpacket_64", "seqpacket 64 B send+recv (UnixSeqpacketConn)", _send_recv)]
