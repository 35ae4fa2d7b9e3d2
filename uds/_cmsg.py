"""Building and parsing control messages: pure functions over bytes, no sockets.

The parsers take the ``ancdata`` list that ``socket.recvmsg`` returns and a
platform module from :mod:`uds._sys`, so every OS's layouts can be tested here.
Whatever the input, a parser either returns every fd it found (owned by the
caller) or closes all of them before raising.
"""

from __future__ import annotations

import os
import socket
import struct
from array import array
from dataclasses import dataclass, field
from types import ModuleType
from typing import Iterable, List, Optional, Sequence, Tuple

from uds import _platform
from uds._credentials import ReceivedCredentials
from uds._fd import FileDescriptorLike, fileno_of
from uds._fds import ReceivedFds, close_all

__all__ = [
    "Cmsg",
    "ParsedAncillary",
    "rights_cmsg",
    "fd_array",
    "fds_space",
    "parse_ancillary",
    "parse_fds",
    "drop_excess_fds",
]

Cmsg = Tuple[int, int, bytes]
AncData = List[Tuple[int, int, bytes]]

_sys = _platform.current
_INT_SIZE = array("i").itemsize
_SOL_SOCKET: int = _sys.SOL_SOCKET
_SCM_RIGHTS: int = _sys.SCM_RIGHTS
_MSG_CTRUNC: int = _sys.MSG_CTRUNC
_SCM_MAX_FD: int = _sys.SCM_MAX_FD
# Without MSG_CMSG_CLOEXEC (macOS) every fd must go through parse_ancillary,
# which sets FD_CLOEXEC.
_CLOEXEC_ON_RECEIVE = bool(_sys.MSG_CMSG_CLOEXEC)

# Control data that may arrive whether or not the caller asked for it (a peer
# cannot force it, but socket options set elsewhere can): room is always kept
# for it so that it never pushes SCM_RIGHTS out of the buffer.
_ALWAYS_RESERVED: int = sum(socket.CMSG_SPACE(size) for size in _sys.UNSOLICITED_CMSG_SIZES)
_FDS_SPACE: tuple[int, ...] = tuple(
    _ALWAYS_RESERVED + (socket.CMSG_SPACE(n * _INT_SIZE) if n else 0)
    for n in range(_SCM_MAX_FD + 1)
)


def fds_space(max_fds: int) -> int:
    """Bytes of control buffer for up to ``max_fds`` fds plus unsolicited data.

    Raises:
        ValueError: ``max_fds`` is negative or above the kernel's ``SCM_MAX_FD``.
        TypeError: ``max_fds`` is not an int.
    """
    if type(max_fds) is int and 0 <= max_fds <= _SCM_MAX_FD:
        return _FDS_SPACE[max_fds]
    if not isinstance(max_fds, int) or isinstance(max_fds, bool):
        raise TypeError(f"max_fds must be an int, not {type(max_fds).__name__}")
    raise ValueError(f"max_fds must be between 0 and {_SCM_MAX_FD}, got {max_fds}")


_INT_MAX = 2**31 - 1


def fd_array(fds: Iterable[FileDescriptorLike]) -> array[int]:
    """Pack ``fds`` (ints or objects with ``fileno()``) as the C ints of ``SCM_RIGHTS``.

    Raises:
        TypeError: an element is a ``bool``, or neither an int nor has ``fileno()``.
        ValueError: an fd is negative or beyond a C int, or there are more
            than ``SCM_MAX_FD``.
    """
    if not isinstance(fds, (list, tuple)):
        fds = list(fds)
    try:
        numbers = array("i", fds)
    except (TypeError, OverflowError):
        numbers = array("i", [_checked_fd(fd) for fd in fds])
    else:
        # array() takes bools as 0/1 and cannot tell a negative fd from a real
        # one: only small values need a second, per-element look.
        if numbers and min(numbers) < 2:
            for fd in fds:
                _checked_fd(fd)
    if len(numbers) > _SCM_MAX_FD:
        raise ValueError(
            f"cannot send {len(numbers)} fds in one message: the kernel allows at most "
            f"{_SCM_MAX_FD} (SCM_MAX_FD)"
        )
    return numbers


def _checked_fd(fd: FileDescriptorLike) -> int:
    number = fd if type(fd) is int else fileno_of(fd)
    if not 0 <= number <= _INT_MAX:
        raise ValueError(f"invalid file descriptor {number} (must be 0..{_INT_MAX})")
    return number


def rights_cmsg(fds: Iterable[FileDescriptorLike]) -> Cmsg:
    """An ``SCM_RIGHTS`` control message carrying ``fds`` (see :func:`fd_array`).

    Raises:
        TypeError, ValueError: as :func:`fd_array`, before anything is sent.
    """
    return (_SOL_SOCKET, _SCM_RIGHTS, fd_array(fds).tobytes())


def _ints(data: bytes) -> list[int]:
    try:
        return array("i", data).tolist()
    except ValueError:
        # A trailing partial int cannot be an fd the kernel installed; ignore it.
        return array("i", data[: len(data) - len(data) % _INT_SIZE]).tolist()


