"""Faults: a peer killed mid-transfer, EMFILE while receiving fds, signals, full buffers."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

import pytest

import uds
import uds.ancillary
from tests.helpers import FilenoOnly, assert_cloexec, open_fds, same_file
from tests.stress.conftest import forked, wait_exit_code

HANG_GUARD = 30.0


# A peer SIGKILLed mid-transfer ----------------------------------------------------------


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_SEQPACKET])
def test_peer_killed_mid_transfer(pipe: tuple[int, int], kind: int) -> None:
    """The survivor drains exactly what was queued (fds included), then gets EOF or a reset."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, kind)
    r, _ = pipe
    report_r, report_w = os.pipe()
    message = b"x" * 512

    def fill_then_block() -> None:
        ours.close()
        os.close(report_r)
        theirs.setblocking(False)
        sent_bytes = sent_messages = 0
        while True:
            try:
                sent = uds.send_fds(theirs, message, [r])
            except BlockingIOError:
                break
            # A stream may take part of a message; its fd went with that part.
            sent_bytes += sent
            sent_messages += 1
        os.write(report_w, json.dumps([sent_bytes, sent_messages]).encode() + b"\n")
        theirs.setblocking(True)
        # Blocked mid-send when the SIGKILL comes: the queue is full, nothing more is taken.
        uds.send_fds(theirs, message, [r])

    with ours, theirs, open(report_r, "rb") as report, forked(fill_then_block) as pid:
        theirs.close()
        os.close(report_w)
        queued_bytes, queued_messages = json.loads(report.readline())
        assert queued_messages > 1
        os.kill(pid, signal.SIGKILL)
        assert wait_exit_code(pid) == -signal.SIGKILL
        ours.settimeout(HANG_GUARD)  # turns a hang into TimeoutError, never a pass
        drained_bytes = drained_fds = 0
        while True:
            try:
                data, fds = uds.recv_fds(ours, 4096, 253)
            except ConnectionResetError:
                break
            with fds:
                if not data:
                    break
                assert not fds.truncated
                if kind == socket.SOCK_SEQPACKET:
                    assert data == message and len(fds) == 1
                assert data == b"x" * len(data)
                for fd in fds:
                    assert_cloexec(fd)
                    assert same_file(fd, r)
                drained_bytes += len(data)
                drained_fds += len(fds)
        assert (drained_bytes, drained_fds) == (queued_bytes, queued_messages)
        # Writing to the dead peer is an error (never SIGPIPE: see test_no_sigpipe_*).
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            uds.send_fds(ours, b"anyone?", [r])


# SIGPIPE at its default disposition -------------------------------------------------------
#
# Python ignores SIGPIPE at start-up, so in the test process a send without
# MSG_NOSIGNAL also just raises BrokenPipeError. These run in a forked child that
# restores SIG_DFL: a send path missing MSG_NOSIGNAL kills it.


