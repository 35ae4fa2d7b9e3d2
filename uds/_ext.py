"""Extension functions: unix-socket features for any socket, wrapper or raw fd.

None of them takes ownership of ``sock`` or changes its blocking mode, timeout
or flags (see :mod:`uds._fd`). Sockets they *create* are close-on-exec and are
ordinary :class:`socket.socket` objects owned by the caller.
"""

from __future__ import annotations

import _socket
import errno
import os
import socket
from typing import Iterable, Optional

from uds import _platform, _sun_path
from uds._addr import _FROM_STD_CACHE, AddrLike, UnixSocketAddr, naming
from uds._ancillary import Buffer, WritableBuffer, as_buffers, recv_ancillary, send_ancillary
from uds._bind import UnlinkingSocket, bind_path
from uds._cmsg import fd_array, fds_space, parse_fds
from uds._fd import FileDescriptorLike, call_on, call_on_unix
from uds._fds import ReceivedFds
from uds._impl import accelerate
from uds._packet import Packet
from uds._seqpacket_io import check_batch_size

__all__ = [
    "local_unix_addr",
    "peer_unix_addr",
    "bind_unix_addr",
    "connect_to_unix_addr",
    "connect_from_to_unix_addr",
    "accept_unix_addr",
    "send_fds",
    "recv_fds",
    "recv_fds_into",
    "send_to_unix_addr",
    "send_vectored_to_unix_addr",
    "recv_from_unix_addr",
    "peek_from_unix_addr",
    "recv_vectored_from_unix_addr",
    "peek_vectored_from_unix_addr",
    "send_fds_to",
    "recv_fds_from",
    "send_many",
    "recv_many",
]

_sys = _platform.current
_SocketType = _socket.socket
_sendmsg = _SocketType.sendmsg
_recvmsg = _SocketType.recvmsg
_recvmsg_into = _SocketType.recvmsg_into
_recvfrom = _SocketType.recvfrom
_getsockname = _SocketType.getsockname
_getpeername = _SocketType.getpeername
_from_std = UnixSocketAddr.from_std
# The C accept: returns (fd, address) without wrapping, via accept4(SOCK_CLOEXEC).
_accept = _SocketType._accept  # type: ignore[attr-defined]
_SEND_FLAGS = _platform.SEND_FLAGS
_RECV_FLAGS = _platform.RECV_FLAGS
_MSG_PEEK: int = _sys.MSG_PEEK
_MSG_TRUNC: int = _sys.MSG_TRUNC
_MSG_DONTWAIT: int = _sys.MSG_DONTWAIT
_SCM_MAX_FD = _platform.SCM_MAX_FD
_SOL_SOCKET: int = _sys.SOL_SOCKET
_SCM_RIGHTS: int = _sys.SCM_RIGHTS
_AF_UNIX = socket.AF_UNIX
_family_of = _SocketType.family.__get__
_LISTENING_TYPES = (socket.SOCK_STREAM, socket.SOCK_SEQPACKET)
# The socket type without the SOCK_NONBLOCK / SOCK_CLOEXEC flags that may be or-ed in.
_TYPE_MASK = ~(getattr(socket, "SOCK_NONBLOCK", 0) | getattr(socket, "SOCK_CLOEXEC", 0))
_DEFAULT_BACKLOG = 128


def _unix_addr(raw: object, what: str) -> UnixSocketAddr:
    if isinstance(raw, (str, bytes)):
        return UnixSocketAddr.from_std(raw)
    raise OSError(errno.EAFNOSUPPORT, f"{what} is not a unix socket address: {raw!r}")


# Addresses --------------------------------------------------------------------


def local_unix_addr(sock: FileDescriptorLike) -> UnixSocketAddr:
    """The address ``sock`` is bound to (unnamed if it is not bound).

    Raises:
        OSError: ``EAFNOSUPPORT`` when ``sock`` is not a unix socket,
            ``ENOTSOCK``/``EBADF`` when it is no socket at all.
    """
    # call_on and _unix_addr inlined: servers look addresses up per connection.
    raw = _getsockname(sock) if isinstance(sock, _SocketType) else call_on(sock, _getsockname)
    cached = _FROM_STD_CACHE.get(raw)
    if cached is not None:
        return cached
    if type(raw) is bytes or type(raw) is str:
        return _from_std(raw)
    return _unix_addr(raw, "the local address")


