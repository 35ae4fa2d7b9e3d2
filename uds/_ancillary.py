"""The send/receive engine: every call that carries control data goes through here.

What arrives is decided by options set on the *receiving* socket
(:mod:`uds._sockopts`); :func:`recv_ancillary` reports what the kernel sent and
``None`` for what it did not, never a made-up value. On Linux 6.18 (measured by
``tests/test_ancillary.py``):

=================  ======  ========  =========  ==========================
control data       stream  datagram  seqpacket  option (receiver)
=================  ======  ========  =========  ==========================
fds                yes     yes       yes        none
credentials        yes     yes       yes        ``set_passcred``
pidfd              yes     yes       yes        ``set_passpidfd`` (6.5+)
timestamp          **no**  yes       yes        ``set_timestamps``
security label     LSM     LSM       LSM        ``set_passsec`` (see below)
=================  ======  ========  =========  ==========================

``SO_PASSSEC`` is accepted by every kernel, but ``SCM_SECURITY`` is only sent
when a security module labels sockets (SELinux, Smack, AppArmor 4.x): without
one, ``Received.security`` stays ``None``.
"""

from __future__ import annotations

import _socket
import os
import socket
import sys
from typing import TYPE_CHECKING, Iterable, Optional, Sequence, Union, cast

from uds import _platform
from uds._addr import AddrLike, UnixSocketAddr
from uds._closeable import Closeable
from uds._cmsg import Cmsg, drop_excess_fds, fds_space, parse_ancillary, rights_cmsg
from uds._credentials import ReceivedCredentials, SendCredentials
from uds._errors import UnsupportedPlatformError
from uds._fd import FileDescriptorLike, call_on, call_on_unix
from uds._fds import ReceivedFds

__all__ = ["Received", "send_ancillary", "recv_ancillary", "Buffer", "WritableBuffer"]

_sys = _platform.current
_sendmsg = _socket.socket.sendmsg
_recvmsg = _socket.socket.recvmsg
_recvmsg_into = _socket.socket.recvmsg_into
_SEND_FLAGS = _platform.SEND_FLAGS
_RECV_FLAGS = _platform.RECV_FLAGS
_MSG_TRUNC: int = _sys.MSG_TRUNC
_MSG_CTRUNC: int = _sys.MSG_CTRUNC

# Anything with the buffer protocol (PEP 688): bytes, bytearray, memoryview, mmap,
# array.array, ctypes arrays... Typing cannot say "writable", so WritableBuffer
# is the same type (as in typeshed); a read-only buffer given to be written into
# raises TypeError at run time.
if sys.version_info >= (3, 12):
    from collections.abc import Buffer
elif TYPE_CHECKING:
    from typing_extensions import Buffer  # typing only: ships with every type checker
else:
    # No buffer type exists at run time before 3.12 (and no dependency is wanted):
    # a stand-in for introspection.
    Buffer = Union[bytes, bytearray, memoryview]
WritableBuffer = Buffer

_CREDENTIALS_SPACE = socket.CMSG_SPACE(_sys.UCRED.size) if hasattr(_sys, "UCRED") else 0
_TIMESTAMP_SPACE = socket.CMSG_SPACE(16)
_SECURITY_SPACE = socket.CMSG_SPACE(4096)


