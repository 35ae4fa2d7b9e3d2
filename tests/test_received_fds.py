"""ReceivedFds ownership: close, take, detach, context manager."""

from __future__ import annotations

import os

import pytest

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