def parse_fds(ancdata: AncData, msg_flags: int, max_fds: int) -> ReceivedFds:
    """The fds of ``SCM_RIGHTS`` messages in ``ancdata``; any other fd is closed.

    The fast path of ``recv_fds``: everything but fds is dropped, and fds that
    arrived in other kinds of control messages (pidfds) are closed. The buffer
    keeps room for unsolicited control data, which a long fd array can use
    instead: fds beyond ``max_fds`` are closed and reported as truncation, as
    the kernel would have done with a buffer of the exact size.
    """
    if len(ancdata) == 1 and not msg_flags & _MSG_CTRUNC and _CLOEXEC_ON_RECEIVE:
        level, kind, data = ancdata[0]
        if (
            level == _SOL_SOCKET
            and kind == _SCM_RIGHTS
            and len(data) <= max_fds * _INT_SIZE
            and not len(data) % _INT_SIZE
        ):
            # list.__new__ + extend skip ReceivedFds.__init__, a Python-level call;
            # a precompiled Struct yields a tuple, which extend copies fastest.
            fds = _new_list(ReceivedFds)
            _extend(fds, _UNPACK_FDS[len(data) // _INT_SIZE](data))
            return fds
    if not ancdata:
        fds = _new_list(ReceivedFds)
        if msg_flags & _MSG_CTRUNC:
            fds.truncated = True
        return fds
    parsed = parse_ancillary(ancdata, msg_flags)
    if parsed.pidfd is not None:
        close_all((parsed.pidfd,))
    if len(parsed.fds) > max_fds:
        drop_excess_fds(parsed.fds, max_fds)
    return parsed.fds


_new_list = list.__new__
_extend = list.extend
_delitem = list.__delitem__
_UNPACK_FDS = tuple(struct.Struct(f"{n}i").unpack for n in range(_SCM_MAX_FD + 1))


def drop_excess_fds(fds: ReceivedFds, max_fds: int) -> None:
    """Close the fds past the first ``max_fds`` and mark ``fds`` truncated."""
    excess = fds[max_fds:]
    _delitem(fds, slice(max_fds, None))  # ReceivedFds refuses `del`; list's own does not
    fds.truncated = True
    close_all(excess)


@dataclass
class ParsedAncillary:
    """Everything recognised in a list of control messages."""

    fds: ReceivedFds
    credentials: Optional[ReceivedCredentials] = None
    pidfd: Optional[int] = None
    security: Optional[bytes] = None
    timestamp_ns: Optional[int] = None
    unknown: list[Cmsg] = field(default_factory=list)

    def close(self) -> None:
        """Close every fd held (received fds and the pidfd)."""
        pidfd, self.pidfd = self.pidfd, None
        try:
            self.fds.close()
        finally:
            if pidfd is not None:
                close_all((pidfd,))


def parse_ancillary(
    ancdata: Sequence[Cmsg], msg_flags: int, platform: ModuleType = _sys
) -> ParsedAncillary:
    """Sort control messages into fds, credentials, pidfd, label and timestamp.

    Unknown messages are kept raw in ``unknown``. When several messages of one
    kind arrive, fds accumulate in order; a second pidfd is closed. A partial
    trailing int in an fd array is ignored (the kernel never installs one).
    When ``msg_flags`` has ``MSG_CTRUNC``, a payload too short to parse is the
    truncated tail of the buffer and is dropped; the truncation stays reported.
    Where the OS cannot receive fds close-on-exec atomically, ``FD_CLOEXEC`` is
    set here on each of them.

    Raises:
        ValueError: a message is malformed (say, short credentials); every fd
            of every message, before and after the bad one, is closed first.
    """
    truncated = bool(msg_flags & platform.MSG_CTRUNC)
    result = ParsedAncillary(ReceivedFds((), truncated))
    sol_socket: int = platform.SOL_SOCKET
    scm_rights: int = platform.SCM_RIGHTS
    scm_pidfd: Optional[int] = getattr(platform, "SCM_PIDFD", None)
    scm_security: Optional[int] = getattr(platform, "SCM_SECURITY", None)
    credentials_parsers = platform.CREDENTIALS_PARSERS
    timestamp_parsers = platform.TIMESTAMP_PARSERS
    seen = 0
    try:
        for level, kind, data in ancdata:
            seen += 1
            if level != sol_socket:
                result.unknown.append((level, kind, data))
            elif kind == scm_rights:
                _extend(result.fds, _ints(data))
            elif kind == scm_pidfd:
                # A pidfd the kernel could not install (EMFILE…) arrives as -errno.
                numbers = [number for number in _ints(data) if number >= 0]
                if result.pidfd is None and numbers:
                    result.pidfd = numbers.pop(0)
                close_all(numbers)
            elif kind in credentials_parsers:
                try:
                    fields = credentials_parsers[kind](data)
                except ValueError:
                    if not truncated:
                        raise
                else:
                    result.credentials = ReceivedCredentials(*fields)
            elif kind == scm_security:
                result.security = bytes(data).rstrip(b"\0")
            elif kind in timestamp_parsers:
                try:
                    result.timestamp_ns = timestamp_parsers[kind](data)
                except ValueError:
                    if not truncated:
                        raise
            else:
                result.unknown.append((level, kind, data))
        if not platform.MSG_CMSG_CLOEXEC:
            _set_cloexec(result)
    except BaseException:
        # The kernel installed the fds of every message, parsed or not yet.
        try:
            result.close()
        finally:
            for level, kind, data in ancdata[seen:]:
                if level == sol_socket and kind in (scm_rights, scm_pidfd):
                    close_all(_ints(data))
        raise
    return result


def _set_cloexec(parsed: ParsedAncillary) -> None:
    """Mark every received fd close-on-exec (for OSes without MSG_CMSG_CLOEXEC)."""
    for fd in [*parsed.fds, parsed.pidfd]:
        if fd is not None and fd >= 0:
            os.set_inheritable(fd, False)