def _closed_peer(kind: int) -> socket.socket:
    """One end of a connected pair whose other end is already closed."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, kind)
    theirs.close()
    return ours


def _asyncio_stream_send_fds(fd: int) -> None:
    import asyncio

    import uds.asyncio

    async def main() -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        _, writer = await asyncio.open_unix_connection(sock=ours)
        theirs.close()
        try:
            await uds.asyncio.send_fds(writer, b"x", [fd])
        finally:
            writer.close()

    asyncio.run(main())


def _asyncio_socket_send_fds(fd: int) -> None:
    import asyncio

    import uds.asyncio

    async def main() -> None:
        with _closed_peer(socket.SOCK_STREAM) as sock:
            sock.setblocking(False)
            await uds.asyncio.send_fds(sock, b"x", [fd])

    asyncio.run(main())


def _asyncio_seqpacket(fd: int, with_fds: bool) -> None:
    import asyncio

    import uds.asyncio

    async def main() -> None:
        ours, theirs = uds.asyncio.UnixSeqpacketConn.pair()
        theirs.close()
        with ours:
            if with_fds:
                await ours.send_fds(b"x", [fd])
            else:
                await ours.send(b"x")

    asyncio.run(main())


def _seqpacket_conn(conn_type: type[uds.UnixSeqpacketConn], send: str, fd: int) -> None:
    ours, theirs = conn_type.pair()
    theirs.close()
    with ours:
        if send == "send":
            ours.send(b"x")
        elif send == "send_fds":
            ours.send_fds(b"x", [fd])
        else:
            ours.send_vectored([b"x", b"y"])


def _with_closed_peer(kind: int, send: Callable[[socket.socket], object]) -> Callable[[int], None]:
    def run(fd: int) -> None:
        with _closed_peer(kind) as sock:
            send(sock)

    return run


def _mio_stream(fd: int, method: str) -> None:
    from uds_mio_compat.net import UnixStream

    ours, theirs = UnixStream.pair()
    theirs.close()
    with ours:
        getattr(ours, method)(b"x")


def _mio_datagram(fd: int, shut_rd: bool) -> None:
    from uds_mio_compat.net import UnixDatagram

    ours, theirs = UnixDatagram.pair()
    with ours, theirs:
        if shut_rd:
            theirs.shutdown(socket.SHUT_RD)  # the peer lives but refuses: EPIPE
        else:
            theirs.close()
        ours.send(b"x")


_STREAM, _SEQPACKET = socket.SOCK_STREAM, socket.SOCK_SEQPACKET
_ADDR = "@uds-test-no-such-listener"
SEND_PATHS: dict[str, tuple[Callable[[int], None], tuple[type[OSError], ...]]] = {
    "plain socket.send (control)": (
        lambda fd: _with_closed_peer(_STREAM, lambda s: s.send(b"x"))(fd),
        (BrokenPipeError,),
    ),
    "send_fds stream": (
        lambda fd: _with_closed_peer(_STREAM, lambda s: uds.send_fds(s, b"x", [fd]))(fd),
        (BrokenPipeError,),
    ),
    "send_fds seqpacket, borrowed fd": (
        lambda fd: _with_closed_peer(_SEQPACKET, lambda s: uds.send_fds(FilenoOnly(s), b"x", [fd]))(
            fd
        ),
        (BrokenPipeError,),
    ),
    # On a connected seqpacket socket Linux ignores the address: the send meets the closed peer.
    "send_to_unix_addr": (
        lambda fd: _with_closed_peer(_SEQPACKET, lambda s: uds.send_to_unix_addr(s, b"x", _ADDR))(
            fd
        ),
        (BrokenPipeError,),
    ),
    "send_vectored_to_unix_addr": (
        lambda fd: _with_closed_peer(
            _SEQPACKET, lambda s: uds.send_vectored_to_unix_addr(s, [b"x", b"y"], _ADDR)
        )(fd),
        (BrokenPipeError,),
    ),
    "send_fds_to": (
        lambda fd: _with_closed_peer(_SEQPACKET, lambda s: uds.send_fds_to(s, b"x", [fd], _ADDR))(
            fd
        ),
        (BrokenPipeError,),
    ),
    "ancillary.send_ancillary stream": (
        lambda fd: _with_closed_peer(
            _STREAM, lambda s: uds.ancillary.send_ancillary(s, b"x", fds=[fd], credentials=True)
        )(fd),
        (BrokenPipeError,),
    ),
    "UnixSeqpacketConn.send": (
        lambda fd: _seqpacket_conn(uds.UnixSeqpacketConn, "send", fd),
        (BrokenPipeError,),
    ),
    "UnixSeqpacketConn.send_fds": (
        lambda fd: _seqpacket_conn(uds.UnixSeqpacketConn, "send_fds", fd),
        (BrokenPipeError,),
    ),
    "UnixSeqpacketConn.send_vectored": (
        lambda fd: _seqpacket_conn(uds.UnixSeqpacketConn, "send_vectored", fd),
        (BrokenPipeError,),
    ),
    "NonblockingUnixSeqpacketConn.send": (
        lambda fd: _seqpacket_conn(uds.NonblockingUnixSeqpacketConn, "send", fd),
        (BrokenPipeError,),
    ),
    "NonblockingUnixSeqpacketConn.send_fds": (
        lambda fd: _seqpacket_conn(uds.NonblockingUnixSeqpacketConn, "send_fds", fd),
        (BrokenPipeError,),
    ),
    "mio UnixStream.write": (lambda fd: _mio_stream(fd, "write"), (BrokenPipeError,)),
    "mio UnixStream.send": (lambda fd: _mio_stream(fd, "send"), (BrokenPipeError,)),
    # Documented: a closed datagram peer refuses; a peer that shut down reading breaks the pipe.
    "mio UnixDatagram.send, peer closed": (
        lambda fd: _mio_datagram(fd, shut_rd=False),
        (ConnectionRefusedError,),
    ),
    "mio UnixDatagram.send, peer SHUT_RD": (
        lambda fd: _mio_datagram(fd, shut_rd=True),
        (BrokenPipeError,),
    ),
    "asyncio UnixSeqpacketConn.send": (
        lambda fd: _asyncio_seqpacket(fd, with_fds=False),
        (BrokenPipeError,),
    ),
    "asyncio UnixSeqpacketConn.send_fds": (
        lambda fd: _asyncio_seqpacket(fd, with_fds=True),
        (BrokenPipeError,),
    ),
    "asyncio send_fds on a StreamWriter": (_asyncio_stream_send_fds, (BrokenPipeError,)),
    "asyncio send_fds on a socket": (_asyncio_socket_send_fds, (BrokenPipeError,)),
}


def _send_with_default_sigpipe(path: str, fd: int) -> None:
    """In the child: restore SIGPIPE's default action, then send to a closed peer."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_DFL
    send, expected = SEND_PATHS[path]
    try:
        send(fd)
    except expected:
        return
    raise AssertionError(f"{path}: no error from a send to a closed peer")


