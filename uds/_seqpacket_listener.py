"""Seqpacket listeners, blocking and non-blocking: one implementation, two flags."""

from __future__ import annotations

import _socket
from typing import Any, Generic, Optional, TypeVar, Union

from uds import _seqpacket as _core
from uds._addr import AddrLike, UnixSocketAddr
from uds._bind import PathLike, SocketFile
from uds._seqpacket_conn import NonblockingUnixSeqpacketConn, UnixSeqpacketConn, _SeqpacketConn

__all__ = ["UnixSeqpacketListener", "NonblockingUnixSeqpacketListener"]

# The C accept: accept4(SOCK_CLOEXEC), returning (fd, raw address) unwrapped.
_accept = _socket.socket._accept  # type: ignore[attr-defined]
_DEFAULT_BACKLOG = 128

_L = TypeVar("_L", bound="_SeqpacketListener[Any]")
_ConnT = TypeVar("_ConnT", bound=_SeqpacketConn)


class _SeqpacketListener(_core.SeqpacketSocket, Generic[_ConnT]):
    """What blocking and non-blocking seqpacket listeners share."""

    __slots__ = ("_socket_file",)

    _HAS_PEER = False
    _CONN: type[_ConnT]

    _socket_file: Optional[SocketFile]

    def __init__(self, sock: _socket.socket) -> None:
        """Wrap ``sock``, already listening; use the class methods instead."""
        super().__init__(sock)
        self._socket_file = None

    @classmethod
    def bind(
        cls: type[_L],
        path: PathLike,
        *,
        mode: Optional[int] = None,
        replace_stale: bool = False,
        backlog: int = _DEFAULT_BACKLOG,
        unlink_on_close: bool = False,
        replace: bool = False,
    ) -> _L:
        """Listen at the filesystem path ``path`` (relative or absolute).

        ``path`` is always a path, in every flavour of these types (blocking,
        non-blocking, :mod:`uds.asyncio`): ``"@name"`` is the file ``@name``.
        Use :meth:`bind_unix_addr` for an abstract address.

        Nothing already at ``path`` is replaced (see :func:`uds.bind_path`):
        ``mode`` sets the socket file's permissions exactly, ``replace_stale``
        removes a socket file nobody listens on. ``replace=True`` is the
        exception, for a zero-downtime restart: the new socket is renamed over
        a socket file at ``path``, live or stale, atomically, so no client
        finds nothing there. With ``unlink_on_close``, :meth:`close` removes
        the socket file if the path still names the one this listener created
        (not once a successor replaced it); otherwise the file stays.

        Raises:
            FileExistsError: ``path`` is taken (errno ``EADDRINUSE``), saying by what.
            OSError: from ``bind(2)``, with the path in ``filename``.
            ValueError: the path is too long or contains NUL; ``mode`` out of
                range; ``replace`` with ``replace_stale``.
        """
        addr = UnixSocketAddr.from_path(path)
        return cls._listen(addr, mode, replace_stale, backlog, unlink_on_close, replace)

    @classmethod
    def bind_unix_addr(
        cls: type[_L],
        addr: AddrLike,
        *,
        backlog: int = _DEFAULT_BACKLOG,
        replace: bool = False,
    ) -> _L:
        """Listen at ``addr``: a :class:`UnixSocketAddr`, a path, or ``"@name"`` (abstract).

        ``"./@name"`` is the file ``@name``. ``replace`` (paths only) is as in :meth:`bind`.

        Raises:
            OSError: ``EADDRINUSE`` when the address is taken; every error of
                ``bind(2)`` has the address in ``filename``.
            ValueError: an invalid address; ``replace`` with a non-path address.
        """
        return cls._listen(UnixSocketAddr.new(addr), None, False, backlog, False, replace)

    @classmethod
    def _listen(
        cls: type[_L],
        addr: UnixSocketAddr,
        mode: Optional[int],
        replace_stale: bool,
        backlog: int,
        unlink_on_close: bool,
        replace: bool = False,
    ) -> _L:
        sock = _core.new_socket(cls._NONBLOCKING)
        socket_file = None
        try:
            socket_file = _core.bind_to(
                sock, addr, mode=mode, replace_stale=replace_stale, replace=replace, backlog=backlog
            )
            sock.listen(backlog)
        except BaseException:
            sock.close()
            if socket_file is not None:
                socket_file.unlink()  # ours, and never listened on
            raise
        listener = cls(sock)
        if unlink_on_close:
            listener._socket_file = socket_file
        return listener

    @classmethod
    def from_fd(cls: type[_L], fd: int) -> _L:
        """Take ownership of ``fd``, a listening ``AF_UNIX`` ``SOCK_SEQPACKET`` socket.

        Raises:
            OSError: ``ENOTSOCK``, ``EAFNOSUPPORT``, ``EPROTOTYPE``, or ``EINVAL``
                (not listening); the fd is then left open and still the caller's.
            TypeError: ``fd`` is not an int.
        """
        return cls(_core.adopt_fd(fd, cls._NONBLOCKING, listening=True))

    def accept_unix_addr(self) -> tuple[_ConnT, UnixSocketAddr]:
        """Accept a connection; return it and the client's address (often unnamed).

        The connection is close-on-exec from the start (``accept4``); for the
        non-blocking listener it is made non-blocking right after, as Linux
        does not pass ``O_NONBLOCK`` on.

        Raises:
            BlockingIOError: non-blocking and nobody is waiting.
            TimeoutError: the accept timeout expired.
        """
        fd, raw = self._accept_raw()
        conn_class = self._CONN
        conn = conn_class(_core.adopt(fd, conn_class._NONBLOCKING))
        try:
            addr = UnixSocketAddr.from_std(raw or "")
        except BaseException:
            conn.close()
            raise
        return conn, addr

    def _accept_raw(self) -> tuple[int, Union[str, bytes, None]]:
        try:
            return _accept(self._sock)  # type: ignore[no-any-return]
        except BlockingIOError:
            if self._state.nonblocking:
                raise
        return self._retry(True, "accept", _accept, self._sock)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the socket; safe to call more than once.

        A socket file stays unless the listener was bound with ``unlink_on_close``.
        """
        socket_file, self._socket_file = self._socket_file, None
        try:
            self._sock.close()
        finally:
            if socket_file is not None:
                socket_file.unlink()

    def detach(self) -> int:
        """Give up the socket without closing it and return its fd (the caller owns it).

        A socket file is then never removed by this object.
        """
        self._socket_file = None
        return self._sock.detach()


class UnixSeqpacketListener(_SeqpacketListener[UnixSeqpacketConn]):
    """A blocking ``SOCK_SEQPACKET`` listener; it accepts :class:`UnixSeqpacketConn`.

    Create one with :meth:`bind`, :meth:`bind_unix_addr` or :meth:`from_fd`.
    """

    __slots__ = ()

    _CONN = UnixSeqpacketConn

    def set_timeout(self, timeout: Optional[float]) -> None:
        """Make :meth:`accept_unix_addr` give up with :class:`TimeoutError` after ``timeout`` s.

        The time counts from the start of the call; signals do not restart it.
        ``None`` waits forever. Clones share the setting. The timeout is kept
        on the object, not in the kernel: while it is set the fd is
        ``O_NONBLOCK`` and each accept polls against its deadline (a fd handed
        out by ``detach()`` stays ``O_NONBLOCK``); accepted connections are
        blocking, without timeouts.

        Raises:
            ValueError: ``timeout`` is zero, negative or not finite.
            TypeError: ``timeout`` is not a number.
        """
        self._set_timeout(True, timeout)

    def timeout(self) -> Optional[float]:
        """The accept timeout in seconds as set, or ``None``."""
        return self._state.read


class NonblockingUnixSeqpacketListener(_SeqpacketListener[NonblockingUnixSeqpacketConn]):
    """A non-blocking ``SOCK_SEQPACKET`` listener for ``selectors`` and other reactors.

    :meth:`accept_unix_addr` raises :class:`BlockingIOError` when nobody is waiting
    and returns :class:`NonblockingUnixSeqpacketConn` objects.
    """

    __slots__ = ()

    _NONBLOCKING = True
    _CONN = NonblockingUnixSeqpacketConn
