"""Seqpacket read, write and accept timeouts: they expire despite signals, on real sockets.

The timeouts used to be ``SO_RCVTIMEO``/``SO_SNDTIMEO``, which the kernel restarts
each time CPython retries a call a signal interrupted: with a signal every 50 ms
a 0.2 s timeout never expired. Here a ``SIGALRM`` fires every 30 ms during each
call. Time bounds are generous (a 0.2 s timeout must expire within 2 s).
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import pytest

from tests.helpers import assert_blocking, assert_cloexec, assert_nonblocking, same_file
from uds import (
    NonblockingUnixSeqpacketConn,
    UnixSeqpacketConn,
    UnixSeqpacketListener,
)

TIMEOUT = 0.2
BOUND = 2.0  # a 0.2 s timeout must expire well before this
WATCHDOG = 20.0  # the signal handler fails a call still blocked after this long
PACKET = b"x" * 4096


class Interrupted(Exception):
    """What a signal handler raises to end a blocked call."""


@contextmanager
def alarm_every(interval: float = 0.03, raise_after: int = 0) -> Iterator[list[int]]:
    """Deliver ``SIGALRM`` every ``interval`` s; yield the count of signals handled.

    With ``raise_after`` the handler raises :class:`Interrupted` on that signal.
    pytest-timeout's own ``SIGALRM`` handler and timer are put back afterwards,
    and meanwhile our handler stands in for it (it raises after ``WATCHDOG`` s).
    """
    count = [0]
    start = time.monotonic()

    def handler(signum: int, frame: Any) -> None:
        count[0] += 1
        if raise_after and count[0] == raise_after:
            raise Interrupted(f"signal {count[0]}")
        if time.monotonic() - start > WATCHDOG:
            raise AssertionError(f"still blocked after {WATCHDOG} s of signals")

    old_handler = signal.signal(signal.SIGALRM, handler)
    old_timer = signal.setitimer(signal.ITIMER_REAL, interval, interval)
    try:
        yield count
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_timer[0]:
            remaining = max(old_timer[0] - (time.monotonic() - start), 0.001)
            signal.setitimer(signal.ITIMER_REAL, remaining, old_timer[1])


@contextmanager
def later(action: Callable[[], object], delay: float = 0.1) -> Iterator[None]:
    """Run ``action`` in a thread after ``delay`` s; join it (and re-raise its error) on exit."""
    errors: list[BaseException] = []

    def run() -> None:
        time.sleep(delay)
        try:
            action()
        except BaseException as error:  # reported by the test thread below
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield
    finally:
        thread.join(30)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


@pytest.fixture
def pair() -> Iterator[tuple[UnixSeqpacketConn, UnixSeqpacketConn]]:
    a, b = UnixSeqpacketConn.pair()
    with a, b:
        yield a, b


def fill(conn: UnixSeqpacketConn) -> int:
    """Send until the peer's queue is full; return the packets sent."""
    sent = 0
    try:
        while True:
            conn.send(PACKET, socket.MSG_DONTWAIT)
            sent += 1
    except BlockingIOError:
        return sent


def drain(conn: UnixSeqpacketConn, packets: int) -> None:
    for _ in range(packets):
        assert conn.recv(len(PACKET)) == PACKET


READS: dict[str, Callable[[UnixSeqpacketConn], object]] = {
    "recv": lambda conn: conn.recv(64),
    "recv_into": lambda conn: conn.recv_into(bytearray(64)),
    "recv_vectored": lambda conn: conn.recv_vectored([bytearray(8), bytearray(56)]),
    "recv_fds": lambda conn: conn.recv_fds(64, 2),
    "peek": lambda conn: conn.peek(64),
    "peek_vectored": lambda conn: conn.peek_vectored([bytearray(64)]),
}

