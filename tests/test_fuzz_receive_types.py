"""Fuzzing the receive methods of the socket types: seqpacket (blocking, non-blocking,
asyncio), asyncio streams, uds_mio_compat.net, and the sd_notify listener.

tests/test_fuzz_receive.py feeds the extension functions; here the same hostile
peer (random sizes, random fd counts, ``SO_PASSCRED`` on or off, hand-made
control messages with bogus fds) writes with a raw ``sendmsg`` into every
receive method of the library's types. Each must return exactly what arrived
or raise a documented error; every fd it hands out is close-on-exec and the
caller's; fds sent to a method that takes none are closed by the kernel; and
nothing leaks.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import select
import socket
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import uds
import uds.asyncio

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the dev extra
    uvloop = None
import uds.systemd
from tests.helpers import open_fds
from tests.strategies import hand_made_ancillary
from uds_mio_compat.net import UnixDatagram, UnixStream

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCM_RIGHTS = 1
SCM_CREDENTIALS = 2
SCM_MAX_FD = 253
NOTIFY_BUFSIZE = 4096  # what NotifyListener.recv reads; longer datagrams are truncated


@dataclass
class Got:
    """What one receive call returned, in one shape for every method."""

    data: bytes
    # The method's "message was longer than the buffer" flag; None where it has none.
    truncated: Optional[bool] = None
    fds: uds.ReceivedFds = field(default_factory=uds.ReceivedFds)


class Session:
    """A raw sending socket connected to one of the library's receiving objects."""

    kind: ClassVar[int] = socket.SOCK_SEQPACKET
    passes_fds: ClassVar[bool] = False

    def __init__(self, passcred: bool) -> None:
        self.sender, receiving = socket.socketpair(socket.AF_UNIX, self.kind)
        self.fd = receiving.fileno()
        if passcred:
            # Unsolicited credentials ride along with every message.
            receiving.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.receiver: Any = self.adopt(receiving)

    def adopt(self, sock: socket.socket) -> Any:
        return sock

    def receive(self, bufsize: int, maxfds: int) -> Got:
        raise NotImplementedError

    #: How this session makes its event loop (uvloop variants replace it).
    new_loop: ClassVar[Callable[[], asyncio.AbstractEventLoop]] = staticmethod(
        asyncio.new_event_loop
    )

    def run(self, coroutine: Any) -> Any:
        if self.loop is None:
            self.loop = self.new_loop()
        return self.loop.run_until_complete(coroutine)

    def readable(self) -> bool:
        return bool(select.select([self.fd], [], [], 0)[0])

    def close(self) -> None:
        self.receiver.close()
        if self.loop is not None:
            self.loop.close()
        self.sender.close()


class SeqpacketRecvFds(Session):
    conn_type: ClassVar[type[uds.UnixSeqpacketConn]] = uds.UnixSeqpacketConn
    passes_fds = True

    def adopt(self, sock: socket.socket) -> Any:
        return self.conn_type.from_fd(sock.detach())

    def receive(self, bufsize: int, maxfds: int) -> Got:
        data, truncated, fds = self.receiver.recv_fds(bufsize, maxfds)
        return Got(data, truncated, fds)


class NonblockingSeqpacketRecvFds(SeqpacketRecvFds):
    conn_type = uds.NonblockingUnixSeqpacketConn


