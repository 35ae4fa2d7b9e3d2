"""Seqpacket sockets: what the listener and the connection share.

The classes live in :mod:`uds._seqpacket_conn` and :mod:`uds._seqpacket_listener`;
this module creates, adopts and configures the ``_socket.socket`` they wrap, and
holds the one wait-with-deadline loop every blocking operation uses.

Blocking and non-blocking objects differ only in a flag and in the mode of their
fd: a blocking one has a blocking fd and CPython timeout ``None``, a non-blocking
one has ``O_NONBLOCK`` and timeout ``0``. Either way CPython issues each system
call exactly once (it polls only for a positive timeout), so the hot path is the
bare C method.

Read and write timeouts are kept on the Python object, not in the kernel:
``SO_RCVTIMEO``/``SO_SNDTIMEO`` restart from their full value each time CPython
retries a call a signal interrupted (PEP 475), so a steady signal kept them from
ever expiring. While a blocking object has a timeout, its fd is ``O_NONBLOCK``:
each operation tries the system call first and, only when it would block,
polls for the right direction against a deadline fixed at that moment and
recomputed after every wake-up, then retries (:meth:`SeqpacketSocket._retry`).
Without timeouts the fd is blocking and nothing but the system call runs.

Timeouts and the non-blocking flag live in a :class:`BlockingState` that clones
share, because the ``O_NONBLOCK`` flag they derive is shared too (``dup`` gives
one open file). A fd handed out by ``detach()`` keeps ``O_NONBLOCK`` if a
timeout was set.
"""

from __future__ import annotations

import _socket
import errno
import math
import os
import select
import socket
import time
from typing import Callable, Optional, TypeVar

from uds import _sun_path
from uds._addr import AddrLike, UnixSocketAddr, naming
from uds._bind import SocketFile, bind_path
from uds._closeable import Closeable
from uds._fd import call_on
from uds._impl import SocketSlots

__all__ = [
    "SeqpacketSocket",
    "new_socket",
    "new_pair",
    "adopt",
    "adopt_fd",
    "clone",
    "bind_to",
    "connect_to",
    "check_timeout",
    "timed_out",
    "BlockingState",
    "describe",
]

_SocketType = _socket.socket
_AF_UNIX = socket.AF_UNIX
_SOCK_SEQPACKET = socket.SOCK_SEQPACKET
_SOCK_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)
_SOL_SOCKET = socket.SOL_SOCKET
_SO_TYPE = socket.SO_TYPE
_SO_DOMAIN: Optional[int] = getattr(socket, "SO_DOMAIN", None)
_SO_ACCEPTCONN: Optional[int] = getattr(socket, "SO_ACCEPTCONN", None)
_POLLIN = select.POLLIN
_POLLOUT = select.POLLOUT
_monotonic = time.monotonic
# poll() takes a C int of milliseconds; longer waits are done in several polls.
_MAX_POLL_MS = 2**31 - 1


def new_socket(nonblocking: bool) -> _socket.socket:
    """A fresh ``AF_UNIX``/``SOCK_SEQPACKET`` socket, close-on-exec (and non-blocking) atomically.

    Raises:
        OSError: ``socket(2)`` failed (``EMFILE``, ``EPROTONOSUPPORT``...).
    """
    if nonblocking:
        return _SocketType(_AF_UNIX, _SOCK_SEQPACKET | _SOCK_NONBLOCK)
    sock = _SocketType(_AF_UNIX, _SOCK_SEQPACKET)
    if sock.gettimeout() is not None:
        # socket.setdefaulttimeout() made it non-blocking; our blocking types
        # keep their own timeouts instead.
        sock.setblocking(True)
    return sock


def new_pair(nonblocking: bool) -> tuple[_socket.socket, _socket.socket]:
    """A connected pair of seqpacket sockets, close-on-exec (and non-blocking) atomically."""
    a, b = _socket.socketpair(_AF_UNIX, _SOCK_SEQPACKET | (_SOCK_NONBLOCK if nonblocking else 0))
    if not nonblocking and (a.gettimeout() is not None or b.gettimeout() is not None):
        a.setblocking(True)
        b.setblocking(True)
    return a, b