def peer_unix_addr(sock: FileDescriptorLike) -> UnixSocketAddr:
    """The address of the peer ``sock`` is connected to (unnamed for an unbound peer).

    Raises:
        OSError: ``ENOTCONN`` when not connected; ``EAFNOSUPPORT`` for other families.
    """
    raw = _getpeername(sock) if isinstance(sock, _SocketType) else call_on(sock, _getpeername)
    cached = _FROM_STD_CACHE.get(raw)
    if cached is not None:
        return cached
    if type(raw) is bytes or type(raw) is str:
        return _from_std(raw)
    return _unix_addr(raw, "the peer address")


def _new_socket(kind: int) -> socket.socket:
    # Python creates sockets with SOCK_CLOEXEC atomically where the OS has it.
    return socket.socket(socket.AF_UNIX, kind)


def bind_unix_addr(
    addr: AddrLike,
    type: int = socket.SOCK_STREAM,
    *,
    backlog: Optional[int] = None,
    mode: Optional[int] = None,
    replace_stale: bool = False,
    unlink_on_close: bool = False,
    replace: bool = False,
) -> socket.socket:
    """Create a unix socket of ``type`` bound to ``addr``; stream and seqpacket listen.

    ``addr`` is a :class:`UnixSocketAddr` or anything :meth:`UnixSocketAddr.new`
    accepts (``"@name"`` is abstract, ``"./@name"`` the file). The socket is
    close-on-exec. An existing file at a path is never replaced and a symlink
    there is never followed. For path addresses (see :func:`uds.bind_path`):
    ``mode`` sets the socket file's permissions exactly before it becomes
    reachable, ``replace_stale`` removes a socket file nobody listens on,
    ``replace`` atomically takes the path over from a socket file, live or
    not (a zero-downtime restart), and ``unlink_on_close`` returns an
    :class:`uds.UnlinkingSocket` whose ``close()`` removes the file it created.

    Raises:
        OSError: ``EADDRINUSE``, the address is taken; for a path it is a
            :class:`FileExistsError` whose message says by what. Every error
            of the ``bind`` names the address in ``filename``.
        ValueError: invalid address, or a path option with a non-path address.
    """
    target = UnixSocketAddr.new(addr)
    if not target.is_path and (mode is not None or replace_stale or unlink_on_close or replace):
        raise ValueError(
            "mode, replace_stale, replace and unlink_on_close apply to path addresses, "
            f"not {target}"
        )
    sock = UnlinkingSocket(socket.AF_UNIX, type) if unlink_on_close else _new_socket(type)
    socket_file = None
    backlog = _DEFAULT_BACKLOG if backlog is None else backlog
    try:
        try:
            if target.is_path:
                socket_file = bind_path(
                    sock,
                    target.to_std(),
                    mode=mode,
                    replace_stale=replace_stale,
                    replace=replace,
                    backlog=backlog,
                )
            else:
                _sun_path.bind(sock, target.to_std())
        except OSError as error:
            raise naming(error, target) from None
        if type & _TYPE_MASK in _LISTENING_TYPES:
            sock.listen(backlog)
    except BaseException:
        sock.close()
        if socket_file is not None:
            socket_file.unlink()
        raise
    if isinstance(sock, UnlinkingSocket):
        sock._socket_file = socket_file
    return sock


def connect_to_unix_addr(addr: AddrLike, type: int = socket.SOCK_STREAM) -> socket.socket:
    """Create a unix socket of ``type`` connected to ``addr``.

    Raises:
        ConnectionRefusedError: nobody listens there (or a stale socket file).
        FileNotFoundError: no such path.
        OSError: ``EPROTOTYPE``, a socket of another type is bound at the path.
            Every error of the ``connect`` names the address in ``filename``.
    """
    target = UnixSocketAddr.new(addr)
    sock = _new_socket(type)
    try:
        _sun_path.connect(sock, target.to_std())
    except OSError as error:
        sock.close()
        raise naming(error, target) from None
    except BaseException:
        sock.close()
        raise
    return sock


