"""In-process cases on a socketpair: messages, fd-passing, big buffers, addresses."""

from __future__ import annotations

import os
import socket
from array import array
from contextlib import ExitStack
from multiprocessing import reduction

import uds
from benchmarks._case import (
    BY_HAND,
    MP_REDUCTION,
    MSG_CMSG_CLOEXEC,
    MSG_NOSIGNAL,
    OURS,
    STDLIB_FDS,
    Case,
    FilenoOnly,
    abstract_name,
    socket_pair,
)
from benchmarks._timing import Loop

__all__ = ["CASES", "fd_passing_baselines"]

_SOL_SOCKET = socket.SOL_SOCKET
_SCM_RIGHTS = socket.SCM_RIGHTS
_MSG_CTRUNC = socket.MSG_CTRUNC
_SMALL = bytes(64)
_BIG = 64 * 1024


def _check_and_close(ancdata: list[tuple[int, int, bytes]], flags: int) -> None:
    """What a careful caller of recvmsg does with a reply that should carry no fds."""
    for _, _, payload in ancdata:
        fds = array("i")
        fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        for fd in fds:
            os.close(fd)
    if flags & _MSG_CTRUNC:
        raise RuntimeError("control data truncated")


def _small_messages(stack: ExitStack, wrap: bool) -> dict[str, Loop]:
    a, b = socket_pair(stack)
    ends: tuple[object, object] = (FilenoOnly(a), FilenoOnly(b)) if wrap else (a, b)
    ours_a, ours_b = ends

    def ours(n: int) -> None:
        send, recv = uds.send_fds, uds.recv_fds
        for _ in range(n):
            send(ours_a, _SMALL, ())  # type: ignore[arg-type]
            recv(ours_b, 64, 0)  # type: ignore[arg-type]

    def by_hand(n: int) -> None:
        sendmsg, recvmsg = a.sendmsg, b.recvmsg
        for _ in range(n):
            sendmsg((_SMALL,), (), MSG_NOSIGNAL)
            _, ancdata, flags, _ = recvmsg(64, 0, MSG_CMSG_CLOEXEC)
            if ancdata or flags & _MSG_CTRUNC:
                _check_and_close(ancdata, flags)

    loops: dict[str, Loop] = {OURS: ours, BY_HAND: by_hand}
    if not wrap:

        def stdlib(n: int) -> None:
            send, recv = socket.send_fds, socket.recv_fds
            for _ in range(n):
                send(a, (_SMALL,), (), MSG_NOSIGNAL)
                recv(b, 64, 0, MSG_CMSG_CLOEXEC)

        loops[STDLIB_FDS] = stdlib
    return loops


def fd_passing_baselines(
    a: socket.socket, b: socket.socket, data: bytes, count: int, fd: int
) -> dict[str, Loop]:
    """The stdlib ways to send ``data`` with ``count`` copies of ``fd`` from ``a`` to ``b``.

    By hand, ``socket.send_fds``, and (when there are fds) multiprocessing.reduction;
    every received fd is closed.
    """
    fds = [fd] * count
    ancillary = ((_SOL_SOCKET, _SCM_RIGHTS, array("i", fds)),) if count else ()
    space = socket.CMSG_SPACE(count * 4) if count else 0
    size = len(data)

    def by_hand(n: int) -> None:
        sendmsg, recvmsg = a.sendmsg, b.recvmsg
        for _ in range(n):
            sendmsg((data,), ancillary, MSG_NOSIGNAL)
            _, ancdata, flags, _ = recvmsg(size, space, MSG_CMSG_CLOEXEC)
            # Inline, as a hot loop would be written: check, parse, close.
            if flags & _MSG_CTRUNC:
                raise RuntimeError("control data truncated")
            for level, kind, payload in ancdata:
                if level == _SOL_SOCKET and kind == _SCM_RIGHTS:
                    received = array("i")
                    received.frombytes(payload[: len(payload) - len(payload) % 4])
                    for fd in received:
                        os.close(fd)

    def stdlib(n: int) -> None:
        send, recv = socket.send_fds, socket.recv_fds
        for _ in range(n):
            send(a, (data,), fds, MSG_NOSIGNAL)
            for fd in recv(b, size, count, MSG_CMSG_CLOEXEC)[1]:
                os.close(fd)

    def mp(n: int) -> None:
        send, recv = reduction.sendfds, reduction.recvfds
        for _ in range(n):
            send(a, fds)
            for fd in recv(b, count):
                os.close(fd)

    loops: dict[str, Loop] = {BY_HAND: by_hand, STDLIB_FDS: stdlib}
    if count:
        loops[MP_REDUCTION] = mp
    return loops


