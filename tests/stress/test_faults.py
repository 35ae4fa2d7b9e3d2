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
from tests.helpers import FilenoOnly, open_fds, same_file
from tests.stress.conftest import forked, wait_exit_code

HANG_GUARD = 30.0


# A peer SIGKILLed mid-transfer ----------------------------------------------------------


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_SEQPACKET])
def test_peer_killed_mid_transfer(pipe: tuple[int, int], kind: int) -> None:
    """The survivor drains what was queued (fds included), then gets EOF or a reset."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, kind)
    r, _ = pipe

    def send_forever() -> None:
        ours.close()
        while True:
            uds.send_fds(theirs, b"x" * 512, [r])

    with ours, theirs, forked(send_forever) as pid:
        theirs.close()
        ours.settimeout(HANG_GUARD)  # turns a hang into TimeoutError, never a pass
        for _ in range(100):
            _, fds = uds.recv_fds(ours, 512, 4)
            fds.close()
        os.kill(pid, signal.SIGKILL)
        assert wait_exit_code(pid) == -signal.SIGKILL
        drained = 0
        while True:
            try:
                data, fds = uds.recv_fds(ours, 512, 4)
            except ConnectionResetError:
                break
            with fds:
                if not data:
                    break
                for fd in fds:
                    assert same_file(fd, r)
                drained += 1
        # Writing to the dead peer is an error, never SIGPIPE.
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            uds.send_fds(ours, b"anyone?", [r])


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