def adopt(fd: int, nonblocking: bool) -> _socket.socket:
    """Wrap the seqpacket socket ``fd`` (now owned) and put it in the mode asked for.

    On failure ``fd`` is closed.
    """
    sock = _wrap(fd)
    try:
        # Always set: an fd that accept4() returned is blocking whatever the
        # listener is (Linux does not inherit O_NONBLOCK).
        sock.setblocking(not nonblocking)
    except BaseException:
        sock.close()
        raise
    return sock


def _wrap(fd: int) -> _socket.socket:
    # SOCK_NONBLOCK in the type only sets CPython's timeout to 0: no system call,
    # and socket.setdefaulttimeout() cannot flip O_NONBLOCK on a shared file.
    try:
        return _SocketType(_AF_UNIX, _SOCK_SEQPACKET | _SOCK_NONBLOCK, 0, fd)
    except BaseException:
        os.close(fd)
        raise


def clone(sock: _socket.socket) -> _socket.socket:
    """A new socket object for a duplicate of ``sock``'s fd (close-on-exec), in the same mode.

    Raises:
        OSError: ``EMFILE``.
    """
    copy = _wrap(_socket.dup(sock.fileno()))
    if sock.gettimeout() is None:
        try:
            copy.settimeout(None)
        except BaseException:
            copy.close()
            raise
    return copy


def _check_kind(sock: _socket.socket, fd: int, listening: bool) -> None:
    try:
        if _SO_DOMAIN is not None:
            family = sock.getsockopt(_SOL_SOCKET, _SO_DOMAIN)
            if family != _AF_UNIX:
                raise OSError(
                    errno.EAFNOSUPPORT, f"fd {fd} is an {_family_name(family)} socket, not AF_UNIX"
                )
        kind = sock.getsockopt(_SOL_SOCKET, _SO_TYPE)
    except OSError as error:
        if error.errno == errno.ENOTSOCK:
            raise OSError(errno.ENOTSOCK, f"fd {fd} is not a socket") from None
        raise
    if kind != _SOCK_SEQPACKET:
        raise OSError(
            errno.EPROTOTYPE, f"fd {fd} is a {_type_name(kind)} socket, not SOCK_SEQPACKET"
        )
    if _SO_ACCEPTCONN is not None:
        accepting = bool(sock.getsockopt(_SOL_SOCKET, _SO_ACCEPTCONN))
        if accepting != listening:
            state = "a listening" if accepting else "not a listening"
            raise OSError(errno.EINVAL, f"fd {fd} is {state} socket")


def _family_name(family: int) -> str:
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return f"address family {family}"


def _type_name(kind: int) -> str:
    try:
        return socket.SocketKind(kind).name
    except ValueError:
        return f"type {kind}"


def adopt_fd(fd: int, nonblocking: bool, listening: bool) -> _socket.socket:
    """Take ownership of the caller's ``fd`` after checking it is the right kind of socket.

    The fd is made close-on-exec and put in the mode of the adopting class.

    Raises:
        TypeError: ``fd`` is not an int.
        OSError: ``ENOTSOCK`` not a socket, ``EAFNOSUPPORT`` not ``AF_UNIX``,
            ``EPROTOTYPE`` not ``SOCK_SEQPACKET``, ``EINVAL`` a listener where a
            connection is expected or the reverse, ``EBADF`` not open. After
            these checks fail the fd stays open and the caller's; once they
            pass the fd is ours and closed on any later error.
    """
    if type(fd) is not int:
        raise TypeError(f"from_fd() takes an int file descriptor, not {type(fd).__name__}")
    if fd < 0:
        raise ValueError(f"invalid file descriptor {fd}")
    call_on(fd, _check_kind, fd, listening)
    os.set_inheritable(fd, False)
    return adopt(fd, nonblocking)


