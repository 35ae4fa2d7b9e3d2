"""Event and Events: what one call to Poll.poll reports."""

from __future__ import annotations

import selectors
from typing import Any, Iterator, Optional

from uds_mio_compat._backend import POLLERR, POLLHUP, POLLNVAL, POLLOUT, POLLRDHUP, probe_mask
from uds_mio_compat._token import Token

__all__ = ["Event", "Events"]

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_CLOSED_READ = POLLHUP | POLLRDHUP
# POLLNVAL: the fd was closed while registered; the recorded poll(2) masks carry it raw.
_ERROR = POLLERR | POLLNVAL


class Event:
    """Readiness of one registered source, as reported by one poll.

    ``token`` is the token the source was registered with. Readability and
    writability come from the selector. Hang-up and error states come from the
    same system call when the Poll owns a stdlib epoll or poll selector; with
    any other selector they are read from ``poll(2)`` (timeout 0) the first time
    one of :meth:`is_read_closed`, :meth:`is_write_closed` or :meth:`is_error`
    is called, and describe the fd at that moment.
    """

    __slots__ = ("_fd", "_mask", "_ready", "token")

    def __init__(self, token: Token, ready: int, mask: Optional[int], fd: int) -> None:
        self.token = token
        self._ready = ready
        self._mask = mask
        self._fd = fd

    def is_readable(self) -> bool:
        """The source has data to read, a connection to accept, or EOF/an error."""
        return bool(self._ready & _READ)

    def is_writable(self) -> bool:
        """The source can accept data (or a write would fail with an error)."""
        return bool(self._ready & _WRITE)

    def _raw(self) -> int:
        mask = self._mask
        if mask is None:
            mask = self._mask = probe_mask(self._fd)
        return mask

    def is_read_closed(self) -> bool:
        """The peer will send nothing more: EOF (``POLLRDHUP``) or a full hang-up."""
        return bool(self._raw() & _CLOSED_READ)

    def is_write_closed(self) -> bool:
        """Nothing more can be sent: full hang-up, or an error on a writable fd."""
        mask = self._raw()
        return bool(mask & POLLHUP or (mask & POLLERR and mask & POLLOUT) or mask == POLLERR)

    def is_error(self) -> bool:
        """Whether the fd has a pending error or was closed while registered.

        A pending error is ``POLLERR`` (``SO_ERROR`` tells which); a closed fd is
        ``POLLNVAL``, which only poll selectors report (see "Sources closed while
        registered" in :mod:`uds_mio_compat`).
        """
        return bool(self._raw() & _ERROR)

    def __repr__(self) -> str:
        flags = [
            name
            for name, on in (
                ("readable", self.is_readable()),
                ("writable", self.is_writable()),
            )
            if on
        ]
        return f"Event(token={self.token!r}, {'|'.join(flags) or 'none'})"


class Events:
    """A reusable container for the events of one :meth:`Poll.poll` call.

    Holds at most ``capacity`` events; sources that were ready beyond it are
    reported by the next poll, before anything else.
    Iterating skips events of sources deregistered or reregistered since the
    poll (their readiness may no longer concern the caller).
    """

    __slots__ = ("_capacity", "_masks", "_ready", "_stale")

    def __init__(self, capacity: int) -> None:
        if type(capacity) is not int:
            raise TypeError(f"capacity must be an int, not {type(capacity).__name__}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._ready: list[tuple[Any, int]] = []
        self._masks: Optional[dict[int, int]] = None
        self._stale: set[int] = set()

    @classmethod
    def with_capacity(cls, capacity: int) -> Events:
        """An empty container for up to ``capacity`` events per poll.

        Raises:
            ValueError: ``capacity`` is below 1.
        """
        return cls(capacity)

    @property
    def capacity(self) -> int:
        """The most events one poll stores here."""
        return self._capacity

    def _fill(
        self, ready: list[tuple[Any, int]], masks: Optional[dict[int, int]], stale: set[int]
    ) -> None:
        self._ready = ready
        self._masks = masks
        self._stale = stale

    def clear(self) -> None:
        """Forget the events of the last poll."""
        self._ready = []
        self._masks = None

    def is_empty(self) -> bool:
        """Whether the last poll reported nothing."""
        return not self._ready

    def __len__(self) -> int:
        return len(self._ready)

    def __iter__(self) -> Iterator[Event]:
        masks = self._masks
        stale = self._stale
        for key, ready in self._ready:
            if stale and id(key) in stale:
                continue
            fd = key.fd
            mask = None if masks is None else masks.get(fd, 0)
            yield Event(key.data, ready, mask, fd)

    def __repr__(self) -> str:
        return f"Events(len={len(self._ready)}, capacity={self._capacity})"
