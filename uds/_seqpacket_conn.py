"""Seqpacket connections, blocking and non-blocking: one implementation, two flags.

Each ``send`` is one packet and each receive call returns at most one packet:
boundaries are kept, a packet longer than the buffer is truncated by the kernel
and its tail is gone (the next read returns the next packet). Zero-length
packets are delivered as such; on Linux a zero-length packet and the end of the
connection both read as 0 bytes, so a protocol that sends empty packets tells
the end apart by readiness: once the peer is gone, ``select.poll`` reports
``POLLHUP`` and every read returns 0 at once.

Where the platform needs it (FreeBSD, which otherwise merges records), every
send carries ``MSG_EOR`` (``_platform.SEQPACKET_SEND_FLAGS``); on Linux each
seqpacket send already is one complete record.

The data methods (``send``, ``recv``, ``recv_into``, ``peek``, ``send_fds``,
``recv_fds``, ``send_many``, ``recv_many``) come from ``uds._seqpacket_io`` or
its C twin, as :mod:`uds._impl` decides.
"""

from __future__ import annotations

import _socket
import errno
import os
from typing import Iterable, Optional, Sequence, TypeVar

from uds import _platform
from uds import _seqpacket as _core
from uds._addr import AddrLike, UnixSocketAddr
from uds._ancillary import Buffer, WritableBuffer, as_buffers
from uds._bind import PathLike
from uds._credentials import (
    ConnCredentials,
    initial_peer_credentials,
    initial_peer_selinux_context,
    peer_pidfd,
)
from uds._impl import SeqpacketIO

__all__ = ["UnixSeqpacketConn", "NonblockingUnixSeqpacketConn"]

_sys = _platform.current
_SEND_FLAGS = _platform.SEQPACKET_SEND_FLAGS
_MSG_TRUNC: int = _sys.MSG_TRUNC
_MSG_PEEK: int = _sys.MSG_PEEK
_MSG_DONTWAIT: int = _sys.MSG_DONTWAIT
_NO_ANCILLARY: tuple[()] = ()
_sendmsg = _socket.socket.sendmsg
_recvmsg_into = _socket.socket.recvmsg_into

_C = TypeVar("_C", bound="_SeqpacketConn")