def connect_from_to_unix_addr(
    from_addr: AddrLike, to_addr: AddrLike, type: int = socket.SOCK_STREAM
) -> socket.socket:
    """Create a unix socket of ``type`` bound to ``from_addr`` and connected to ``to_addr``.

    The peer sees ``from_addr`` as this socket's address.

    Raises:
        OSError: ``EADDRINUSE`` when ``from_addr`` is taken (``filename`` is
            ``from_addr``); as :func:`connect_to_unix_addr` (``filename`` is
            ``to_addr``).
    """
    source = UnixSocketAddr.new(from_addr)
    target = UnixSocketAddr.new(to_addr)
    sock = _new_socket(type)
    try:
        try:
            _sun_path.bind(sock, source.to_std())
        except OSError as error:
            raise naming(error, source) from None
        try:
            _sun_path.connect(sock, target.to_std())
        except OSError as error:
            raise naming(error, target) from None
    except BaseException:
        sock.close()
        raise
    return sock


def accept_unix_addr(listener: FileDescriptorLike) -> tuple[socket.socket, UnixSocketAddr]:
    """Accept a connection on ``listener``; return the new socket and the peer's address.

    The accepted socket is close-on-exec from the start (``accept4``).

    Raises:
        BlockingIOError: ``listener`` is non-blocking and nobody is waiting.
    """
    fd, raw = call_on(listener, _accept)
    try:
        conn = socket.socket(fileno=fd)
    except BaseException:
        os.close(fd)
        raise
    try:
        addr = _sender(raw)
    except BaseException:
        conn.close()
        raise
    return conn, addr


# File descriptor passing --------------------------------------------------------


def send_fds(sock: FileDescriptorLike, data: Buffer, fds: Iterable[FileDescriptorLike]) -> int:
    """Send ``data`` with the fds ``fds`` (ints or objects with ``fileno()``).

    The fds stay open and owned by the caller; the receiver gets duplicates.
    On a stream socket ``data`` must not be empty when there are fds.

    Returns:
        Bytes sent (a stream socket may send fewer; the fds go with the first byte).

    Raises:
        OSError: ``EBADF`` when an fd is not open (nothing is sent);
            ``EAFNOSUPPORT`` when ``sock`` is not a unix socket.
        ValueError: a negative fd or one beyond a C int, more than
            ``SCM_MAX_FD`` fds, or empty data with fds on a stream socket.
        TypeError: an fd is neither an int nor has ``fileno()``.
        BrokenPipeError: the peer is gone (never ``SIGPIPE``).
    """
    empty = not (len(data) if type(data) is bytes else memoryview(data).nbytes)
    if (type(fds) is not list and type(fds) is not tuple) or empty:
        return send_ancillary(sock, data, fds=fds)
    if not fds:
        # Nothing to pass: a plain send, on a socket of any family (as send_ancillary).
        if isinstance(sock, _SocketType):
            return _sendmsg(sock, (data,), (), _SEND_FLAGS)
        return call_on(sock, _sendmsg, (data,), (), _SEND_FLAGS)
    # sendmsg reads the array through the buffer protocol: no bytes copy needed.
    rights = ((_SOL_SOCKET, _SCM_RIGHTS, fd_array(fds)),)
    # Inlined call_on_unix: this is the hot path.
    if isinstance(sock, _SocketType) and _family_of(sock) == _AF_UNIX:
        return _sendmsg(sock, (data,), rights, _SEND_FLAGS)
    return call_on_unix(sock, _sendmsg, (data,), rights, _SEND_FLAGS)


def recv_fds(sock: FileDescriptorLike, bufsize: int, max_fds: int) -> tuple[bytes, ReceivedFds]:
    """Receive up to ``bufsize`` bytes and up to ``max_fds`` fds.

    The fds are close-on-exec and owned by the caller (close them, or use the
    :class:`ReceivedFds` as a context manager). ``fds.truncated`` is True when
    more fds were sent than fitted; the extra ones were closed. On a datagram
    or seqpacket socket, use :func:`uds.ancillary.recv_ancillary` to learn
    whether the message itself was truncated.

    Returns:
        ``(data, fds)``; empty data and no fds at end of stream.

    Raises:
        ValueError, TypeError: ``max_fds`` is not an int in 0..``SCM_MAX_FD``.
        OSError: ``EAFNOSUPPORT`` when ``max_fds`` > 0 and ``sock`` is not a unix
            socket (nothing is read); with ``max_fds=0`` any socket works, as
            :func:`send_fds` without fds does.
        BlockingIOError: non-blocking socket with nothing to read.
    """
    space = fds_space(max_fds)
    if isinstance(sock, _SocketType) and (not max_fds or _family_of(sock) == _AF_UNIX):
        data, ancdata, msg_flags, _ = _recvmsg(sock, bufsize, space, _RECV_FLAGS)
    else:
        # No fds asked for: a plain receive, on a socket of any family (as send_fds).
        call = call_on_unix if max_fds else call_on
        data, ancdata, msg_flags, _ = call(sock, _recvmsg, bufsize, space, _RECV_FLAGS)
    return data, parse_fds(ancdata, msg_flags, max_fds)


