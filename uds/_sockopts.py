"""Socket options that make the kernel attach control data to received messages.

Each setter takes any socket, wrapper or raw fd (borrowed, never closed, its
blocking mode untouched) and acts on the *receiving* end. Where the OS or the
running kernel lacks the option, it raises :class:`UnsupportedPlatformError`.
"""

from __future__ import annotations

import _socket
import errno
from typing import Optional

from uds import _platform
from uds._errors import UnsupportedPlatformError
from uds._fd import FileDescriptorLike, call_on, call_on_unix

__all__ = [
    "set_passcred",
    "get_passcred",
    "set_timestamps",
    "set_passpidfd",
    "set_passsec",
    "set_nosigpipe",
    "set_passrights",
    "get_passrights",
]

_sys = _platform.current
_setsockopt = _socket.socket.setsockopt
_getsockopt = _socket.socket.getsockopt
# What setsockopt answers for an option the kernel does not know.
_UNKNOWN_OPTION = (errno.ENOPROTOOPT, errno.EINVAL)


def _set(
    sock: FileDescriptorLike,
    option: Optional[tuple[int, int]],
    on: bool,
    feature: str,
    needs: str,
) -> None:
    if not isinstance(on, bool):
        raise TypeError(f"on must be a bool, not {type(on).__name__}")
    if option is None:
        raise UnsupportedPlatformError(feature)
    level, name = option
    try:
        call_on(sock, _setsockopt, level, name, int(on))
    except OSError as error:
        if error.errno in _UNKNOWN_OPTION:
            raise UnsupportedPlatformError(feature, needs) from None
        raise


def set_passcred(sock: FileDescriptorLike, on: bool = True) -> None:
    """Have the kernel attach the sender's credentials to messages received on ``sock``.

    Linux ``SO_PASSCRED`` (every message, any socket type), FreeBSD
    ``LOCAL_CREDS_PERSISTENT`` (every message, 13.0+), NetBSD ``LOCAL_CREDS``
    (every datagram; the first message only on connected sockets). They arrive
    as :attr:`Received.credentials`.

    Raises:
        UnsupportedPlatformError: macOS and OpenBSD have no per-message credentials.
        TypeError: ``on`` is not a bool.
        OSError: ``EOPNOTSUPP`` (Linux) for a socket that is not a unix (or
            netlink) socket; ``ENOTSOCK``/``EBADF`` for something that is no socket.
    """
    _set(sock, _sys.PASSCRED_OPTION, on, "per-message credentials", "needs FreeBSD 13")


def get_passcred(sock: FileDescriptorLike) -> bool:
    """Whether per-message credentials are enabled on ``sock``.

    Raises:
        UnsupportedPlatformError: the OS has no per-message credentials.
        OSError: from ``getsockopt``.
    """
    option = _sys.PASSCRED_OPTION
    if option is None:
        raise UnsupportedPlatformError("per-message credentials")
    return bool(call_on(sock, _getsockopt, option[0], option[1]))


