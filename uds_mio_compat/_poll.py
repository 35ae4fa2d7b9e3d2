"""Poll: waits for readiness of registered sources through a pluggable selector."""

from __future__ import annotations

from typing import Any, Optional, Union

from uds._closeable import Closeable
from uds_mio_compat._backend import SelectorLike, make_selector
from uds_mio_compat._event import Events
from uds_mio_compat._registry import Registry, _Shared, closed_error

__all__ = ["Poll"]


class Poll(Closeable):
    """Polls registered sources for readiness, like mio's ``Poll``.

    ``selector`` is ``None`` (``selectors.DefaultSelector``), a selector class
    (``selectors.SelectSelector``, ``PollSelector``, ``EpollSelector``,
    selectors2's, any ``BaseSelector``) that Poll instantiates, or a selector
    instance. Poll owns the selector either way: :meth:`close` closes it, and
    after that every operation of the Poll and its Registry raises ``ValueError``.

    Raises:
        TypeError: ``selector`` is not a selector class or instance.
    """

    __slots__ = ("_backlog", "_backlog_masks", "_recorder", "_registry", "_shared")

    def __init__(self, selector: Union[type, SelectorLike, None] = None) -> None:
        instance, self._recorder = make_selector(selector)
        self._shared = _Shared(instance)
        self._registry = Registry(self._shared)
        # Events beyond an Events' capacity, handed out first by the next poll so
        # that a busy source at the head of the selector's list cannot starve others.
        self._backlog: list[tuple[Any, int]] = []
        self._backlog_masks: Optional[dict[int, int]] = None

    @property
    def registry(self) -> Registry:
        """The registry through which sources are (de)registered with this Poll."""
        return self._registry

    @property
    def selector(self) -> Any:
        """The selector instance behind this Poll."""
        return self._shared.selector

    def poll(self, events: Events, timeout: Optional[float] = None) -> None:
        """Wait until a source is ready or ``timeout`` seconds pass; fill ``events``.

        ``timeout`` ``None`` waits indefinitely and ``0`` returns at once. When
        the last poll found more ready sources than ``events`` holds, this one
        reports the rest at once, without waiting (they may be spurious by now).

        Signals: the handler of a signal that arrives during the wait runs in
        the main thread; if it raises, the exception propagates out of ``poll``.
        If it returns, the selector resumes waiting with the remaining timeout
        (PEP 475), so ``poll`` still returns only when a source is ready or the
        timeout has passed. To end a wait early, from a signal handler or
        another thread, call :meth:`Waker.wake`. (selectors2's
        ``SelectSelector`` does not wait at all while nothing is registered.)

        Raises:
            ValueError: the Poll is closed.
            OSError: from the selector; ``EBADF`` from select selectors when a
                registered fd was closed without being deregistered.
        """
        shared = self._shared
        if shared.closed:
            raise closed_error("poll()")
        backlog = self._backlog
        if backlog:
            stale = shared.stale
            self._backlog = []
            shared.stale = set()
            ready = [item for item in backlog if id(item[0]) not in stale] if stale else backlog
            if ready:
                self._deliver(events, ready, self._backlog_masks)
                return
        shared.stale = set()
        ready = shared.selector.select(timeout)
        wakers = shared.wakers
        if wakers:
            for key, _ in ready:
                waker = wakers.get(key.fd)
                if waker is not None:
                    waker._drain()
        recorder = self._recorder
        self._deliver(events, ready, None if recorder is None else dict(recorder.last))

    def _deliver(
        self, events: Events, ready: list[tuple[Any, int]], masks: Optional[dict[int, int]]
    ) -> None:
        capacity = events.capacity
        if len(ready) > capacity:
            self._backlog = ready[capacity:]
            self._backlog_masks = masks
            ready = ready[:capacity]
        events._fill(ready, masks, self._shared.stale)

    def close(self) -> None:
        """Close the selector; registered sources and wakers stay open. Idempotent."""
        shared = self._shared
        if shared.closed:
            return
        shared.closed = True
        self._backlog = []
        shared.selector.close()

    def __repr__(self) -> str:
        return f"Poll(selector={self._shared.selector!r})"
