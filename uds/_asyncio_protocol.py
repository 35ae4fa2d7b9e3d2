"""An fd-aware asyncio transport and protocol for unix stream and seqpacket sockets.

asyncio's own transports read with ``recv``: fds that arrive while they read
are closed by the kernel and lost. :class:`UnixFdTransport` reads with
``recvmsg`` and gives every fd to the protocol in order, through
:meth:`FdProtocol.fds_received`, just before the ``data_received`` of the
bytes they came with; ``write(data, fds)`` sends fds with the first byte of
``data``. :func:`create_connection` and :func:`create_server` follow
``loop.create_unix_connection``/``loop.create_unix_server``.

Where the fds land in a stream
    A stream has no message boundaries, but the kernel keeps fds with the
    bytes they were sent with: a read that returns fds ends with the
    (first segment of the) write that carried them, and it may begin with
    earlier bytes that carried none. So the ``data_received`` chunk after
    ``fds_received`` holds the first byte sent with the fds and no byte of
    a later fd-carrying write; a protocol that frames its messages (a length
    prefix, a delimiter) takes the fds at the first frame that begins in
    that chunk, or keeps one fd-carrying message in flight at a time. On a
    seqpacket socket each ``data_received`` is exactly one packet and the
    fds are that packet's.

Ownership of fds
    Fds given to ``fds_received`` are the protocol's (a
    :class:`uds.ReceivedFds`: close it, or ``take()``/``detach()`` what it
    keeps). A protocol without ``fds_received`` gets none: they are closed.
    ``write`` sends the caller's fds at once when the socket has room, and
    otherwise queues duplicates, so the caller may close its fds as soon as
    ``write`` returns; ``abort``, a fatal error or the loss of the connection
    closes every duplicate still queued.

The transport uses the loop's ``add_reader``/``add_writer`` only, so it runs on
the default loop and on uvloop alike.
"""

from __future__ import annotations

import _socket
import asyncio
import collections
import errno
import fcntl
import os
import select
import socket
import sys
import termios
import threading
from typing import Any, Callable, Iterable, Optional, TypeVar, Union

from uds import _platform
from uds import _seqpacket as _core
from uds._addr import AddrLike, UnixSocketAddr
from uds._asyncio_seqpacket import _connect_waiting
from uds._bind import SocketFile
from uds._cmsg import fd_array, fds_space, parse_fds
from uds._ext import recv_fds
from uds._fd import FileDescriptorLike
from uds._fds import ReceivedFds, close_all

__all__ = [
    "FdProtocol",
    "UnixFdServer",
    "UnixFdTransport",
    "create_connection",
    "create_server",
]

_P = TypeVar("_P", bound=asyncio.BaseProtocol)
_Bytes = Union[bytes, bytearray, memoryview]

_sys = _platform.current
_SOL_SOCKET: int = _sys.SOL_SOCKET
_SCM_RIGHTS: int = _sys.SCM_RIGHTS
_MSG_TRUNC: int = _sys.MSG_TRUNC
_RECV_FLAGS = _platform.RECV_FLAGS
_STREAM_SEND_FLAGS = _platform.SEND_FLAGS
_SEQPACKET_SEND_FLAGS = _platform.SEQPACKET_SEND_FLAGS
_SCM_MAX_FD = _platform.SCM_MAX_FD
_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)
_FIONREAD: int = termios.FIONREAD
_HANGUP = select.POLLHUP | getattr(select, "POLLRDHUP", 0)
# Control-buffer room for the most fds one message can carry (plus unsolicited data).
_ANCILLARY_SPACE = fds_space(_SCM_MAX_FD)
#: Bytes read per system call on a stream; the largest packet on a seqpacket socket.
READ_SIZE = 256 * 1024
_DEFAULT_HIGH_WATER = 64 * 1024
_KINDS = (socket.SOCK_STREAM, socket.SOCK_SEQPACKET)
_ACCEPT_ERRORS_TO_PAUSE = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_ACCEPT_PAUSE = 1.0
_sendmsg = _socket.socket.sendmsg
_recvmsg_into = _socket.socket.recvmsg_into
_NO_ANCILLARY: tuple[()] = ()
# One read buffer per thread, reused: recvmsg(READ_SIZE) would allocate (and,
# above glibc's mmap threshold, map and unmap) 256 KiB for every read.
_buffers = threading.local()


