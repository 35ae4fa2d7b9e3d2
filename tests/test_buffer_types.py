"""Any object with the buffer protocol works where bytes do (uds._ancillary.Buffer).

tests/typing_usage.py shows that type checkers accept these objects; this shows
that they work at run time, whole and in order.
"""

from __future__ import annotations

import array
import mmap
import os
import socket
from collections.abc import Iterator

import pytest

import uds
import uds.ancillary

PAYLOAD = bytes(range(256)) * 20  # 5120 bytes: more than IOV_MAX one-byte pieces


def _mmap() -> mmap.mmap:
    shared = mmap.mmap(-1, len(PAYLOAD))
    shared[:] = PAYLOAD
    return shared


def _array() -> array.array[int]:
    return array.array("B", PAYLOAD)


MAKERS = {"mmap": _mmap, "array": _array, "bytes": lambda: PAYLOAD}


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b:
        yield a, b


@pytest.mark.parametrize("kind", MAKERS)
def test_one_buffer_is_one_packet(pair: tuple[socket.socket, socket.socket], kind: str) -> None:
    """A single mmap or array is one buffer, not an iterable of pieces."""
    a, b = pair
    data = MAKERS[kind]()
    assert uds.ancillary.send_ancillary(a, data) == len(PAYLOAD)
    assert b.recv(2 * len(PAYLOAD)) == PAYLOAD
    r, w = os.pipe()
    try:
        assert uds.send_fds(a, data, [w]) == len(PAYLOAD)
        received, fds = uds.recv_fds(b, 2 * len(PAYLOAD), 1)
        with fds:
            assert received == PAYLOAD and len(fds) == 1
            os.write(fds[0], b"!")
        assert os.read(r, 1) == b"!"
    finally:
        os.close(r)
        os.close(w)
    if isinstance(data, mmap.mmap):
        data.close()


def test_several_kinds_gathered_in_order(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    shared = _mmap()
    with shared:
        parts = [shared, _array(), b"end"]
        assert uds.ancillary.send_ancillary(a, parts) == 2 * len(PAYLOAD) + 3
    assert b.recv(3 * len(PAYLOAD)) == PAYLOAD + PAYLOAD + b"end"


@pytest.mark.parametrize("kind", ["mmap", "array"])
def test_writable_buffers_receive(pair: tuple[socket.socket, socket.socket], kind: str) -> None:
    a, b = pair
    target = MAKERS[kind]()
    a.send(b"hello")
    count, fds = uds.recv_fds_into(b, target, 1)
    fds.close()
    assert count == 5 and bytes(target[:5]) == b"hello"
    a.send(b"again")
    with uds.ancillary.recv_ancillary(b, [target]) as received:
        assert received.data is None
    assert bytes(target[:5]) == b"again"
    if isinstance(target, mmap.mmap):
        target.close()


def test_seqpacket_methods() -> None:
    shared, numbers = _mmap(), _array()
    a, b = uds.UnixSeqpacketConn.pair()
    with a, b, shared:
        assert a.send(shared) == len(PAYLOAD)
        assert a.send_vectored([numbers, b"!"]) == len(PAYLOAD) + 1
        into = array.array("B", bytes(len(PAYLOAD)))
        assert b.recv_into(into) == len(PAYLOAD)
        assert into.tobytes() == PAYLOAD
        assert b.recv(2 * len(PAYLOAD)) == PAYLOAD + b"!"