WRITES: dict[str, Callable[[UnixSeqpacketConn, int], object]] = {
    "send": lambda conn, fd: conn.send(PACKET),
    "send_vectored": lambda conn, fd: conn.send_vectored([PACKET[:100], PACKET[100:]]),
    "send_fds": lambda conn, fd: conn.send_fds(PACKET, [fd]),
}


def expect_timeout(call: Callable[[], object], what: str) -> float:
    """Run ``call`` under a steady signal; check it times out in time; return the time taken."""
    with alarm_every() as signals:
        start = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            call()
        elapsed = time.monotonic() - start
    assert info.value.errno == errno.ETIMEDOUT
    assert str(info.value) == f"[Errno {errno.ETIMEDOUT}] {what} timed out"
    assert signals[0] >= 2, "the call was not interrupted: the test proves nothing"
    assert TIMEOUT * 0.75 <= elapsed < BOUND
    return elapsed


# Expiring despite signals ---------------------------------------------------------------


@pytest.mark.parametrize("name", READS)
def test_read_timeout_expires_despite_signals(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn], name: str
) -> None:
    _, b = pair
    b.set_read_timeout(TIMEOUT)
    expect_timeout(lambda: READS[name](b), "recv")


@pytest.mark.parametrize("name", WRITES)
def test_write_timeout_expires_despite_signals(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn], name: str
) -> None:
    a, b = pair
    a.set_write_timeout(TIMEOUT)
    sent = fill(a)
    assert sent > 0
    expect_timeout(lambda: WRITES[name](a, 0), "send")
    drain(b, sent)  # nothing half-sent: exactly the packets that went through are queued
    with pytest.raises(BlockingIOError):
        b.recv(64, socket.MSG_DONTWAIT)


def test_accept_timeout_expires_despite_signals(abstract_name: str) -> None:
    with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
        listener.set_timeout(TIMEOUT)
        expect_timeout(listener.accept_unix_addr, "accept")


def test_without_signals_the_timeout_expires_too(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    _, b = pair
    b.set_read_timeout(TIMEOUT)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        b.recv(64)
    assert TIMEOUT * 0.75 <= time.monotonic() - start < BOUND


# Returning what arrives in time -----------------------------------------------------------


@pytest.mark.parametrize("name", READS)
def test_read_returns_data_arriving_before_the_deadline_despite_signals(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn], name: str
) -> None:
    a, b = pair
    b.set_read_timeout(10)
    with later(lambda: a.send(b"in time")), alarm_every() as signals:
        result = READS[name](b)
    assert signals[0] >= 1
    if name == "recv_fds":
        assert isinstance(result, tuple)
        data, truncated, fds = result
        assert (data, truncated, list(fds)) == (b"in time", False, [])
    elif name in ("recv", "peek"):
        assert result == b"in time"
    elif name == "recv_into":
        assert result == len(b"in time")
    else:
        assert result == (len(b"in time"), False)


def test_recv_fds_gets_fds_arriving_before_the_deadline_despite_signals(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn], pipe: tuple[int, int]
) -> None:
    a, b = pair
    r, w = pipe
    b.set_read_timeout(10)
    with later(lambda: a.send_fds(b"fds", [w, r])), alarm_every():
        data, truncated, fds = b.recv_fds(64, 2)
    with fds:
        assert (data, truncated, fds.truncated, len(fds)) == (b"fds", False, False, 2)
        assert same_file(fds[0], w) and same_file(fds[1], r)
        for fd in fds:
            assert_cloexec(fd)


@pytest.mark.parametrize("name", WRITES)
def test_send_completes_when_the_peer_drains_before_the_deadline(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn], name: str, pipe: tuple[int, int]
) -> None:
    a, b = pair
    a.set_write_timeout(10)
    sent = fill(a)
    with later(lambda: drain(b, sent)), alarm_every() as signals:
        assert WRITES[name](a, pipe[0]) == len(PACKET)
    assert signals[0] >= 1
    data, _, fds = b.recv_fds(len(PACKET), 1)
    with fds:
        assert data == PACKET
        assert len(fds) == (1 if name == "send_fds" else 0)


def test_accept_returns_a_client_process_connecting_before_the_deadline(
    abstract_name: str,
) -> None:
    client = textwrap.dedent(
        f"""
        import time, uds
        time.sleep(0.2)
        with uds.UnixSeqpacketConn.connect_unix_addr({abstract_name!r}) as conn:
            conn.send(b"from pid %d" % __import__("os").getpid())
            conn.recv(1)  # until the server closes
        """
    )
    with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
        listener.set_timeout(30)
        with subprocess.Popen([sys.executable, "-c", client]) as child:
            try:
                with alarm_every() as signals:
                    conn, _ = listener.accept_unix_addr()
                with conn:
                    assert signals[0] >= 1
                    assert_blocking(conn)  # accepted connections have no timeouts
                    assert conn.read_timeout() is None and conn.write_timeout() is None
                    assert conn.recv(64) == b"from pid %d" % child.pid
            finally:
                assert child.wait(30) == 0


# Signal handlers that raise ------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [5.0, None])
def test_a_raising_handler_ends_the_wait_and_leaks_nothing(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn], pipe: tuple[int, int], timeout: float
) -> None:
    a, b = pair
    b.set_read_timeout(timeout)
    b.set_write_timeout(5.0)  # the fd is O_NONBLOCK even when reads wait forever
    with alarm_every(raise_after=3), pytest.raises(Interrupted, match="signal 3"):
        b.recv_fds(64, 2)
    # The socket is unharmed: the next packet and its fd arrive whole.
    a.send_fds(b"after", [pipe[1]])
    data, truncated, fds = b.recv_fds(64, 2)
    with fds:
        assert (data, truncated, len(fds)) == (b"after", False, 1)
        assert same_file(fds[0], pipe[1])


def test_a_raising_handler_ends_a_send_and_accept(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn], abstract_name: str
) -> None:
    a, b = pair
    a.set_write_timeout(5.0)
    sent = fill(a)
    with alarm_every(raise_after=2), pytest.raises(Interrupted):
        a.send_fds(PACKET, [a])
    drain(b, sent)
    with pytest.raises(BlockingIOError):
        b.recv(64, socket.MSG_DONTWAIT)  # nothing was half-sent
    with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
        listener.set_timeout(5.0)
        with alarm_every(raise_after=2), pytest.raises(Interrupted):
            listener.accept_unix_addr()


# Without timeouts --------------------------------------------------------------------------


