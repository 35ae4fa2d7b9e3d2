"""Seqpacket connections, blocking and non-blocking: one implementation, two flags.

Each ``send`` is one packet and each receive call returns at most one packet:
boundaries are kept, a packet longer than the buffer is truncated by the kernel
and its tail is gone (the next read returns the next packet). Zero-length
packets are delivered as such; on Linux a zero-length packet and the end of the
connection both read as 0 bytes, so a protocol that sends empty packets tells
the end apart by readiness: once the peer is gone, ``select.poll`` reports
``POLLHUP`` and every read returns 0 at once.

``MSG_EOR`` is not added to sends: on Linux every seqpacket send already is one
complete record and the flag is accepted and ignored; pass it in ``flags`` if a
platform needs it.
"""

from __future__ import annotations

import _socket
from array import array
from typing import Iterable, Optional, Sequence, Tuple, TypeVar, Union

from uds import _platform
from uds import _seqpacket as _core
from uds._addr import AddrLike, UnixSocketAddr
from uds._ancillary import Buffer, WritableBuffer, as_buffers
from uds._bind import PathLike
from uds._cmsg import fd_array, fds_space, parse_fds
from uds._credentials import (
    ConnCredentials,
    initial_peer_credentials,
    initial_peer_selinux_context,
    peer_pidfd,
)
from uds._fd import FileDescriptorLike
from uds._fds import ReceivedFds

__all__ = ["UnixSeqpacketConn", "NonblockingUnixSeqpacketConn"]

_sys = _platform.current
_SEND_FLAGS = _platform.SEND_FLAGS
_RECV_FLAGS = _platform.RECV_FLAGS
_SCM_MAX_FD = _platform.SCM_MAX_FD
_MSG_TRUNC: int = _sys.MSG_TRUNC
_MSG_PEEK: int = _sys.MSG_PEEK
_MSG_DONTWAIT: int = _sys.MSG_DONTWAIT
_SOL_SOCKET: int = _sys.SOL_SOCKET
_SCM_RIGHTS: int = _sys.SCM_RIGHTS
_NO_ANCILLARY: tuple[()] = ()
_send = _socket.socket.send
_sendmsg = _socket.socket.sendmsg
_recv = _socket.socket.recv
_recv_into = _socket.socket.recv_into
_recvmsg = _socket.socket.recvmsg
_recvmsg_into = _socket.socket.recvmsg_into

_C = TypeVar("_C", bound="_SeqpacketConn")
_Ancillary = Sequence[Tuple[int, int, Union[bytes, "array[int]"]]]
# The control-buffer size for each valid maxfds, as fds_space() computes it.
_FDS_SPACE = {count: fds_space(count) for count in range(_SCM_MAX_FD + 1)}


