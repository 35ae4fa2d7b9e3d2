"""uds_mio_compat: Waker/close race, closed sources, signals during poll, closed Poll."""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any, Optional

import pytest

from tests.test_mio_compat import BACKENDS, events_of
from uds_mio_compat import Events, Interest, Poll, Token, Waker, _waker

R = Interest.READABLE


@pytest.fixture(params=BACKENDS)
def poll(request: pytest.FixtureRequest) -> Iterator[Poll]:
    p = Poll(request.param())
    yield p
    p.close()


def _kind(poll: Poll) -> str:
    """``EpollSelector``, ``PollSelector`` or ``SelectSelector`` (stdlib or selectors2)."""
    return type(poll.selector).__name__


# --- 1. wake() racing close() ---------------------------------------------------


def _wake_until_error(waker: Waker, started: threading.Event, outcome: list[BaseException]) -> None:
    started.set()
    try:
        while True:
            waker.wake()
    except BaseException as exc:
        outcome.append(exc)


@pytest.mark.parametrize("eventfd", [True, False], ids=["eventfd", "pipe"])
def test_wake_racing_close_never_writes_into_a_reused_fd(
    eventfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if eventfd and not _waker._HAS_EVENTFD:
        if sys.version_info < (3, 10):
            pytest.skip("os.eventfd is new in Python 3.10")
        pytest.skip("no os.eventfd on this platform")
    monkeypatch.setattr(_waker, "_HAS_EVENTFD", eventfd)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with Poll() as poll:
            for _ in range(300):
                waker = Waker(poll.registry, Token(9))
                started = threading.Event()
                outcome: list[BaseException] = []
                thread = threading.Thread(target=_wake_until_error, args=(waker, started, outcome))
                thread.start()
                started.wait()
                waker.close()
                # Grab the numbers close() just freed, while wake() may still be looping.
                pair = socket.socketpair()
                pipe = os.pipe()
                thread.join()
                try:
                    os.set_blocking(pipe[0], False)
                    with pytest.raises(BlockingIOError):
                        os.read(pipe[0], 64)
                    pair[1].setblocking(False)
                    pair[0].setblocking(False)
                    with pytest.raises(BlockingIOError):
                        pair[0].recv(64)
                    with pytest.raises(BlockingIOError):
                        pair[1].recv(64)
                finally:
                    pair[0].close()
                    pair[1].close()
                    os.close(pipe[0])
                    os.close(pipe[1])
                assert len(outcome) == 1
                assert type(outcome[0]) is ValueError, outcome[0]
                assert "closed" in str(outcome[0])
    finally:
        sys.setswitchinterval(old_interval)


def test_wake_after_close_raises_and_close_is_idempotent(poll: Poll) -> None:
    waker = Waker(poll.registry, Token(1))
    waker.close()
    waker.close()
    with pytest.raises(ValueError, match="closed"):
        waker.wake()
    assert events_of(poll) == {}


# --- 2. a source closed while registered ------------------------------------------


def test_closed_registered_fd_is_reported_per_selector(poll: Poll) -> None:
    a, b = socket.socketpair()
    with b:
        fd = a.fileno()
        poll.registry.register(a, Token(1), R)
        a.close()  # without deregistering; nothing opens a new fd until the polls are done
        kind = _kind(poll)
        if kind == "SelectSelector":
            for _ in range(2):
                with pytest.raises(OSError) as info:
                    events_of(poll)
                assert info.value.errno == errno.EBADF
        elif kind == "PollSelector":
            for _ in range(2):  # level-triggered: every poll reports it
                got = events_of(poll)
                assert list(got) == [1]
                event = got[1]
                assert event.is_readable() and event.is_error()
                assert not event.is_read_closed()
        else:
            assert kind == "EpollSelector"
            assert events_of(poll) == {}
        poll.registry.deregister(fd)
        assert events_of(poll) == {}


def test_closed_fd_is_an_error_with_and_without_the_recorder() -> None:
    import selectors

    for selector in (selectors.PollSelector, selectors.PollSelector()):
        with Poll(selector) as poll:
            a, b = socket.socketpair()
            with b:
                poll.registry.register(a, Token(3), R)
                a.close()
                got = events_of(poll)
                assert list(got) == [3] and got[3].is_error()


# --- 3. signals during poll ----------------------------------------------------------


class _Interrupt(Exception):
    pass


def _inside_poll(frame: Optional[FrameType]) -> bool:
    while frame is not None:
        if frame.f_code is Poll.poll.__code__:
            return True
        frame = frame.f_back
    return False


def _signal_until(flag: threading.Event, stop: threading.Event) -> None:
    """Send SIGUSR1 to the main thread until ``flag`` is set (the handler saw a poll)."""
    main = threading.main_thread().ident
    assert main is not None
    while not flag.is_set() and not stop.is_set():
        signal.pthread_kill(main, signal.SIGUSR1)
        flag.wait(0.005)


@pytest.fixture
def sigusr1() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run only in the main thread")
    previous = signal.getsignal(signal.SIGUSR1)
    yield
    signal.signal(signal.SIGUSR1, previous)


def test_signal_handler_that_raises_interrupts_poll(poll: Poll, sigusr1: None) -> None:
    raised = threading.Event()
    stop = threading.Event()

    def handler(signum: int, frame: Optional[FrameType]) -> None:
        if _inside_poll(frame):
            raised.set()
            raise _Interrupt

    # A registered source that never becomes ready: selectors2's SelectSelector
    # returns at once when nothing is registered.
    a, b = socket.socketpair()
    with a, b:
        poll.registry.register(a, Token(1), R)
        signal.signal(signal.SIGUSR1, handler)
        thread = threading.Thread(target=_signal_until, args=(raised, stop))
        thread.start()
        try:
            with pytest.raises(_Interrupt):
                poll.poll(Events.with_capacity(4), timeout=30)
        finally:
            stop.set()
            thread.join()
        assert raised.is_set()
        poll.registry.deregister(a)


def test_waker_woken_from_a_signal_handler_ends_poll(poll: Poll, sigusr1: None) -> None:
    woke = threading.Event()
    stop = threading.Event()
    with Waker(poll.registry, Token(7)) as waker:

        def handler(signum: int, frame: Optional[FrameType]) -> None:
            if _inside_poll(frame):
                waker.wake()
                woke.set()

        signal.signal(signal.SIGUSR1, handler)
        thread = threading.Thread(target=_signal_until, args=(woke, stop))
        thread.start()
        events = Events.with_capacity(4)
        try:
            poll.poll(events, timeout=30)
        finally:
            stop.set()
            thread.join()
        assert woke.is_set()
        assert [event.token for event in events] == [7]


def test_signal_handler_that_returns_does_not_end_poll_a_waker_does(
    poll: Poll, sigusr1: None
) -> None:
    interrupted = threading.Event()
    stop = threading.Event()

    def handler(signum: int, frame: Optional[FrameType]) -> None:
        if _inside_poll(frame):
            interrupted.set()

    with Waker(poll.registry, Token(42)) as waker:

        def signal_then_wake() -> None:
            _signal_until(interrupted, stop)
            waker.wake()

        signal.signal(signal.SIGUSR1, handler)
        thread = threading.Thread(target=signal_then_wake)
        thread.start()
        events = Events.with_capacity(4)
        try:
            # The wait is interrupted and resumed: it ends with the waker's event,
            # not empty-handed at the signal.
            poll.poll(events, timeout=30)
        finally:
            stop.set()
            thread.join()
        assert interrupted.is_set()
        assert [event.token for event in events] == [42]


def test_signal_during_poll_with_a_ready_fd_still_reports_it(poll: Poll, sigusr1: None) -> None:
    interrupted = threading.Event()
    stop = threading.Event()
    a, b = socket.socketpair()
    with a, b:
        poll.registry.register(a, Token(5), R)

        def handler(signum: int, frame: Optional[FrameType]) -> None:
            if _inside_poll(frame):
                interrupted.set()

        def signal_then_send() -> None:
            _signal_until(interrupted, stop)
            b.send(b"x")

        signal.signal(signal.SIGUSR1, handler)
        thread = threading.Thread(target=signal_then_send)
        thread.start()
        events = Events.with_capacity(4)
        try:
            poll.poll(events, timeout=30)
        finally:
            stop.set()
            thread.join()
        assert interrupted.is_set()
        assert [(e.token, e.is_readable()) for e in events] == [(5, True)]
        poll.registry.deregister(a)


# --- 4. a closed Poll ------------------------------------------------------------------


def test_every_operation_on_a_closed_poll_raises_value_error(poll: Poll) -> None:
    a, b = socket.socketpair()
    with a, b:
        registry = poll.registry
        registry.register(b, Token(2), R)
        with Waker(registry, Token(3)) as waker:
            poll.close()
            poll.close()  # idempotent
            calls: list[tuple[str, Any]] = [
                ("register", lambda: registry.register(a, Token(1), R)),
                ("reregister", lambda: registry.reregister(b, Token(1), R)),
                ("deregister", lambda: registry.deregister(b)),
                ("try_clone", registry.try_clone),
                ("poll", lambda: poll.poll(Events.with_capacity(4), 0)),
                ("Waker", lambda: Waker(registry, Token(4))),
            ]
            for name, call in calls:
                with pytest.raises(ValueError, match="closed") as info:
                    call()
                assert "Poll" in str(info.value), name
            # bad arguments on a closed Poll: the closed state is reported first
            with pytest.raises(ValueError, match="closed"):
                registry.register(a, 5, R)  # type: ignore[arg-type]
            waker.wake()  # the waker owns its fds: still usable, and closes cleanly
        with pytest.raises(ValueError, match="closed"):
            waker.wake()
