"""Every native entry point, called in long loops, keeps RSS and the fd count flat.

The quick profile makes 10k calls per entry point; ``UDS_STRESS=full`` makes
1M (CI runs this file in the full profile, once). Each loop covers the success path
and, where one exists, an error path (a closed fd, a bad argument handed to the
twin, ``EAGAIN``), since those are where references and fds get lost.
"""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import Iterator
from typing import Callable

import pytest

import uds
from tests.helpers import open_fds
from uds import _impl

pytestmark = pytest.mark.skipif(not uds.native_available(), reason=str(_impl.why_pure))

FULL = os.environ.get("UDS_STRESS", "").lower() == "full"
CALLS = 1_000_000 if FULL else 10_000
# Growth allowed over the loop: allocator noise, far below one leaked object per call.
RSS_SLACK = 2 * 1024 * 1024


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def flat(step: Callable[[], object], calls: int = CALLS, warm_up: int = 5_000) -> None:
    for _ in range(warm_up):  # fill caches and free lists first
        step()
    gc.collect()
    fds, before = open_fds(), rss()
    for _ in range(calls):
        step()
    gc.collect()
    grown = rss() - before
    assert open_fds() == fds, "fds leaked"
    assert grown < RSS_SLACK, f"RSS grew by {grown} bytes over {calls} calls"


def test_the_check_catches_a_leak_of_one_object_per_call() -> None:
    kept: list[bytes] = []
    with pytest.raises(AssertionError, match="RSS grew"):
        flat(lambda: kept.append(bytes(200)), calls=20_000)
    leaked: list[int] = []
    with pytest.raises(AssertionError, match="fds leaked"):
        flat(lambda: leaked.append(os.dup(0)) if len(leaked) < 3 else None, 10, warm_up=0)
    for fd in leaked:
        os.close(fd)


@pytest.fixture
def pair() -> Iterator[tuple[uds.NonblockingUnixSeqpacketConn, uds.NonblockingUnixSeqpacketConn]]:
    a, b = uds.NonblockingUnixSeqpacketConn.pair()
    with a, b:
        yield a, b


def _expect(error: type[BaseException], call: Callable[[], object]) -> None:
    try:
        call()
    except error:
        return
    raise AssertionError(f"{call} did not raise {error.__name__}")


def test_seqpacket_methods(pair: tuple[uds.NonblockingUnixSeqpacketConn, ...]) -> None:
    a, b = pair
    r, w = os.pipe()
    buffer = bytearray(64)
    try:
        def step() -> None:
            a.send(b"x" * 64)
            b.recv(64)
            a.send_fds(b"fd", [r, w])
            _, _, fds = b.recv_fds(8, 1)  # one surplus fd closed by the C core
            fds.close()
            a.send(b"y")
            b.peek(8)
            b.recv_into(buffer)
            a.send_many([b"1", b"2"])
            b.recv_many(8, 4, 1)
            _expect(BlockingIOError, lambda: b.recv(8))
            _expect(BlockingIOError, lambda: b.recv_fds(8, 1))
            _expect(ValueError, lambda: b.recv_fds(8, 254))

        flat(step)
    finally:
        os.close(r)
        os.close(w)


def test_extension_functions() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b.setblocking(False)
    r, w = os.pipe()
    buffer = bytearray(64)
    try:
        def step() -> None:
            uds.send_fds(a, b"data", [r])
            _, fds = uds.recv_fds(b, 64, 0)  # the fd arrives in the reserve and is closed
            fds.close()
            uds.send_fds(a.fileno(), b"data", (r, w))
            _, fds = uds.recv_fds_into(b.fileno(), buffer, 2)
            fds.close()
            uds.local_unix_addr(a)
            uds.peer_unix_addr(b)
            uds.send_many(a, [b"p", b"q"])
            uds.recv_many(b, 8, 4)
            _expect(BlockingIOError, lambda: uds.recv_fds(b, 8, 1))
            _expect(OSError, lambda: uds.send_fds(a, b"x", [w + 1000]))
            _expect(ValueError, lambda: uds.send_fds(a, b"x", [-1]))

        flat(step)
    finally:
        for fd in (r, w):
            os.close(fd)
        a.close()
        b.close()
