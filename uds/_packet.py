"""Packet: one message of a batch received by ``recv_many``."""

from __future__ import annotations

from typing import NamedTuple, Optional

from uds._addr import UnixSocketAddr
from uds._fds import ReceivedFds

__all__ = ["Packet"]


class Packet(NamedTuple):
    """One received packet (or datagram) of a ``recv_many`` batch.

    Attributes:
        data: the bytes received (at most the ``bufsize`` asked for).
        truncated: the packet was longer than ``bufsize`` and its tail is lost.
        fds: the fds that came with it, owned by the receiver (close them, or
            use the :class:`ReceivedFds` as a context manager); ``None`` when
            the call asked for no fds (``max_fds=0``: the kernel then discards
            any fds sent).
        addr: the sender's address for datagram sockets, else ``None``.
    """

    data: bytes
    truncated: bool
    fds: Optional[ReceivedFds]
    addr: Optional[UnixSocketAddr]
