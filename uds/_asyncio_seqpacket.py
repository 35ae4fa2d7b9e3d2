"""asyncio seqpacket sockets: UnixSeqpacketListener and UnixSeqpacketConn."""

from __future__ import annotations

import _socket
import asyncio
import functools
import os
import socket
from types import TracebackType
from typing import Any, Awaitable, Callable, ClassVar, Iterable, Optional, TypeVar, Union

from uds import _ancillary, _platform, _sun_path
from uds import _seqpacket as _core
from uds._addr import AddrLike, UnixSocketAddr, naming
from uds._ancillary import Buffer, Received, WritableBuffer, as_buffers
from uds._asyncio_wait import FdWaiter, Waiter, nonblocking_call
from uds._bind import PathLike
from uds._closeable import Closeable
from uds._cmsg import fd_array, fds_space, parse_fds
from uds._credentials import (
    ConnCredentials,
    SendCredentials,
    initial_peer_credentials,
    initial_peer_selinux_context,
    peer_pidfd,
)
from uds._ext import accept_unix_addr, bind_unix_addr, local_unix_addr, peer_unix_addr
from uds._fd import FileDescriptorLike
from uds._fds import ReceivedFds
from uds._packet import Packet
from uds._seqpacket import adopt_fd, new_pair, new_socket
from uds._seqpacket_conn import NonblockingUnixSeqpacketConn, _SeqpacketConn
from uds._seqpacket_conn import UnixSeqpacketConn as BlockingUnixSeqpacketConn
from uds._seqpacket_io import check_batch_size
from uds._seqpacket_listener import NonblockingUnixSeqpacketListener, _SeqpacketListener
from uds._seqpacket_listener import UnixSeqpacketListener as BlockingUnixSeqpacketListener

__all__ = ["UnixSeqpacketConn", "UnixSeqpacketListener"]

_SEQPACKET = socket.SOCK_SEQPACKET
_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)
_SEND_FLAGS = _platform.SEQPACKET_SEND_FLAGS  # MSG_EOR too where records need it
_RECV_FLAGS = _platform.RECV_FLAGS
_MSG_TRUNC: int = _platform.current.MSG_TRUNC
_MSG_PEEK: int = _platform.current.MSG_PEEK
_MSG_DONTWAIT: int = _platform.current.MSG_DONTWAIT
_SCM_RIGHTS: int = _platform.current.SCM_RIGHTS
_SOL_SOCKET = socket.SOL_SOCKET
_SO_ERROR = socket.SO_ERROR
_NO_ANCILLARY: tuple[()] = ()
_sendmsg = _socket.socket.sendmsg
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
_C = TypeVar("_C", bound="UnixSeqpacketConn")
_L = TypeVar("_L", bound="UnixSeqpacketListener")


