"""Interest: the readiness a registration asks for (readable, writable or both)."""

from __future__ import annotations

import enum
import selectors

__all__ = ["Interest"]


class Interest(enum.Flag):
    """Readiness to be notified of; combine with ``|`` (``READABLE | WRITABLE``).

    The values are the ``selectors.EVENT_READ``/``EVENT_WRITE`` bits, so an
    interest converts to a selector's event mask with ``.value``.
    """

    READABLE = selectors.EVENT_READ
    WRITABLE = selectors.EVENT_WRITE

    def is_readable(self) -> bool:
        """Whether this interest includes readability."""
        return bool(self.value & selectors.EVENT_READ)

    def is_writable(self) -> bool:
        """Whether this interest includes writability."""
        return bool(self.value & selectors.EVENT_WRITE)
