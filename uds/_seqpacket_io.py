"""The seqpacket data methods in pure Python: the twin of ``uds._native.SeqpacketIO``.

:mod:`uds._impl` makes the seqpacket classes derive from the C type when it is
available and from these classes otherwise; the C methods call these when an
argument leaves their fast path, so both raise the same errors. Type checkers
read this file.

``SocketSlots`` holds what every seqpacket object has: ``_sock``, the
``_socket.socket`` that owns the fd, and ``_state``, the ``BlockingState`` its
clones share. A call that would block goes to ``self._blocked`` (defined on
:class:`uds._seqpacket.SeqpacketSocket`), which raises :class:`BlockingIOError`
or waits for the timeout and retries.
"""

from __future__ import annotations

import _socket
from array import array
from typing import TYPE_CHECKING, Any, Iterable, Sequence, Tuple, Union

from uds import _platform
from uds._ancillary import Buffer, WritableBuffer
from uds._cmsg import fd_array, fds_space, parse_fds
from uds._fd import FileDescriptorLike
from uds._fds import ReceivedFds
from uds._packet import Packet

__all__ = ["SocketSlots", "SeqpacketIO", "MAX_BATCH", "check_batch_size"]

_sys = _platform.current
_SEND_FLAGS: int = getattr(_platform, "SEQPACKET_SEND_FLAGS", _platform.SEND_FLAGS)
_RECV_FLAGS = _platform.RECV_FLAGS
_MSG_TRUNC: int = _sys.MSG_TRUNC
_MSG_PEEK: int = _sys.MSG_PEEK
_MSG_DONTWAIT: int = _sys.MSG_DONTWAIT
_SOL_SOCKET: int = _sys.SOL_SOCKET
_SCM_RIGHTS: int = _sys.SCM_RIGHTS
_NO_ANCILLARY: tuple[()] = ()
_sendmsg = _socket.socket.sendmsg
_recvmsg = _socket.socket.recvmsg
_Ancillary = Sequence[Tuple[int, int, Union[bytes, "array[int]"]]]
# The control-buffer size for each valid max_fds, as fds_space() computes it.
_FDS_SPACE = {count: fds_space(count) for count in range(_platform.SCM_MAX_FD + 1)}

#: The most packets one ``recv_many`` call returns (Linux's UIO_MAXIOV for recvmmsg).
MAX_BATCH = 1024


def check_batch_size(max_packets: int) -> None:
    """Check the ``max_packets`` of ``recv_many``.

    Raises:
        TypeError: not an int.
        ValueError: not in 1..1024.
    """
    if not isinstance(max_packets, int) or isinstance(max_packets, bool):
        raise TypeError(f"max_packets must be an int, not {type(max_packets).__name__}")
    if not 1 <= max_packets <= MAX_BATCH:
        raise ValueError(f"max_packets must be between 1 and {MAX_BATCH}, got {max_packets}")


class SocketSlots:
    """The ``_sock`` and ``_state`` slots of every seqpacket object."""

    __slots__ = ("_sock", "_state")

    if TYPE_CHECKING:
        from uds._seqpacket import BlockingState

        _sock: _socket.socket
        _state: BlockingState

        def _blocked(self, reading: bool, what: str, method: Any, *args: object) -> Any: ...

        def _finish_send_many(self, packets: Sequence[Buffer], sent: int, flags: int) -> int: ...