class _AsyncSocket(Closeable):
    """A non-blocking socket owned by one asyncio loop (the first one that awaits on it)."""

    __slots__ = ("_sock", "_waiter")
    _LISTENING: ClassVar[bool]

    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock
        self._waiter: Optional[Waiter] = None

    def _wait(self) -> Waiter:
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = self._new_waiter()
        return waiter

    def _new_waiter(self) -> Waiter:
        """How this type waits for readiness (the anyio types wait through anyio)."""
        return FdWaiter(asyncio.get_running_loop(), self._sock.fileno())

    @staticmethod
    async def _sleep(delay: float) -> None:
        """The loop's sleep (the anyio types sleep through anyio)."""
        await asyncio.sleep(delay)

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

    @classmethod
    def _take_over(cls: type[_S], other: Union[_SeqpacketConn, _SeqpacketListener[Any]]) -> _S:
        """Take the fd of a blocking or non-blocking uds object of the same kind."""
        if not isinstance(other, _SeqpacketListener if cls._LISTENING else _SeqpacketConn):
            raise TypeError(f"{cls.__name__} cannot take over a {type(other).__name__}")
        return cls(_core.adopt(other.detach(), True))

    def _release(self) -> int:
        """Stop waiting on the loop and give up the fd without closing it."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.close()
        return self._sock.detach()

    def detach(self) -> int:
        """Give up the socket without closing it and return its fd (the caller owns it).

        Operations still waiting wake and fail with ``OSError``; the fd stays
        non-blocking.
        """
        return self._release()

    def take_error(self) -> Optional[OSError]:
        """Return and clear the pending socket error (``SO_ERROR``), ``None`` if there is none."""
        code = self._sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
        return OSError(code, os.strerror(code)) if code else None

    def try_clone(self: _S) -> _S:
        """A second object for a duplicate of the fd (``dup``, close-on-exec): same socket, queue.

        Raises:
            OSError: ``EMFILE``.
        """
        return type(self)(_core.clone(self._sock))

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
    async def connect(cls: type[_C], path: PathLike) -> _C:
        """Connect to the seqpacket listener at the filesystem path ``path``.

        ``path`` is always a path, as in the blocking types: ``"@name"`` is the
        file ``@name``; :meth:`connect_unix_addr` takes abstract addresses.
        While the listener's backlog is full the connect is retried after a
        pause that grows from 1 ms to 50 ms: a unix socket has no readiness
        event for room in a peer's backlog (an unconnected socket always polls
        writable), so waiting for one would spin. Cancelling closes the socket.

        Raises:
            ConnectionRefusedError, FileNotFoundError: nobody listens there
                (``filename`` is the path).
            ValueError: the path is too long or contains NUL.
        """
        return await cls._connect(UnixSocketAddr.from_path(path), None)

    @classmethod
    async def connect_unix_addr(cls: type[_C], addr: AddrLike) -> _C:
        """Connect to ``addr``: a :class:`UnixSocketAddr`, a path, or ``"@name"`` (abstract).

        A full backlog is waited out as by :meth:`connect`; cancelling closes the socket.

        Raises:
            ConnectionRefusedError, FileNotFoundError: nobody listens there.
            ValueError: invalid address.
        """
        return await cls._connect(addr, None)

    @classmethod
    async def connect_from_to_unix_addr(
        cls: type[_C], from_addr: AddrLike, to_addr: AddrLike
    ) -> _C:
        """Bind to ``from_addr`` (what the peer sees as our address), then connect to ``to_addr``.

        Raises:
            OSError: ``EADDRINUSE`` when ``from_addr`` is taken; as :meth:`connect_unix_addr`.
        """
        return await cls._connect(to_addr, from_addr)

    @classmethod
    async def _connect(cls: type[_C], to_addr: AddrLike, from_addr: Optional[AddrLike]) -> _C:
        target = UnixSocketAddr.new(to_addr)
        source = None if from_addr is None else UnixSocketAddr.new(from_addr)
        sock = new_socket(True)
        try:
            if source is not None:
                _core.bind_to(sock, source)
            try:
                await _connect_waiting(sock, target.to_std(), cls._sleep)
            except OSError as error:
                raise naming(error, target) from None
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    @classmethod
    def from_nonblocking(
        cls: type[_C], conn: Union[NonblockingUnixSeqpacketConn, BlockingUnixSeqpacketConn]
    ) -> _C:
        """Take over the fd of a :mod:`uds.nonblocking` (or blocking) connection.

        ``conn`` is detached (its timeouts no longer apply) and the fd made
        non-blocking; queued packets stay queued.

        Raises:
            TypeError: ``conn`` is not a uds seqpacket connection.
        """
        return cls._take_over(conn)

    @classmethod
    def from_blocking(cls: type[_C], conn: BlockingUnixSeqpacketConn) -> _C:
        """Take over the fd of a blocking :class:`uds.UnixSeqpacketConn` (see from_nonblocking).

        Raises:
            TypeError: ``conn`` is not a uds seqpacket connection.
        """
        return cls._take_over(conn)

    def into_nonblocking(self) -> NonblockingUnixSeqpacketConn:
        """Hand the fd to a :mod:`uds.nonblocking` connection; this object is then closed."""
        return NonblockingUnixSeqpacketConn(_core.adopt(self._release(), True))

    def into_blocking(self) -> BlockingUnixSeqpacketConn:
        """Hand the fd to a blocking :class:`uds.UnixSeqpacketConn`; this object is then closed."""
        return BlockingUnixSeqpacketConn(_core.adopt(self._release(), False))

    @classmethod
    def pair(cls: type[_C]) -> tuple[_C, _C]:
        """Two connected seqpacket connections (``socketpair``)."""
        a, b = new_pair(True)
        return cls(a), cls(b)

    @classmethod
    def from_std(cls: type[_C], sock: socket.socket) -> _C:
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

    def shutdown(self, how: int) -> None:
        """Shut down reading (``SHUT_RD``), writing (``SHUT_WR``) or both."""
        self._sock.shutdown(how)

    async def send(self, data: Buffer, flags: int = 0) -> int:
        """Send ``data`` as one packet; return its size. ``flags`` are added ``MSG_*`` flags.

        Raises:
            BrokenPipeError: the peer is gone (never ``SIGPIPE``).
            OSError: ``EMSGSIZE`` when ``data`` exceeds the socket's buffer.
        """
        return await nonblocking_call(
            self._wait(), True, self._sock.send, data, flags | _SEND_FLAGS
        )

    async def send_vectored(self, buffers: Iterable[Buffer]) -> int:
        """Send one packet gathered from ``buffers``; return its length.

        Raises:
            as :meth:`send`.
        """
        packet = as_buffers(buffers)
        return await nonblocking_call(
            self._wait(), True, _sendmsg, self._sock, packet, _NO_ANCILLARY, _SEND_FLAGS
        )

    async def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Receive one packet of up to ``bufsize`` bytes (``b""`` at end of stream).

        A longer packet is truncated and its tail lost; :meth:`recv_vectored` reports it.
        """
        return await nonblocking_call(self._wait(), False, self._sock.recv, bufsize, flags)

    async def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        """Receive one packet into ``buffer``; return the bytes stored (the stdlib signature)."""
        return await nonblocking_call(
            self._wait(), False, self._sock.recv_into, buffer, nbytes, flags
        )

    async def recv_vectored(self, buffers: Iterable[WritableBuffer]) -> tuple[int, bool]:
        """Scatter one packet into ``buffers``.

        Returns:
            ``(nbytes, truncated)``; ``truncated`` is True when the packet did not
            fit and its tail was discarded.
        """
        targets = list(buffers)
        return await nonblocking_call(self._wait(), False, _recv_vectored, self._sock, targets, 0)

    async def peek(self, bufsize: int) -> bytes:
        """Like :meth:`recv`, but leave the packet queued."""
        return await nonblocking_call(self._wait(), False, self._sock.recv, bufsize, _MSG_PEEK)

    async def peek_vectored(self, buffers: Iterable[WritableBuffer]) -> tuple[int, bool]:
        """Like :meth:`recv_vectored`, but leave the packet queued."""
        targets = list(buffers)
        return await nonblocking_call(
            self._wait(), False, _recv_vectored, self._sock, targets, _MSG_PEEK
        )

    async def send_ancillary(
        self,
        buffers: Union[Buffer, Iterable[Buffer]],
        *,
        fds: Iterable[FileDescriptorLike] = (),
        credentials: Union[bool, SendCredentials, None] = None,
        flags: int = 0,
    ) -> int:
        """Send one packet with fds and/or credentials (:func:`uds.ancillary.send_ancillary`).

        Raises:
            as :func:`uds.ancillary.send_ancillary`.
        """
        send = functools.partial(
            _ancillary.send_ancillary,
            fds=tuple(fds),
            credentials=credentials,
            flags=flags | _SEND_FLAGS,
        )
        return await nonblocking_call(self._wait(), True, send, self._sock, as_buffers(buffers))

    async def recv_ancillary(
        self,
        bufsize_or_buffers: Union[int, Iterable[WritableBuffer]],
        *,
        max_fds: int = 0,
        credentials: bool = False,
        timestamps: bool = False,
        security: bool = False,
        flags: int = 0,
    ) -> Received:
        """Receive one packet and its control data (:func:`uds.ancillary.recv_ancillary`).

        The result owns the fds and pidfd received. Cancelling loses nothing:
        the packet is read only once the socket is readable, without an
        ``await`` between the read and the return.

        Raises:
            ValueError: ``max_fds`` out of range (before receiving).
        """
        target = (
            bufsize_or_buffers if isinstance(bufsize_or_buffers, int) else list(bufsize_or_buffers)
        )
        recv = functools.partial(
            _ancillary.recv_ancillary,
            max_fds=max_fds,
            credentials=credentials,
            timestamps=timestamps,
            security=security,
            flags=flags,
        )
        return await nonblocking_call(self._wait(), False, recv, self._sock, target)

    async def send_fds(
        self, data: Buffer, fds: Iterable[FileDescriptorLike], flags: int = 0
    ) -> int:
        """Send ``data`` as one packet with duplicates of ``fds``; the caller keeps them.

        Raises:
            OSError: ``EBADF`` for an fd that is not open (nothing is sent).
            ValueError: more than ``SCM_MAX_FD`` fds, before anything is sent.
        """
        numbers = fd_array(fds)
        ancillary = ((_SOL_SOCKET, _SCM_RIGHTS, numbers),) if numbers else _NO_ANCILLARY
        return await nonblocking_call(
            self._wait(), True, _sendmsg, self._sock, (data,), ancillary, flags | _SEND_FLAGS
        )

    async def recv_fds(
        self, bufsize: int, max_fds: int, flags: int = 0
    ) -> tuple[bytes, bool, ReceivedFds]:
        """Receive one packet and up to ``max_fds`` fds (close-on-exec, owned by the caller).

        Returns:
            ``(data, truncated, fds)``: ``truncated`` is True when the packet was
            longer than ``bufsize``; ``fds.truncated`` when fds did not fit.

        Raises:
            ValueError, TypeError: ``max_fds`` is not an int in 0..253, before receiving.
        """
        space = fds_space(max_fds)
        return await nonblocking_call(
            self._wait(), False, _recv_fds, self._sock, bufsize, space, max_fds, flags
        )

    async def send_many(self, packets: Iterable[Buffer], flags: int = 0) -> int:
        """Send each buffer of ``packets`` as one packet, in order, waiting for room as needed.

        Returns the count sent: all of them, or those sent before an error
        (which then repeats on the next call). Cancelling may leave the first
        packets sent and the rest not.

        Raises:
            TypeError: an item is not a bytes-like object (nothing is sent).
            BrokenPipeError, OSError: the first packet failed.
        """
        views = [memoryview(packet) for packet in packets]  # TypeError before sending
        waiter = self._wait()
        sent = 0
        while sent < len(views):
            try:
                sent += await nonblocking_call(
                    waiter, True, _send_batch, self._sock, views[sent:], flags | _SEND_FLAGS
                )
            except OSError:
                if sent:
                    return sent
                raise
        return sent

    async def recv_many(
        self, bufsize: int, max_packets: int, max_fds: int = 0, flags: int = 0
    ) -> list[Packet]:
        """Receive up to ``max_packets`` packets: wait for the first, then take what is queued.

        As :meth:`uds.UnixSeqpacketConn.recv_many` (each :class:`uds.Packet` has
        its data, truncation and, with ``max_fds`` > 0, its fds). Cancelling
        loses nothing: the batch is read without an ``await`` in between.

        Raises:
            ValueError, TypeError: ``max_packets`` not in 1..1024, ``max_fds`` not
                in 0..253; before receiving.
        """
        check_batch_size(max_packets)
        space = fds_space(max_fds) if max_fds else 0
        return await nonblocking_call(
            self._wait(),
            False,
            _recv_batch,
            self._sock,
            bufsize,
            max_packets,
            max_fds,
            space,
            flags,
        )


