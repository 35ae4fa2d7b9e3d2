"""Registry: registering sources with the selector behind a Poll."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from uds._fd import FileDescriptorLike, fileno_of
from uds_mio_compat._interest import Interest
from uds_mio_compat._token import Token

if TYPE_CHECKING:
    from uds_mio_compat._waker import Waker

__all__ = ["Registry"]


class _Shared:
    """State of one Poll that every clone of its Registry sees."""

    __slots__ = ("closed", "selector", "stale", "wakers")

    def __init__(self, selector: Any) -> None:
        self.selector = selector
        self.closed = False
        # ids of selector keys dropped since the last poll (see Events.__iter__)
        self.stale: set[int] = set()
        self.wakers: dict[int, Waker] = {}


def closed_error(operation: str) -> ValueError:
    """The error of ``operation`` on a closed Poll."""
    return ValueError(f"{operation}: the Poll is closed")


def _check(token: object, interest: object) -> int:
    if isinstance(token, bool) or not isinstance(token, int):
        raise TypeError(f"token must be an int (Token), not {type(token).__name__}")
    if not isinstance(interest, Interest):
        raise TypeError(f"interest must be an Interest, not {type(interest).__name__}")
    if not interest.value:
        raise ValueError("interest must include READABLE or WRITABLE")
    return interest.value


class Registry:
    """Registers sources (fds or objects with ``fileno()``) with a :class:`Poll`.

    Registries are not thread-safe: register, reregister and deregister from
    the thread that polls (use a :class:`Waker` to reach it from others). Once
    the Poll is closed, every method raises ``ValueError``.
    """

    __slots__ = ("_shared",)

    def __init__(self, shared: _Shared) -> None:
        self._shared = shared

    def register(self, source: FileDescriptorLike, token: Token, interest: Interest) -> None:
        """Report ``interest`` readiness of ``source`` with ``token``.

        The source is identified by its fd: deregister it before closing it
        (see "Sources closed while registered" in :mod:`uds_mio_compat` for what
        each selector does otherwise).

        Raises:
            ValueError: the Poll is closed.
            FileExistsError: the fd is already registered (``EEXIST``).
            TypeError, ValueError: bad source, token or interest.
            OSError: from the selector (``EBADF`` for a closed fd with epoll).
        """
        if self._shared.closed:
            raise closed_error("register()")
        events = _check(token, interest)
        fd = fileno_of(source)
        try:
            self._shared.selector.register(fd, events, token)
        except KeyError:
            raise FileExistsError(errno.EEXIST, f"fd {fd} is already registered") from None

    def reregister(self, source: FileDescriptorLike, token: Token, interest: Interest) -> None:
        """Change the token and interest of a registered ``source``.

        Raises:
            ValueError: the Poll is closed.
            FileNotFoundError: ``source`` is not registered (``ENOENT``).
        """
        if self._shared.closed:
            raise closed_error("reregister()")
        events = _check(token, interest)
        fd = fileno_of(source)
        selector = self._shared.selector
        try:
            old = selector.get_key(fd)
            selector.modify(fd, events, token)
        except KeyError:
            raise FileNotFoundError(errno.ENOENT, f"fd {fd} is not registered") from None
        self._shared.stale.add(id(old))

    def deregister(self, source: FileDescriptorLike) -> None:
        """Stop reporting ``source``; events of it not yet iterated are skipped.

        Raises:
            ValueError: the Poll is closed.
            FileNotFoundError: ``source`` is not registered (``ENOENT``).
        """
        if self._shared.closed:
            raise closed_error("deregister()")
        fd = fileno_of(source)
        try:
            key = self._shared.selector.unregister(fd)
        except KeyError:
            raise FileNotFoundError(errno.ENOENT, f"fd {fd} is not registered") from None
        self._shared.stale.add(id(key))

    def try_clone(self) -> Registry:
        """Another handle on the same registrations (mio's ``Registry::try_clone``).

        Raises:
            ValueError: the Poll is closed.
        """
        if self._shared.closed:
            raise closed_error("try_clone()")
        return Registry(self._shared)

    def __repr__(self) -> str:
        return f"Registry(selector={self._shared.selector!r})"
