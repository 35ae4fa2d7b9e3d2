"""anyio support, on its asyncio and trio backends: seqpacket sockets, fd-passing, a listener.

Needs the optional dependency anyio (``pip install uds-unix[anyio]``; trio
for the trio backend). :class:`UnixSeqpacketConn`/:class:`UnixSeqpacketListener`
have the methods of :mod:`uds.asyncio`'s; :func:`send_fds`, :func:`recv_fds`,
:func:`send_ancillary` and :func:`recv_ancillary` work on anyio UNIX socket
streams and non-blocking sockets; :func:`create_unix_listener` and
:func:`connect_unix_addr` give anyio streams for any unix address, which is
also the unix listener trio lacks.
"""

from uds._anyio import (
    UnixSeqpacketConn,
    UnixSeqpacketListener,
    UnixStreamListener,
    connect_unix_addr,
    create_unix_listener,
    recv_ancillary,
    recv_fds,
    send_ancillary,
    send_fds,
)

__all__ = [
    "UnixSeqpacketConn",
    "UnixSeqpacketListener",
    "UnixStreamListener",
    "connect_unix_addr",
    "create_unix_listener",
    "recv_ancillary",
    "recv_fds",
    "send_ancillary",
    "send_fds",
]