def recv_fds_into(
    sock: FileDescriptorLike, buffer: WritableBuffer, max_fds: int
) -> tuple[int, ReceivedFds]:
    """Like :func:`recv_fds`, but read into ``buffer`` and return the byte count."""
    space = fds_space(max_fds)
    if isinstance(sock, _SocketType) and (not max_fds or _family_of(sock) == _AF_UNIX):
        nbytes, ancdata, msg_flags, _ = _recvmsg_into(sock, (buffer,), space, _RECV_FLAGS)
    else:
        call = call_on_unix if max_fds else call_on
        nbytes, ancdata, msg_flags, _ = call(sock, _recvmsg_into, (buffer,), space, _RECV_FLAGS)
    return nbytes, parse_fds(ancdata, msg_flags, max_fds)


# Datagrams ---------------------------------------------------------------------------


def send_to_unix_addr(sock: FileDescriptorLike, data: Buffer, addr: AddrLike) -> int:
    """Send the datagram ``data`` to ``addr``; return the bytes sent."""
    return call_on(sock, _sendmsg, (data,), (), _SEND_FLAGS, UnixSocketAddr.new(addr).to_std())


def send_vectored_to_unix_addr(
    sock: FileDescriptorLike, buffers: Iterable[Buffer], addr: AddrLike
) -> int:
    """Send one datagram gathered from ``buffers`` to ``addr``; return the bytes sent."""
    return call_on(
        sock, _sendmsg, as_buffers(buffers), (), _SEND_FLAGS, UnixSocketAddr.new(addr).to_std()
    )


def _sender(raw: object) -> UnixSocketAddr:
    return UnixSocketAddr.new_unspecified() if raw is None else _unix_addr(raw, "the sender")


def recv_from_unix_addr(sock: FileDescriptorLike, bufsize: int) -> tuple[bytes, UnixSocketAddr]:
    """Receive a datagram of up to ``bufsize`` bytes and the sender's address.

    An unbound sender has the unnamed address. A longer datagram is truncated
    by the kernel; :func:`recv_vectored_from_unix_addr` reports that.
    """
    data, raw = call_on(sock, _recvfrom, bufsize)
    return data, _sender(raw)


def peek_from_unix_addr(sock: FileDescriptorLike, bufsize: int) -> tuple[bytes, UnixSocketAddr]:
    """Like :func:`recv_from_unix_addr` but leave the datagram queued."""
    data, raw = call_on(sock, _recvfrom, bufsize, _MSG_PEEK)
    return data, _sender(raw)


def _recv_vectored_from(
    sock: FileDescriptorLike, buffers: Iterable[WritableBuffer], flags: int
) -> tuple[int, bool, UnixSocketAddr]:
    received = recv_ancillary(sock, buffers, flags=flags)
    received.close()  # a datagram socket may still carry unsolicited fds
    sender = received.addr or UnixSocketAddr.new_unspecified()
    return received.nbytes, received.message_truncated, sender


def recv_vectored_from_unix_addr(
    sock: FileDescriptorLike, buffers: Iterable[WritableBuffer]
) -> tuple[int, bool, UnixSocketAddr]:
    """Scatter one datagram into ``buffers``.

    Returns:
        ``(nbytes, truncated, sender)``: ``truncated`` is True when the datagram
        was longer than the buffers and its tail was discarded.
    """
    return _recv_vectored_from(sock, buffers, 0)


def peek_vectored_from_unix_addr(
    sock: FileDescriptorLike, buffers: Iterable[WritableBuffer]
) -> tuple[int, bool, UnixSocketAddr]:
    """Like :func:`recv_vectored_from_unix_addr` but leave the datagram queued."""
    return _recv_vectored_from(sock, buffers, _MSG_PEEK)


