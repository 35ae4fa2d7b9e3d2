"""Batches: 32 packets of 64 B per send_many/recv_many, against one call per message.

Each case sends 32 packets, then receives them; the table shows the cost per
message. The batch rows' C column is one ``sendmmsg`` and one ``recvmmsg`` per
batch; the loop rows' C column is the one-call-per-message loop the batches
are measured against.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

import uds
from benchmarks._case import (
    BY_HAND,
    MSG_CMSG_CLOEXEC,
    MSG_NOSIGNAL,
    OURS,
    Case,
    Unavailable,
    socket_pair,
)
from benchmarks._seqpacket_cases import conn_pair
from benchmarks._timing import Loop

__all__ = ["BATCH", "BATCH_AGAINST_LOOP", "CASES"]

BATCH = 32
_SMALL = bytes(64)
_PACKETS = [_SMALL] * BATCH
_MSG_CTRUNC = socket.MSG_CTRUNC


def _plain_seqpacket_loop(a: socket.socket, b: socket.socket) -> Loop:
    def by_hand(n: int) -> None:
        send, recv = a.send, b.recv
        for _ in range(n):
            for _ in range(BATCH):
                send(_SMALL, MSG_NOSIGNAL)
            for _ in range(BATCH):
                recv(64)

    return by_hand


def _seqpacket_batch(stack: ExitStack) -> dict[str, Loop]:
    a, b = conn_pair(stack)
    if not hasattr(a, "send_many"):
        raise Unavailable("UnixSeqpacketConn has no send_many yet")
    plain_a, plain_b = socket_pair(stack, socket.SOCK_SEQPACKET)

    def ours(n: int) -> None:
        send_many, recv_many = a.send_many, b.recv_many
        for _ in range(n):
            send_many(_PACKETS)
            got = len(recv_many(64, BATCH))
            while got < BATCH:
                got += len(recv_many(64, BATCH - got))

    return {OURS: ours, BY_HAND: _plain_seqpacket_loop(plain_a, plain_b)}


def _seqpacket_loop(stack: ExitStack) -> dict[str, Loop]:
    a, b = conn_pair(stack)
    plain_a, plain_b = socket_pair(stack, socket.SOCK_SEQPACKET)

    def ours(n: int) -> None:
        send, recv = a.send, b.recv
        for _ in range(n):
            for _ in range(BATCH):
                send(_SMALL)
            for _ in range(BATCH):
                recv(64)

    return {OURS: ours, BY_HAND: _plain_seqpacket_loop(plain_a, plain_b)}


def _datagram_pair(stack: ExitStack) -> tuple[socket.socket, socket.socket]:
    # A socketpair's ends are each other's peers: Linux does not apply
    # net.unix.max_dgram_qlen to them, so 32 queued datagrams only need send buffer.
    return socket_pair(stack, socket.SOCK_DGRAM)


def _plain_datagram_loop(a: socket.socket, b: socket.socket) -> Loop:
    def by_hand(n: int) -> None:
        sendmsg, recvmsg = a.sendmsg, b.recvmsg
        for _ in range(n):
            for _ in range(BATCH):
                sendmsg((_SMALL,), (), MSG_NOSIGNAL)
            for _ in range(BATCH):
                _, ancdata, flags, _ = recvmsg(64, 0, MSG_CMSG_CLOEXEC)
                if ancdata or flags & _MSG_CTRUNC:
                    raise RuntimeError("unexpected control data")

    return by_hand


def _datagram_batch(stack: ExitStack) -> dict[str, Loop]:
    a, b = _datagram_pair(stack)
    plain_a, plain_b = _datagram_pair(stack)

    def ours(n: int) -> None:
        send_many, recv_many = uds.send_many, uds.recv_many
        for _ in range(n):
            send_many(a, _PACKETS)
            got = len(recv_many(b, 64, BATCH))
            while got < BATCH:
                got += len(recv_many(b, 64, BATCH - got))

    return {OURS: ours, BY_HAND: _plain_datagram_loop(plain_a, plain_b)}


def _datagram_loop(stack: ExitStack) -> dict[str, Loop]:
    a, b = _datagram_pair(stack)
    plain_a, plain_b = _datagram_pair(stack)

    def ours(n: int) -> None:
        send, recv = uds.send_fds, uds.recv_fds
        for _ in range(n):
            for _ in range(BATCH):
                send(a, _SMALL, ())
            for _ in range(BATCH):
                recv(b, 64, 0)

    return {OURS: ours, BY_HAND: _plain_datagram_loop(plain_a, plain_b)}


#: Each batch row and the loop row whose C column is its target's yardstick.
BATCH_AGAINST_LOOP = {"seqpacket_batch_32": "seqpacket_loop_32", "dgram_batch_32": "dgram_loop_32"}

CASES = [
    Case(
        "seqpacket_batch_32",
        f"seqpacket 64 B x{BATCH}: conn.send_many+recv_many (per message)",
        _seqpacket_batch,
        "seqpacket_mmsg_32",
        per=BATCH,
    ),
    Case(
        "seqpacket_loop_32",
        f"seqpacket 64 B x{BATCH}: conn.send+recv, one call per message (per message)",
        _seqpacket_loop,
        "seqpacket_loop_32",
        per=BATCH,
    ),
    Case(
        "dgram_batch_32",
        f"datagram 64 B x{BATCH}: uds.send_many+recv_many (per message)",
        _datagram_batch,
        "dgram_mmsg_32",
        per=BATCH,
    ),
    Case(
        "dgram_loop_32",
        f"datagram 64 B x{BATCH}: uds.send_fds+recv_fds, one call per message (per message)",
        _datagram_loop,
        "dgram_loop_32",
        per=BATCH,
    ),
]
