"""Closeable: the context-manager protocol for every object that owns something to close."""

from __future__ import annotations

from types import TracebackType
from typing import Optional, TypeVar

__all__ = ["Closeable"]

_T = TypeVar("_T", bound="Closeable")


class Closeable:
    """A mixin: ``with obj:`` returns ``obj`` and calls ``obj.close()`` on the way out."""

    __slots__ = ()

    def close(self) -> None:
        """Release what the object owns; subclasses define it."""
        raise NotImplementedError

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()
