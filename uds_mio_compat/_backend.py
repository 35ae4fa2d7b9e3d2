"""Choosing the selector behind a Poll, and learning hang-ups and errors from it.

Python's selectors report only "readable" and "writable". When :class:`Poll`
builds a stdlib ``EpollSelector`` or ``PollSelector`` itself, it swaps the
selector's kernel object for a :class:`_RecordingPoller` that asks for
``POLLRDHUP`` alongside ``POLLIN`` and keeps the raw masks of the last wait, so
hang-up and error bits come from the same system call as the readiness. Any
other selector (``SelectSelector``, ``KqueueSelector``, selectors2's, a custom
one, or an instance the caller built) only gives readiness; for those,
:func:`probe_mask` asks ``poll(2)`` about one fd, on demand.
"""

from __future__ import annotations

import select
import selectors
from typing import Any, Optional, Union

__all__ = [
    "SelectorLike",
    "make_selector",
    "probe_mask",
    "POLLIN",
    "POLLOUT",
    "POLLERR",
    "POLLHUP",
    "POLLNVAL",
    "POLLRDHUP",
]

# epoll(7) defines EPOLLIN/OUT/ERR/HUP/RDHUP with the values of their poll(2)
# twins, so one set of bits describes the masks of both.
POLLIN: int = select.POLLIN
POLLOUT: int = select.POLLOUT
POLLERR: int = select.POLLERR
POLLHUP: int = select.POLLHUP
POLLNVAL: int = select.POLLNVAL
POLLRDHUP: int = getattr(select, "POLLRDHUP", 0)
_PROBE_EVENTS = POLLIN | POLLOUT | POLLRDHUP

SelectorLike = Any  # selectors.BaseSelector or anything with its methods (selectors2)
_REQUIRED = ("register", "unregister", "modify", "select", "close")
_RECORDABLE = tuple(
    cls for cls in (getattr(selectors, "EpollSelector", None), selectors.PollSelector) if cls
)


class _RecordingPoller:
    """Stands in for a stdlib selector's epoll/poll object; keeps the raw masks."""

    __slots__ = ("_inner", "last")

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.last: list[tuple[int, int]] = []

    def register(self, fd: int, mask: int) -> None:
        # RDHUP only with IN: a write-only registration must not be woken, level-
        # triggered and forever, because the peer stopped sending.
        self._inner.register(fd, mask | POLLRDHUP if mask & POLLIN else mask)

    def modify(self, fd: int, mask: int) -> None:
        self._inner.modify(fd, mask | POLLRDHUP if mask & POLLIN else mask)

    def poll(self, *args: Any) -> list[tuple[int, int]]:
        result: list[tuple[int, int]] = self._inner.poll(*args)
        self.last = result
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def make_selector(
    selector: Union[type, SelectorLike, None],
) -> tuple[SelectorLike, Optional[_RecordingPoller]]:
    """The selector for a Poll, and its recording poller when it has one.

    ``selector`` is ``None`` (``selectors.DefaultSelector``), a class or a
    factory function (selectors2's ``DefaultSelector``) to call, or an instance
    to use as is.

    Raises:
        TypeError: ``selector`` lacks the selector methods.
    """
    if selector is None:
        selector = selectors.DefaultSelector
    instance: Any = selector() if _is_factory(selector) else selector
    missing = [name for name in _REQUIRED if not callable(getattr(instance, name, None))]
    if missing:
        raise TypeError(
            f"selector must be a selectors.BaseSelector class or instance, "
            f"got {selector!r} (missing {', '.join(missing)})"
        )
    if instance is not selector and type(instance) in _RECORDABLE and POLLRDHUP:
        recorder = _RecordingPoller(instance._selector)
        instance._selector = recorder
        return instance, recorder
    return instance, None


def _is_factory(selector: object) -> bool:
    if isinstance(selector, type):
        return True
    return callable(selector) and not callable(getattr(selector, "select", None))


def probe_mask(fd: int) -> int:
    """The poll(2) revents of ``fd`` right now (0 when nothing is pending).

    ``POLLNVAL`` (the fd was closed) comes with ``POLLERR`` added, as
    :class:`Event` treats both as an error.
    """
    poller = select.poll()
    poller.register(fd, _PROBE_EVENTS)
    ready = poller.poll(0)
    if not ready:
        return 0
    mask: int = ready[0][1]
    if mask & POLLNVAL:
        mask |= POLLERR
    return mask