class _SeqpacketConn(SeqpacketIO, _core.SeqpacketSocket):
    """What blocking and non-blocking seqpacket connections share (see the module notes)."""

    __slots__ = ()

    # Creating -------------------------------------------------------------------

    @classmethod
    def connect(cls: type[_C], path: PathLike) -> _C:
        """Connect to the listener at the filesystem path ``path``.

        ``path`` is always a path, in every flavour of these types (blocking,
        non-blocking, :mod:`uds.asyncio`): ``"@name"`` is the file ``@name``.
        Use :meth:`connect_unix_addr` for an abstract address.

        Raises:
            FileNotFoundError: no such path.
            ConnectionRefusedError: nobody listens there (a stale socket file).
                Connection errors have the path in ``filename``.
            BlockingIOError: non-blocking type and the listener's backlog is full.
            ValueError: the path is too long or contains NUL.
        """
        return cls(_core.connect_to(UnixSocketAddr.from_path(path), None, cls._NONBLOCKING))

    @classmethod
    def connect_unix_addr(cls: type[_C], addr: AddrLike) -> _C:
        """Connect to ``addr``: a :class:`UnixSocketAddr`, a path, or ``"@name"`` (abstract).

        ``"./@name"`` is the file ``@name``.

        Raises:
            as :meth:`connect`; ``ConnectionRefusedError`` for an abstract name nobody has.
        """
        return cls(_core.connect_to(addr, None, cls._NONBLOCKING))

    @classmethod
    def connect_from_to_unix_addr(cls: type[_C], from_addr: AddrLike, to_addr: AddrLike) -> _C:
        """Bind to ``from_addr`` (what the peer sees as our address), then connect to ``to_addr``.

        Raises:
            OSError: ``EADDRINUSE`` when ``from_addr`` is taken; as :meth:`connect`.
        """
        return cls(_core.connect_to(to_addr, from_addr, cls._NONBLOCKING))

    @classmethod
    def pair(cls: type[_C]) -> tuple[_C, _C]:
        """Two connected, unnamed seqpacket sockets (``socketpair``).

        Raises:
            OSError: ``EMFILE`` and the like.
        """
        a, b = _core.new_pair(cls._NONBLOCKING)
        return cls(a), cls(b)

    @classmethod
    def from_fd(cls: type[_C], fd: int) -> _C:
        """Take ownership of ``fd``, a connected ``AF_UNIX`` ``SOCK_SEQPACKET`` socket.

        The fd is made close-on-exec and put in this type's blocking mode.

        Raises:
            OSError: ``ENOTSOCK``, ``EAFNOSUPPORT``, ``EPROTOTYPE`` (a stream or
                datagram socket), ``EINVAL`` (a listener); the fd is then left
                open and still the caller's.
            TypeError: ``fd`` is not an int.
        """
        return cls(_core.adopt_fd(fd, cls._NONBLOCKING, listening=False))

    # Addresses and credentials --------------------------------------------------

    def peer_unix_addr(self) -> UnixSocketAddr:
        """The address of the peer (unnamed for an unbound client).

        Raises:
            OSError: ``ENOTCONN`` when not connected.
        """
        return UnixSocketAddr.from_std(self._sock.getpeername())

    def initial_peer_credentials(self) -> ConnCredentials:
        """Who the peer was when the connection was made (``SO_PEERCRED``).

        Raises:
            UnsupportedPlatformError: the OS reports no peer credentials.
        """
        return initial_peer_credentials(self._sock)

    def initial_peer_selinux_context(self) -> bytes:
        """The peer's security label at connect time (``SO_PEERSEC``).

        Raises:
            UnsupportedPlatformError: no security module labels sockets here.
        """
        return initial_peer_selinux_context(self._sock)

    def peer_pidfd(self) -> int:
        """A new pidfd for the peer process (Linux 6.5+); the caller closes it.

        Raises:
            UnsupportedPlatformError: the kernel lacks ``SO_PEERPIDFD``.
        """
        return peer_pidfd(self._sock)

    # Sending --------------------------------------------------------------------

    def send_vectored(self, buffers: Iterable[Buffer]) -> int:
        """Send one packet gathered from ``buffers``; return its length.

        Raises:
            as :meth:`send`.
        """
        packet = as_buffers(buffers)
        try:
            return _sendmsg(self._sock, packet, _NO_ANCILLARY, _SEND_FLAGS)
        except BlockingIOError:
            if self._state.nonblocking:
                raise
        return self._retry(False, "send", _sendmsg, self._sock, packet, _NO_ANCILLARY, _SEND_FLAGS)

    # Receiving ------------------------------------------------------------------

    def _recv_vectored(self, buffers: Iterable[WritableBuffer], flags: int) -> tuple[int, bool]:
        targets = list(buffers)
        try:
            nbytes, _, msg_flags, _ = self._sock.recvmsg_into(targets, 0, flags)
        except BlockingIOError:
            if self._state.nonblocking:
                raise
        else:
            return nbytes, bool(msg_flags & _MSG_TRUNC)
        nbytes, _, msg_flags, _ = self._retry(
            True, "recv", _recvmsg_into, self._sock, targets, 0, flags
        )
        return nbytes, bool(msg_flags & _MSG_TRUNC)

    def recv_vectored(self, buffers: Iterable[WritableBuffer]) -> tuple[int, bool]:
        """Scatter one packet into ``buffers``.

        Returns:
            ``(nbytes, truncated)``; ``truncated`` is True when the packet did not
            fit and its tail was discarded.

        Raises:
            as :meth:`recv`.
        """
        return self._recv_vectored(buffers, 0)

    def peek_vectored(self, buffers: Iterable[WritableBuffer]) -> tuple[int, bool]:
        """Like :meth:`recv_vectored`, but leave the packet queued."""
        return self._recv_vectored(buffers, _MSG_PEEK)

    def _finish_send_many(self, packets: Sequence[Buffer], sent: int, flags: int) -> int:
        """Where ``send_many`` goes when a packet would block after ``sent`` went out.

        Non-blocking: return the count (or raise if it is 0). Blocking: wait
        for room (each wait bounded by the write timeout) and send the rest.
        """
        if self._state.nonblocking:
            if sent:
                return sent
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        rest = list(packets[sent:])
        while rest:
            count = self._retry(False, "send", self.send_many, rest, flags | _MSG_DONTWAIT)
            sent += count
            del rest[:count]
        return sent

    # State ----------------------------------------------------------------------

    def shutdown(self, how: int) -> None:
        """Shut down reading (``socket.SHUT_RD``), writing (``SHUT_WR``) or both (``SHUT_RDWR``).

        Raises:
            OSError: ``ENOTCONN`` when not connected.
        """
        self._sock.shutdown(how)