@pytest.mark.parametrize("path", [path for path in SEND_PATHS if "control" not in path])
def test_no_sigpipe_on_any_send_path(path: str, pipe: tuple[int, int]) -> None:
    """Every send path raises the documented error, and the process is not killed by SIGPIPE."""
    r, _ = pipe
    with forked(lambda: _send_with_default_sigpipe(path, r)) as pid:
        code = wait_exit_code(pid)
    assert code != -signal.SIGPIPE, f"{path} raised SIGPIPE"
    assert code == 0, f"{path}: the child failed (exit code {code}, traceback on stderr)"


def test_the_sigpipe_check_can_fail(pipe: tuple[int, int]) -> None:
    """Control: a plain send without MSG_NOSIGNAL does kill a child with SIGPIPE at SIG_DFL."""
    r, _ = pipe
    with forked(lambda: _send_with_default_sigpipe("plain socket.send (control)", r)) as pid:
        assert wait_exit_code(pid) == -signal.SIGPIPE


# EMFILE on receive ------------------------------------------------------------------------


def _receive_at_fd_limit(sock: socket.socket, free_slots: int, report: int) -> None:
    """In the child: receive 10 fds with room for only ``free_slots``; report what happened."""
    before = open_fds()
    # New fds take the lowest free numbers below the limit: put the limit right
    # above the first ``free_slots`` holes.
    holes = [n for n in range(max(before) + free_slots + 2) if n not in before]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (holes[free_slots], hard))
    free = free_slots
    try:
        data, fds = uds.recv_fds(sock, 64, 10)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    result = {"data": data.decode(), "count": len(fds), "truncated": fds.truncated, "free": free}
    fds.close()
    result["leaked"] = sorted(open_fds() - before)
    os.write(report, json.dumps(result).encode())


@pytest.mark.parametrize("free_slots", [0, 3])
def test_emfile_on_receive_is_reported_as_truncation(
    seqpacket_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int], free_slots: int
) -> None:
    sender, receiver = seqpacket_pair
    r, _ = pipe
    report_r, report_w = os.pipe()
    with (
        open(report_r, "rb") as report,
        forked(lambda: _receive_at_fd_limit(receiver, free_slots, report_w)) as pid,
    ):
        os.close(report_w)
        uds.send_fds(sender, b"ten fds", [r] * 10)
        assert wait_exit_code(pid) == 0
        result = json.loads(report.read())
    assert result["data"] == "ten fds"
    assert result["truncated"] is True
    assert result["count"] == result["free"] < 10
    assert result["leaked"] == []


# Signals during blocking calls ----------------------------------------------------------


