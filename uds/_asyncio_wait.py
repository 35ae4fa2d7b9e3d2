"""Waiting for readiness on an asyncio loop, and the one non-blocking call helper.

Every awaitable operation of :mod:`uds.asyncio` goes through
:func:`nonblocking_call`: it issues the system call first and waits only when
the call raises :class:`BlockingIOError`. The wait consumes nothing, so a
cancelled operation loses no data and no fd.

One refinement for receives: when the last receives on an fd all had to wait
(a request/response exchange, where the answer is never there yet), the
helper waits for readiness first, as the loop's own transports do, instead of
paying for a failing system call and its exception each time; every
``_PROBE_EVERY``-th receive tries first again, and one that succeeds at once
returns the fd to try-first mode.
"""

from __future__ import annotations

import _socket
import asyncio
import os
from typing import Any, Awaitable, Callable, Optional, Protocol, TypeVar

from uds._fd import FileDescriptorLike, fileno_of

__all__ = ["FdWaiter", "Waiter", "call_on_fd", "call_on_socket", "nonblocking_call"]

_R = TypeVar("_R")
# Receives that had to wait, in a row, before receives wait for readiness first.
_WAIT_FIRST_AFTER = 2
_PROBE_EVERY = 16


class Waiter(Protocol):
    """What :func:`nonblocking_call` waits with (FdWaiter here, AnyioWaiter for anyio)."""

    #: receives in a row that found nothing at once (see nonblocking_call)
    read_misses: int

    def wait_readable(self) -> Awaitable[None]:
        """Complete when the fd may be readable; cancelling it consumes nothing."""
        ...

    def wait_writable(self) -> Awaitable[None]:
        """Complete when the fd may be writable."""
        ...

    def close(self) -> None:
        """Stop waiting (before the fd is closed): pending waits wake and their retry fails."""
        ...


class FdWaiter:
    """Readiness futures for one fd on one loop.

    The reader/writer callback stays installed between waits and is removed
    the first time it fires with nobody waiting: a request/response exchange
    then costs no ``epoll_ctl`` per message.

    With ``duplicate=True`` the waiter registers a duplicate of ``fd`` (made on
    first use, close-on-exec), for fds that a transport already registered
    with the loop (asyncio refuses a second registration of the same fd).
    """

    __slots__ = (
        "_dup",
        "_fd",
        "_loop",
        "_read_woken",
        "_readers",
        "_reading",
        "_skip_read",
        "_writers",
        "_writing",
        "read_misses",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, fd: int, *, duplicate: bool = False
    ) -> None:
        self._loop = loop
        self._fd = -1 if duplicate else fd
        self._dup: Optional[int] = fd if duplicate else None
        self._readers: list[asyncio.Future[None]] = []
        self._writers: list[asyncio.Future[None]] = []
        self._reading = False
        self._writing = False
        self._read_woken = False
        self._skip_read = False
        #: receives in a row that found nothing at once (see nonblocking_call)
        self.read_misses = 0

    def _watched_fd(self) -> int:
        if self._fd < 0:
            assert self._dup is not None
            self._fd = os.dup(self._dup)  # os.dup makes it non-inheritable
        return self._fd

    def wait_readable(self) -> asyncio.Future[None]:
        """A future that completes when the fd may be readable."""
        future = self._loop.create_future()
        self._readers.append(future)
        if not self._reading:
            self._loop.add_reader(self._watched_fd(), self._on_readable)
            self._reading = True
        elif self._read_woken:
            # A loop that polls between waking a task and running it (asyncio's
            # selector loop) has already queued another callback for the data this
            # task just consumed: ignore callbacks until the next iteration.
            self._read_woken = False
            self._skip_read = True
            self._loop.call_soon(self._end_read_skip)
        return future

    def _end_read_skip(self) -> None:
        self._skip_read = False

    def wait_writable(self) -> asyncio.Future[None]:
        """A future that completes when the fd may be writable."""
        future = self._loop.create_future()
        self._writers.append(future)
        if not self._writing:
            self._loop.add_writer(self._watched_fd(), self._on_writable)
            self._writing = True
        return future

    def _on_readable(self) -> None:
        if self._skip_read:
            self._skip_read = False
            return
        readers = self._readers
        if not readers:
            self._loop.remove_reader(self._fd)
            self._reading = self._read_woken = False
            return
        self._readers = []
        self._read_woken = True
        for future in readers:
            if not future.done():
                future.set_result(None)

    def _on_writable(self) -> None:
        writers = self._writers
        if not writers:
            self._loop.remove_writer(self._fd)
            self._writing = False
            return
        self._writers = []
        for future in writers:
            if not future.done():
                future.set_result(None)

    def close(self) -> None:
        """Remove the callbacks and wake every waiter (its retry then fails).

        Must run before the fd is closed. Safe to call twice.
        """
        loop_open = not self._loop.is_closed()
        if self._reading:
            self._reading = False
            if loop_open:
                self._loop.remove_reader(self._fd)
        if self._writing:
            self._writing = False
            if loop_open:
                self._loop.remove_writer(self._fd)
        waiting = self._readers + self._writers
        self._readers = []
        self._writers = []
        for future in waiting:
            if not future.done():
                future.set_result(None)
        if self._dup is not None and self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


