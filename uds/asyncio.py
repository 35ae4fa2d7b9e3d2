"""asyncio support: seqpacket connections, fd-passing and control data, an fd-aware transport.

Works on the default event loop and on uvloop. Every operation tries the
system call first and waits for readiness only if it would block, so
cancelling a pending operation loses no message and no fd.
"""

from uds._asyncio_ancillary import recv_ancillary, send_ancillary
from uds._asyncio_fd_streams import FdStreamReader, FdStreamWriter, open_connection, start_server
from uds._asyncio_protocol import (
    FdProtocol,
    UnixFdServer,
    UnixFdTransport,
    create_connection,
    create_server,
)
from uds._asyncio_seqpacket import UnixSeqpacketConn, UnixSeqpacketListener
from uds._asyncio_streams import recv_fds, send_fds

__all__ = [
    "FdProtocol",
    "FdStreamReader",
    "FdStreamWriter",
    "UnixFdServer",
    "UnixFdTransport",
    "UnixSeqpacketConn",
    "UnixSeqpacketListener",
    "create_connection",
    "create_server",
    "open_connection",
    "recv_ancillary",
    "recv_fds",
    "send_ancillary",
    "send_fds",
    "start_server",
]