class SeqpacketRecvVectored(SeqpacketRecvFds):
    passes_fds = False

    def receive(self, bufsize: int, maxfds: int) -> Got:
        first, second = bytearray(bufsize // 3), bytearray(bufsize - bufsize // 3)
        nbytes, truncated = self.receiver.recv_vectored([first, memoryview(second)])
        return Got(bytes(first + second)[:nbytes], truncated)


class SeqpacketPeekVectored(SeqpacketRecvFds):
    def receive(self, bufsize: int, maxfds: int) -> Got:
        buffer = bytearray(bufsize)
        nbytes, truncated = self.receiver.peek_vectored([buffer])
        # A peek leaves the packet, fds included, for the next receive.
        data, truncated_again, fds = self.receiver.recv_fds(bufsize, maxfds)
        assert (data, truncated_again) == (bytes(buffer[:nbytes]), truncated)
        return Got(data, truncated, fds)


class SeqpacketRecv(SeqpacketRecvFds):
    passes_fds = False

    def receive(self, bufsize: int, maxfds: int) -> Got:
        return Got(self.receiver.recv(bufsize))


class SeqpacketRecvInto(SeqpacketRecvFds):
    passes_fds = False

    def receive(self, bufsize: int, maxfds: int) -> Got:
        buffer = bytearray(bufsize)
        return Got(bytes(buffer[: self.receiver.recv_into(buffer)]))


class AsyncioSeqpacketRecvFds(Session):
    passes_fds = True

    def adopt(self, sock: socket.socket) -> Any:
        return uds.asyncio.UnixSeqpacketConn.from_fd(sock.detach())

    def receive(self, bufsize: int, maxfds: int) -> Got:
        data, truncated, fds = self.run(self.receiver.recv_fds(bufsize, maxfds))
        return Got(data, truncated, fds)


class AsyncioSeqpacketRecv(AsyncioSeqpacketRecvFds):
    passes_fds = False

    def receive(self, bufsize: int, maxfds: int) -> Got:
        return Got(self.run(self.receiver.recv(bufsize)))


class AsyncioStreamSocketRecvFds(Session):
    kind = socket.SOCK_STREAM
    passes_fds = True

    def adopt(self, sock: socket.socket) -> Any:
        sock.setblocking(False)
        return sock

    def receive(self, bufsize: int, maxfds: int) -> Got:
        data, fds = self.run(uds.asyncio.recv_fds(self.receiver, bufsize, maxfds))
        return Got(data, None, fds)


class AsyncioStreamReaderRecvFds(Session):
    kind = socket.SOCK_STREAM
    passes_fds = True

    def adopt(self, sock: socket.socket) -> Any:
        reader, writer = self.run(asyncio.open_unix_connection(sock=sock))
        # Documented: fds sent while the transport reads are lost; pause it first.
        writer.transport.pause_reading()
        self.writer = writer
        return reader

    def receive(self, bufsize: int, maxfds: int) -> Got:
        data, fds = self.run(uds.asyncio.recv_fds(self.receiver, bufsize, maxfds))
        return Got(data, None, fds)

    def close(self) -> None:
        self.writer.close()  # closes the transport and its socket
        self.run(self.writer.wait_closed())
        assert self.loop is not None
        self.loop.close()
        self.sender.close()


class MioStreamRead(Session):
    kind = socket.SOCK_STREAM

    def adopt(self, sock: socket.socket) -> Any:
        return UnixStream.from_std(sock)

    def receive(self, bufsize: int, maxfds: int) -> Got:
        return Got(self.receiver.read(bufsize))


class MioStreamRecvInto(MioStreamRead):
    def receive(self, bufsize: int, maxfds: int) -> Got:
        buffer = bytearray(bufsize)
        return Got(bytes(buffer[: self.receiver.recv_into(buffer)]))


class MioDatagramRecv(Session):
    kind = socket.SOCK_DGRAM

    def adopt(self, sock: socket.socket) -> Any:
        return UnixDatagram.from_std(sock)

    def receive(self, bufsize: int, maxfds: int) -> Got:
        return Got(self.receiver.recv(bufsize))


class MioDatagramRecvInto(MioDatagramRecv):
    def receive(self, bufsize: int, maxfds: int) -> Got:
        buffer = bytearray(bufsize)
        return Got(bytes(buffer[: self.receiver.recv_into(buffer)]))


class MioDatagramRecvFrom(MioDatagramRecv):
    def receive(self, bufsize: int, maxfds: int) -> Got:
        data, sender = self.receiver.recv_from(bufsize)
        assert sender == uds.UnixSocketAddr.new_unspecified()
        return Got(data)


SESSIONS: dict[str, type[Session]] = {
    "UnixSeqpacketConn.recv_fds": SeqpacketRecvFds,
    "UnixSeqpacketConn.recv_vectored": SeqpacketRecvVectored,
    "UnixSeqpacketConn.peek_vectored": SeqpacketPeekVectored,
    "UnixSeqpacketConn.recv": SeqpacketRecv,
    "UnixSeqpacketConn.recv_into": SeqpacketRecvInto,
    "NonblockingUnixSeqpacketConn.recv_fds": NonblockingSeqpacketRecvFds,
    "asyncio.UnixSeqpacketConn.recv_fds": AsyncioSeqpacketRecvFds,
    "asyncio.UnixSeqpacketConn.recv": AsyncioSeqpacketRecv,
    "asyncio.recv_fds(stream socket)": AsyncioStreamSocketRecvFds,
    "asyncio.recv_fds(StreamReader)": AsyncioStreamReaderRecvFds,
    "mio UnixStream.read": MioStreamRead,
    "mio UnixStream.recv_into": MioStreamRecvInto,
    "mio UnixDatagram.recv": MioDatagramRecv,
    "mio UnixDatagram.recv_into": MioDatagramRecvInto,
    "mio UnixDatagram.recv_from": MioDatagramRecvFrom,
}


def _on_uvloop(base: type[Session]) -> type[Session]:
    """The same session with its coroutines run on uvloop."""
    return type(
        f"Uvloop{base.__name__}", (base,), {"new_loop": staticmethod(uvloop.new_event_loop)}
    )


if uvloop is not None:
    # uvloop opens a process-wide pipe with its first loop and keeps it: open it
    # now, outside the per-test fd leak checks (as tests/test_asyncio.py does).
    uvloop.new_event_loop().close()
    for _name in [name for name in SESSIONS if name.startswith("asyncio.")]:
        SESSIONS[f"uvloop:{_name}"] = _on_uvloop(SESSIONS[_name])


@contextmanager
def session(name: str, passcred: bool = False) -> Iterator[Session]:
    """Open the named session; close it on the way out."""
    opened = SESSIONS[name](passcred)
    try:
        yield opened
    finally:
        opened.close()


def _check_fds(fds: uds.ReceivedFds, like: int) -> None:
    want = os.fstat(like)
    for fd in fds:
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, f"fd {fd} is inheritable"
        got = os.fstat(fd)
        assert (got.st_dev, got.st_ino) == (want.st_dev, want.st_ino), f"fd {fd} is another file"


def _rest_of_stream(fd: int, size: int) -> bytes:
    """Read ``size`` more bytes from the socket behind a stream session."""
    rest = b""
    while len(rest) < size:
        chunk = os.read(fd, size - len(rest))
        assert chunk, "the stream ended early"
        rest += chunk
    return rest


def _no_copy_of_pipe_left(r: int, w: int) -> None:
    """Close our read end; the write end must then see no reader anywhere (EPIPE)."""
    os.close(r)
    with pytest.raises(BrokenPipeError):
        os.write(w, b"?")


@pytest.mark.parametrize("name", list(SESSIONS))
@FUZZ
@given(
    data=st.binary(min_size=1, max_size=3000),
    nfds=st.integers(0, 12),
    maxfds=st.integers(0, 12),
    bufsize=st.integers(1, 3100),
    passcred=st.booleans(),
)
def test_receive_methods_report_exactly_what_arrived(
    name: str, data: bytes, nfds: int, maxfds: int, bufsize: int, passcred: bool
) -> None:
    before = open_fds()
    r, w = os.pipe()
    try:
        with session(name, passcred) as opened:
            rights = [(socket.SOL_SOCKET, SCM_RIGHTS, array("i", [r] * nfds).tobytes())]
            assert opened.sender.sendmsg([data], rights if nfds else []) == len(data)
            got = opened.receive(bufsize, maxfds)
            with got.fds:
                assert got.data == data[:bufsize]
                if got.truncated is not None:
                    assert got.truncated == (len(data) > bufsize)
                if opened.passes_fds:
                    assert len(got.fds) == min(nfds, maxfds)
                    assert got.fds.truncated == (nfds > maxfds)
                    _check_fds(got.fds, r)
                else:
                    assert got.fds == []
            if opened.kind == socket.SOCK_STREAM:
                # The rest stays queued, and no fd comes with it (they came with the first byte).
                assert _rest_of_stream(opened.fd, len(data) - len(got.data)) == data[bufsize:]
            # Every copy of r sent, received or dropped by the kernel, is closed now.
            _no_copy_of_pipe_left(r, w)
            r = -1
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
    assert open_fds() == before


@pytest.mark.parametrize("name", list(SESSIONS))
@FUZZ
@given(ancillary=hand_made_ancillary, maxfds=st.integers(0, 8))
def test_bogus_control_messages_are_refused_or_received_cleanly(
    name: str, ancillary: list[tuple[int, int, bytes]], maxfds: int
) -> None:
    before = open_fds()
    with session(name) as opened:
        try:
            opened.sender.sendmsg([b"garbage"], ancillary)
        except OSError as error:
            assert error.errno in (errno.EBADF, errno.EINVAL, errno.EPERM, errno.ESRCH), error
            assert not opened.readable(), "a refused message was queued"
        else:
            got = opened.receive(64, maxfds)
            with got.fds:
                assert got.data == b"garbage"
                assert got.truncated in (None, False)
                assert len(got.fds) <= (maxfds if opened.passes_fds else 0)
                for fd in got.fds:
                    assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    assert open_fds() == before


@pytest.mark.parametrize("name", [name for name, kind in SESSIONS.items() if kind.passes_fds])
def test_two_rights_messages_with_the_most_fds(name: str) -> None:
    """Two SCM_RIGHTS messages in one send (240 fds) arrive whole; beyond maxfds, truncated."""
    r, w = os.pipe()
    try:
        for maxfds, want in ((SCM_MAX_FD, 240), (100, 100)):
            with session(name) as opened:
                rights = (socket.SOL_SOCKET, SCM_RIGHTS, array("i", [r] * 120).tobytes())
                opened.sender.sendmsg([b"many"], [rights, rights])
                got = opened.receive(16, maxfds)
                with got.fds:
                    assert got.data == b"many"
                    assert len(got.fds) == want
                    assert got.fds.truncated == (want < 240)
                    _check_fds(got.fds, r)
    finally:
        os.close(r)
        os.close(w)


# sd_notify listener ---------------------------------------------------------------------

_notify_line = st.one_of(
    st.tuples(
        st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=12), st.text(max_size=40)
    ).map(lambda kv: f"{kv[0]}={kv[1]}".replace("\n", " ").encode()),
    st.binary(max_size=60),  # garbage, invalid UTF-8, NULs
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_notify_line, max_size=8),
    padding=st.sampled_from([0, 0, 0, 5000, 70_000]),
    nfds=st.sampled_from([0, 0, 1, 7, 252, SCM_MAX_FD]),
    max_fds=st.sampled_from([0, 3, SCM_MAX_FD]),
)
def test_notify_listener_takes_hostile_datagrams(
    lines: list[bytes], padding: int, nfds: int, max_fds: int
) -> None:
    before = open_fds()
    r, w = os.pipe()
    data = b"\n".join(lines) + b"\n" + b"\xff" * padding
    try:
        with (
            uds.systemd.NotifyListener(max_fds=max_fds) as listener,
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender,
        ):
            rights = [(socket.SOL_SOCKET, SCM_RIGHTS, array("i", [r] * nfds).tobytes())]
            sender.sendmsg([data], rights if nfds else [], 0, listener.addr.to_std())
            with listener.recv(timeout=10) as message:
                assert message.data == data[:NOTIFY_BUFSIZE]
                assert message.truncated == (len(data) > NOTIFY_BUFSIZE)
                assert message.fields == uds.systemd.parse_notify_message(message.data)
                for key, value in message.fields.items():
                    assert isinstance(key, str) and isinstance(value, str)
                assert message.credentials is not None
                assert message.credentials.pid == os.getpid()
                assert message.credentials.uid == os.getuid()
                assert len(message.fds) == min(nfds, max_fds)
                assert message.fds.truncated == (nfds > max_fds)
                _check_fds(message.fds, r)
    finally:
        os.close(r)
        os.close(w)
    assert open_fds() == before


def test_notify_listener_reads_the_valid_lines_around_invalid_utf8() -> None:
    with (
        uds.systemd.NotifyListener() as listener,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender,
    ):
        sender.sendto(
            b"\xff\xfe\nREADY=1\nSTATUS=caf\xc3\xa9 \xff\n=x\nnoequals\n", listener.addr.to_std()
        )
        with listener.recv(timeout=10) as message:
            assert message.fields == {"READY": "1", "STATUS": "caf\u00e9 \ufffd"}
            assert not message.truncated and message.fds == []
