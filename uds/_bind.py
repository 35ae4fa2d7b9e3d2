"""Binding a unix socket to a filesystem path safely: exact mode, no clobbering, no symlinks.

A plain ``bind(2)`` creates the socket file with ``0o777 & ~umask`` and only then
can it be ``chmod``-ed: for a moment anyone the umask lets in can connect. The
umask itself is process-wide, so narrowing it around ``bind`` would also change
the mode of files that other threads create meanwhile.

On Linux the kernel creates the socket file with the mode of the socket's own
(sockfs) inode, minus the umask, so :func:`bind_path` ``fchmod``-s the socket
before binding: the file is born with ``mode & ~umask`` (never looser than
asked) and is then widened to exactly ``mode`` if the umask removed bits. The
socket keeps its real address.

Elsewhere (the BSDs and macOS ignore the socket's mode), :func:`bind_path`
binds inside a fresh private directory (``mkdtemp`` next to the
target: mode ``0o700``, so only the owner, and root, can reach the socket), sets
the mode there, and ``link()``-s the finished socket into place. ``link`` never
replaces an existing name and never follows a symlink at the new name, so
nothing at the target path is clobbered and the socket is never visible there
with looser permissions.

The price of that fallback: the kernel records the address a socket was bound
to, so with ``mode=`` the socket's own address (``getsockname``, a client's
``getpeername``) is the temporary path, which no longer exists. The file at
the target path is the same inode and connecting to it works normally;
:attr:`SocketFile.path` has the name callers should use.

With ``replace=True`` (a zero-downtime restart), :func:`bind_path` binds the
socket inside such a private directory next to the target, sets the mode,
listens (stream and seqpacket), and ``rename()``-s it over the live path: a
client resolving the path finds either the old socket or the new one, never
nothing. The old server keeps its listening fd and what is queued on it; its
:meth:`SocketFile.unlink` (``unlink_on_close``) no longer matches the inode at
the path and leaves the new file alone. Only a socket file (or nothing) is
replaced: a symlink, directory or other file at the path is refused. As with
``mode=`` elsewhere, the socket's own address is then the removed temporary
path.

Parent directories are used as given: if an untrusted user can write to one of
them, they can replace the socket file after we created it, and no bind
strategy prevents that. Keep sockets in directories only trusted users can
write (or in sticky directories such as ``/tmp``).
"""

from __future__ import annotations

import _socket
import errno
import fcntl
import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Optional, Union

from uds import _platform, _sun_path
from uds._addr import UnixSocketAddr
from uds._fd import FileDescriptorLike, call_on

__all__ = ["SocketFile", "UnlinkingSocket", "bind_path"]

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

_SocketType = _socket.socket
_bind = _sun_path.bind
_PRIVATE_PREFIX = ".u"
_PRIVATE_NAME = "s"
_MAX_MODE = 0o7777
_LISTENING_TYPES = (socket.SOCK_STREAM, socket.SOCK_SEQPACKET)
_DEFAULT_BACKLOG = 128
#: Whether bind(2) takes the new file's mode from the socket inode (Linux).
_MODE_BEFORE_BIND: bool = _platform.current.BIND_USES_SOCKET_INODE_MODE