def send_fds_to(
    sock: FileDescriptorLike,
    data: Buffer,
    fds: Iterable[FileDescriptorLike],
    addr: AddrLike,
) -> int:
    """Send the datagram ``data`` with ``fds`` to ``addr``; return the bytes sent."""
    return send_ancillary(sock, data, fds=fds, addr=addr)


def recv_fds_from(
    sock: FileDescriptorLike, bufsize: int, max_fds: int
) -> tuple[bytes, ReceivedFds, UnixSocketAddr]:
    """Receive a datagram, up to ``max_fds`` fds and the sender's address."""
    received = recv_ancillary(sock, bufsize, max_fds=max_fds)
    if received.pidfd is not None:
        os.close(received.pidfd)
    assert received.data is not None
    return received.data, received.fds, received.addr or UnixSocketAddr.new_unspecified()


# Batches ------------------------------------------------------------------------


def send_many(sock: FileDescriptorLike, packets: Iterable[Buffer]) -> int:
    """Send each buffer of ``packets`` as one datagram (or seqpacket packet), in order.

    For a connected datagram socket, or a seqpacket one; Linux sends the batch
    with as few ``sendmmsg`` calls as it can. A blocking socket sends them all;
    a non-blocking one sends what fits.

    Returns:
        How many packets were sent, at least one.

    Raises:
        TypeError: an item is not a bytes-like object (nothing is sent).
        BlockingIOError: non-blocking and not even one packet fits.
        OSError: the first packet failed (``EDESTADDRREQ`` when not connected,
            ``BrokenPipeError``...); after the first, the count sent so far is
            returned and the error repeats on the next call.
    """
    batch = packets if type(packets) is list or type(packets) is tuple else list(packets)
    views = [memoryview(packet) for packet in batch]  # TypeError before anything is sent
    sent = 0
    for view in views:
        try:
            call_on(sock, _sendmsg, (view,), (), _SEND_FLAGS)
        except OSError:
            if sent:
                return sent
            raise
        sent += 1
    return sent


def recv_many(
    sock: FileDescriptorLike, bufsize: int, max_packets: int, max_fds: int = 0
) -> list[Packet]:
    """Receive up to ``max_packets`` datagrams: wait for the first, then take what is queued.

    Each :class:`uds.Packet` has the data (up to ``bufsize`` bytes), whether it
    was truncated, the fds it carried when ``max_fds`` > 0 (else ``None``; the
    kernel then discards fds), and the sender's address (``None`` for a
    connection-oriented socket). Linux receives the batch with one
    ``recvmmsg`` call. On a non-blocking socket, the first packet must be
    queued already.

    Raises:
        ValueError, TypeError: ``max_packets`` not in 1..1024, ``max_fds`` not
            in 0..253, ``bufsize`` negative; before receiving.
        BlockingIOError: non-blocking socket with nothing queued.
    """
    check_batch_size(max_packets)
    space = fds_space(max_fds) if max_fds else 0
    packets = [_recv_packet(sock, bufsize, space, max_fds, 0)]
    while len(packets) < max_packets:
        try:
            packets.append(_recv_packet(sock, bufsize, space, max_fds, _MSG_DONTWAIT))
        except BlockingIOError:
            break
    return packets


def _recv_packet(
    sock: FileDescriptorLike, bufsize: int, space: int, max_fds: int, flags: int
) -> Packet:
    flags |= _RECV_FLAGS if space else 0
    data, ancdata, msg_flags, raw = call_on(sock, _recvmsg, bufsize, space, flags)
    fds = parse_fds(ancdata, msg_flags, max_fds) if space else None
    try:
        addr = None if raw is None else _unix_addr(raw, "the sender")
    except BaseException:
        if fds is not None:
            fds.close()
        raise
    return Packet(data, msg_flags & _MSG_TRUNC != 0, fds, addr)


# The C core's versions of the hot paths, when it runs (the functions above are their twins).
local_unix_addr = accelerate(local_unix_addr)
peer_unix_addr = accelerate(peer_unix_addr)
send_fds = accelerate(send_fds)
recv_fds = accelerate(recv_fds)
recv_fds_into = accelerate(recv_fds_into)
send_many = accelerate(send_many)
recv_many = accelerate(recv_many)