def _recv_vectored(
    sock: _socket.socket, buffers: list[WritableBuffer], flags: int
) -> tuple[int, bool]:
    nbytes, _, msg_flags, _ = sock.recvmsg_into(buffers, 0, flags)
    return nbytes, bool(msg_flags & _MSG_TRUNC)


async def _connect_waiting(
    sock: _socket.socket,
    target: Union[str, bytes],
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> None:
    """Connect the non-blocking ``sock``, retrying while the listener's backlog is full.

    A unix socket has no readiness event for room in a peer's backlog (an
    unconnected socket always polls writable): the retry pauses from 1 ms up
    to 50 ms, with ``sleep`` (the event loop's).
    """
    delay = _CONNECT_RETRY_FIRST
    while True:
        try:
            _sun_path.connect(sock, target)
        except BlockingIOError:
            # Linux: EAGAIN, the backlog is full (it never gives EINPROGRESS here).
            await sleep(delay)
            delay = min(delay * 2, _CONNECT_RETRY_MAX)
        else:
            return


def _recv_fds(
    sock: _socket.socket, bufsize: int, space: int, max_fds: int, flags: int
) -> tuple[bytes, bool, ReceivedFds]:
    data, ancdata, msg_flags, _ = sock.recvmsg(bufsize, space, flags | _RECV_FLAGS)
    return data, bool(msg_flags & _MSG_TRUNC), parse_fds(ancdata, msg_flags, max_fds)


def _send_batch(sock: _socket.socket, views: list[memoryview], flags: int) -> int:
    """Send packets until one would block or fails; raise only if the first does."""
    sent = 0
    for view in views:
        try:
            sock.send(view, flags)
        except OSError:
            if sent:
                return sent
            raise
        sent += 1
    return sent


def _recv_batch(
    sock: _socket.socket, bufsize: int, max_packets: int, max_fds: int, space: int, flags: int
) -> list[Packet]:
    """The first packet (or BlockingIOError), then what is queued, up to ``max_packets``."""
    packets = [_recv_packet(sock, bufsize, max_fds, space, flags)]
    while len(packets) < max_packets:
        try:
            packets.append(_recv_packet(sock, bufsize, max_fds, space, flags | _MSG_DONTWAIT))
        except OSError:
            break  # nothing more queued; an error repeats on the next call
    return packets


def _recv_packet(
    sock: _socket.socket, bufsize: int, max_fds: int, space: int, flags: int
) -> Packet:
    if not max_fds:
        data, _, msg_flags, _ = sock.recvmsg(bufsize, 0, flags)
        return Packet(data, msg_flags & _MSG_TRUNC != 0, None, None)
    data, ancdata, msg_flags, _ = sock.recvmsg(bufsize, space, flags | _RECV_FLAGS)
    return Packet(data, msg_flags & _MSG_TRUNC != 0, parse_fds(ancdata, msg_flags, max_fds), None)


class UnixSeqpacketListener(_AsyncSocket):
    """A seqpacket listener for asyncio."""

    __slots__ = ()
    _LISTENING = True
    _CONN: ClassVar[type[UnixSeqpacketConn]] = UnixSeqpacketConn

    @classmethod
    def bind(
        cls: type[_L], path: PathLike, *, backlog: Optional[int] = None, replace: bool = False
    ) -> _L:
        """Listen at the filesystem path ``path``.

        ``path`` is always a path, as in the blocking types: ``"@name"`` is the
        file ``@name``; :meth:`bind_unix_addr` takes abstract addresses.
        ``backlog`` defaults to ``socket.SOMAXCONN``. Binding goes through
        :func:`uds.bind_unix_addr`: an existing file is never replaced, except
        that ``replace=True`` atomically takes over a socket file's path (see
        :meth:`uds.UnixSeqpacketListener.bind`).

        Raises:
            FileExistsError: the path is taken (``EADDRINUSE``), saying by what.
            OSError: from ``bind(2)``, with the path in ``filename``.
            ValueError: the path is too long or contains NUL.
        """
        return cls.bind_unix_addr(UnixSocketAddr.from_path(path), backlog=backlog, replace=replace)

    @classmethod
    def bind_unix_addr(
        cls: type[_L], addr: AddrLike, *, backlog: Optional[int] = None, replace: bool = False
    ) -> _L:
        """Listen at ``addr``: a :class:`UnixSocketAddr`, a path, or ``"@name"`` (abstract).

        ``backlog`` defaults to ``socket.SOMAXCONN``; an existing file is never
        replaced except with ``replace=True`` (paths only, as in :meth:`bind`).

        Raises:
            OSError: ``EADDRINUSE`` when the address is taken; every error of
                ``bind(2)`` has the address in ``filename``.
            ValueError: an invalid address.
        """
        backlog = socket.SOMAXCONN if backlog is None else backlog
        sock = bind_unix_addr(
            UnixSocketAddr.new(addr), _SEQPACKET | _NONBLOCK, backlog=backlog, replace=replace
        )
        if not _NONBLOCK:  # no SOCK_NONBLOCK flag on this OS (macOS)
            sock.setblocking(False)
        return cls(sock)

    @classmethod
    def from_nonblocking(
        cls: type[_L],
        listener: Union[NonblockingUnixSeqpacketListener, BlockingUnixSeqpacketListener],
    ) -> _L:
        """Take over the fd of a :mod:`uds.nonblocking` (or blocking) listener.

        ``listener`` is detached (it will no longer remove its socket file) and
        the fd made non-blocking; pending connections stay queued.

        Raises:
            TypeError: ``listener`` is not a uds seqpacket listener.
        """
        return cls._take_over(listener)

    @classmethod
    def from_blocking(cls: type[_L], listener: BlockingUnixSeqpacketListener) -> _L:
        """Take over the fd of a blocking :class:`uds.UnixSeqpacketListener`.

        Raises:
            TypeError: ``listener`` is not a uds seqpacket listener.
        """
        return cls._take_over(listener)

    def into_nonblocking(self) -> NonblockingUnixSeqpacketListener:
        """Hand the fd to a :mod:`uds.nonblocking` listener; this object is then closed."""
        return NonblockingUnixSeqpacketListener(_core.adopt(self._release(), True))

    def into_blocking(self) -> BlockingUnixSeqpacketListener:
        """Hand the fd to a blocking :class:`uds.UnixSeqpacketListener`; this one is then closed."""
        return BlockingUnixSeqpacketListener(_core.adopt(self._release(), False))

    @classmethod
    def from_std(cls: type[_L], sock: socket.socket) -> _L:
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
        return self._CONN(sock), addr

    async def accept_unix_addr(self) -> tuple[UnixSeqpacketConn, UnixSocketAddr]:
        """Wait for a connection; return it and the peer's address (as :meth:`accept`)."""
        return await self.accept()
