"""asyncio seqpacket sockets: UnixSeqpacketListener and UnixSeqpacketConn."""

from __future__ import annotations

import _socket
import asyncio
import socket
from types import TracebackType
from typing import ClassVar, Iterable, Optional, TypeVar

from uds import _platform
from uds._addr import AddrLike, UnixSocketAddr
from uds._ancillary import Buffer, WritableBuffer
from uds._asyncio_wait import FdWaiter, nonblocking_call
from uds._closeable import Closeable
from uds._cmsg import fds_space, parse_fds
from uds._credentials import ConnCredentials, initial_peer_credentials
from uds._ext import accept_unix_addr, bind_unix_addr, local_unix_addr, peer_unix_addr, send_fds
from uds._fd import FileDescriptorLike
from uds._fds import ReceivedFds
from uds._seqpacket import adopt_fd, new_pair, new_socket

__all__ = ["UnixSeqpacketConn", "UnixSeqpacketListener"]

_SEQPACKET = socket.SOCK_SEQPACKET
_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)
_SEND_FLAGS = _platform.SEQPACKET_SEND_FLAGS  # MSG_EOR too where records need it
_RECV_FLAGS = _platform.RECV_FLAGS
_MSG_TRUNC: int = _platform.current.MSG_TRUNC
# Retry delays of a connect to a full backlog (seconds): see UnixSeqpacketConn.connect.
_CONNECT_RETRY_FIRST = 0.001
_CONNECT_RETRY_MAX = 0.05


def _adopt(sock: socket.socket, what: str) -> socket.socket:
    """Check the family and type of ``sock``, then make it non-blocking."""
    if not isinstance(sock, socket.socket):
        raise TypeError(f"{what} needs a socket.socket, not {type(sock).__name__}")
    if sock.family != socket.AF_UNIX or sock.type != _SEQPACKET:
        raise ValueError(
            f"{what} needs an AF_UNIX SOCK_SEQPACKET socket, got {sock.family!r} {sock.type!r}"
        )
    sock.setblocking(False)
    return sock


_S = TypeVar("_S", bound="_AsyncSocket")


class _AsyncSocket(Closeable):
    """A non-blocking socket owned by one asyncio loop (the first one that awaits on it)."""

    __slots__ = ("_sock", "_waiter")
    _LISTENING: ClassVar[bool]

    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock
        self._waiter: Optional[FdWaiter] = None

    def _wait(self) -> FdWaiter:
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = FdWaiter(asyncio.get_running_loop(), self._sock.fileno())
        return waiter

    @classmethod
    def from_fd(cls: type[_S], fd: int) -> _S:
        """Take ownership of ``fd``, a unix seqpacket socket (``conn.detach()`` of a uds type).

        Checked as by the blocking types' ``from_fd``; the fd is then made
        close-on-exec and non-blocking.

        Raises:
            OSError: ``ENOTSOCK`` not a socket, ``EAFNOSUPPORT`` not ``AF_UNIX``,
                ``EPROTOTYPE`` not ``SOCK_SEQPACKET``, ``EINVAL`` a listener given
                to the connection or the reverse, ``EBADF`` not open; the fd is
                then left open, unchanged and still the caller's.
            TypeError: ``fd`` is not an int.
        """
        return cls(adopt_fd(fd, True, cls._LISTENING))

    def fileno(self) -> int:
        """The fd (-1 once closed)."""
        return self._sock.fileno()

    def local_unix_addr(self) -> UnixSocketAddr:
        """The address this socket is bound to (unnamed when it is not)."""
        return local_unix_addr(self._sock)

    def close(self) -> None:
        """Close the socket; pending operations wake and fail with ``OSError``. Idempotent."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.close()
        self._sock.close()

    async def aclose(self) -> None:
        """Close the socket (awaitable form of :meth:`close`)."""
        self.close()

    async def __aenter__(self: _S) -> _S:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(fd={self._sock.fileno()})"


class UnixSeqpacketConn(_AsyncSocket):
    """A seqpacket connection for asyncio: every message keeps its boundaries.

    Operations try the system call first and wait for readiness only when it
    would block. Cancelling a pending ``recv``/``recv_fds`` loses no packet and
    no fd: nothing is read until the task runs again. Several tasks may wait on
    the same connection; each message goes to exactly one of them.
    """

    __slots__ = ()
    _LISTENING = False

    @classmethod
    async def connect(cls, addr: AddrLike) -> UnixSeqpacketConn:
        """Connect to the seqpacket listener at ``addr``.

        While the listener's backlog is full the connect is retried after a
        pause that grows from 1 ms to 50 ms: a unix socket has no readiness
        event for room in a peer's backlog (an unconnected socket always polls
        writable), so waiting for one would spin. Cancelling closes the socket.

        Raises:
            ConnectionRefusedError, FileNotFoundError: nobody listens there.
            ValueError: invalid address.
        """
        target = UnixSocketAddr.new(addr).to_std()
        sock = new_socket(True)
        try:
            delay = _CONNECT_RETRY_FIRST
            while True:
                try:
                    sock.connect(target)
                except BlockingIOError:
                    # Linux: EAGAIN, the backlog is full (it never gives EINPROGRESS here).
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _CONNECT_RETRY_MAX)
                else:
                    return cls(sock)
        except BaseException:
            sock.close()
            raise

    @classmethod
    def pair(cls) -> tuple[UnixSeqpacketConn, UnixSeqpacketConn]:
        """Two connected seqpacket connections (``socketpair``)."""
        a, b = new_pair(True)
        return cls(a), cls(b)

    @classmethod
    def from_std(cls, sock: socket.socket) -> UnixSeqpacketConn:
        """Take ownership of a connected unix seqpacket ``socket.socket``; make it non-blocking.

        Raises:
            TypeError, ValueError: not a unix seqpacket socket.
        """
        return cls(_adopt(sock, cls.__name__))

    def peer_unix_addr(self) -> UnixSocketAddr:
        """The peer's address (unnamed for a socketpair or an unbound client)."""
        return peer_unix_addr(self._sock)

    def initial_peer_credentials(self) -> ConnCredentials:
        """Credentials of the peer process when the connection was made."""
        return initial_peer_credentials(self._sock)

    def shutdown(self, how: int) -> None:
        """Shut down reading (``SHUT_RD``), writing (``SHUT_WR``) or both."""
        self._sock.shutdown(how)

    async def send(self, data: Buffer) -> int:
        """Send ``data`` as one packet; return its size.

        Raises:
            BrokenPipeError: the peer is gone (never ``SIGPIPE``).
            OSError: ``EMSGSIZE`` when ``data`` exceeds the socket's buffer.
        """
        return await nonblocking_call(self._wait(), True, self._sock.send, data, _SEND_FLAGS)

    async def recv(self, bufsize: int) -> bytes:
        """Receive one packet of up to ``bufsize`` bytes (``b""`` at end of stream).

        A longer packet is truncated and its tail lost; :meth:`recv_fds` reports it.
        """
        return await nonblocking_call(self._wait(), False, self._sock.recv, bufsize)

    async def recv_into(self, buffer: WritableBuffer) -> int:
        """Receive one packet into ``buffer``; return its byte count."""
        return await nonblocking_call(self._wait(), False, self._sock.recv_into, buffer)

    async def send_fds(self, data: Buffer, fds: Iterable[FileDescriptorLike]) -> int:
        """Send ``data`` as one packet with duplicates of ``fds``; the caller keeps them.

        Raises:
            OSError: ``EBADF`` for an fd that is not open (nothing is sent).
            ValueError: more than ``SCM_MAX_FD`` fds.
        """
        fds = tuple(fds)
        return await nonblocking_call(self._wait(), True, send_fds, self._sock, data, fds)

    async def recv_fds(self, bufsize: int, maxfds: int) -> tuple[bytes, bool, ReceivedFds]:
        """Receive one packet and up to ``maxfds`` fds (close-on-exec, owned by the caller).

        Returns:
            ``(data, truncated, fds)``: ``truncated`` is True when the packet was
            longer than ``bufsize``; ``fds.truncated`` when fds did not fit.
        """
        return await nonblocking_call(self._wait(), False, _recv_fds, self._sock, bufsize, maxfds)


