"""ReceivedFds: file descriptors that arrived in a message and that the receiver owns."""

from __future__ import annotations

import os
from typing import Iterable, NoReturn, Optional

from uds._closeable import Closeable

__all__ = ["ReceivedFds", "close_all"]

_TAKEN = -1
_close = os.close


def close_all(fds: Iterable[int]) -> None:
    """Close every fd in ``fds`` (skipping taken slots), then raise the first error.

    Used on error paths so that one bad fd never keeps the others open.
    """
    first_error: Optional[OSError] = None
    for fd in fds:
        if fd < 0:
            continue
        try:
            os.close(fd)
        except OSError as error:
            if first_error is None:
                first_error = error
    if first_error is not None:
        raise first_error


class ReceivedFds(Closeable, list[int]):
    """File descriptors received with a message, in the order they were sent.

    It is a read-only ``list[int]`` (``fds == [5, 6]``, ``fds[0]``, ``len(fds)``,
    iteration, slicing into a plain list) that owns its descriptors:
    :meth:`close` (or leaving a ``with`` block) closes every fd not handed out
    yet. :meth:`take` hands one out and leaves ``-1`` in its slot, so the
    indexes of the others do not move; :meth:`detach` hands out all of them.
    Every fd arrives close-on-exec.

    What is owned is exactly what the kernel delivered, minus what was handed
    out: the list methods that would add, remove or move an fd behind the
    ownership (``append``, ``extend``, ``insert``, ``pop``, ``remove``,
    ``clear``, ``sort``, ``reverse``, item and slice assignment or deletion,
    ``+=``, ``*=``) raise :class:`TypeError`, and so do ``copy.copy`` and
    ``pickle`` (two owners would close the same fds twice). Use
    ``list(fds)`` for a plain copy of the numbers that owns nothing.

    Dropping the object does *not* close anything: the fds are plain ints that
    may already have been copied elsewhere.

    ``truncated`` is True when the kernel dropped fds (or other control data)
    that did not fit in the space reserved for them (``MSG_CTRUNC``).
    """

    # A class-level default (not a slot) lets the hot path build instances with
    # list.__new__ and set ``truncated`` only when it is True. Internal code
    # fills and trims instances with list's own methods (``list.extend(fds,
    # ...)``), as the C list API does, which the refusals below do not see.
    truncated: bool = False

    def __init__(self, fds: Iterable[int] = (), truncated: bool = False) -> None:
        """Own ``fds`` (closing them is now this object's job)."""
        list.__init__(self, fds)
        if truncated:
            self.truncated = True

    def take(self, index: int) -> int:
        """Hand out the fd at ``index``: the caller now owns it, ``close()`` skips it.

        Raises:
            IndexError: no such index.
            ValueError: that fd was already taken.
        """
        fd = self[index]
        if fd == _TAKEN:
            raise ValueError(f"the fd at index {index} was already taken")
        _setitem(self, index, _TAKEN)
        return fd

    def detach(self) -> list[int]:
        """Hand out every fd not yet taken and empty this container."""
        fds = [fd for fd in self if fd != _TAKEN]
        _clear(self)
        return fds

    def close(self) -> None:
        """Close every fd not yet taken; safe to call more than once.

        Raises:
            OSError: closing one of them failed (all are still attempted).
        """
        try:
            for index, fd in enumerate(self):  # noqa: B007 (index is read in the except)
                if fd >= 0:
                    _close(fd)
        except OSError:
            # Rare: an fd closed behind our back. Close the rest, then report.
            rest = self[index + 1 :]
            _clear(self)
            close_all(rest)
            raise
        _clear(self)

    def __repr__(self) -> str:
        suffix = ", truncated=True" if self.truncated else ""
        return f"ReceivedFds({list(self)!r}{suffix})"

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(
            "ReceivedFds cannot be changed in place: it owns its fds; hand one out with "
            "take(index), all with detach(), close them with close(), or copy the numbers "
            "with list(fds)"
        )

    append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    __copy__ = __deepcopy__ = __reduce__ = __reduce_ex__ = _refuse


_setitem = list.__setitem__
_clear = list.clear
