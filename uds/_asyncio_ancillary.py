"""Awaitable control data: :func:`send_ancillary` and :func:`recv_ancillary` on the running loop.

The same arguments and :class:`uds.ancillary.Received` result as
:mod:`uds.ancillary`, for any non-blocking unix socket. asyncio has no
``sock_sendmsg``/``sock_recvmsg`` (CPython left them to libraries); these try
the system call first and wait for readiness only when it would block, so a
cancelled receive has read nothing and loses nothing.
"""

from __future__ import annotations

import functools
from typing import Iterable, Optional, Union

from uds import _ancillary
from uds._addr import AddrLike
from uds._ancillary import Buffer, Received, WritableBuffer
from uds._asyncio_seqpacket import UnixSeqpacketConn
from uds._asyncio_wait import call_on_socket
from uds._credentials import SendCredentials
from uds._fd import FileDescriptorLike

__all__ = ["recv_ancillary", "send_ancillary"]


async def send_ancillary(
    sock: FileDescriptorLike,
    buffers: Union[Buffer, Iterable[Buffer]],
    *,
    fds: Iterable[FileDescriptorLike] = (),
    credentials: Union[bool, SendCredentials, None] = None,
    addr: Optional[AddrLike] = None,
    flags: int = 0,
) -> int:
    """Send one message with optional fds, credentials and destination address.

    As :func:`uds.ancillary.send_ancillary`, waiting on the running loop while
    the socket has no room. ``sock`` is a non-blocking socket (or one with a
    timeout, which then bounds the wait), an fd, or a :mod:`uds.asyncio`
    seqpacket connection; it is left as it is.

    Returns:
        The number of bytes sent (a stream socket may take fewer; the fds then
        travel with the first byte).

    Raises:
        ValueError: a blocking socket; bad arguments (before anything is sent).
        BrokenPipeError: the peer has closed.
        OSError: ``EBADF`` for an fd that is not open (nothing is sent).
        TimeoutError: the socket's timeout expired.
    """
    if isinstance(sock, UnixSeqpacketConn):
        if addr is not None:
            raise ValueError("a connected seqpacket socket takes no destination address")
        return await sock.send_ancillary(buffers, fds=fds, credentials=credentials, flags=flags)
    # Built once: a retry after a wait must send the very same message.
    data = _ancillary.as_buffers(buffers)
    send = functools.partial(
        _ancillary.send_ancillary, fds=tuple(fds), credentials=credentials, addr=addr, flags=flags
    )
    return await call_on_socket(sock, True, send, data)


async def recv_ancillary(
    sock: FileDescriptorLike,
    bufsize_or_buffers: Union[int, Iterable[WritableBuffer]],
    *,
    max_fds: int = 0,
    credentials: bool = False,
    timestamps: bool = False,
    security: bool = False,
    flags: int = 0,
) -> Received:
    """Receive one message and its control data, waiting on the running loop.

    As :func:`uds.ancillary.recv_ancillary` (see there for ``max_fds``,
    ``credentials``, ``timestamps`` and ``security``). Nothing is read until
    the socket is readable and the read completes without an ``await`` in
    between: cancelling the call loses no message and no fd. The result owns
    the received fds and pidfd (use it as a context manager).

    Raises:
        ValueError: a blocking socket; ``max_fds`` out of range.
        TimeoutError: the socket's timeout expired.
        OSError: from the system call; no fd is left open on error.
    """
    if isinstance(sock, UnixSeqpacketConn):
        return await sock.recv_ancillary(
            bufsize_or_buffers,
            max_fds=max_fds,
            credentials=credentials,
            timestamps=timestamps,
            security=security,
            flags=flags,
        )
    target = bufsize_or_buffers if isinstance(bufsize_or_buffers, int) else list(bufsize_or_buffers)
    recv = functools.partial(
        _ancillary.recv_ancillary,
        max_fds=max_fds,
        credentials=credentials,
        timestamps=timestamps,
        security=security,
        flags=flags,
    )
    return await call_on_socket(sock, False, recv, target)