def _recv_fds(sock: _socket.socket, bufsize: int, maxfds: int) -> tuple[bytes, bool, ReceivedFds]:
    data, ancdata, flags, _ = sock.recvmsg(bufsize, fds_space(maxfds), _RECV_FLAGS)
    return data, bool(flags & _MSG_TRUNC), parse_fds(ancdata, flags, maxfds)


class UnixSeqpacketListener(_AsyncSocket):
    """A seqpacket listener for asyncio."""

    __slots__ = ()
    _LISTENING = True

    @classmethod
    def bind(cls, addr: AddrLike, *, backlog: Optional[int] = None) -> UnixSeqpacketListener:
        """Listen on ``addr`` (a path, ``"@name"`` or a :class:`UnixSocketAddr`).

        ``backlog`` defaults to ``socket.SOMAXCONN``. Binding goes through
        :func:`uds.bind_unix_addr`: an existing file is never replaced.

        Raises:
            OSError: the address is taken (``EADDRINUSE``).
            ValueError: invalid address.
        """
        # SOCK_NONBLOCK in the type: created non-blocking (timeout 0), and listening.
        backlog = socket.SOMAXCONN if backlog is None else backlog
        sock = bind_unix_addr(addr, _SEQPACKET | _NONBLOCK, backlog=backlog)
        if not _NONBLOCK:  # no SOCK_NONBLOCK flag on this OS (macOS)
            sock.setblocking(False)
        return cls(sock)

    @classmethod
    def from_std(cls, sock: socket.socket) -> UnixSeqpacketListener:
        """Take ownership of a listening unix seqpacket ``socket.socket``.

        Raises:
            TypeError, ValueError: not a unix seqpacket socket.
        """
        return cls(_adopt(sock, cls.__name__))

    async def accept(self) -> tuple[UnixSeqpacketConn, UnixSocketAddr]:
        """Wait for a connection; return it and the peer's address.

        The connection is close-on-exec from the start (``accept4``).
        """
        sock, addr = await nonblocking_call(self._wait(), False, accept_unix_addr, self._sock)
        try:
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return UnixSeqpacketConn(sock), addr
