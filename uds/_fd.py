"""Turning "an int or anything with fileno()" into a socket we may call, without owning it.

The extension functions accept stdlib sockets, third-party wrappers and raw fds.
A :class:`socket.socket` (or subclass) is used directly through the C methods of
``_socket.socket``, so its own timeout applies and overrides are bypassed. Anything
else is *borrowed*: called through a ``_Shell``, a ``_socket.socket`` that holds
the fd number and whose finaliser detaches instead of closing, so it can never
close the caller's fd. Shells are cached by fd number: a shell carries no state of
the file it names (only the number and constants), so it stays right when the
number is closed and reused, and the per-call cost of building one (an ``fstat``
among other things) is paid once per number. The shell is created with
``SOCK_NONBLOCK`` in its type, which makes CPython treat it as "timeout 0": it
issues the system call as is, never polls, never touches ``O_NONBLOCK`` and
ignores ``socket.setdefaulttimeout()``. A blocking fd therefore blocks and a
non-blocking fd raises :class:`BlockingIOError`, exactly as the caller configured it.
"""

from __future__ import annotations

import _socket
import errno
import socket
from typing import Callable, Protocol, TypeVar, Union, runtime_checkable

__all__ = ["HasFileno", "FileDescriptorLike", "fileno_of", "call_on", "call_on_unix"]


@runtime_checkable
class HasFileno(Protocol):
    """Anything that exposes its file descriptor through ``fileno()``."""

    def fileno(self) -> int: ...


FileDescriptorLike = Union[int, HasFileno]

_SocketType = _socket.socket
_SHELL_TYPE = socket.SOCK_STREAM | getattr(socket, "SOCK_NONBLOCK", 0)
_AF_UNIX = socket.AF_UNIX
_R = TypeVar("_R")
# The C-level attribute, not socket.socket's slower property that builds an enum.
_family_of = _SocketType.family.__get__
_SOL_SOCKET = socket.SOL_SOCKET
_SO_DOMAIN = getattr(socket, "SO_DOMAIN", None)


def fileno_of(obj: FileDescriptorLike) -> int:
    """Return the file descriptor of ``obj``: an ``int`` or an object with ``fileno()``.

    Raises:
        TypeError: ``obj`` is neither, or ``fileno()`` returned a non-integer.
        ValueError: the descriptor is negative (a closed socket reports -1).
        Exception: whatever ``obj.fileno()`` itself raises, unchanged.
    """
    if type(obj) is int:
        fd = obj
    else:
        # fileno() first: it is the common case after plain ints, and bool and
        # int subclasses have no fileno attribute.
        try:
            method = obj.fileno  # type: ignore[union-attr]  # int subclasses get here too
        except AttributeError:
            if isinstance(obj, bool) or not isinstance(obj, int):
                raise TypeError(
                    "expected a file descriptor or an object with fileno(), "
                    f"got {type(obj).__name__} {obj!r}"
                ) from None
            fd = int(obj)
        else:
            fd = method()
            if type(fd) is not int and (isinstance(fd, bool) or not isinstance(fd, int)):
                raise TypeError(f"{type(obj).__name__}.fileno() returned {fd!r}, not an int")
    if fd < 0:
        raise ValueError(f"invalid file descriptor {fd} (is {obj!r} closed?)")
    return fd


def _fileno_method(obj: object) -> object:
    """``obj.fileno()``, or ``None`` when it has none (fileno_of then explains)."""
    method = getattr(obj, "fileno", None)
    return None if method is None else method()


class _Shell(_SocketType):
    """A borrowed fd: finalising it detaches the number instead of closing the file."""

    __slots__ = ()

    def __del__(self) -> None:
        self.detach()


# Fd numbers are small and reused, so this stays as small as the process's peak
# fd count; numbers beyond the limit get a fresh shell per call.
_SHELLS: dict[int, _Shell] = {}
_SHELL_CACHE_LIMIT = 1 << 16


def _shell_for(fd: int) -> _Shell:
    shell = _SHELLS.get(fd)
    if shell is None:
        shell = _Shell(_AF_UNIX, _SHELL_TYPE, 0, fd)
        if fd < _SHELL_CACHE_LIMIT:
            shell = _SHELLS.setdefault(fd, shell)
    return shell


def call_on(sock: FileDescriptorLike, method: Callable[..., _R], *args: object) -> _R:
    """Call the unbound ``_socket.socket`` ``method`` on ``sock`` with ``args``.

    ``sock`` is used as is when it is a socket object, else borrowed through a
    shell shared by every call on that fd number: ``method`` must not change the
    socket object's own state (timeout, blocking flag, ``detach``/``close``).
    """
    if isinstance(sock, _SocketType):
        return method(sock, *args)
    # A socket object is always true, so a cache hit costs no function call; a
    # negative or non-int fd misses and fileno_of says what is wrong with it.
    shell = _SHELLS.get(sock) if type(sock) is int else _SHELLS.get(_fileno_method(sock))  # type: ignore[call-overload]
    if shell is None:
        shell = _shell_for(fileno_of(sock))
    return method(shell, *args)


def call_on_unix(sock: FileDescriptorLike, method: Callable[..., _R], *args: object) -> _R:
    """Like :func:`call_on`, but first make sure ``sock`` is an ``AF_UNIX`` socket.

    Used where another family would silently drop what we send (Linux ignores
    ``SCM_RIGHTS`` on inet sockets instead of failing).

    Raises:
        OSError: ``EAFNOSUPPORT`` when ``sock`` is a socket of another family.
    """
    if isinstance(sock, _SocketType):
        if _family_of(sock) != _AF_UNIX:
            raise _not_unix(sock, _family_of(sock))
        return method(sock, *args)
    shell = _shell_for(fileno_of(sock))
    if _SO_DOMAIN is not None:
        family = shell.getsockopt(_SOL_SOCKET, _SO_DOMAIN)
        if family != _AF_UNIX:
            raise _not_unix(sock, family)
    return method(shell, *args)


def _not_unix(sock: object, family: int) -> OSError:
    try:
        name = socket.AddressFamily(family).name
    except ValueError:
        name = str(family)
    return OSError(errno.EAFNOSUPPORT, f"{sock!r} is an {name} socket, not AF_UNIX")