class SocketFile:
    """The socket file that :func:`bind_path` created: its path and inode.

    :meth:`unlink` removes the file only while that path still names the very
    inode we created, so a listener that shuts down never deletes a socket that
    another process has bound there since. Usable as a context manager.
    """

    __slots__ = ("_dev", "_ino", "path")

    path: str

    def __init__(self, path: str, dev: int, ino: int) -> None:
        self.path = path
        self._dev = dev
        self._ino = ino

    @classmethod
    def record(cls, path: str) -> SocketFile:
        """Remember the socket file now at ``path`` (call right after binding it).

        Raises:
            FileExistsError: ``path`` is not a socket (``EEXIST``).
            OSError: ``lstat`` failed.
        """
        info = os.lstat(path)
        if not stat.S_ISSOCK(info.st_mode):
            raise FileExistsError(errno.EEXIST, "not a socket file", path)
        return cls(path, info.st_dev, info.st_ino)

    def is_ours(self) -> bool:
        """Whether ``path`` still names the socket file we created."""
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return False
        return stat.S_ISSOCK(info.st_mode) and (info.st_dev, info.st_ino) == (self._dev, self._ino)

    def unlink(self) -> bool:
        """Remove the socket file if ``path`` still names it; return whether it did.

        Between the check and the ``unlink`` another process could replace the
        file; only someone who can write to the directory can, and they could
        delete our file anyway (see the module notes on parent directories).

        Raises:
            OSError: the ``unlink`` itself failed (other than the file being gone).
        """
        if not self.is_ours():
            return False
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return False
        return True

    def __enter__(self) -> SocketFile:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.unlink()

    def __repr__(self) -> str:
        return f"SocketFile({self.path!r}, dev={self._dev}, ino={self._ino})"


class UnlinkingSocket(socket.socket):
    """A :class:`socket.socket` that removes the file it bound when :meth:`close` is called.

    Returned by ``bind_unix_addr(..., unlink_on_close=True)``. Only an explicit
    ``close()`` (or leaving a ``with`` block) unlinks, and only if the path still
    names the socket file it created (:meth:`SocketFile.unlink`); garbage
    collection and :meth:`detach` do not. Sockets it accepts or duplicates are
    plain sockets that unlink nothing.
    """

    __slots__ = ("_socket_file",)

    _socket_file: Optional[SocketFile]

    @property
    def socket_file(self) -> Optional[SocketFile]:
        """The file that :meth:`close` removes, or ``None``."""
        return getattr(self, "_socket_file", None)

    def close(self) -> None:
        """Close the socket, then unlink its file if it is still ours."""
        socket_file = self.socket_file
        self._socket_file = None
        try:
            super().close()
        finally:
            if socket_file is not None:
                socket_file.unlink()


