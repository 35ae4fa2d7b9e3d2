"""systemd integration: socket activation (sd_listen_fds) and sd_notify, both directions.

The protocol is plain environment variables and datagrams, so no libsystemd is
needed: :func:`listen_fds` reads ``LISTEN_PID``/``LISTEN_FDS``/``LISTEN_FDNAMES``
as ``sd_listen_fds_with_names(3)`` does, :func:`notify` sends to
``NOTIFY_SOCKET`` as ``sd_pid_notify_with_fds(3)`` does, and
:class:`NotifyListener` is the receiving end a supervisor (or a test) needs.
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import os
import re
import resource
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, NamedTuple, Optional, Union

from uds import _platform
from uds._addr import AddrLike, UnixSocketAddr
from uds._ancillary import recv_ancillary, send_ancillary
from uds._closeable import Closeable
from uds._cmsg import rights_cmsg
from uds._credentials import ReceivedCredentials, SendCredentials
from uds._ext import local_unix_addr
from uds._fd import FileDescriptorLike, call_on
from uds._fds import ReceivedFds
from uds._seqpacket_conn import UnixSeqpacketConn
from uds._seqpacket_listener import UnixSeqpacketListener

__all__ = [
    "LISTEN_FDS_START",
    "ActivatedSocket",
    "ListenFd",
    "NotifyListener",
    "NotifyMessage",
    "format_notify_state",
    "listen_fds",
    "listen_fds_raw",
    "notify",
    "notify_barrier",
    "parse_notify_message",
    "remove_stored_fds",
    "store_fds",
    "watchdog_enabled",
]

#: The first fd systemd passes (``SD_LISTEN_FDS_START``).
LISTEN_FDS_START = 3

_sys = _platform.current
_LISTEN_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
_INT_MAX = 2**31 - 1
_DECIMAL = re.compile(r"[0-9]+\Z", re.ASCII)
_getsockopt = _socket.socket.getsockopt
_SO_DOMAIN: Optional[int] = getattr(socket, "SO_DOMAIN", None)
_SO_PASSCRED: Optional[int] = getattr(_sys, "SO_PASSCRED", None)
# systemd's own receive buffer for notifications is PIPE_BUF.
_NOTIFY_BUFSIZE = 4096

Listening = Union[UnixSeqpacketListener, UnixSeqpacketConn, socket.socket, int]


class ListenFd(NamedTuple):
    """A passed fd and the name systemd gave it (``FileDescriptorName=``, else ``"unknown"``)."""

    fd: int
    name: str


class ActivatedSocket(NamedTuple):
    """A passed socket, ready to use, and its name.

    ``socket`` is a :class:`uds.UnixSeqpacketListener` for a listening unix
    ``SOCK_SEQPACKET`` socket (a :class:`uds.UnixSeqpacketConn` for a connected
    one, as ``Accept=yes`` passes), a :class:`socket.socket` of the right family
    and type for any other socket, and the plain ``int`` for an fd that is no
    socket (``ListenFIFO=`` and such).
    """

    socket: Listening
    name: str


def _parse_count(variable: str, value: str) -> int:
    if not _DECIMAL.match(value):
        raise ValueError(f"{variable}={value!r} is not a decimal number")
    return int(value)


def _read_listen_environment() -> list[ListenFd]:
    pid_text = os.environ.get("LISTEN_PID")
    if pid_text is None:
        return []
    if _parse_count("LISTEN_PID", pid_text) != os.getpid():
        return []  # meant for another process (inherited by a child)
    count = _parse_count("LISTEN_FDS", os.environ.get("LISTEN_FDS", "0"))
    limit = _max_listen_fds()
    if count > limit:
        raise ValueError(
            f"LISTEN_FDS={count} is more than the {limit} fds this process can have open "
            f"(RLIMIT_NOFILE)"
        )
    names_text = os.environ.get("LISTEN_FDNAMES")
    if names_text is None:
        names = ["unknown"] * count
    else:
        names = names_text.split(":") if names_text else []
        if len(names) != count:
            raise ValueError(
                f"LISTEN_FDNAMES has {len(names)} names for LISTEN_FDS={count}: {names_text!r}"
            )
    return [ListenFd(LISTEN_FDS_START + i, name) for i, name in enumerate(names)]


def _max_listen_fds() -> int:
    # Passed fds are numbered from LISTEN_FDS_START up, below the fd limit; the
    # hard limit, as the soft one may have been lowered since they were passed.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard > _INT_MAX:
        hard = _INT_MAX
    return max(hard - LISTEN_FDS_START, 0)


def _unset_listen_environment() -> None:
    for variable in _LISTEN_VARIABLES:
        os.environ.pop(variable, None)


def listen_fds_raw(unset_environment: bool = True) -> list[ListenFd]:
    """The fds passed by socket activation, as ``(fd, name)`` pairs; the caller owns them.

    Returns ``[]`` when nothing was passed or ``LISTEN_PID`` names another
    process. Every fd is made close-on-exec, as ``sd_listen_fds(3)`` does. With
    ``unset_environment`` the three variables are removed (also on error) so
    that children do not see them.

    Raises:
        ValueError: a variable is malformed, ``LISTEN_FDS`` is more than the fd
            limit (``RLIMIT_NOFILE``) allows, or ``LISTEN_FDNAMES`` has the wrong
            number of names.
        OSError: ``EBADF`` when a promised fd is not open (the message names
            the fd and ``LISTEN_FDS``); the other passed fds are closed first.
    """
    try:
        passed = _read_listen_environment()
        for fd, name in passed:
            try:
                os.set_inheritable(fd, False)
            except BaseException as error:
                _close_quietly(other for other, _ in passed if other != fd)
                if isinstance(error, OSError) and error.errno == errno.EBADF:
                    raise OSError(
                        errno.EBADF,
                        f"fd {fd} (named {name!r}) is not open, although LISTEN_FDS="
                        f"{len(passed)} promised fds {LISTEN_FDS_START} to "
                        f"{LISTEN_FDS_START + len(passed) - 1}; was it closed before "
                        "listen_fds() ran?",
                    ) from None
                raise
        return passed
    finally:
        if unset_environment:
            _unset_listen_environment()


def listen_fds(unset_environment: bool = True) -> list[ActivatedSocket]:
    """The sockets passed by socket activation, wrapped in objects of the right type.

    The kind of each fd is read from the kernel (``SO_DOMAIN``, ``SO_TYPE``): a
    unix ``SOCK_SEQPACKET`` socket becomes a :class:`uds.UnixSeqpacketListener`
    (or a :class:`uds.UnixSeqpacketConn` when connected), any other socket a
    :class:`socket.socket`, and an fd that is no socket stays an ``int``. The
    objects own their fds.

    Raises:
        ValueError, OSError: as :func:`listen_fds_raw`; no fd stays open on error.
    """
    passed = listen_fds_raw(unset_environment)
    ready: list[ActivatedSocket] = []
    try:
        for fd, name in passed:
            ready.append(ActivatedSocket(_wrap(fd), name))
    except BaseException:
        for sock, _ in ready:
            if not isinstance(sock, int):
                sock.close()
        _close_quietly(sock for sock, _ in ready if isinstance(sock, int))
        _close_quietly(fd for fd, _ in passed[len(ready) :])
        raise
    return ready


def _close_quietly(fds: Iterable[int]) -> None:
    # On an error path: the error being raised matters, not a second EBADF.
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _wrap(fd: int) -> Listening:
    try:
        kind = call_on(fd, _getsockopt, socket.SOL_SOCKET, socket.SO_TYPE)
    except OSError as error:
        if error.errno == errno.ENOTSOCK:
            return fd
        raise
    if _SO_DOMAIN is not None:
        family = call_on(fd, _getsockopt, socket.SOL_SOCKET, _SO_DOMAIN)
    else:
        probe = socket.socket(fileno=fd)  # CPython reads the family from the address
        family = probe.family
        probe.detach()
    if family == socket.AF_UNIX and kind == socket.SOCK_SEQPACKET:
        # Accept=yes units pass connections rather than the listener.
        if call_on(fd, _getsockopt, socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return UnixSeqpacketListener.from_fd(fd)
        return UnixSeqpacketConn.from_fd(fd)
    return socket.socket(family, kind, 0, fd)


# sd_notify ---------------------------------------------------------------------


def format_notify_state(state: Union[str, Mapping[str, object]]) -> bytes:
    """The datagram for ``state``: a ready string, or a mapping of ``KEY: value``.

    A mapping becomes ``KEY=value`` lines in its order (``{"READY": 1}`` is
    ``b"READY=1"``; ``True``/``False`` are written ``1``/``0``).

    Raises:
        ValueError: the state is empty, a key is empty or holds ``=`` or a
            newline, or a value holds a newline.
        TypeError: ``state`` is neither a str nor a mapping.
    """
    if isinstance(state, str):
        text = state
    elif isinstance(state, Mapping):
        lines = []
        for key, value in state.items():
            if not isinstance(key, str) or not key or "=" in key or "\n" in key:
                raise ValueError(f"invalid sd_notify variable name {key!r}")
            rendered = ("1" if value else "0") if isinstance(value, bool) else str(value)
            if "\n" in rendered:
                raise ValueError(f"the value of {key} contains a newline: {rendered!r}")
            lines.append(f"{key}={rendered}")
        text = "\n".join(lines)
    else:
        raise TypeError(f"state must be a str or a mapping, not {type(state).__name__}")
    if not text:
        raise ValueError("an sd_notify state cannot be empty")
    return text.encode()


def _notify_target(value: str) -> UnixSocketAddr:
    if not value.startswith(("/", "@")) or len(value) < 2:
        raise OSError(
            errno.EAFNOSUPPORT,
            f"NOTIFY_SOCKET={value!r} is neither an absolute path nor an @abstract name",
        )
    return UnixSocketAddr.new(value)


def _connect_notify_socket(target: UnixSocketAddr) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.connect(target.to_std())
        return sock
    except OSError as error:
        sock.close()
        # A seqpacket socket is there instead: a path says EPROTOTYPE, while an
        # abstract name is looked up with its type and says ECONNREFUSED.
        if error.errno != errno.EPROTOTYPE and not (
            error.errno == errno.ECONNREFUSED and target.is_abstract
        ):
            raise
        first_error = error
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(target.to_std())
    except OSError:
        sock.close()
        raise first_error from None
    except BaseException:
        sock.close()
        raise
    return sock


def notify(
    state: Union[str, Mapping[str, object]],
    *,
    fds: Iterable[FileDescriptorLike] = (),
    pid: Optional[int] = None,
    unset_environment: bool = False,
) -> bool:
    """Send ``state`` to the service manager at ``NOTIFY_SOCKET`` (``sd_notify(3)``).

    ``state`` is a string such as ``"READY=1\\nSTATUS=up"`` or a mapping
    (``{"READY": 1, "STATUS": "up"}``). ``fds`` travel with it (``SCM_RIGHTS``,
    for ``FDSTORE=1``) and stay owned by the caller. The message carries the
    sender's credentials (``SCM_CREDENTIALS``) so the manager can tell which
    process sent it; ``pid`` claims another pid (as ``sd_pid_notify``), which
    needs privilege: without it the process's own credentials are sent instead.

    Returns:
        ``True`` when sent, ``False`` when ``NOTIFY_SOCKET`` is not set (not
        running under a manager that listens), like ``sd_notify`` returning 0.

    Raises:
        ValueError, TypeError: bad ``state`` or ``fds``, before any system call.
        OSError: ``EAFNOSUPPORT`` for a ``NOTIFY_SOCKET`` that is not a unix
            address; ``ECONNREFUSED``/``ENOENT`` when nobody listens there.
    """
    try:
        data = format_notify_state(state)
        fds = tuple(fds)
        if fds:
            rights_cmsg(fds)  # validate before any system call
        value = os.environ.get("NOTIFY_SOCKET")
        if value is None:
            return False
        target = _notify_target(value)
        own = SendCredentials.current()
        claimed = own if pid is None else SendCredentials(pid, own.uid, own.gid)
        with _connect_notify_socket(target) as sock:
            try:
                send_ancillary(sock, data, fds=fds, credentials=claimed)
            except PermissionError:
                if claimed == own:
                    raise
                send_ancillary(sock, data, fds=fds, credentials=own)
        return True
    finally:
        if unset_environment:
            os.environ.pop("NOTIFY_SOCKET", None)


# The fd store, barrier and watchdog ----------------------------------------------

_FDNAME_MAX = 255


def _check_fdname(name: str) -> str:
    # systemd's fdname_is_valid(), minus the empty name (which drops the name
    # to systemd's default "stored" in LISTEN_FDNAMES and is never meant).
    if not isinstance(name, str):
        raise TypeError(f"an fd name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError('an fd name cannot be empty (pass name=None for systemd\'s "stored")')
    if len(name) > _FDNAME_MAX:
        raise ValueError(f"an fd name is at most {_FDNAME_MAX} characters, got {len(name)}")
    bad = [c for c in name if not " " <= c <= "~" or c == ":"]
    if bad:
        raise ValueError(
            f"invalid fd name {name!r}: {bad[0]!r} (printable ASCII only, no ':' "
            "because LISTEN_FDNAMES uses it as separator)"
        )
    return name


def store_fds(
    fds: Iterable[FileDescriptorLike],
    name: Optional[str] = None,
    *,
    poll: bool = True,
    unset_environment: bool = False,
) -> bool:
    """Hand ``fds`` to the service manager's fd store (``FDSTORE=1``), to get them back later.

    The manager keeps a duplicate of each fd while the service restarts (with
    ``FileDescriptorStoreMax=`` set in the unit) and passes them to the next
    instance with socket activation, where :func:`listen_fds` returns them
    under ``name`` (``FDNAME=``; systemd says ``"stored"`` when it is None).
    The caller keeps its own fds. With ``poll=False`` (``FDPOLL=0``) the
    manager does not drop an fd when it reports ``POLLHUP``/``POLLERR``.

    Returns:
        ``True`` when sent, ``False`` when ``NOTIFY_SOCKET`` is not set.

    Raises:
        ValueError: no fds, more than ``SCM_MAX_FD``, a negative fd, or a
            ``name`` systemd would refuse (empty, longer than 255, not
            printable ASCII, or holding ``:``), before any system call.
        TypeError: an fd or ``name`` of the wrong type.
        OSError: as :func:`notify` (``EBADF`` for an fd that is not open).
    """
    fds = tuple(fds)
    if not fds:
        raise ValueError("store_fds needs at least one fd")
    state: dict[str, object] = {"FDSTORE": 1}
    if name is not None:
        state["FDNAME"] = _check_fdname(name)
    if not poll:
        state["FDPOLL"] = 0
    return notify(state, fds=fds, unset_environment=unset_environment)


def remove_stored_fds(name: str, *, unset_environment: bool = False) -> bool:
    """Have the service manager close the fds it stores under ``name`` (``FDSTOREREMOVE=1``).

    Returns:
        ``True`` when sent, ``False`` when ``NOTIFY_SOCKET`` is not set.

    Raises:
        ValueError, TypeError: a ``name`` systemd would refuse, as :func:`store_fds`.
        OSError: as :func:`notify`.
    """
    state = {"FDSTOREREMOVE": 1, "FDNAME": _check_fdname(name)}
    return notify(state, unset_environment=unset_environment)


def notify_barrier(timeout: Optional[float] = 5.0, *, unset_environment: bool = False) -> bool:
    """Wait until the service manager has processed every notification sent before.

    As ``sd_notify_barrier(3)``: send ``BARRIER=1`` with the write end of a new
    pipe, close that end, and wait for the read end to report ``POLLHUP``, which
    happens when the manager (which reads its queue in order) closes its copy.
    Use it before exiting, so that a ``STATUS=`` or ``FDSTORE=1`` sent just
    before is not lost with the process.

    Args:
        timeout: seconds to wait (``None``: no limit); systemd-notify uses 5.

    Returns:
        ``True`` once the manager got this far, ``False`` when
        ``NOTIFY_SOCKET`` is not set (there is nothing to wait for).

    Raises:
        TimeoutError: the manager did not close the fd within ``timeout``.
        ValueError: ``timeout`` is negative.
        OSError: as :func:`notify`.
    """
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be None or >= 0, got {timeout}")
    if "NOTIFY_SOCKET" not in os.environ:
        if unset_environment:
            os.environ.pop("NOTIFY_SOCKET", None)
        return False
    read_end, write_end = os.pipe()  # close-on-exec (PEP 446)
    try:
        try:
            sent = notify("BARRIER=1", fds=(write_end,), unset_environment=unset_environment)
        finally:
            os.close(write_end)
        if not sent:
            return False
        _wait_for_hangup(read_end, timeout)
        return True
    finally:
        os.close(read_end)


def _wait_for_hangup(fd: int, timeout: Optional[float]) -> None:
    poller = select.poll()
    poller.register(fd, 0)  # POLLHUP is always reported
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        # poll() takes milliseconds; round up so a short timeout still waits.
        if poller.poll(None if remaining is None else remaining * 1000 + 0.999):
            return
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(
                errno.ETIMEDOUT,
                f"the service manager did not answer BARRIER=1 within {timeout} s",
            )


def watchdog_enabled(unset_environment: bool = False) -> Optional[float]:
    """The watchdog interval the service manager expects, in seconds, or ``None``.

    As ``sd_watchdog_enabled(3)``: reads ``WATCHDOG_USEC`` and, when set,
    ``WATCHDOG_PID`` (the watchdog is for that process only; ``None`` for any
    other). While it is enabled, send ``notify("WATCHDOG=1")`` at least every
    half interval, or the manager considers the service hung
    (``notify("WATCHDOG=trigger")`` reports a hang at once). With
    ``unset_environment`` both variables are removed (also on error).

    Returns:
        The interval in seconds (``WATCHDOG_USEC`` / 1e6), or ``None`` when no
        watchdog is set up for this process.

    Raises:
        ValueError: ``WATCHDOG_USEC`` is not a decimal number of microseconds
            between 1 and 2**64 - 2, or ``WATCHDOG_PID`` is not a positive
            decimal pid.
    """
    try:
        usec_text = os.environ.get("WATCHDOG_USEC")
        if usec_text is None:
            return None
        usec = _parse_count("WATCHDOG_USEC", usec_text)
        if not 0 < usec < 2**64 - 1:  # 0 and UINT64_MAX (infinity) are no interval
            raise ValueError(f"WATCHDOG_USEC={usec_text!r} is not a usable interval")
        pid_text = os.environ.get("WATCHDOG_PID")
        if pid_text is not None:
            pid = _parse_count("WATCHDOG_PID", pid_text)
            if pid <= 0:
                raise ValueError(f"WATCHDOG_PID={pid_text!r} is not a pid")
            if pid != os.getpid():
                return None  # meant for another process (inherited by a child)
        return usec / 1_000_000
    finally:
        if unset_environment:
            os.environ.pop("WATCHDOG_USEC", None)
            os.environ.pop("WATCHDOG_PID", None)


def parse_notify_message(data: bytes) -> dict[str, str]:
    """The ``KEY=value`` assignments of a notification; later ones win, other lines are skipped."""
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep and key:
            fields[key] = value
    return fields


@dataclass
class NotifyMessage(Closeable):
    """One notification received by a :class:`NotifyListener`.

    Attributes:
        fields: the ``KEY=value`` assignments (``{"READY": "1"}``).
        credentials: who sent it, from the kernel (``None`` where the OS
            cannot attach credentials).
        fds: fds that came with it (``FDSTORE=1``, ``BARRIER=1``), owned by the
            receiver; closing a ``BARRIER=1`` fd releases the waiting sender.
        data: the raw datagram.
        truncated: the datagram was longer than the buffer and was cut.
    """

    fields: dict[str, str]
    credentials: Optional[ReceivedCredentials]
    fds: ReceivedFds = field(default_factory=ReceivedFds)
    data: bytes = b""
    truncated: bool = False

    def close(self) -> None:
        """Close the fds not taken from :attr:`fds`."""
        self.fds.close()


class NotifyListener(Closeable):
    """The manager's end of sd_notify: a datagram socket that receives notifications.

    Bind it, export :attr:`notify_socket` as ``NOTIFY_SOCKET`` to the child, and
    read :class:`NotifyMessage` objects with :meth:`recv` or by iterating.
    ``SO_PASSCRED`` is set, so every message carries the sender's pid, uid and
    gid as the kernel checked them.
    """

    def __init__(self, addr: AddrLike = "", *, max_fds: int = _sys.SCM_MAX_FD) -> None:
        """Bind to ``addr`` (the default ``""`` picks a free abstract name on Linux).

        Raises:
            OSError: ``EADDRINUSE`` when the address is taken.
            ValueError: a bad address, or ``max_fds`` not in 0..253.
            TypeError: ``addr`` is not an address, or ``max_fds`` not an int.
        """
        target = UnixSocketAddr.new(addr)
        if not isinstance(max_fds, int) or isinstance(max_fds, bool):
            raise TypeError(f"max_fds must be an int, not {type(max_fds).__name__}")
        if not 0 <= max_fds <= _sys.SCM_MAX_FD:
            raise ValueError(f"max_fds must be between 0 and {_sys.SCM_MAX_FD}, got {max_fds}")
        self._max_fds = max_fds
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if _SO_PASSCRED is not None:
                self._sock.setsockopt(socket.SOL_SOCKET, _SO_PASSCRED, 1)
            self._sock.bind(target.to_std())
            self.addr = local_unix_addr(self._sock)
        except BaseException:
            self._sock.close()
            raise

    @property
    def notify_socket(self) -> str:
        """The value to put in ``NOTIFY_SOCKET`` (``@name`` or the path)."""
        raw = self.addr.as_raw_bytes()
        return os.fsdecode(b"@" + raw[1:] if self.addr.is_abstract else raw)

    def recv(self, timeout: Optional[float] = None) -> NotifyMessage:
        """Wait for the next notification (at most ``timeout`` seconds when given).

        The caller owns the fds that come with it: close the message (or use it
        as a context manager), which also releases a waiting ``BARRIER=1`` sender.

        Raises:
            TimeoutError: nothing arrived in time.
            BlockingIOError: ``timeout`` is 0 and nothing is queued.
        """
        self._sock.settimeout(timeout)
        received = recv_ancillary(
            self._sock, _NOTIFY_BUFSIZE, max_fds=self._max_fds, credentials=True
        )
        if received.pidfd is not None:
            os.close(received.pidfd)
        data = received.data or b""
        return NotifyMessage(
            parse_notify_message(data),
            received.credentials,
            received.fds,
            data,
            received.message_truncated,
        )

    def __iter__(self) -> Iterator[NotifyMessage]:
        while True:
            yield self.recv()

    def fileno(self) -> int:
        """The socket's fd, for selectors."""
        return self._sock.fileno()

    def close(self) -> None:
        """Close the socket (a path stays in the file system: unlink it if you bound one)."""
        self._sock.close()