def set_timestamps(sock: FileDescriptorLike, on: bool = True, *, ns: bool = False) -> None:
    """Have the kernel timestamp messages received on ``sock`` (``SO_TIMESTAMP``).

    ``ns=True`` asks for nanoseconds (Linux ``SO_TIMESTAMPNS``). Turning them off
    turns off both. The timestamp arrives as :attr:`Received.timestamp_ns`.
    Linux timestamps datagram and seqpacket messages, not stream data: on a
    stream socket the option is accepted and ``timestamp_ns`` stays ``None``.

    Raises:
        UnsupportedPlatformError: ``ns=True`` where the OS has no nanosecond option.
        TypeError: ``on`` or ``ns`` is not a bool.
    """
    for name, value in (("on", on), ("ns", ns)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    micro, nano = _sys.TIMESTAMP_OPTION, _sys.TIMESTAMPNS_OPTION
    if ns and nano is None:
        raise UnsupportedPlatformError("nanosecond timestamps (SO_TIMESTAMPNS)")
    if not on:
        _set(sock, micro, False, "SO_TIMESTAMP", "")
        if nano is not None:
            _set(sock, nano, False, "SO_TIMESTAMPNS", "")
        return
    _set(sock, nano if ns else micro, True, "SO_TIMESTAMP", "")


def set_passpidfd(sock: FileDescriptorLike, on: bool = True) -> None:
    """Have the kernel attach a pidfd of the sender to each message (``SO_PASSPIDFD``).

    The pidfd arrives as :attr:`Received.pidfd`, close-on-exec and owned by the
    :class:`Received` (``close()`` closes it; ``take_pidfd()`` hands it out).

    Raises:
        UnsupportedPlatformError: not Linux, or a kernel older than 6.5.
        TypeError: ``on`` is not a bool.
    """
    _set(sock, _sys.PASSPIDFD_OPTION, on, "SO_PASSPIDFD", "needs Linux 6.5 or later")


def set_passsec(sock: FileDescriptorLike, on: bool = True) -> None:
    """Ask for the sender's security label with each message (``SO_PASSSEC``).

    The label arrives as :attr:`Received.security` only when a security module
    labels sockets (SELinux, Smack, AppArmor 4.x). Without one the kernel
    accepts the option and sends nothing: ``security`` stays ``None``. Receive
    with ``recv_ancillary(..., security=True)`` to make room for the label.

    Raises:
        UnsupportedPlatformError: not Linux, or a kernel without ``SO_PASSSEC``.
        TypeError: ``on`` is not a bool.
    """
    _set(sock, _sys.PASSSEC_OPTION, on, "SO_PASSSEC", "needs Linux 2.6.18 or later")


def set_nosigpipe(sock: FileDescriptorLike, on: bool = True) -> None:
    """Make writes to a closed peer fail with ``EPIPE`` without ``SIGPIPE`` (``SO_NOSIGPIPE``).

    Needed on macOS, which has no ``MSG_NOSIGNAL``; elsewhere every send of the
    library already passes ``MSG_NOSIGNAL``.

    Raises:
        UnsupportedPlatformError: the OS has no such option (Linux, OpenBSD:
            ``MSG_NOSIGNAL`` makes it unnecessary).
        TypeError: ``on`` is not a bool.
    """
    _set(sock, _sys.NOSIGPIPE_OPTION, on, "SO_NOSIGPIPE", "")


_PASSRIGHTS_NEEDS = "needs Linux 6.16 or later"


def set_passrights(sock: FileDescriptorLike, on: bool) -> None:
    """Let ``sock`` receive fds (``on=True``, the default of every socket) or refuse them.

    With ``on=False`` (Linux ``SO_PASSRIGHTS``, 6.16+) the kernel refuses any
    message that carries ``SCM_RIGHTS`` to ``sock``: the *sender's* ``sendmsg``
    fails with ``EPERM`` (:class:`PermissionError`) and nothing of that message
    is delivered, data included; messages without fds pass as before. A
    listening socket passes the setting on to the connections it accepts. Use
    it on sockets that never expect fds, so a peer cannot fill their fd table
    or slip in fds that must then be closed.

    Raises:
        UnsupportedPlatformError: the OS (anything but Linux) or the running
            kernel (before 6.16) has no ``SO_PASSRIGHTS``.
        TypeError: ``on`` is not a bool.
        OSError: ``EAFNOSUPPORT`` for a socket that is not a unix socket;
            ``ENOTSOCK``/``EBADF`` for something that is no socket.
    """
    if not isinstance(on, bool):
        raise TypeError(f"on must be a bool, not {type(on).__name__}")
    option = _sys.PASSRIGHTS_OPTION
    if option is None:
        raise UnsupportedPlatformError("SO_PASSRIGHTS", "the OS always accepts fds")
    try:
        call_on_unix(sock, _setsockopt, option[0], option[1], int(on))
    except OSError as error:
        if error.errno in _UNKNOWN_OPTION:
            raise UnsupportedPlatformError("SO_PASSRIGHTS", _PASSRIGHTS_NEEDS) from None
        raise


def get_passrights(sock: FileDescriptorLike) -> bool:
    """Whether ``sock`` accepts fds (``SO_PASSRIGHTS``); see :func:`set_passrights`.

    Raises:
        UnsupportedPlatformError: the OS or the running kernel has no
            ``SO_PASSRIGHTS`` (there every unix socket accepts fds).
        OSError: ``EAFNOSUPPORT`` for a socket that is not a unix socket;
            ``ENOTSOCK``/``EBADF`` for something that is no socket.
    """
    option = _sys.PASSRIGHTS_OPTION
    if option is None:
        raise UnsupportedPlatformError("SO_PASSRIGHTS", "the OS always accepts fds")
    try:
        return bool(call_on_unix(sock, _getsockopt, option[0], option[1]))
    except OSError as error:
        if error.errno in _UNKNOWN_OPTION:
            raise UnsupportedPlatformError("SO_PASSRIGHTS", _PASSRIGHTS_NEEDS) from None
        raise