class Received(Closeable):
    """One received message and everything that came with it.

    Attributes:
        data: the bytes read (``None`` when reading into caller buffers).
        nbytes: how many bytes were read.
        fds: the fds received (:class:`ReceivedFds`, owned by the receiver).
        credentials: per-message credentials, if the kernel attached them.
        timestamp_ns: the kernel's receive timestamp in ns since the epoch, or
            ``None`` when the kernel sent none.
        pidfd: a pidfd for the sender (``SCM_PIDFD``), owned by the receiver;
            ``None`` when none came or the kernel could not install one
            (it then sends ``-EMFILE`` or similar, which is not an fd).
        security: the sender's security label (``SCM_SECURITY``).
        addr: the sender's address (datagram sockets), else ``None``.
        message_truncated: the message did not fit and its tail is lost (``MSG_TRUNC``).
        ancillary_truncated: control data did not fit and was dropped (``MSG_CTRUNC``).
        flags: the raw ``msg_flags``.
    """

    __slots__ = (
        "addr",
        "credentials",
        "data",
        "fds",
        "flags",
        "nbytes",
        "pidfd",
        "security",
        "timestamp_ns",
        "unknown",
    )

    def __init__(
        self,
        data: Optional[bytes],
        nbytes: int,
        fds: ReceivedFds,
        flags: int,
        addr: Optional[UnixSocketAddr] = None,
        credentials: Optional[ReceivedCredentials] = None,
        timestamp_ns: Optional[int] = None,
        pidfd: Optional[int] = None,
        security: Optional[bytes] = None,
        unknown: Sequence[Cmsg] = (),
    ) -> None:
        self.data = data
        self.nbytes = nbytes
        self.fds = fds
        self.flags = flags
        self.addr = addr
        self.credentials = credentials
        self.timestamp_ns = timestamp_ns
        self.pidfd = pidfd
        self.security = security
        self.unknown = list(unknown)

    @property
    def message_truncated(self) -> bool:
        """True when the message was longer than the buffer and its tail is lost."""
        return bool(self.flags & _MSG_TRUNC)

    @property
    def ancillary_truncated(self) -> bool:
        """True when control data (fds, credentials…) did not fit and was dropped."""
        return bool(self.flags & _MSG_CTRUNC)

    @property
    def timestamp(self) -> Optional[float]:
        """The receive timestamp in seconds since the epoch, or ``None``."""
        return None if self.timestamp_ns is None else self.timestamp_ns / 1e9

    def take_pidfd(self) -> Optional[int]:
        """Hand out the pidfd (or ``None``): the caller now owns it, ``close()`` skips it."""
        pidfd, self.pidfd = self.pidfd, None
        return pidfd

    def close(self) -> None:
        """Close the received fds and the pidfd that the caller has not taken."""
        pidfd, self.pidfd = self.pidfd, None
        try:
            self.fds.close()
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def __repr__(self) -> str:
        fields = [f"nbytes={self.nbytes}", f"fds={list(self.fds)!r}"]
        for name in ("credentials", "timestamp_ns", "pidfd", "security", "addr"):
            value = getattr(self, name)
            if value is not None:
                fields.append(f"{name}={value!r}")
        if self.message_truncated:
            fields.append("message_truncated=True")
        if self.ancillary_truncated:
            fields.append("ancillary_truncated=True")
        return f"Received({', '.join(fields)})"


def as_buffers(buffers: Union[Buffer, Iterable[Buffer]]) -> Sequence[Buffer]:
    """A single bytes-like object, or an iterable of them, as a sequence for sendmsg."""
    if isinstance(buffers, (bytes, bytearray, memoryview)):
        return (buffers,)
    if type(buffers) is list or type(buffers) is tuple:
        return list(cast("Iterable[Buffer]", buffers))
    try:
        # Other buffers (mmap, array.array...) are one buffer, although iterable.
        with memoryview(buffers):  # type: ignore[arg-type]
            pass
    except TypeError:
        return list(cast("Iterable[Buffer]", buffers))
    return (cast("Buffer", buffers),)


def credentials_cmsg(credentials: Union[SendCredentials, bool]) -> Cmsg:
    """The control message that sends ``credentials`` (``True``: the caller's own).

    Raises:
        UnsupportedPlatformError: the OS cannot attach credentials to a message.
    """
    if credentials is True:
        builder = _sys.own_credentials_cmsg
        feature = "sending credentials with a message"
        credentials = SendCredentials.current()
    elif isinstance(credentials, SendCredentials):
        builder = _sys.credentials_cmsg
        feature = "claiming chosen credentials (SendCredentials)"
    else:
        raise TypeError(
            f"credentials must be a SendCredentials or True, not {type(credentials).__name__}"
        )
    if builder is None:
        raise UnsupportedPlatformError(feature)
    cmsg: Cmsg = builder(credentials.pid, credentials.uid, credentials.gid)
    return cmsg