def bind_to(
    sock: _socket.socket,
    addr: UnixSocketAddr,
    *,
    mode: Optional[int] = None,
    replace_stale: bool = False,
    replace: bool = False,
    backlog: Optional[int] = None,
) -> Optional[SocketFile]:
    """Bind ``sock`` to ``addr``; a path goes through :func:`uds.bind_path` (no clobbering).

    ``replace`` and ``backlog`` are :func:`uds.bind_path`'s: with ``replace``
    the socket is listening when this returns.

    Returns:
        The socket file created for a path address, ``None`` for other kinds.

    Raises:
        FileExistsError: a path is taken (``EADDRINUSE``), saying by what.
        OSError: ``EADDRINUSE`` for a taken abstract name, others from ``bind(2)``;
            ``filename`` is the address.
        ValueError: ``mode``/``replace_stale``/``replace`` with an address that is
            not a path.
    """
    if addr.is_path:
        try:
            return bind_path(
                sock,
                addr.to_std(),
                mode=mode,
                replace_stale=replace_stale,
                replace=replace,
                backlog=backlog,
            )
        except OSError as error:
            raise naming(error, addr) from None
    if mode is not None or replace_stale or replace:
        raise ValueError(f"mode, replace_stale and replace apply to path addresses, not {addr}")
    try:
        _sun_path.bind(sock, addr.to_std())
    except OSError as error:
        raise naming(error, addr) from None
    return None


def connect_to(
    to_addr: AddrLike, from_addr: Optional[AddrLike], nonblocking: bool
) -> _socket.socket:
    """A new seqpacket socket, bound to ``from_addr`` if given, connected to ``to_addr``.

    Raises:
        ValueError: an invalid address (before any socket is created).
        FileNotFoundError, ConnectionRefusedError: nothing listens at ``to_addr``.
        BlockingIOError: non-blocking and the listener's backlog is full.
        OSError: the errors of ``bind(2)`` name ``from_addr`` in ``filename``,
            those of ``connect(2)`` ``to_addr``.
    """
    target = UnixSocketAddr.new(to_addr)
    source = None if from_addr is None else UnixSocketAddr.new(from_addr)
    sock = new_socket(nonblocking)
    try:
        if source is not None:
            bind_to(sock, source)
        try:
            _sun_path.connect(sock, target.to_std())
        except OSError as error:
            raise naming(error, target) from None
    except BaseException:
        sock.close()
        raise
    return sock