class UnixSeqpacketConn(_SeqpacketConn):
    """A blocking ``SOCK_SEQPACKET`` connection: one packet per send, boundaries kept.

    Calls block until done, or until the read or write timeout expires
    (:class:`TimeoutError`). Create one with :meth:`connect`,
    :meth:`connect_unix_addr`, :meth:`pair` or :meth:`from_fd`, or accept it
    from a :class:`UnixSeqpacketListener`. A packet longer than the receive
    buffer is truncated (its tail is gone); a zero-length packet arrives as
    such, and on Linux reads like the end of the connection (``b""``): once
    the peer is gone, ``select.poll`` reports ``POLLHUP`` and every read
    returns at once.
    """

    __slots__ = ()

    def set_read_timeout(self, timeout: Optional[float]) -> None:
        """Make each receive give up with :class:`TimeoutError` after ``timeout`` seconds.

        The time counts from the start of the call; signals do not restart it.
        ``None`` waits forever. Clones share the setting. The timeout is kept
        on the object, not in the kernel: while either timeout is set the fd
        is ``O_NONBLOCK`` and each call polls against its deadline (a fd
        handed out by :meth:`detach` stays ``O_NONBLOCK``).

        Raises:
            ValueError: ``timeout`` is zero, negative or not finite.
            TypeError: ``timeout`` is not a number.
        """
        self._set_timeout(True, timeout)

    def read_timeout(self) -> Optional[float]:
        """The read timeout in seconds as set, or ``None``."""
        return self._state.read

    def set_write_timeout(self, timeout: Optional[float]) -> None:
        """Make each send give up with :class:`TimeoutError` after ``timeout`` seconds.

        As :meth:`set_read_timeout`, for sends.

        Raises:
            ValueError: ``timeout`` is zero, negative or not finite.
            TypeError: ``timeout`` is not a number.
        """
        self._set_timeout(False, timeout)

    def write_timeout(self) -> Optional[float]:
        """The write timeout in seconds as set, or ``None``."""
        return self._state.write


class NonblockingUnixSeqpacketConn(_SeqpacketConn):
    """A non-blocking ``SOCK_SEQPACKET`` connection for ``selectors`` and other reactors.

    Calls that would block raise :class:`BlockingIOError`; register
    :meth:`fileno` with any ``selectors.BaseSelector``. Otherwise as
    :class:`UnixSeqpacketConn`.

    Timeouts belong to the blocking type. To turn this connection (say, one
    accepted from a non-blocking listener) into a blocking one with read and
    write timeouts, keeping its fd, queue and peer:
    ``UnixSeqpacketConn.from_fd(conn.detach())``; the reverse works the same
    way. ``set_nonblocking(False)`` alone makes calls block, without timeouts.
    """

    __slots__ = ()

    _NONBLOCKING = True