def send_ancillary(
    sock: FileDescriptorLike,
    buffers: Union[Buffer, Iterable[Buffer]],
    *,
    fds: Iterable[FileDescriptorLike] = (),
    credentials: Union[bool, SendCredentials, None] = None,
    addr: Optional[AddrLike] = None,
    flags: int = 0,
) -> int:
    """Send one message with optional fds, credentials and destination address.

    ``buffers`` is a bytes-like object or a sequence of them (gathered into one
    message). ``fds`` are ints or objects with ``fileno()``; they stay open and
    owned by the caller. ``credentials`` is a :class:`SendCredentials`, or
    ``True`` for the caller's own. The send never raises ``SIGPIPE``.

    Returns:
        The number of bytes sent (a stream socket may send fewer than given;
        the fds then travel with the first byte).

    Raises:
        BrokenPipeError: the peer has closed.
        OSError: ``EBADF`` for an fd that is not open (nothing is sent);
            ``EAFNOSUPPORT`` when fds or credentials go to a socket that is
            not a unix socket (other families would silently drop them).
        PermissionError: claiming credentials the process does not have.
        ValueError, TypeError: bad arguments, before anything is sent.
    """
    data = as_buffers(buffers)
    ancillary: list[Cmsg] = []
    fds = tuple(fds)
    if fds:
        ancillary.append(rights_cmsg(fds))
        if not any(len(memoryview(buffer)) for buffer in data):
            _refuse_empty_stream_message(sock)
    if credentials is not None and credentials is not False:
        ancillary.append(credentials_cmsg(credentials))
    # Other families silently ignore unix control messages: refuse them instead.
    call = call_on_unix if ancillary else call_on
    if addr is None:
        return call(sock, _sendmsg, data, ancillary, flags | _SEND_FLAGS)
    target = UnixSocketAddr.new(addr).to_std()
    return call(sock, _sendmsg, data, ancillary, flags | _SEND_FLAGS, target)


def _refuse_empty_stream_message(sock: FileDescriptorLike) -> None:
    """Stream sockets drop control data sent without at least one byte: refuse it."""
    kind = call_on(sock, _socket.socket.getsockopt, socket.SOL_SOCKET, socket.SO_TYPE)
    if kind == socket.SOCK_STREAM:
        raise ValueError("a stream socket cannot carry fds without data: send at least one byte")


def recv_ancillary(
    sock: FileDescriptorLike,
    bufsize_or_buffers: Union[int, Iterable[WritableBuffer]],
    *,
    max_fds: int = 0,
    credentials: bool = False,
    timestamps: bool = False,
    security: bool = False,
    flags: int = 0,
) -> Received:
    """Receive one message and its control data.

    ``bufsize_or_buffers`` is a size (the data is returned in ``Received.data``)
    or writable buffers to scatter into (``data`` is ``None``). ``max_fds`` is
    how many fds to make room for; fds beyond it are closed (by the kernel, or
    here when the reserved room fitted more) and ``ancillary_truncated`` and
    ``fds.truncated`` are set. ``credentials``/``timestamps``/``security``
    reserve room for that data; the socket must have the matching option
    enabled (see :mod:`uds.ancillary`) for the kernel to send it. Room for
    credentials, a pidfd and a timestamp is always kept, so that options set
    elsewhere never push fds out; a security label needs ``security=True``.
    Received fds and the pidfd are close-on-exec and owned by the result.

    Raises:
        BlockingIOError: non-blocking socket with nothing to read.
        ValueError: ``max_fds`` out of range.
        OSError: from the system call; no fd is left open on error.
    """
    space = fds_space(max_fds)
    if timestamps:
        space += _TIMESTAMP_SPACE
    if security:
        space += _SECURITY_SPACE
    if credentials:
        space += _CREDENTIALS_SPACE
    recv_flags = flags | _RECV_FLAGS
    if isinstance(bufsize_or_buffers, int):
        data, ancdata, msg_flags, address = call_on(
            sock, _recvmsg, bufsize_or_buffers, space, recv_flags
        )
        nbytes = len(data)
    else:
        buffers = list(bufsize_or_buffers)
        nbytes, ancdata, msg_flags, address = call_on(
            sock, _recvmsg_into, buffers, space, recv_flags
        )
        data = None
    parsed = parse_ancillary(ancdata, msg_flags)
    if len(parsed.fds) > max_fds:
        # The room kept for unsolicited data fitted more: report what the kernel
        # would have reported with a buffer of the exact size.
        drop_excess_fds(parsed.fds, max_fds)
        msg_flags |= _MSG_CTRUNC
    try:
        addr = UnixSocketAddr.from_std(address) if address is not None else None
    except BaseException:
        parsed.close()
        raise
    return Received(
        data,
        nbytes,
        parsed.fds,
        msg_flags,
        addr,
        parsed.credentials,
        parsed.timestamp_ns,
        parsed.pidfd,
        parsed.security,
        parsed.unknown,
    )
