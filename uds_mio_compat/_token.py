"""Token: the plain integer that identifies a registration in events."""

from __future__ import annotations

from typing import NewType

__all__ = ["Token"]

#: Identifies a registered source in the events that :class:`~uds_mio_compat.Poll`
#: reports. A ``NewType`` over ``int``: ``Token(7)`` is the int 7 at run time,
#: so tokens cost nothing and can index lists or dicts directly.
Token = NewType("Token", int)