def test_without_timeouts_calls_block_until_data_on_a_blocking_fd(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    assert b.read_timeout() is None and b.write_timeout() is None
    assert_blocking(b)
    with later(lambda: a.send(b"eventually")), alarm_every():
        assert b.recv(64) == b"eventually"


def test_a_direction_without_timeout_waits_forever_while_the_other_has_one(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    b.set_write_timeout(TIMEOUT)
    assert_nonblocking(b)
    with later(lambda: a.send(b"late"), delay=TIMEOUT * 2), alarm_every():
        assert b.recv(64) == b"late"  # not TimeoutError, not BlockingIOError
    b.set_write_timeout(None)
    b.set_read_timeout(TIMEOUT)
    assert_nonblocking(b)
    sent = fill(b)
    with later(lambda: drain(a, sent), delay=TIMEOUT * 2):
        assert b.send(b"waited") == len(b"waited")
    assert a.recv(64) == b"waited"


def test_huge_timeouts_wait_without_overflowing(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    b.set_read_timeout(1e300)
    with later(lambda: a.send(b"still")):
        assert b.recv(64) == b"still"
    with pytest.raises(ValueError, match="positive finite"):
        b.set_read_timeout(10**400)
    assert b.read_timeout() == 1e300


# Mode and state -----------------------------------------------------------------------------


def test_the_fd_is_nonblocking_only_while_a_timeout_is_set(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn], abstract_name: str
) -> None:
    a, _ = pair
    assert_blocking(a)
    a.set_read_timeout(1)
    assert_nonblocking(a)
    a.set_write_timeout(2)
    a.set_read_timeout(None)
    assert_nonblocking(a)
    a.set_write_timeout(None)
    assert_blocking(a)
    with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
        listener.set_timeout(1)
        assert_nonblocking(listener)
        listener.set_timeout(None)
        assert_blocking(listener)


def test_timeouts_read_back_exactly_as_set(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn], abstract_name: str
) -> None:
    a, _ = pair
    for value in (0.2, 5, 1e-9, 123.456):
        a.set_read_timeout(value)
        a.set_write_timeout(value)
        assert a.read_timeout() == value and a.write_timeout() == value
    with pytest.raises(ValueError, match="got 0"):
        a.set_read_timeout(0)
    assert a.read_timeout() == 123.456  # a rejected value changes nothing
    with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
        listener.set_timeout(0.25)
        assert listener.timeout() == 0.25
        with pytest.raises(ValueError, match="-1"):
            listener.set_timeout(-1)
        with pytest.raises(TypeError):
            listener.set_timeout(True)
        assert listener.timeout() == 0.25


def test_set_nonblocking_overrides_timeouts_and_restores_them(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    b.set_read_timeout(5)
    b.set_nonblocking(True)
    assert_nonblocking(b)
    with pytest.raises(BlockingIOError):
        b.recv(64)
    b.set_read_timeout(None)
    assert_nonblocking(b)  # still asked to be non-blocking
    b.set_read_timeout(TIMEOUT)
    b.set_nonblocking(False)
    assert_nonblocking(b)  # the timeout needs it
    expect_timeout(lambda: b.recv(64), "recv")
    b.set_read_timeout(None)
    assert_blocking(b)
    a.send(b"blocking again")
    assert b.recv(64) == b"blocking again"


def test_dontwait_still_raises_blocking_io_error_with_timeouts(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    a.set_write_timeout(5)
    b.set_read_timeout(5)
    with pytest.raises(BlockingIOError):
        b.recv(64, socket.MSG_DONTWAIT)
    with pytest.raises(BlockingIOError):
        b.recv_into(bytearray(64), 0, socket.MSG_DONTWAIT)
    fill(a)
    with pytest.raises(BlockingIOError):
        a.send(b"x", socket.MSG_DONTWAIT)


def test_clones_share_timeouts_and_mode(pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn]) -> None:
    a, b = pair
    b.set_read_timeout(TIMEOUT)
    with b.try_clone() as clone:
        assert clone.read_timeout() == TIMEOUT
        expect_timeout(lambda: clone.recv(64), "recv")
        clone.set_read_timeout(None)  # the shared fd becomes blocking again, for both
        assert b.read_timeout() is None
        assert_blocking(b)
        with later(lambda: a.send(b"to either")):
            assert b.recv(64) == b"to either"
        clone.set_write_timeout(3)
        assert b.write_timeout() == 3
        assert_nonblocking(b)
        clone.set_nonblocking(True)
        with pytest.raises(BlockingIOError):
            b.recv(64)  # b, not only the clone, is now non-blocking


def test_nonblocking_types_are_unchanged(abstract_name: str) -> None:
    a, b = NonblockingUnixSeqpacketConn.pair()
    with a, b:
        assert_nonblocking(b)
        with pytest.raises(BlockingIOError):
            b.recv(64)
        b.set_nonblocking(False)
        assert_blocking(b)
        with later(lambda: a.send(b"now blocking")):
            assert b.recv(64) == b"now blocking"


def test_a_blocking_fd_made_nonblocking_elsewhere_still_blocks(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    # O_NONBLOCK belongs to the open file, which a dup shared with another
    # program has too: a blocking object without timeouts waits, it does not fail.
    a, b = pair
    os.set_blocking(b.fileno(), False)
    with later(lambda: a.send(b"waited")):
        assert b.recv(64) == b"waited"
