"""uds_mio_compat: Poll, Registry, Events, Waker over every selector backend."""

from __future__ import annotations

import os
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from uds_mio_compat import Events, Interest, Poll, Registry, Token, Waker, load_selectors2

R = Interest.READABLE
W = Interest.WRITABLE


def _selectors2() -> Any:
    try:
        return load_selectors2()
    except ModuleNotFoundError:
        return None


_S2 = _selectors2()
_needs_s2 = pytest.mark.skipif(_S2 is None, reason="selectors2 is not installed")

# (id, factory giving what Poll(selector=...) receives)
BACKENDS = [
    pytest.param(lambda: selectors.SelectSelector, id="select"),
    pytest.param(lambda: selectors.PollSelector, id="poll"),
    pytest.param(lambda: selectors.EpollSelector, id="epoll"),
    pytest.param(lambda: None, id="default"),
    pytest.param(lambda: selectors.EpollSelector(), id="epoll-instance"),
    pytest.param(lambda: _S2.DefaultSelector, id="selectors2-default", marks=_needs_s2),
    pytest.param(lambda: _S2.SelectSelector, id="selectors2-select", marks=_needs_s2),
    pytest.param(lambda: _S2.PollSelector, id="selectors2-poll", marks=_needs_s2),
]


@pytest.fixture(params=BACKENDS)
def poll(request: pytest.FixtureRequest) -> Iterator[Poll]:
    p = Poll(request.param())
    yield p
    p.close()


def events_of(poll: Poll, timeout: float = 0, capacity: int = 64) -> dict[int, Any]:
    events = Events.with_capacity(capacity)
    poll.poll(events, timeout)
    return {event.token: event for event in events}


@pytest.fixture
def seqpair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK)
    with a, b:
        yield a, b


def test_readable_after_send_only(poll: Poll, seqpair: tuple[socket.socket, socket.socket]) -> None:
    a, b = seqpair
    poll.registry.register(a, Token(7), R)
    assert events_of(poll) == {}
    b.send(b"ping")
    got = events_of(poll)
    assert list(got) == [7]
    event = got[7]
    assert event.is_readable() and not event.is_writable()
    assert not event.is_read_closed() and not event.is_write_closed() and not event.is_error()
    # level-triggered: still reported until drained
    assert list(events_of(poll)) == [7]
    assert a.recv(16) == b"ping"
    assert events_of(poll) == {}