def _fd_passing(stack: ExitStack, count: int) -> dict[str, Loop]:
    a, b = socket_pair(stack)
    r, w = os.pipe()
    stack.callback(os.close, r)
    stack.callback(os.close, w)
    fds = [r] * count

    def ours(n: int) -> None:
        send, recv = uds.send_fds, uds.recv_fds
        for _ in range(n):
            send(a, b"x", fds)
            _, received = recv(b, 1, count)
            received.close()

    return {OURS: ours, **fd_passing_baselines(a, b, b"x", count, r)}


def _big_buffer(stack: ExitStack) -> dict[str, Loop]:
    a, b = socket_pair(stack)
    data = os.urandom(_BIG)
    buffer = bytearray(_BIG)
    view = memoryview(buffer)

    def ours(n: int) -> None:
        send, recv_into = uds.send_fds, uds.recv_fds_into
        for _ in range(n):
            send(a, data, ())
            got = recv_into(b, view, 0)[0]
            while got < _BIG:
                got += recv_into(b, view[got:], 0)[0]

    def by_hand(n: int) -> None:
        sendmsg, recvmsg_into = a.sendmsg, b.recvmsg_into
        for _ in range(n):
            sendmsg((data,), (), MSG_NOSIGNAL)
            got = recvmsg_into((view,), 0, MSG_CMSG_CLOEXEC)[0]
            while got < _BIG:
                got += recvmsg_into((view[got:],), 0, MSG_CMSG_CLOEXEC)[0]

    return {OURS: ours, BY_HAND: by_hand}


def _classify(raw: object) -> tuple[str, object]:
    """What a caller of getsockname() does to tell the three kinds of address apart."""
    if isinstance(raw, bytes):
        if raw[:1] == b"\0":
            return ("abstract", raw[1:])
        raw = os.fsdecode(raw)
    return ("unnamed", None) if not raw else ("path", raw)


def _local_addr(stack: ExitStack, wrap: bool) -> dict[str, Loop]:
    sock = stack.enter_context(uds.bind_unix_addr(abstract_name()))
    target: object = FilenoOnly(sock) if wrap else sock

    def ours(n: int) -> None:
        local = uds.local_unix_addr
        for _ in range(n):
            local(target)  # type: ignore[arg-type]

    def by_hand(n: int) -> None:
        getsockname = sock.getsockname
        for _ in range(n):
            _classify(getsockname())

    return {OURS: ours, BY_HAND: by_hand}


CASES = [
    Case(
        "send_recv_64",
        "64 B send+recv",
        lambda stack: _small_messages(stack, wrap=False),
        "send_recv_64",
    ),
    Case(
        "send_recv_64_fileno",
        "64 B send+recv, fileno()-only object",
        lambda stack: _small_messages(stack, wrap=True),
        "send_recv_64",
    ),
    Case("fds_1", "fd-passing, 1 fd", lambda stack: _fd_passing(stack, 1), "fds_1"),
    Case("fds_8", "fd-passing, 8 fds", lambda stack: _fd_passing(stack, 8), "fds_8"),
    Case("recv_64k", "64 KiB send+recv_into", _big_buffer, "recv_64k"),
    Case(
        "local_addr",
        "local_unix_addr",
        lambda stack: _local_addr(stack, wrap=False),
        "local_addr",
    ),
    Case(
        "local_addr_fileno",
        "local_unix_addr, fileno()-only object",
        lambda stack: _local_addr(stack, wrap=True),
        "local_addr",
    ),
]