def _read_buffer() -> memoryview:
    try:
        view: memoryview = _buffers.view
    except AttributeError:
        view = _buffers.view = memoryview(bytearray(READ_SIZE))
    return view


class FdProtocol(asyncio.Protocol):
    """An :class:`asyncio.Protocol` that also receives fds, from a :class:`UnixFdTransport`.

    Subclass it, or give any protocol an ``fds_received`` method: the
    transport looks the method up by name. The fds of a read are given to
    :meth:`fds_received` just before the ``data_received`` of the bytes they
    came with (on a stream, that chunk holds the first byte sent with them;
    on seqpacket, it is their packet), and are the protocol's to close.
    """

    def fds_received(self, fds: ReceivedFds) -> None:
        """Called with the fds that came with the bytes of the next ``data_received``.

        ``fds`` are close-on-exec and owned by the protocol; ``fds.truncated``
        is True when the kernel dropped some that did not fit. The default
        closes them.
        """
        fds.close()


def _check_kind(kind: int) -> int:
    if kind not in _KINDS:
        raise ValueError(f"type must be socket.SOCK_STREAM or socket.SOCK_SEQPACKET, not {kind!r}")
    return kind


class UnixFdTransport(asyncio.Transport):
    """A unix stream or seqpacket transport that carries fds both ways.

    Made by :func:`create_connection` and :func:`create_server`. Beyond
    :class:`asyncio.Transport`: :meth:`write` takes ``fds``. On a seqpacket
    socket every ``write`` is one packet (an empty one too) and every
    ``data_received`` one packet; a packet longer than 256 KiB ends the
    connection with ``EMSGSIZE``.

    On a stream, the kernel keeps fds with the bytes they were sent with: a
    read that returns fds ends with (the first segment of) the write that
    carried them and may begin with earlier bytes that carried none. So the
    chunk after ``fds_received`` holds the first byte sent with the fds and
    no byte of a later fd-carrying write; a protocol that frames its
    messages takes the fds at the first frame that begins in that chunk.

    Fds given to ``fds_received`` are the protocol's; a protocol without that
    method gets none (they are closed). ``write`` sends the caller's fds at
    once when the socket has room and otherwise queues duplicates, so the
    caller may close its own as soon as ``write`` returns; ``abort``, a fatal
    error or the end of the connection closes every duplicate still queued.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: Optional[asyncio.Future[None]] = None,
        server: Optional[UnixFdServer] = None,
    ) -> None:
        extra: dict[str, Any] = {"socket": sock}
        super().__init__(extra)
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._seqpacket = sock.type == socket.SOCK_SEQPACKET
        self._send_flags = _SEQPACKET_SEND_FLAGS if self._seqpacket else _STREAM_SEND_FLAGS
        self._protocol: Any = protocol
        self._server = server
        # Each entry: (data still to send, duplicates of the fds to send with it).
        self._buffer: collections.deque[tuple[memoryview, tuple[int, ...]]] = collections.deque()
        self._buffer_size = 0
        self._high_water = _DEFAULT_HIGH_WATER
        self._low_water = _DEFAULT_HIGH_WATER // 4
        self._protocol_paused = False
        self._paused = False
        self._read_eof = False
        self._closing = False
        self._eof = False
        self._lost = False
        self._writing = False
        if server is not None:
            server._attach(self)
        try:
            extra["sockname"] = sock.getsockname()
            extra["peername"] = sock.getpeername()
        except OSError:
            pass
        loop.call_soon(self._protocol.connection_made, self)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(_set_result, waiter)

    def __repr__(self) -> str:
        state = "closed" if self._lost else "closing" if self._closing else "open"
        kind = "seqpacket" if self._seqpacket else "stream"
        return f"<UnixFdTransport {kind} fd={self._fd} {state}>"

    # Reading ---------------------------------------------------------------------

    def _start_reading(self) -> None:
        if not self._closing and not self._paused and not self._read_eof:
            self._loop.add_reader(self._fd, self._read_ready)

    def is_reading(self) -> bool:
        """Whether the transport is receiving (not paused, not closing)."""
        return not self._closing and not self._paused and not self._read_eof

    def pause_reading(self) -> None:
        """Stop reading until :meth:`resume_reading`; data and fds wait in the socket."""
        if self._closing or self._paused:
            return
        self._paused = True
        if not self._read_eof:
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        """Receive again after :meth:`pause_reading`."""
        if self._closing or not self._paused:
            return
        self._paused = False
        if not self._read_eof:  # after the end nothing more arrives
            self._loop.add_reader(self._fd, self._read_ready)

    def _read_ready(self) -> None:
        if self._closing:
            return
        try:
            if self._seqpacket:
                buffer = _read_buffer()
                nbytes, ancdata, flags, _ = _recvmsg_into(
                    self._sock, (buffer,), _ANCILLARY_SPACE, _RECV_FLAGS
                )
                data = bytes(buffer[:nbytes])
                fds = parse_fds(ancdata, flags, _SCM_MAX_FD)
            else:
                # A stream cannot truncate: one call (in C where the C core runs).
                data, fds = recv_fds(self._sock, READ_SIZE, _SCM_MAX_FD)
                flags = 0
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fatal_error(exc, "Fatal read error on a uds transport")
            return
        try:
            if self._seqpacket and flags & _MSG_TRUNC:
                fds.close()
                self._fatal_error(
                    OSError(errno.EMSGSIZE, f"a packet longer than {READ_SIZE} bytes arrived"),
                    "Fatal read error on a uds transport",
                )
                return
            if not data and not fds and self._at_end():
                self._eof_received()
                return
            if fds or fds.truncated:
                receive = getattr(self._protocol, "fds_received", None)
                if receive is None:
                    fds.close()
                else:
                    handed, fds = fds, ReceivedFds()
                    try:
                        receive(handed)
                    except BaseException:
                        handed.close()
                        raise
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fds.close()
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _at_end(self) -> bool:
        """After a 0-byte read: the end of the connection, or (seqpacket) an empty packet?"""
        if not self._seqpacket:
            return True
        # A seqpacket socket reads 0 bytes for both. Once the peer has shut down
        # poll reports a hang-up; packets still queued then count in FIONREAD
        # (empty ones the peer sent just before shutting down cannot be told apart).
        poller = select.poll()
        poller.register(self._fd, select.POLLIN | _HANGUP)
        events = poller.poll(0)
        if not events or not events[0][1] & _HANGUP:
            return False
        queued = bytearray(4)
        try:
            fcntl.ioctl(self._fd, _FIONREAD, queued)
        except OSError:
            return True
        return int.from_bytes(queued, sys.byteorder) == 0

    def _eof_received(self) -> None:
        self._read_eof = True
        self._loop.remove_reader(self._fd)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if not keep_open:
            self.close()

    # Writing ---------------------------------------------------------------------

    def write(self, data: _Bytes, fds: Iterable[FileDescriptorLike] = ()) -> None:
        """Send ``data``, with ``fds`` (ints or objects with ``fileno()``) on its first byte.

        Never waits: what the socket cannot take now is queued (with
        duplicates of the fds, so the caller may close its own right away)
        and the protocol's ``pause_writing`` is called above the high-water
        mark. On a seqpacket socket ``data`` is one packet.

        Raises:
            ValueError: fds with empty ``data`` on a stream; more than 253 fds.
            OSError: ``EBADF`` for an fd that is not open (nothing is sent).
            RuntimeError: after :meth:`write_eof`.
            TypeError: ``data`` is not bytes-like or an fd is not an fd.
        """
        if (
            type(data) is bytes
            and data
            and fds == ()
            and not (self._buffer or self._closing or self._eof)
        ):
            # The common case, without building an fd array or a view.
            try:
                sent = self._sock.send(data, self._send_flags)
            except (BlockingIOError, InterruptedError):
                self._queue(data, ())
                return
            except OSError as exc:
                self._fatal_error(exc, "Fatal write error on a uds transport")
                return
            if sent != len(data):
                self._queue(data[sent:], ())
            return
        view = memoryview(data).cast("B")
        numbers = fd_array(fds)
        if numbers and not view and not self._seqpacket:
            raise ValueError("a stream cannot carry fds without data: write at least one byte")
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._closing:
            return  # writes after close() or the end of the connection are dropped
        if not view and not self._seqpacket:
            return
        if not self._buffer:
            ancillary = ((_SOL_SOCKET, _SCM_RIGHTS, numbers),) if numbers else _NO_ANCILLARY
            try:
                sent = _sendmsg(self._sock, (view,), ancillary, self._send_flags)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as exc:
                if exc.errno == errno.EBADF and numbers and self._sock.fileno() >= 0:
                    raise  # one of the caller's fds; the connection is fine
                self._fatal_error(exc, "Fatal write error on a uds transport")
                return
            else:
                if sent == len(view):
                    return
                # The fds went with the first byte: the rest is queued without them.
                self._queue(bytes(view[sent:]), ())
                return
        self._queue(bytes(view), numbers)

    def writelines(self, list_of_data: Iterable[_Bytes]) -> None:
        """Write each buffer in turn (each one packet on a seqpacket socket)."""
        for data in list_of_data:
            self.write(data)

    def _queue(self, data: bytes, numbers: Iterable[int]) -> None:
        owned: list[int] = []
        try:
            for fd in numbers:
                owned.append(os.dup(fd))  # close-on-exec, as os.dup always makes
        except BaseException:
            close_all(owned)
            raise
        self._buffer.append((memoryview(data), tuple(owned)))
        self._buffer_size += len(data)
        if not self._writing:
            self._loop.add_writer(self._fd, self._write_ready)
            self._writing = True
        self._maybe_pause_protocol()

    def _write_ready(self) -> None:
        buffer = self._buffer
        while buffer:
            view, owned = buffer[0]
            ancillary = ((_SOL_SOCKET, _SCM_RIGHTS, fd_array(owned)),) if owned else _NO_ANCILLARY
            try:
                sent = _sendmsg(self._sock, (view,), ancillary, self._send_flags)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._fatal_error(exc, "Fatal write error on a uds transport")
                return
            if owned:
                close_all(owned)
            self._buffer_size -= sent
            if sent < len(view):
                buffer[0] = (view[sent:], ())
                break
            buffer.popleft()
        self._maybe_resume_protocol()
        if buffer:
            return
        self._loop.remove_writer(self._fd)
        self._writing = False
        if self._closing:
            self._connection_lost(None)
        elif self._eof:
            try:
                self._sock.shutdown(socket.SHUT_WR)
            except OSError as exc:
                self._fatal_error(exc, "Fatal error on shutdown")

    def can_write_eof(self) -> bool:
        """True: :meth:`write_eof` shuts down the writing side once the buffer is sent."""
        return True

    def write_eof(self) -> None:
        """Shut down writing once the queued data is sent; reading goes on."""
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffer:
            self._sock.shutdown(socket.SHUT_WR)

    def get_write_buffer_size(self) -> int:
        """Bytes queued and not yet sent."""
        return self._buffer_size

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """``(low, high)`` water marks of the write buffer."""
        return self._low_water, self._high_water

    def set_write_buffer_limits(
        self, high: Optional[int] = None, low: Optional[int] = None
    ) -> None:
        """Set the water marks of ``pause_writing``/``resume_writing``, as asyncio's transports.

        Raises:
            ValueError: ``high < low`` or a negative mark.
        """
        if high is None:
            high = _DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water, self._low_water = high, low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if self._buffer_size <= self._high_water or self._protocol_paused:
            return
        self._protocol_paused = True
        try:
            self._protocol.pause_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report("protocol.pause_writing() failed", exc)

    def _maybe_resume_protocol(self) -> None:
        if not self._protocol_paused or self._buffer_size > self._low_water:
            return
        self._protocol_paused = False
        try:
            self._protocol.resume_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report("protocol.resume_writing() failed", exc)

    # Closing ---------------------------------------------------------------------

    def is_closing(self) -> bool:
        """Whether :meth:`close` or :meth:`abort` was called or the connection ended."""
        return self._closing

    def close(self) -> None:
        """Stop reading, send what is queued, then close; ``connection_lost(None)`` follows."""
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        if not self._buffer:
            self._connection_lost(None)

    def abort(self) -> None:
        """Close now: queued data is dropped and its fds closed; ``connection_lost(None)``."""
        self._force_close(None)

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if not isinstance(exc, OSError):
            self._report(message, exc)
        self._force_close(exc)

    def _report(self, message: str, exc: BaseException) -> None:
        self._loop.call_exception_handler(
            {"message": message, "exception": exc, "transport": self, "protocol": self._protocol}
        )

    def _force_close(self, exc: Optional[BaseException]) -> None:
        if self._lost:
            return
        self._drop_buffer()
        if not self._closing:
            self._closing = True
            self._loop.remove_reader(self._fd)
        self._connection_lost(exc)

    def _drop_buffer(self) -> None:
        buffer, self._buffer = self._buffer, collections.deque()
        self._buffer_size = 0
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._fd)
        for _, owned in buffer:
            close_all(owned)

    def _connection_lost(self, exc: Optional[BaseException]) -> None:
        self._lost = True
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: Optional[BaseException]) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._sock.close()
            self._protocol = None
            server, self._server = self._server, None
            if server is not None:
                server._detach(self)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Deliver further events to ``protocol``."""
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The protocol events go to."""
        protocol: asyncio.BaseProtocol = self._protocol
        return protocol


def _set_result(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _new_socket(kind: int) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, kind | _NONBLOCK)  # close-on-exec atomically
    if not _NONBLOCK:
        sock.setblocking(False)
    return sock


def _adopt_socket(sock: socket.socket, what: str) -> tuple[socket.socket, int]:
    if not isinstance(sock, socket.socket):
        raise TypeError(f"{what} needs a socket.socket, not {type(sock).__name__}")
    if sock.family != socket.AF_UNIX or sock.type not in _KINDS:
        raise ValueError(f"{what} needs an AF_UNIX stream or seqpacket socket, got {sock!r}")
    sock.setblocking(False)
    return sock, sock.type


async def create_connection(
    protocol_factory: Callable[[], _P],
    addr: Optional[AddrLike] = None,
    *,
    type: int = socket.SOCK_STREAM,
    sock: Optional[socket.socket] = None,
) -> tuple[UnixFdTransport, _P]:
    """Connect to ``addr`` and wire a protocol to an fd-aware transport.

    As ``loop.create_unix_connection``: give ``addr`` (a path, ``"@name"``
    for an abstract address, or a :class:`uds.UnixSocketAddr`), or ``sock``,
    a connected unix stream or seqpacket socket that the transport takes
    over (then ``type`` is the socket's). ``type`` is ``socket.SOCK_STREAM``
    or ``socket.SOCK_SEQPACKET``. While the listener's backlog is full the
    connect is retried, as :meth:`uds.asyncio.UnixSeqpacketConn.connect` does.

    Returns:
        ``(transport, protocol)`` once ``protocol.connection_made`` has run.

    Raises:
        ValueError: both or neither of ``addr`` and ``sock``; another ``type``.
        ConnectionRefusedError, FileNotFoundError: nobody listens at ``addr``.
    """
    loop = asyncio.get_running_loop()
    if (addr is None) == (sock is None):
        raise ValueError("give exactly one of addr and sock")
    if sock is None:
        assert addr is not None
        target = UnixSocketAddr.new(addr).to_std()
        sock = _new_socket(_check_kind(type))
        try:
            await _connect_waiting(sock, target)
        except BaseException:
            sock.close()
            raise
    else:
        _adopt_socket(sock, "create_connection")
    try:
        protocol = protocol_factory()
        waiter: asyncio.Future[None] = loop.create_future()
        transport = UnixFdTransport(loop, sock, protocol, waiter)
    except BaseException:
        sock.close()
        raise
    try:
        await waiter
    except BaseException:
        transport.abort()
        raise
    return transport, protocol


class UnixFdServer(asyncio.AbstractServer):
    """A listening unix stream or seqpacket socket whose connections get :class:`UnixFdTransport`.

    Made by :func:`create_server`; behaves as the server of
    ``loop.create_unix_server`` (``close``, ``wait_closed``,
    ``serve_forever``, ``async with``...).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
        socket_file: Optional[SocketFile],
    ) -> None:
        self._loop = loop
        self._sock: Optional[socket.socket] = sock
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._socket_file = socket_file
        self._serving = False
        self._transports: set[UnixFdTransport] = set()
        self._closed: asyncio.Future[None] = loop.create_future()
        self._serving_forever: Optional[asyncio.Future[None]] = None
        self._resume_handle: Optional[asyncio.TimerHandle] = None

    def __repr__(self) -> str:
        return f"<UnixFdServer sockets={self.sockets!r}>"

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening socket (empty once closed)."""
        return () if self._sock is None else (self._sock,)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs on."""
        return self._loop

    def is_serving(self) -> bool:
        """Whether connections are being accepted."""
        return self._serving

    async def start_serving(self) -> None:
        """Start accepting connections (a no-op when already serving).

        Raises:
            RuntimeError: the server is closed.
        """
        self._start()

    def _start(self) -> None:
        if self._sock is None:
            raise RuntimeError(f"server {self!r} is closed")
        if self._serving:
            return
        self._serving = True
        self._loop.add_reader(self._sock.fileno(), self._accept_ready)

    async def serve_forever(self) -> None:
        """Accept connections until cancelled; cancelling closes the server.

        Raises:
            RuntimeError: already serving forever, or the server is closed.
        """
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        self._start()
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except asyncio.CancelledError:
            self.close()  # connections go on; wait_closed() waits for them
            raise
        finally:
            self._serving_forever = None

    def _accept_ready(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(self._backlog):
            try:
                conn, _ = sock.accept()  # accept4(SOCK_CLOEXEC)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _ACCEPT_ERRORS_TO_PAUSE:
                    raise
                # Out of fds or memory: stop accepting for a while rather than spin.
                self._loop.call_exception_handler(
                    {"message": "socket.accept() out of system resource", "exception": exc}
                )
                self._loop.remove_reader(sock.fileno())
                self._serving = False
                self._resume_handle = self._loop.call_later(_ACCEPT_PAUSE, self._resume)
                return
            try:
                conn.setblocking(False)
                protocol = self._protocol_factory()
                UnixFdTransport(self._loop, conn, protocol, server=self)
            except (SystemExit, KeyboardInterrupt):
                conn.close()
                raise
            except BaseException as exc:
                conn.close()
                self._loop.call_exception_handler(
                    {"message": "Error setting up a uds connection", "exception": exc}
                )

    def _resume(self) -> None:
        self._resume_handle = None
        if self._sock is not None:
            self._start()

    def _attach(self, transport: UnixFdTransport) -> None:
        self._transports.add(transport)

    def _detach(self, transport: UnixFdTransport) -> None:
        self._transports.discard(transport)
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self._sock is None and not self._transports and not self._closed.done():
            self._closed.set_result(None)

    def close(self) -> None:
        """Stop accepting and close the listening socket; open connections go on.

        A socket file the server created is removed if the path still names it.
        """
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._resume_handle is not None:
            self._resume_handle.cancel()
            self._resume_handle = None
        if self._serving:
            self._serving = False
            self._loop.remove_reader(sock.fileno())
        sock.close()
        socket_file, self._socket_file = self._socket_file, None
        if socket_file is not None:
            socket_file.unlink()
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()
        self._maybe_done()

    def close_clients(self) -> None:
        """Close every open connection (their transports' ``close``)."""
        for transport in list(self._transports):
            transport.close()

    def abort_clients(self) -> None:
        """Abort every open connection (their transports' ``abort``)."""
        for transport in list(self._transports):
            transport.abort()

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection it accepted has ended."""
        if self._sock is None and not self._transports:
            return
        await asyncio.shield(self._closed)

    async def __aenter__(self) -> UnixFdServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()


async def create_server(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    addr: Optional[AddrLike] = None,
    *,
    type: int = socket.SOCK_STREAM,
    sock: Optional[socket.socket] = None,
    backlog: int = 100,
    start_serving: bool = True,
    cleanup_socket: bool = True,
) -> UnixFdServer:
    """Listen at ``addr`` and give each connection a protocol on an fd-aware transport.

    As ``loop.create_unix_server``: give ``addr`` (a path, ``"@name"`` for
    an abstract address, or a :class:`uds.UnixSocketAddr`), or ``sock``, a
    listening unix stream or seqpacket socket the server takes over. A path
    is bound without replacing anything there (see :func:`uds.bind_path`);
    with ``cleanup_socket`` the server's :meth:`~UnixFdServer.close` removes
    the socket file it created, if the path still names it.

    Raises:
        ValueError: both or neither of ``addr`` and ``sock``; another ``type``.
        FileExistsError: the path is taken (``EADDRINUSE``).
        OSError: ``EADDRINUSE`` for a taken abstract name.
    """
    loop = asyncio.get_running_loop()
    if (addr is None) == (sock is None):
        raise ValueError("give exactly one of addr and sock")
    socket_file = None
    if sock is None:
        assert addr is not None
        target = UnixSocketAddr.new(addr)
        sock = _new_socket(_check_kind(type))
        try:
            socket_file = _core.bind_to(sock, target, backlog=backlog)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            if socket_file is not None:
                socket_file.unlink()
            raise
        if not cleanup_socket:
            socket_file = None
    else:
        _adopt_socket(sock, "create_server")
    server = UnixFdServer(loop, sock, protocol_factory, backlog, socket_file)
    if start_serving:
        server._start()
        await asyncio.sleep(0)  # as asyncio: let the loop register the listener
    return server