async def nonblocking_call(
    waiter: Waiter, writing: bool, function: Callable[..., _R], *args: object
) -> _R:
    """Call ``function(*args)``; on :class:`BlockingIOError` wait for readiness and retry.

    ``writing`` says which readiness to wait for. The call itself never waits,
    so cancelling the returned coroutine while it waits loses nothing.

    Raises:
        Whatever ``function`` raises other than :class:`BlockingIOError`.
    """
    if writing:
        while True:
            try:
                return function(*args)
            except BlockingIOError:
                pass
            await waiter.wait_writable()
    misses = waiter.read_misses
    if misses < _WAIT_FIRST_AFTER or not misses % _PROBE_EVERY:
        try:
            result = function(*args)
        except BlockingIOError:
            pass
        else:
            waiter.read_misses = 0
            return result
    waiter.read_misses = misses + 1
    while True:
        await waiter.wait_readable()
        try:
            return function(*args)
        except BlockingIOError:
            pass


async def call_on_fd(fd: int, writing: bool, function: Callable[..., _R], *args: object) -> _R:
    """:func:`nonblocking_call` for an fd this module does not own, on the running loop.

    Waits on a duplicate of ``fd``: a transport may hold the fd's own loop
    registration (asyncio refuses a second one).
    """
    waiter = FdWaiter(asyncio.get_running_loop(), fd, duplicate=True)
    try:
        return await nonblocking_call(waiter, writing, function, *args)
    finally:
        waiter.close()


async def call_on_socket(
    sock: FileDescriptorLike, writing: bool, function: Callable[..., _R], *args: Any
) -> _R:
    """``function(sock, *args)`` for a caller's non-blocking socket, waiting on the running loop.

    A socket object with a timeout has a non-blocking fd, but its C methods
    poll for the whole timeout in the loop's thread: it is called through its
    fd number instead (which leaves the socket as it is) and its timeout
    bounds the wait on the loop.

    Raises:
        ValueError: the fd is blocking (it would block the event loop).
        TimeoutError: the socket's timeout expired.
    """
    fd = fileno_of(sock)
    if os.get_blocking(fd):
        raise ValueError(f"socket fd {fd} is blocking: it would block the event loop")
    if isinstance(sock, _socket.socket):
        timeout = sock.gettimeout()
        if timeout:
            try:
                return await asyncio.wait_for(call_on_fd(fd, writing, function, fd, *args), timeout)
            except asyncio.TimeoutError:  # not the builtin before Python 3.11
                raise TimeoutError("timed out") from None
    return await call_on_fd(fd, writing, function, sock, *args)