@contextmanager
def alarms_then(action: Callable[[], None], after: int = 3) -> Iterator[list[int]]:
    """Fire SIGALRM repeatedly; on the ``after``-th one run ``action`` and stop the timer.

    Yields the list of alarm counts so the test can check that the blocking call
    really was interrupted. The previous handler and timer (pytest-timeout's) are
    restored afterwards.
    """
    fired: list[int] = []

    def handler(signum: int, frame: object) -> None:
        fired.append(signum)
        if len(fired) == after:
            signal.setitimer(signal.ITIMER_REAL, 0)
            action()

    old_handler = signal.signal(signal.SIGALRM, handler)
    old_timer = signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
    try:
        yield fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_timer[0] > 0:
            signal.setitimer(signal.ITIMER_REAL, *old_timer)


def test_blocking_recv_fds_on_a_borrowed_fd_survives_signals(
    seqpacket_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, b = seqpacket_pair
    r, _ = pipe
    with alarms_then(lambda: uds.send_fds(a, b"late", [r])) as fired:
        data, fds = uds.recv_fds(FilenoOnly(b), 16, 2)
    with fds:
        assert data == b"late"
        assert len(fds) == 1 and same_file(fds[0], r)
    assert len(fired) >= 3, "the call was never interrupted; the test proved nothing"


def test_blocking_send_fds_on_a_full_buffer_survives_signals(
    seqpacket_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, b = seqpacket_pair
    r, _ = pipe
    a.setblocking(False)
    queued = 0
    try:
        while True:
            uds.send_fds(a, b"fill" * 256, [])
            queued += 1
    except BlockingIOError:
        pass
    a.setblocking(True)
    with alarms_then(lambda: b.recv(4096)) as fired:
        uds.send_fds(FilenoOnly(a), b"last", [r])
    assert len(fired) >= 3
    for _ in range(queued - 1):
        assert b.recv(4096) == b"fill" * 256
    data, fds = uds.recv_fds(b, 16, 1)
    with fds:
        assert data == b"last" and len(fds) == 1


def test_blocking_accept_survives_signals(abstract_name: str) -> None:
    clients: list[socket.socket] = []
    with uds.bind_unix_addr(abstract_name, socket.SOCK_SEQPACKET) as listener:
        with alarms_then(
            lambda: clients.append(uds.connect_to_unix_addr(abstract_name, socket.SOCK_SEQPACKET))
        ) as fired:
            conn, _ = uds.accept_unix_addr(FilenoOnly(listener))
        with conn, clients[0]:
            clients[0].send(b"hello")
            assert conn.recv(8) == b"hello"
    assert len(fired) >= 3


def test_a_raising_handler_propagates_and_leaks_nothing(
    seqpacket_pair: tuple[socket.socket, socket.socket],
) -> None:
    """PEP 475: the call is retried unless the handler raises; then the error comes out."""

    class Stop(Exception):
        pass

    def stop() -> None:
        raise Stop

    _, b = seqpacket_pair
    with pytest.raises(Stop), alarms_then(stop):
        uds.recv_fds(FilenoOnly(b), 16, 4)


# Full send buffers with non-blocking sockets ------------------------------------------


def test_full_nonblocking_seqpacket_sends_nothing_half(pipe: tuple[int, int]) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK)
    r, _ = pipe
    with a, b:
        sent = []
        size = 1000
        while True:
            message = bytes([len(sent) & 0xFF]) * (size + len(sent) % 17)
            try:
                assert uds.send_fds(FilenoOnly(a), message, [r]) == len(message)
            except BlockingIOError as error:
                assert error.errno == errno.EAGAIN
                break
            sent.append(message)
        assert len(sent) > 1
        # The socket is still non-blocking and still usable after the refusal.
        assert a.getblocking() is False
        for message in sent:
            data, fds = uds.recv_fds(FilenoOnly(b), 2 * size, 2)
            with fds:
                assert data == message
                assert len(fds) == 1 and not fds.truncated
        with pytest.raises(BlockingIOError):
            uds.recv_fds(b, 2 * size, 2)
        # Room again: the next message goes through whole.
        assert uds.send_fds(a, b"again", [r]) == 5
        data, fds = uds.recv_fds(b, 16, 1)
        with fds:
            assert data == b"again" and len(fds) == 1