def test_writable_and_combined_interest(
    poll: Poll, seqpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = seqpair
    poll.registry.register(a, Token(1), R | W)
    event = events_of(poll)[1]
    assert event.is_writable() and not event.is_readable()
    b.send(b"x")
    event = events_of(poll)[1]
    assert event.is_writable() and event.is_readable()


def test_peer_close_is_read_and_write_closed(
    poll: Poll, seqpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = seqpair
    poll.registry.register(a, Token(3), R)
    b.close()
    event = events_of(poll)[3]
    assert event.is_readable()
    assert event.is_read_closed()
    assert event.is_write_closed()
    assert a.recv(16) == b""


def test_peer_shutdown_write_is_read_closed_only(
    poll: Poll, seqpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = seqpair
    poll.registry.register(a, Token(3), R)
    b.shutdown(socket.SHUT_WR)
    event = events_of(poll)[3]
    assert event.is_readable() and event.is_read_closed()
    assert not event.is_write_closed() and not event.is_error()


def test_peer_closing_with_unread_data_is_an_error(poll: Poll) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a:
        a.setblocking(False)
        a.send(b"never read")
        b.close()  # closing with unread data resets the connection
        poll.registry.register(a, Token(4), R)
        event = events_of(poll)[4]
        assert event.is_error() and event.is_read_closed()
        with pytest.raises(ConnectionResetError):
            a.recv(1)


def test_pipe_write_end_error_when_reader_gone(poll: Poll) -> None:
    r, w = os.pipe()
    try:
        os.close(r)
        poll.registry.register(w, Token(5), W)
        event = events_of(poll)[5]
        assert event.is_writable() and event.is_error() and event.is_write_closed()
        assert not event.is_read_closed()
        poll.registry.deregister(w)
    finally:
        os.close(w)


def test_reregister_changes_token_and_interest(
    poll: Poll, seqpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = seqpair
    registry = poll.registry
    registry.register(a, Token(1), R)
    assert events_of(poll) == {}
    registry.reregister(a, Token(2), W)
    event = events_of(poll)[2]
    assert event.is_writable() and not event.is_readable()
    b.send(b"x")
    registry.reregister(a, Token(9), R)
    assert list(events_of(poll)) == [9]
    registry.deregister(a)
    assert events_of(poll) == {}


def test_registration_errors(poll: Poll, seqpair: tuple[socket.socket, socket.socket]) -> None:
    a, _ = seqpair
    registry = poll.registry
    registry.register(a, Token(1), R)
    with pytest.raises(FileExistsError):
        registry.register(a, Token(2), W)
    registry.deregister(a)
    with pytest.raises(FileNotFoundError):
        registry.deregister(a)
    with pytest.raises(FileNotFoundError):
        registry.reregister(a, Token(1), R)
    with pytest.raises(ValueError, match="READABLE or WRITABLE"):
        registry.register(a, Token(1), Interest(0))
    with pytest.raises(TypeError, match="token"):
        registry.register(a, "1", R)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Interest"):
        registry.register(a, Token(1), 1)  # type: ignore[arg-type]
    assert events_of(poll) == {}


def test_deregistering_inside_the_event_loop_skips_pending_events(poll: Poll) -> None:
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(3)]
    try:
        for token, (a, b) in enumerate(pairs):
            poll.registry.register(a, Token(token), R)
            b.send(b"x")
        events = Events.with_capacity(16)
        poll.poll(events, 0)
        assert len(events) == 3
        seen = []
        for event in events:
            seen.append(event.token)
            for token, (a, _) in enumerate(pairs):
                if token != event.token:
                    poll.registry.deregister(a)
        assert len(seen) == 1
        poll.registry.deregister(pairs[seen[0]][0])
        assert events_of(poll) == {}
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_capacity_hands_the_rest_to_the_next_poll(poll: Poll) -> None:
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(5)]
    try:
        for token, (a, b) in enumerate(pairs):
            poll.registry.register(a, Token(token), R)
            b.send(b"x")
        events = Events.with_capacity(2)
        seen: list[int] = []
        for _ in range(3):
            poll.poll(events, 0)
            assert 1 <= len(events) <= 2
            seen.extend(event.token for event in events)
        assert sorted(seen) == [0, 1, 2, 3, 4]
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_waker_from_another_thread(poll: Poll) -> None:
    with Waker(poll.registry, Token(99)) as waker:
        started = threading.Event()

        def wake_soon() -> None:
            started.wait()
            time.sleep(0.05)
            waker.wake()

        thread = threading.Thread(target=wake_soon)
        thread.start()
        started.set()
        events = Events.with_capacity(4)
        poll.poll(events, timeout=30)
        thread.join()
        assert [event.token for event in events] == [99]
        assert [event.is_readable() for event in events] == [True]
        # the Poll drained it: one wake, one event
        assert events_of(poll) == {}
        waker.wake()
        waker.wake()
        assert list(events_of(poll)) == [99]
        assert events_of(poll) == {}
    with pytest.raises(ValueError, match="closed"):
        waker.wake()
    assert events_of(poll) == {}


def test_waker_fd_is_cloexec_and_nonblocking(poll: Poll) -> None:
    from tests.helpers import assert_cloexec, assert_nonblocking

    with Waker(poll.registry, Token(1)) as waker:
        assert_cloexec(waker)
        assert_nonblocking(waker)


def test_registry_clone_shares_registrations(
    poll: Poll, seqpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = seqpair
    clone = poll.registry.try_clone()
    assert isinstance(clone, Registry)
    clone.register(a, Token(5), R)
    b.send(b"x")
    assert list(events_of(poll)) == [5]
    with pytest.raises(FileExistsError):
        poll.registry.register(a, Token(6), R)


def test_poll_timeout_returns_empty(poll: Poll) -> None:
    events = Events.with_capacity(4)
    poll.poll(events, 0.01)
    assert events.is_empty() and len(events) == 0


def test_bad_selector_and_capacity() -> None:
    with pytest.raises(TypeError, match="selector"):
        Poll(selector=object())
    with pytest.raises(ValueError, match="at least 1"):
        Events.with_capacity(0)


def test_default_backend_reads_hangups_from_the_kernel_masks() -> None:
    with Poll() as poll:
        assert poll._recorder is not None
    with Poll(selectors.SelectSelector) as poll:
        assert poll._recorder is None


def test_uds_nonblocking_seqpacket_types_under_poll(poll: Poll, abstract_name: str) -> None:
    from uds.nonblocking import UnixSeqpacketConn, UnixSeqpacketListener

    with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
        poll.registry.register(listener, Token(0), R)
        assert events_of(poll) == {}
        with UnixSeqpacketConn.connect_unix_addr(abstract_name) as client:
            assert list(events_of(poll)) == [0]
            server, _ = listener.accept_unix_addr()
            with server:
                poll.registry.register(server, Token(1), R)
                assert events_of(poll) == {}
                client.send(b"packet")
                event = events_of(poll)[1]
                assert event.is_readable() and not event.is_read_closed()
                assert server.recv(64) == b"packet"
                with pytest.raises(BlockingIOError):
                    server.recv(64)
                client.close()
                event = events_of(poll)[1]
                assert event.is_read_closed() and event.is_write_closed()
                poll.registry.deregister(server)
