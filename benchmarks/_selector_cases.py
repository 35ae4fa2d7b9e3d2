"""A selectors-driven echo over many seqpacket connections: the cost per message."""

from __future__ import annotations

import selectors
import socket
from contextlib import ExitStack
from typing import Any, Callable

from benchmarks._case import BY_HAND, MSG_NOSIGNAL, OURS, Case, Unavailable
from benchmarks._timing import Loop

__all__ = ["CASES"]

_SMALL = bytes(64)
_READ = selectors.EVENT_READ


def _echo_burst(
    selector: selectors.BaseSelector,
    clients: list[Any],
    send: Callable[[Any, bytes], object],
) -> Loop:
    """Every client sends one message, the loop echoes them all, every client reads its reply."""
    count = len(clients)

    def loop(n: int) -> None:
        select = selector.select
        for _ in range(n):
            for client in clients:
                send(client, _SMALL)
            echoed = 0
            while echoed < count:
                for key, _ in select():
                    server = key.fileobj
                    send(server, server.recv(64))  # type: ignore[union-attr]
                    echoed += 1
            for client in clients:
                client.recv(64)

    return loop


def _register(stack: ExitStack, pairs: list[tuple[Any, Any]]) -> selectors.BaseSelector:
    selector = stack.enter_context(selectors.DefaultSelector())
    for client, server in pairs:
        stack.enter_context(client)
        stack.enter_context(server)
        selector.register(server, _READ)
    return selector


def _echo(stack: ExitStack, count: int) -> dict[str, Loop]:
    try:
        from uds import NonblockingUnixSeqpacketConn
    except ImportError as missing:
        raise Unavailable(f"uds has no non-blocking seqpacket connection yet ({missing})") from None
    ours_pairs = [NonblockingUnixSeqpacketConn.pair() for _ in range(count)]
    ours_selector = _register(stack, ours_pairs)
    plain_pairs = []
    for _ in range(count):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        a.setblocking(False)
        b.setblocking(False)
        plain_pairs.append((a, b))
    plain_selector = _register(stack, plain_pairs)
    return {
        OURS: _echo_burst(
            ours_selector,
            [client for client, _ in ours_pairs],
            lambda conn, data: conn.send(data),
        ),
        BY_HAND: _echo_burst(
            plain_selector,
            [client for client, _ in plain_pairs],
            lambda sock, data: sock.send(data, MSG_NOSIGNAL),
        ),
    }


def _case(count: int) -> Case:
    return Case(
        f"selectors_{count}",
        f"selectors echo, {count} connections (per message)",
        lambda stack: _echo(stack, count),
        f"selectors_{count}",
        per=count,
    )


CASES = [_case(10), _case(100), _case(1000)]