def check_timeout(timeout: Optional[float]) -> Optional[float]:
    """Validate a read, write or accept timeout in seconds (``None``: wait forever).

    Returns:
        ``timeout`` unchanged.

    Raises:
        ValueError: ``timeout`` is zero, negative, NaN or infinite.
        TypeError: ``timeout`` is not a number.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {timeout!r}")
    try:
        finite = 0 < float(timeout) < math.inf
    except OverflowError:  # an int beyond float
        finite = False
    if not finite:
        raise ValueError(
            f"timeout must be a positive finite number of seconds (or None), got {timeout!r}"
        )
    return timeout


def timed_out(what: str) -> TimeoutError:
    """The error a blocking type raises when its timeout expired."""
    return TimeoutError(errno.ETIMEDOUT, f"{what} timed out")


def describe(name: str, sock: _socket.socket, peer: bool) -> str:
    """``<Name fd=N local=... peer=...>`` for ``repr()``; addresses it cannot read are left out."""
    fd = sock.fileno()
    if fd < 0:
        return f"<{name} closed>"
    parts = [f"<{name} fd={fd}"]
    try:
        parts.append(f"local={UnixSocketAddr.from_std(sock.getsockname())}")
        if peer:
            parts.append(f"peer={UnixSocketAddr.from_std(sock.getpeername())}")
    except (OSError, ValueError):
        pass
    return " ".join(parts) + ">"


_S = TypeVar("_S", bound="SeqpacketSocket")
_R = TypeVar("_R")


class BlockingState:
    """Whether a socket is non-blocking and its timeouts; clones share one.

    ``read`` is the accept timeout for a listener.
    """

    __slots__ = ("nonblocking", "read", "write")

    def __init__(self, nonblocking: bool) -> None:
        self.nonblocking = nonblocking
        self.read: Optional[float] = None
        self.write: Optional[float] = None

    def fd_nonblocking(self) -> bool:
        """Whether the fd must be ``O_NONBLOCK``: asked for, or needed to time out."""
        return self.nonblocking or self.read is not None or self.write is not None


class SeqpacketSocket(SocketSlots, Closeable):
    """What every seqpacket object (listener or connection, either mode) does the same way."""

    # _sock and _state are the slots of SocketSlots (uds._seqpacket_io, or its C twin).
    __slots__ = ()

    #: Whether instances start non-blocking; the only difference between the types.
    _NONBLOCKING = False
    #: Whether ``repr`` shows a peer address (connections) or not (listeners).
    _HAS_PEER = True

    _sock: _socket.socket
    _state: BlockingState

    def __init__(self, sock: _socket.socket) -> None:
        """Wrap ``sock``, already in the mode of the class; use the class methods instead."""
        self._sock = sock
        self._state = BlockingState(self._NONBLOCKING)

    def local_unix_addr(self) -> UnixSocketAddr:
        """The address this socket is bound to (unnamed unless bound)."""
        return UnixSocketAddr.from_std(self._sock.getsockname())

    def take_error(self) -> Optional[OSError]:
        """Return and clear the pending socket error (``SO_ERROR``), ``None`` if there is none."""
        code = self._sock.getsockopt(_SOL_SOCKET, socket.SO_ERROR)
        return OSError(code, os.strerror(code)) if code else None

    def try_clone(self: _S) -> _S:
        """A second object for the same socket (``dup``): it shares the queue, mode and timeouts.

        Later changes to the mode or a timeout through either object apply to both.

        Raises:
            OSError: ``EMFILE``.
        """
        copy = type(self)(clone(self._sock))
        copy._state = self._state
        return copy

    def set_nonblocking(self, nonblocking: bool) -> None:
        """Switch to non-blocking mode: then calls that would block raise :class:`BlockingIOError`.

        Switching back restores blocking calls and any timeouts set before.
        """
        state = self._state
        state.nonblocking = bool(nonblocking)
        self._sock.setblocking(not state.fd_nonblocking())

    def _set_timeout(self, reading: bool, timeout: Optional[float]) -> None:
        """Set the read (or accept) or the write timeout and put the fd in the mode it needs.

        Raises:
            ValueError, TypeError: as :func:`check_timeout`, before anything changes.
        """
        timeout = check_timeout(timeout)
        state = self._state
        if reading:
            state.read = timeout
        else:
            state.write = timeout
        self._sock.setblocking(not state.fd_nonblocking())

    def _blocked(self, reading: bool, what: str, method: Callable[..., _R], *args: object) -> _R:
        """What a call that would block does: raise, or wait and retry ``method(*args)``.

        The data methods call this (the C ones too) after ``EAGAIN``; ``method``
        and ``args`` repeat the call with ``MSG_DONTWAIT``.

        Raises:
            BlockingIOError: the socket is non-blocking.
            TimeoutError, Exception: as :meth:`_retry`.
        """
        if self._state.nonblocking:
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        return self._retry(reading, what, method, *args)

    def _retry(self, reading: bool, what: str, method: Callable[..., _R], *args: object) -> _R:
        """Wait until ``method(*args)``, which just would have blocked, succeeds; return its result.

        The deadline is the direction's timeout from now; each wake-up (readiness,
        a signal whose handler returned, a spurious one) retries the call and
        waits again for what remains. A direction without a timeout waits forever.

        Raises:
            TimeoutError: the deadline passed (``ETIMEDOUT``).
            Exception: what ``method`` or a signal handler raises.
        """
        state = self._state
        timeout = state.read if reading else state.write
        # A fresh poll object per wait, not one cached per socket: CPython refuses
        # concurrent poll() calls on one object, and a reader and a writer thread
        # may wait on the same socket.
        poller = select.poll()
        poller.register(self._sock, _POLLIN if reading else _POLLOUT)
        if timeout is None:
            while True:
                poller.poll()
                try:
                    return method(*args)
                except BlockingIOError:
                    pass
        deadline = _monotonic() + timeout
        while True:
            remaining = deadline - _monotonic()
            if remaining <= 0:
                raise timed_out(what)
            # Rounded up: a wake-up just short of the deadline would spin.
            poller.poll(min(math.ceil(remaining * 1000), _MAX_POLL_MS))
            try:
                return method(*args)
            except BlockingIOError:
                pass

    def fileno(self) -> int:
        """The socket's fd (-1 once closed); what selectors register."""
        return self._sock.fileno()

    def close(self) -> None:
        """Close the socket; safe to call more than once."""
        self._sock.close()

    def detach(self) -> int:
        """Hand the fd to the caller: this object is closed but the fd is not."""
        return self._sock.detach()

    def __repr__(self) -> str:
        return describe(type(self).__name__, self._sock, peer=self._HAS_PEER)
