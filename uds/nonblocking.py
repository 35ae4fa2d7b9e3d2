"""The non-blocking seqpacket types under their plain names, for ``selectors`` and reactors.

``from uds.nonblocking import UnixSeqpacketListener, UnixSeqpacketConn`` gives the
types that raise :class:`BlockingIOError` instead of blocking (also exported as
``uds.NonblockingUnixSeqpacketListener`` and ``uds.NonblockingUnixSeqpacketConn``).
"""

from uds._seqpacket_conn import NonblockingUnixSeqpacketConn as UnixSeqpacketConn
from uds._seqpacket_listener import NonblockingUnixSeqpacketListener as UnixSeqpacketListener

__all__ = ["UnixSeqpacketConn", "UnixSeqpacketListener"]
