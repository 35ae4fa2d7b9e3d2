"""What a benchmark case is, the implementation columns, and shared fixtures."""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Callable, Optional

from benchmarks._timing import CPU, Loop

__all__ = [
    "ANYIO",
    "BY_HAND",
    "COLUMNS",
    "C_LIMIT",
    "MP_REDUCTION",
    "OURS",
    "OURS_BEFORE",
    "OURS_PURE",
    "STDLIB_FDS",
    "Case",
    "FilenoOnly",
    "Unavailable",
    "abstract_name",
    "pin_to_one_cpu",
    "socket_pair",
]

OURS = "uds"
#: The same loop as ``uds``, run by a worker process with ``UDS_PURE_PYTHON=1``.
OURS_PURE = "uds pure"
#: The same loop on uds as it was before the C core (pure Python), in a worker too.
OURS_BEFORE = "uds before"
BY_HAND = "by hand"
STDLIB_FDS = "socket.send_fds"
MP_REDUCTION = "mp.reduction"
ANYIO = "anyio"
C_LIMIT = "C"
#: Measured columns, in table order (C comes from the compiled program).
COLUMNS = (OURS, OURS_PURE, OURS_BEFORE, BY_HAND, STDLIB_FDS, MP_REDUCTION, ANYIO)

MSG_NOSIGNAL: int = getattr(socket, "MSG_NOSIGNAL", 0)
MSG_CMSG_CLOEXEC: int = getattr(socket, "MSG_CMSG_CLOEXEC", 0)


class Unavailable(Exception):
    """A case cannot run here (a module not built yet, a library not installed)."""


@dataclass(frozen=True)
class Case:
    """One row of the table.

    ``setup`` opens what the case needs on the exit stack and returns a loop per
    implementation column; it raises :class:`Unavailable` when the case cannot
    run. ``c_key`` names the C program's case doing the same system calls. One
    loop iteration does ``per`` operations (a burst over many connections, a
    batch of packets); the table shows the cost of one. ``pure`` says whether a
    worker with ``UDS_PURE_PYTHON=1`` measures the pure-Python ``uds`` too.
    ``clock`` is what is timed: CPU time of the measuring thread, or wall time
    for cases that wait for another process.
    """

    key: str
    title: str
    setup: Callable[[ExitStack], dict[str, Loop]]
    c_key: Optional[str] = None
    per: int = 1
    pure: bool = True
    clock: str = CPU


class FilenoOnly:
    """A socket wrapper that exposes nothing but ``fileno()``, like third-party types."""

    def __init__(self, sock: socket.socket) -> None:
        self._fd = sock.fileno()

    def fileno(self) -> int:
        return self._fd


def socket_pair(
    stack: ExitStack, kind: int = socket.SOCK_STREAM
) -> tuple[socket.socket, socket.socket]:
    """A connected unix socket pair, closed when ``stack`` unwinds."""
    a, b = socket.socketpair(socket.AF_UNIX, kind)
    stack.enter_context(a)
    stack.enter_context(b)
    return a, b


def abstract_name() -> str:
    """A unique abstract address, so concurrent runs never collide."""
    return f"@uds-bench-{uuid.uuid4().hex}"


def pin_to_one_cpu(stack: ExitStack, *pids: int) -> int:
    """Pin this process and ``pids`` to one CPU until ``stack`` unwinds; return the CPU.

    The highest allowed CPU, as the C program picks: both ends of a ping-pong
    then take turns on one CPU instead of measuring cross-CPU wake-ups.

    Raises:
        Unavailable: the OS cannot pin (no ``os.sched_setaffinity``).
    """
    if not hasattr(os, "sched_setaffinity"):
        raise Unavailable("this OS has no os.sched_setaffinity to pin processes to a CPU")
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    stack.callback(os.sched_setaffinity, 0, allowed)
    for pid in (0, *pids):
        os.sched_setaffinity(pid, {cpu})
    return cpu
