"""Waiting for readiness through anyio (asyncio or trio backend), and the socket call helper.

The anyio types and functions of :mod:`uds.anyio` go through the same
:func:`uds._asyncio_wait.nonblocking_call` as the asyncio ones: the system
call first, a wait only on :class:`BlockingIOError`; only the waiting differs.
anyio lets one task at a time wait for each direction of an fd: a second
concurrent reader (or writer) gets :class:`anyio.BusyResourceError`.
"""

from __future__ import annotations

import _socket
import os
from typing import Any, Awaitable, Callable, Optional, TypeVar

import anyio

from uds._asyncio_wait import nonblocking_call
from uds._fd import FileDescriptorLike, fileno_of

__all__ = ["AnyioWaiter", "call_on_socket"]

_R = TypeVar("_R")
# anyio 4.7 added wait_readable/wait_writable (any fileno object) and notify_closing.
_wait_readable: Callable[[Any], Awaitable[None]] = getattr(
    anyio, "wait_readable", anyio.wait_socket_readable
)
_wait_writable: Callable[[Any], Awaitable[None]] = getattr(
    anyio, "wait_writable", anyio.wait_socket_writable
)
_notify_closing: Optional[Callable[[Any], None]] = getattr(anyio, "notify_closing", None)


class AnyioWaiter:
    """Readiness waits on one socket through the running anyio backend."""

    __slots__ = ("_sock", "read_misses")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        #: receives in a row that found nothing at once (see nonblocking_call)
        self.read_misses = 0

    def wait_readable(self) -> Awaitable[None]:
        """Complete when the socket may be readable."""
        return _wait_readable(self._sock)

    def wait_writable(self) -> Awaitable[None]:
        """Complete when the socket may be writable."""
        return _wait_writable(self._sock)

    def close(self) -> None:
        """Wake tasks waiting on the socket (they get ``anyio.ClosedResourceError``).

        Must run before the fd is closed; outside a running backend (the loop
        has ended) there is nobody to wake.
        """
        if _notify_closing is None or self._sock.fileno() < 0:
            return
        try:
            _notify_closing(self._sock)
        except RuntimeError:  # sniffio: no async library running in this thread
            pass


async def call_on_socket(
    sock: FileDescriptorLike, writing: bool, function: Callable[..., _R], *args: Any
) -> _R:
    """``function(sock, *args)`` for a caller's non-blocking socket, waiting through anyio.

    A socket object with a timeout is called through its fd number (its C
    methods would poll for the whole timeout in the event loop's thread) and
    its timeout bounds the wait.

    Raises:
        ValueError: the fd is blocking (it would block the event loop).
        TimeoutError: the socket's timeout expired.
    """
    fd = fileno_of(sock)
    if os.get_blocking(fd):
        raise ValueError(f"socket fd {fd} is blocking: it would block the event loop")
    waiter = AnyioWaiter(sock)
    if isinstance(sock, _socket.socket):
        timeout = sock.gettimeout()
        if timeout:
            with anyio.fail_after(timeout):
                return await nonblocking_call(waiter, writing, function, fd, *args)
    return await nonblocking_call(waiter, writing, function, sock, *args)
