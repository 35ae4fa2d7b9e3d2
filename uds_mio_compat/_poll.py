"""Poll: waits for readiness of registered sources through a pluggable selector."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Optional, Union

from uds_mio_compat._backend import SelectorLike, make_selector
from uds_mio_compat._event import Events
from uds_mio_compat._registry import Registry, _Shared

__all__ = ["Poll"]


class Poll:
    """Polls registered sources for readiness, like mio's ``Poll``.

    ``selector`` is ``None`` (``selectors.DefaultSelector``), a selector class
    (``selectors.SelectSelector``, ``PollSelector``, ``EpollSelector``,
    selectors2's, any ``BaseSelector``) that Poll instantiates, or a selector
    instance. Poll owns the selector either way: :meth:`close` closes it.

    Raises:
        TypeError: ``selector`` is not a selector class or instance.
    """

    __slots__ = ("_recorder", "_registry", "_shared")

    def __init__(self, selector: Union[type, SelectorLike, None] = None) -> None:
        instance, self._recorder = make_selector(selector)
        self._shared = _Shared(instance)
        self._registry = Registry(self._shared)

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

        ``timeout`` ``None`` waits indefinitely and ``0`` returns at once. A
        signal handler that raises interrupts the wait; otherwise interrupted
        waits return with what is ready (possibly nothing).

        Raises:
            OSError: from the selector (``EBADF`` for a closed registered fd
                with select/poll selectors).
        """
        shared = self._shared
        shared.stale = set()
        ready = shared.selector.select(timeout)
        wakers = shared.wakers
        if wakers:
            for key, _ in ready:
                waker = wakers.get(key.fd)
                if waker is not None:
                    waker._drain()
        recorder = self._recorder
        events._fill(ready, None if recorder is None else dict(recorder.last), shared.stale)

    def close(self) -> None:
        """Close the selector; registered sources stay open."""
        self._shared.selector.close()

    def __enter__(self) -> Poll:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Poll(selector={self._shared.selector!r})"
