"""ReceivedFds ownership: close, take, detach, context manager."""

from __future__ import annotations

import copy
import os
import pickle
import socket
import struct
from typing import Callable

import pytest

import uds
import uds.ancillary
from uds import ReceivedFds


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_is_a_list_and_closes_what_it_owns() -> None:
    r, w = os.pipe()
    fds = ReceivedFds([r, w])
    assert fds == [r, w] and fds[1] == w and len(fds) == 2 and not fds.truncated
    fds.close()
    assert not _is_open(r) and not _is_open(w)
    assert fds == []
    fds.close()  # idempotent


def test_take_keeps_indexes_stable() -> None:
    a, b = os.pipe()
    c, d = os.pipe()
    with ReceivedFds([a, b, c, d], truncated=True) as fds:
        assert fds.truncated
        assert fds.take(1) == b
        assert fds.take(2) == c
        assert fds == [a, -1, -1, d]
        with pytest.raises(ValueError, match="already taken"):
            fds.take(1)
        with pytest.raises(IndexError):
            fds.take(9)
    assert not _is_open(a) and not _is_open(d)
    assert _is_open(b) and _is_open(c)
    os.close(b)
    os.close(c)


def test_detach_hands_out_the_rest() -> None:
    r, w = os.pipe()
    fds = ReceivedFds([r, w])
    fds.take(0)
    assert fds.detach() == [w]
    fds.close()
    assert _is_open(r) and _is_open(w)
    os.close(r)
    os.close(w)


def test_close_closes_all_and_reports_the_first_error() -> None:
    r, w = os.pipe()
    os.close(r)
    fds = ReceivedFds([r, w])
    with pytest.raises(OSError):
        fds.close()
    assert not _is_open(w)


def test_repr() -> None:
    assert repr(ReceivedFds([5], truncated=True)) == "ReceivedFds([5], truncated=True)"
    assert repr(ReceivedFds()) == "ReceivedFds([])"


_REFUSED = [
    ("append", lambda fds, fd: fds.append(fd)),
    ("extend", lambda fds, fd: fds.extend([fd])),
    ("insert", lambda fds, fd: fds.insert(0, fd)),
    ("setitem", lambda fds, fd: fds.__setitem__(0, fd)),
    ("setslice", lambda fds, fd: fds.__setitem__(slice(0, 1), [fd])),
    ("iadd", lambda fds, fd: fds.__iadd__([fd])),
    ("pop", lambda fds, fd: fds.pop()),
    ("pop0", lambda fds, fd: fds.pop(0)),
    ("remove", lambda fds, fd: fds.remove(fds[0])),
    ("delitem", lambda fds, fd: fds.__delitem__(0)),
    ("delslice", lambda fds, fd: fds.__delitem__(slice(None))),
    ("clear", lambda fds, fd: fds.clear()),
    ("imul", lambda fds, fd: fds.__imul__(2)),
    ("sort", lambda fds, fd: fds.sort()),
    ("reverse", lambda fds, fd: fds.reverse()),
    ("copy.copy", lambda fds, fd: copy.copy(fds)),
    ("copy.deepcopy", lambda fds, fd: copy.deepcopy(fds)),
    ("pickle", lambda fds, fd: pickle.dumps(fds)),
]


@pytest.mark.parametrize("operation", [op for _, op in _REFUSED], ids=[n for n, _ in _REFUSED])
def test_list_methods_cannot_bypass_ownership(
    operation: Callable[[ReceivedFds, int], object],
) -> None:
    a, b = os.pipe()
    stranger_r, stranger_w = os.pipe()
    fds = ReceivedFds([a, b])
    try:
        with pytest.raises(TypeError, match=r"take\(index\).*detach\(\)"):
            operation(fds, stranger_r)
        assert fds == [a, b]
    finally:
        fds.close()
    # The fd that was not received is not closed by close(); the received ones are.
    assert _is_open(stranger_r) and _is_open(stranger_w)
    assert not _is_open(a) and not _is_open(b)
    os.close(stranger_r)
    os.close(stranger_w)


def test_augmented_assignment_is_refused() -> None:
    fds = ReceivedFds()
    with pytest.raises(TypeError, match="take"):
        fds += [0]
    with pytest.raises(TypeError, match="take"):
        fds *= 2
    assert fds == []


def test_reading_and_plain_copies_still_work() -> None:
    r, w = os.pipe()
    with ReceivedFds([r, w]) as fds:
        assert fds[:1] == [r] and type(fds[:1]) is list
        assert list(fds) == [r, w] and type(fds.copy()) is list
        joined = fds.__add__([7])
        assert joined == [r, w, 7] and type(joined) is list
        assert fds.index(w) == 1 and fds.count(r) == 1 and w in fds
        assert sorted(fds) == sorted([r, w]) and list(reversed(fds)) == [w, r]
        plain = list(fds)
        plain.append(99)  # a plain copy owns nothing and may change
    assert not _is_open(r) and not _is_open(w)


def test_received_fds_are_owned_and_trimmed_through_the_receive_paths() -> None:
    # The receive code fills and trims ReceivedFds with list's own methods: two
    # SCM_RIGHTS arrays, then more fds than max_fds (closed and reported).
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    pipes = [os.pipe() for _ in range(2)]
    sent = [fd for pair in pipes for fd in pair]
    try:
        uds.send_fds(left, b"x", sent)
        data, fds = uds.recv_fds(right, 10, 2)
        with fds:
            assert data == b"x" and len(fds) == 2 and fds.truncated
            with pytest.raises(TypeError):
                fds.append(sent[0])
        assert not any(_is_open(fd) for fd in fds)
        ancdata = [
            (socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", sent[0])),
            (socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("2i", sent[1], sent[2])),
        ]
        left.sendmsg([b"y"], ancdata)
        received = uds.ancillary.recv_ancillary(right, 10, max_fds=8)
        with received:
            assert len(received.fds) == 3 and not received.fds.truncated
            taken = received.fds.take(0)
        os.close(taken)
    finally:
        for fd in sent:
            os.close(fd)
        left.close()
        right.close()