class SeqpacketIO(SocketSlots):
    """The data methods of seqpacket connections (see the module notes)."""

    __slots__ = ()

    def send(self, data: Buffer, flags: int = 0) -> int:
        """Send ``data`` as one packet; return its length.

        Raises:
            BrokenPipeError: the peer is gone (never ``SIGPIPE``).
            OSError: ``EMSGSIZE`` when the packet is larger than the send buffer.
            BlockingIOError: non-blocking and the peer's queue is full.
            TimeoutError: the write timeout expired.
        """
        try:
            return self._sock.send(data, flags | _SEND_FLAGS)
        except BlockingIOError:
            if flags & _MSG_DONTWAIT:
                raise
        return self._blocked(False, "send", self.send, data, flags | _MSG_DONTWAIT)  # type: ignore[no-any-return]

    def send_fds(self, data: Buffer, fds: Iterable[FileDescriptorLike], flags: int = 0) -> int:
        """Send ``data`` as one packet carrying ``fds`` (ints or objects with ``fileno()``).

        ``data`` may be empty. The fds stay open and the caller's; the peer
        gets duplicates, in the same order. ``flags`` are added ``MSG_*`` flags.

        Raises:
            ValueError: more than ``SCM_MAX_FD`` (253) fds, or a negative fd,
                before sending anything.
            OSError: ``EBADF`` for an fd that is not open; nothing is sent.
            TypeError: an fd is neither an int nor has ``fileno()``.
            BrokenPipeError, BlockingIOError, TimeoutError: as :meth:`send`.
        """
        numbers = fd_array(fds)
        ancillary: _Ancillary = ((_SOL_SOCKET, _SCM_RIGHTS, numbers),) if numbers else _NO_ANCILLARY
        try:
            return _sendmsg(self._sock, (data,), ancillary, flags | _SEND_FLAGS)
        except BlockingIOError:
            if flags & _MSG_DONTWAIT:
                raise
        return self._blocked(False, "send", self.send_fds, data, numbers, flags | _MSG_DONTWAIT)  # type: ignore[no-any-return]

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Receive one packet of up to ``bufsize`` bytes (the stdlib signature).

        A longer packet is truncated and its tail lost; :meth:`recv_fds` and
        ``recv_vectored`` report that. Returns ``b""`` for an empty packet and
        at end of connection.

        Raises:
            BlockingIOError: non-blocking and nothing queued.
            TimeoutError: the read timeout expired.
        """
        try:
            return self._sock.recv(bufsize, flags)
        except BlockingIOError:
            if flags & _MSG_DONTWAIT:
                raise
        return self._blocked(True, "recv", self.recv, bufsize, flags | _MSG_DONTWAIT)  # type: ignore[no-any-return]

    def peek(self, bufsize: int) -> bytes:
        """Like :meth:`recv`, but leave the packet queued."""
        return self.recv(bufsize, _MSG_PEEK)

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        """Receive one packet into ``buffer``; return the bytes stored (the stdlib signature).

        Raises:
            ValueError: ``nbytes`` is negative or larger than ``buffer``.
            BlockingIOError, TimeoutError: as :meth:`recv`.
        """
        try:
            return self._sock.recv_into(buffer, nbytes, flags)
        except BlockingIOError:
            if flags & _MSG_DONTWAIT:
                raise
        return self._blocked(  # type: ignore[no-any-return]
            True, "recv", self.recv_into, buffer, nbytes, flags | _MSG_DONTWAIT
        )

    def recv_fds(
        self, bufsize: int, max_fds: int, flags: int = 0
    ) -> tuple[bytes, bool, ReceivedFds]:
        """Receive one packet of up to ``bufsize`` bytes and up to ``max_fds`` fds.

        The fds are close-on-exec and the caller's (use the :class:`ReceivedFds`
        as a context manager); fds beyond ``max_fds`` are closed and
        ``fds.truncated`` is set.

        Returns:
            ``(data, truncated, fds)``: ``truncated`` says the packet was longer
            than ``bufsize`` and its tail is lost.

        Raises:
            ValueError, TypeError: ``max_fds`` is not an int in 0..253, before receiving.
            BlockingIOError, TimeoutError: as :meth:`recv`.
        """
        space = _FDS_SPACE.get(max_fds) if type(max_fds) is int else None
        if space is None:
            space = fds_space(max_fds)  # raises the error that explains what is wrong
        try:
            data, ancdata, msg_flags, _ = _recvmsg(self._sock, bufsize, space, flags | _RECV_FLAGS)
        except BlockingIOError:
            if flags & _MSG_DONTWAIT:
                raise
            return self._blocked(  # type: ignore[no-any-return]
                True, "recv", self.recv_fds, bufsize, max_fds, flags | _MSG_DONTWAIT
            )
        return data, msg_flags & _MSG_TRUNC != 0, parse_fds(ancdata, msg_flags, max_fds)

    # Batches --------------------------------------------------------------------

    def send_many(self, packets: Iterable[Buffer], flags: int = 0) -> int:
        """Send each buffer of ``packets`` as one packet, in order; return how many were sent.

        Linux sends them with as few ``sendmmsg`` calls as it can. A blocking
        connection sends them all (waiting as needed, each wait bounded by the
        write timeout); a non-blocking one sends what fits and returns the
        count, at least one.

        Raises:
            TypeError: an item is not a bytes-like object (nothing is sent).
            BlockingIOError: non-blocking and not even one packet fits.
            BrokenPipeError, OSError: the first packet failed; after the first,
                the count sent so far is returned and the error repeats on the
                next call.
            TimeoutError: the write timeout expired.
        """
        batch = packets if type(packets) is list or type(packets) is tuple else list(packets)
        views = [memoryview(packet) for packet in batch]  # TypeError before anything is sent
        sent = 0
        for view in views:
            try:
                self._sock.send(view, flags | _SEND_FLAGS)
            except BlockingIOError:
                if flags & _MSG_DONTWAIT:
                    if sent:
                        return sent
                    raise
                return self._finish_send_many(batch, sent, flags)
            except OSError:
                if sent:
                    return sent
                raise
            sent += 1
        return sent

    def recv_many(
        self, bufsize: int, max_packets: int, max_fds: int = 0, flags: int = 0
    ) -> list[Packet]:
        """Receive up to ``max_packets`` packets: wait for the first, then take what is queued.

        Each :class:`uds.Packet` has the data (up to ``bufsize`` bytes), whether
        it was truncated, and with ``max_fds`` > 0 the fds it carried (up to
        ``max_fds`` per packet; ``None`` otherwise, when the kernel discards
        any fds sent). Linux receives the batch with one ``recvmmsg`` call.

        Raises:
            ValueError, TypeError: ``max_packets`` not in 1..1024, ``max_fds``
                not in 0..253, ``bufsize`` negative; before receiving.
            BlockingIOError: non-blocking and nothing queued.
            TimeoutError: the read timeout expired before the first packet.
        """
        check_batch_size(max_packets)
        if max_fds:
            fds_space(max_fds)
        try:
            first = _recv_packet(self._sock, bufsize, max_fds, flags)
        except BlockingIOError:
            if flags & _MSG_DONTWAIT:
                raise
            return self._blocked(  # type: ignore[no-any-return]
                True, "recv", self.recv_many, bufsize, max_packets, max_fds, flags | _MSG_DONTWAIT
            )
        packets = [first]
        while len(packets) < max_packets:
            try:
                packets.append(_recv_packet(self._sock, bufsize, max_fds, flags | _MSG_DONTWAIT))
            except BlockingIOError:
                break
        return packets



def _recv_packet(sock: _socket.socket, bufsize: int, max_fds: int, flags: int) -> Packet:
    if not max_fds:
        data, _, msg_flags, _ = _recvmsg(sock, bufsize, 0, flags)
        return Packet(data, msg_flags & _MSG_TRUNC != 0, None, None)
    data, ancdata, msg_flags, _ = _recvmsg(sock, bufsize, fds_space(max_fds), flags | _RECV_FLAGS)
    fds = parse_fds(ancdata, msg_flags, max_fds)
    return Packet(data, msg_flags & _MSG_TRUNC != 0, fds, None)