def _describe(path: str, sock_type: int, probe: bool) -> Optional[str]:
    """What occupies ``path``, for an error message; ``None`` if nothing does.

    Only with ``probe`` (when replacing a stale socket was asked for anyway) is
    a socket file probed with a connection: a live stream listener would see
    that connection in its accept queue, so a plain failed bind never probes.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return "is a symbolic link; refusing to bind through it"
    if stat.S_ISDIR(mode):
        return "is a directory, not a socket; it is never replaced"
    if stat.S_ISREG(mode):
        return "is a regular file, not a socket; it is never replaced"
    if not stat.S_ISSOCK(mode):
        return "is not a socket; it is never replaced"
    if not probe:
        return (
            "is a socket file, in use or stale; pass replace_stale=True to replace it "
            "only if nobody is listening"
        )
    if _is_live(path, sock_type):
        return "is in use by a live socket; it is never replaced"
    return "is a stale socket (nobody is listening); pass replace_stale=True to replace it"


def _in_use(path: str, description: str) -> FileExistsError:
    # errno stays EADDRINUSE, what bind(2) itself reports, for callers testing errno.
    return FileExistsError(errno.EADDRINUSE, f"cannot bind there: the path {description}", path)


def _is_live(path: str, sock_type: int) -> bool:
    """Whether a socket of ``sock_type`` answers at ``path`` (anything but ECONNREFUSED)."""
    # Non-blocking, so a listener with a full backlog answers EAGAIN instead of
    # hanging the probe; only ECONNREFUSED proves nobody is bound to the inode.
    probe = socket.socket(socket.AF_UNIX, sock_type | socket.SOCK_NONBLOCK)
    try:
        _sun_path.connect(probe, path)
    except ConnectionRefusedError:
        return False
    except OSError:
        return True
    finally:
        probe.close()
    return True


def _remove_stale(path: str, sock_type: int) -> None:
    """Unlink ``path`` when it is a socket nobody listens on; raise if anything else is there."""
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(before.st_mode) or _is_live(path, sock_type):
        description = _describe(path, sock_type, probe=True)
        if description is None:
            return
        raise _in_use(path, description)
    after = os.lstat(path)
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        raise _in_use(path, "was replaced while checking whether it is stale")
    os.unlink(path)


def _check_mode(mode: int) -> None:
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise TypeError(f"mode must be an int such as 0o600, not {type(mode).__name__}")
    if not 0 <= mode <= _MAX_MODE:
        raise ValueError(f"mode must be between 0 and 0o7777, got {mode:#o}")


def _private_path(target: str, why: str = "with a mode") -> tuple[str, str]:
    """A fresh private directory next to ``target`` and the socket path inside it.

    Raises:
        ValueError: the temporary path would not fit in ``sun_path``.
    """
    parent = os.path.dirname(target) or "."
    limit = UnixSocketAddr.max_path_len()
    # mkdtemp adds 8 random characters to the prefix.
    length = len(os.fsencode(os.path.join(parent, _PRIVATE_PREFIX + "x" * 8, _PRIVATE_NAME)))
    if length > limit:
        raise ValueError(
            f"binding {target!r} {why} needs a temporary path of {length} bytes next to "
            f"it, longer than the limit of {limit}; use a shorter directory"
        )
    directory = tempfile.mkdtemp(prefix=_PRIVATE_PREFIX, dir=parent)
    return directory, os.path.join(directory, _PRIVATE_NAME)


def _fchmod(sock: _socket.socket, mode: int) -> None:
    os.fchmod(sock.fileno(), mode)


def _bind_with_mode(sock: FileDescriptorLike, target: str, mode: int) -> None:
    if _MODE_BEFORE_BIND:
        call_on(sock, _fchmod, mode)
        call_on(sock, _bind, target)
        # The umask may have removed bits: widen to exactly ``mode``. The file
        # was never looser than asked, only possibly tighter for this moment.
        if stat.S_IMODE(os.lstat(target).st_mode) != mode:
            os.chmod(target, mode)
        return
    directory, private = _private_path(target)
    try:
        call_on(sock, _bind, private)
        os.chmod(private, mode)
        os.link(private, target)
    finally:
        try:
            os.unlink(private)
        except FileNotFoundError:
            pass
        finally:
            os.rmdir(directory)


@contextmanager
def _directory_lock(target: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the directory of ``target``.

    Replacing a stale socket is check, unlink, bind: two processes doing it at
    once could each see the stale file, and the slower one would unlink the
    socket the faster one had just bound. Every ``replace_stale`` bind in that
    directory takes this advisory lock for the three steps, so the slower one
    then finds a live socket and refuses. (Programs that do not take the lock
    are not held back by it.)
    """
    fd = os.open(os.path.dirname(target) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _bind_at(sock: FileDescriptorLike, target: str, mode: Optional[int]) -> None:
    if mode is None:
        call_on(sock, _bind, target)
    else:
        _bind_with_mode(sock, target, mode)


def _occupant(target: str) -> Optional[str]:
    """Why ``replace=True`` must not replace what is at ``target``; ``None`` if it may."""
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return None
    if stat.S_ISSOCK(info.st_mode):
        return None
    return _describe(target, socket.SOCK_STREAM, probe=False)


def _bind_replacing(
    sock: FileDescriptorLike, target: str, mode: Optional[int], sock_type: int, backlog: int
) -> SocketFile:
    """Bind and listen in a private directory, then rename the socket file over ``target``."""
    occupant = _occupant(target)
    if occupant is not None:
        raise _in_use(target, occupant)
    directory, private = _private_path(target, "with replace=True")
    try:
        call_on(sock, _bind, private)
        if mode is not None:
            os.chmod(private, mode)  # in a 0o700 directory: nobody can connect yet
        if sock_type in _LISTENING_TYPES:
            # Listening before the file appears: the first client is not refused.
            call_on(sock, _SocketType.listen, backlog)
        created = os.lstat(private)
        occupant = _occupant(target)  # checked again just before: narrows the race
        if occupant is not None:
            raise _in_use(target, occupant)
        os.rename(private, target)
    finally:
        try:
            os.unlink(private)
        except FileNotFoundError:
            pass
        finally:
            os.rmdir(directory)
    return SocketFile(target, created.st_dev, created.st_ino)


def bind_path(
    sock: FileDescriptorLike,
    path: PathLike,
    *,
    mode: Optional[int] = None,
    replace_stale: bool = False,
    replace: bool = False,
    backlog: Optional[int] = None,
) -> SocketFile:
    """Bind the unbound unix socket ``sock`` to the filesystem path ``path``.

    ``sock`` is borrowed (never closed, its flags untouched). ``mode`` (say
    ``0o600``) is applied exactly, whatever the umask, before the socket appears
    at ``path`` (see the module notes for how, and for what it does to the
    socket's own address); without it the file gets ``0o777 & ~umask`` as with
    a plain ``bind``. Nothing already at ``path`` is ever replaced, and a
    symlink there is never followed, except that with ``replace_stale=True`` a
    socket file that refuses connections (its owner is gone) is removed first.
    A live socket answers the probe connection; a stream listener sees it as a
    connection that closes at once.

    With ``backlog``, a stream or seqpacket socket also listens, before any
    other ``replace_stale`` binder may look at the path.

    ``replace=True`` is for handing a path over to a new server without
    refusing anyone: the socket is bound under a temporary name, made to
    listen (stream and seqpacket, with ``backlog``, default 128) and then
    atomically renamed over ``path``, whether a socket there is live or stale.
    Anything but a socket file at ``path`` is still refused. The old server
    keeps its listening fd and its queue; ``SocketFile.unlink`` of its file
    leaves the new one in place. ``sock``'s own address is then the removed
    temporary path (see the module notes).

    Returns:
        The :class:`SocketFile` created, to :meth:`~SocketFile.unlink` on shutdown.

    Raises:
        FileExistsError: ``path`` is taken (errno ``EADDRINUSE``); the message
            says by what: a live socket, a stale one, a symlink, another file.
        ValueError: bad path, or ``mode`` out of range or too long a temp path,
            or both ``replace`` and ``replace_stale``.
        TypeError: ``mode`` is not an int.
        OSError: ``bind``, ``chmod``, ``link`` or the private directory failed.
            After a failure ``sock`` may be bound to a removed temporary path:
            close it rather than binding again.
    """
    target = UnixSocketAddr.from_path(path).to_std()
    assert isinstance(target, str)
    if mode is not None:
        _check_mode(mode)
    sock_type: int = call_on(sock, _SocketType.getsockopt, socket.SOL_SOCKET, socket.SO_TYPE)
    if replace:
        if replace_stale:
            raise ValueError("replace=True replaces live and stale sockets: drop replace_stale")
        return _bind_replacing(
            sock, target, mode, sock_type, _DEFAULT_BACKLOG if backlog is None else backlog
        )
    # With a backlog, a stream or seqpacket socket listens before the directory
    # lock is released: between bind and listen it refuses connections, and a
    # concurrent replace_stale would take it for stale and unlink it.
    listen = sock_type in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET)
    try:
        if replace_stale:
            with _directory_lock(target):
                _remove_stale(target, sock_type)
                _bind_at(sock, target, mode)
                socket_file = SocketFile.record(target)
                if listen and backlog is not None:
                    _listen_or_unlink(sock, socket_file, backlog)
        else:
            _bind_at(sock, target, mode)
            socket_file = SocketFile.record(target)
            if listen and backlog is not None:
                _listen_or_unlink(sock, socket_file, backlog)
    except OSError as error:
        if error.errno not in (errno.EADDRINUSE, errno.EEXIST):
            raise
        description = _describe(target, sock_type, probe=replace_stale)
        if description is None:
            raise
        raise _in_use(target, description) from None
    return socket_file


def _listen_or_unlink(sock: FileDescriptorLike, socket_file: SocketFile, backlog: int) -> None:
    """Listen; if that fails (or a signal handler raises), remove the file just bound."""
    try:
        call_on(sock, _SocketType.listen, backlog)
    except BaseException:
        socket_file.unlink()
        raise
