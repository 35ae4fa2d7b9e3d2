"""Fixtures: sockets that are always closed, and a leak check around every test."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import open_fds


@pytest.fixture(autouse=True)
def no_fd_leak(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves more fds open than it found (counted in /proc/self/fd).

    A test that legitimately keeps process-wide fds (an event loop's selector
    cached by a library) can opt out with ``@pytest.mark.fd_leak_ok``.
    """
    before = open_fds()
    yield
    if request.node.get_closest_marker("fd_leak_ok"):
        return
    leaked = open_fds() - before
    if leaked:
        targets = {}
        for fd in sorted(leaked):
            try:
                targets[fd] = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                targets[fd] = "?"
        pytest.fail(f"test leaked fds: {targets}")


@pytest.fixture
def abstract_name() -> str:
    """A unique abstract address (``@uds-test-…``), so tests can run in parallel."""
    return f"@uds-test-{uuid.uuid4().hex}"


@pytest.fixture
def stream_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        yield a, b


@pytest.fixture
def dgram_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        yield a, b


@pytest.fixture
def seqpacket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b:
        yield a, b


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass
