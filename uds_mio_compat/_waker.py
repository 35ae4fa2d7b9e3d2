"""Waker: wakes a Poll blocked in another thread."""

from __future__ import annotations

import os
import sys
import threading

from uds._closeable import Closeable
from uds_mio_compat._interest import Interest
from uds_mio_compat._registry import Registry
from uds_mio_compat._token import Token

__all__ = ["Waker"]

# os.eventfd and friends are new in Python 3.10 (Linux only): the version test
# comes first so that type checkers targeting 3.9 skip the calls behind it.
_HAS_EVENTFD = sys.version_info >= (3, 10) and hasattr(os, "eventfd")
_DRAIN_SIZE = 4096


def _new_channel() -> tuple[int, int]:
    """(read fd, write fd): an eventfd used for both, or a pipe; close-on-exec, non-blocking."""
    if sys.version_info >= (3, 10) and _HAS_EVENTFD:
        fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        return fd, fd
    # Python creates pipes close-on-exec atomically (pipe2 where available).
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w


class Waker(Closeable):
    """Makes :meth:`Poll.poll` return an event with ``token`` from any thread.

    Registered with ``Interest.READABLE`` on creation. Poll drains the waker's
    readiness when it reports the event, so one wake is one event (several
    wakes before a poll may merge into one). The fd is an ``eventfd`` where the
    OS has it (Linux, Python 3.10+), else a pipe; close-on-exec and non-blocking.

    Raises:
        FileExistsError: ``token``'s fd is already registered (cannot happen
            for a fresh fd); OSError if the fd cannot be created.
    """

    __slots__ = ("_lock", "_read_fd", "_registry", "_write_fd")

    def __init__(self, registry: Registry, token: Token) -> None:
        # Held by wake() across its write and by close() across its closes, so that
        # a wake() racing close() cannot write to an fd number the OS has reused.
        # Re-entrant: a signal handler may call wake() in a thread already inside it.
        self._lock = threading.RLock()
        self._read_fd, self._write_fd = _new_channel()
        try:
            registry.register(self._read_fd, token, Interest.READABLE)
        except BaseException:
            self._close_fds()
            raise
        self._registry = registry
        registry._shared.wakers[self._read_fd] = self

    def wake(self) -> None:
        """Wake the poll (now, or the next one if none is waiting). Thread-safe.

        Raises:
            ValueError: the waker is closed.
        """
        with self._lock:
            fd = self._write_fd
            if fd < 0:
                raise ValueError("wake() on a closed Waker")
            try:
                if sys.version_info >= (3, 10) and _HAS_EVENTFD:
                    os.eventfd_write(fd, 1)
                else:
                    os.write(fd, b"\x01")
            except BlockingIOError:
                pass  # the counter or pipe is full: a wake-up is already pending

    def _drain(self) -> None:
        try:
            if sys.version_info >= (3, 10) and _HAS_EVENTFD:
                os.eventfd_read(self._read_fd)
            else:
                while len(os.read(self._read_fd, _DRAIN_SIZE)) == _DRAIN_SIZE:
                    pass
        except BlockingIOError:
            pass

    def fileno(self) -> int:
        """The fd that becomes readable on :meth:`wake`."""
        return self._read_fd

    def close(self) -> None:
        """Deregister and close the waker; safe to call twice.

        Once it returns, :meth:`wake` raises ``ValueError`` in every thread; a
        ``wake`` running concurrently finishes its write first.
        """
        if self._read_fd < 0:
            return
        shared = self._registry._shared
        shared.wakers.pop(self._read_fd, None)
        try:
            self._registry.deregister(self._read_fd)
        except (FileNotFoundError, ValueError):
            pass  # deregistered by the user, or the Poll is closed
        finally:
            with self._lock:
                self._close_fds()

    def _close_fds(self) -> None:
        read_fd, write_fd = self._read_fd, self._write_fd
        self._read_fd = self._write_fd = -1
        os.close(read_fd)
        if write_fd != read_fd:
            os.close(write_fd)

    def __repr__(self) -> str:
        return f"Waker(fd={self._read_fd})"
