"""Unix domain sockets with everything they offer.

Abstract addresses, fd-passing, peer and per-message credentials, seqpacket
sockets, and integration with selectors loops, reactors and asyncio. The
extension functions accept any socket, wrapper or raw fd and never take
ownership of it.
"""

import importlib as _importlib
import typing as _typing

from uds._addr import AddrName, UnixSocketAddr
from uds._authorize import PeerPolicy
from uds._bind import SocketFile, UnlinkingSocket, bind_path
from uds._credentials import ConnCredentials, ReceivedCredentials, SendCredentials
from uds._errors import UnsupportedPlatformError
from uds._fd import HasFileno
from uds._fds import ReceivedFds
from uds._impl import native_available
from uds._packet import Packet
from uds._seqpacket_conn import NonblockingUnixSeqpacketConn, UnixSeqpacketConn
from uds._seqpacket_listener import NonblockingUnixSeqpacketListener, UnixSeqpacketListener
from uds.ext import (
    accept_unix_addr,
    bind_unix_addr,
    connect_from_to_unix_addr,
    connect_to_unix_addr,
    initial_pair_credentials,
    initial_peer_credentials,
    initial_peer_selinux_context,
    local_unix_addr,
    peek_from_unix_addr,
    peek_vectored_from_unix_addr,
    peer_pidfd,
    peer_unix_addr,
    recv_fds,
    recv_fds_from,
    recv_fds_into,
    recv_from_unix_addr,
    recv_many,
    recv_vectored_from_unix_addr,
    send_fds,
    send_fds_to,
    send_many,
    send_to_unix_addr,
    send_vectored_to_unix_addr,
)

if _typing.TYPE_CHECKING:
    from uds import ancillary as ancillary
    from uds import anyio as anyio
    from uds import asyncio as asyncio
    from uds import ext as ext
    from uds import nonblocking as nonblocking
    from uds import systemd as systemd

__version__ = "0.1.0"

# The public submodules, reachable as attributes (uds.asyncio.UnixSeqpacketConn)
# without importing asyncio, anyio or systemd support at ``import uds``.
_SUBMODULES = frozenset({"ancillary", "anyio", "asyncio", "ext", "nonblocking", "systemd"})


def __getattr__(name: str) -> object:
    """Import a public submodule on first use as an attribute of ``uds``.

    Raises:
        AttributeError: no such attribute.
        ImportError: ``uds.anyio`` without the optional ``anyio`` package.
    """
    if name in _SUBMODULES:
        return _importlib.import_module(f"uds.{name}")
    raise AttributeError(f"module 'uds' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBMODULES})

__all__ = [
    # addresses
    "AddrName",
    "UnixSocketAddr",
    # credentials and received fds
    "ConnCredentials",
    "ReceivedCredentials",
    "Packet",
    "ReceivedFds",
    "SendCredentials",
    # errors and protocols
    "HasFileno",
    "UnsupportedPlatformError",
    # which implementation runs: the C core or pure Python
    "native_available",
    # secure path binding and peer authorization
    "PeerPolicy",
    "SocketFile",
    "UnlinkingSocket",
    "bind_path",
    # seqpacket sockets, blocking and non-blocking
    "NonblockingUnixSeqpacketConn",
    "NonblockingUnixSeqpacketListener",
    "UnixSeqpacketConn",
    "UnixSeqpacketListener",
    # extension functions
    "accept_unix_addr",
    "bind_unix_addr",
    "connect_from_to_unix_addr",
    "connect_to_unix_addr",
    "initial_pair_credentials",
    "initial_peer_credentials",
    "initial_peer_selinux_context",
    "local_unix_addr",
    "peek_from_unix_addr",
    "peek_vectored_from_unix_addr",
    "peer_pidfd",
    "peer_unix_addr",
    "recv_fds",
    "recv_fds_from",
    "recv_many",
    "recv_fds_into",
    "recv_from_unix_addr",
    "recv_vectored_from_unix_addr",
    "send_fds",
    "send_fds_to",
    "send_many",
    "send_to_unix_addr",
    "send_vectored_to_unix_addr",
]