class _SeqpacketConn(_core.SeqpacketSocket):
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

    def send(self, data: Buffer, flags: int = 0) -> int:
        """Send ``data`` as one packet; return its length.

        Raises:
            BrokenPipeError: the peer is gone (never ``SIGPIPE``).
            OSError: ``EMSGSIZE`` when the packet is larger than the send buffer.
            BlockingIOError: non-blocking and the peer's queue is full.
            TimeoutError: the write timeout expired.
        """
        try:
            return self._sock.send(data, flags | _SEND_FLAGS)
        except BlockingIOError:
            if self._state.nonblocking or flags & _MSG_DONTWAIT:
                raise
        return self._retry(False, "send", _send, self._sock, data, flags | _SEND_FLAGS)

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

    def send_fds(self, data: Buffer, fds: Iterable[FileDescriptorLike]) -> int:
        """Send ``data`` as one packet carrying ``fds`` (ints or objects with ``fileno()``).

        ``data`` may be empty. The fds stay open and the caller's; the peer
        gets duplicates, in the same order.

        Raises:
            ValueError: more than ``SCM_MAX_FD`` (253) fds, before sending anything.
            OSError: ``EBADF`` for an fd that is not open; nothing is sent.
            TypeError: an fd is neither an int nor has ``fileno()``.
            BrokenPipeError, BlockingIOError, TimeoutError: as :meth:`send`.
        """
        # sendmsg takes any buffer: the array is not copied to bytes.
        numbers = fd_array(fds)
        ancillary: _Ancillary = ((_SOL_SOCKET, _SCM_RIGHTS, numbers),) if numbers else _NO_ANCILLARY
        try:
            return _sendmsg(self._sock, (data,), ancillary, _SEND_FLAGS)
        except BlockingIOError:
            if self._state.nonblocking:
                raise
        return self._retry(False, "send", _sendmsg, self._sock, (data,), ancillary, _SEND_FLAGS)

    # Receiving ------------------------------------------------------------------

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Receive one packet of up to ``bufsize`` bytes (the stdlib signature).

        A longer packet is truncated and its tail lost; :meth:`recv_vectored`
        reports that. Returns ``b""`` for an empty packet and at end of connection.

        Raises:
            BlockingIOError: non-blocking and nothing queued.
            TimeoutError: the read timeout expired.
        """
        try:
            return self._sock.recv(bufsize, flags)
        except BlockingIOError:
            if self._state.nonblocking or flags & _MSG_DONTWAIT:
                raise
        return self._retry(True, "recv", _recv, self._sock, bufsize, flags)

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        """Receive one packet into ``buffer``; return the bytes stored (the stdlib signature).

        Raises:
            as :meth:`recv`.
        """
        try:
            return self._sock.recv_into(buffer, nbytes, flags)
        except BlockingIOError:
            if self._state.nonblocking or flags & _MSG_DONTWAIT:
                raise
        return self._retry(True, "recv", _recv_into, self._sock, buffer, nbytes, flags)

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

    def recv_fds(self, bufsize: int, maxfds: int) -> tuple[bytes, bool, ReceivedFds]:
        """Receive one packet of up to ``bufsize`` bytes and up to ``maxfds`` fds.

        The fds are close-on-exec and the caller's (use the :class:`ReceivedFds`
        as a context manager); fds beyond ``maxfds`` are closed and
        ``fds.truncated`` is set.

        Returns:
            ``(data, truncated, fds)``: ``truncated`` says the packet was longer
            than ``bufsize`` and its tail is lost.

        Raises:
            ValueError, TypeError: ``maxfds`` is not an int in 0..253, before receiving.
            BlockingIOError, TimeoutError: as :meth:`recv`.
        """
        space = _FDS_SPACE.get(maxfds) if type(maxfds) is int else None
        if space is None:
            space = fds_space(maxfds)  # raises the error that explains what is wrong
        try:
            data, ancdata, msg_flags, _ = _recvmsg(self._sock, bufsize, space, _RECV_FLAGS)
        except BlockingIOError:
            if self._state.nonblocking:
                raise
        else:
            return data, msg_flags & _MSG_TRUNC != 0, parse_fds(ancdata, msg_flags, maxfds)
        data, ancdata, msg_flags, _ = self._retry(
            True, "recv", _recvmsg, self._sock, bufsize, space, _RECV_FLAGS
        )
        return data, msg_flags & _MSG_TRUNC != 0, parse_fds(ancdata, msg_flags, maxfds)

    def peek(self, bufsize: int) -> bytes:
        """Like :meth:`recv`, but leave the packet queued."""
        return self.recv(bufsize, _MSG_PEEK)

    def peek_vectored(self, buffers: Iterable[WritableBuffer]) -> tuple[int, bool]:
        """Like :meth:`recv_vectored`, but leave the packet queued."""
        return self._recv_vectored(buffers, _MSG_PEEK)

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
    from a :class:`UnixSeqpacketListener`. See :mod:`uds._seqpacket_conn`.
    """

    __slots__ = ()

    def set_read_timeout(self, timeout: Optional[float]) -> None:
        """Make each receive give up with :class:`TimeoutError` after ``timeout`` seconds.

        The time counts from the start of the call; signals do not restart it.
        ``None`` waits forever. Clones share the setting. While either timeout
        is set the fd is ``O_NONBLOCK`` (see :mod:`uds._seqpacket`).

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
    """

    __slots__ = ()

    _NONBLOCKING = True
