"""The shells that borrow a fileno()-only object's fd: cached by number, never closing it."""

from __future__ import annotations

import errno
import gc
import os
import socket

import pytest

import uds
from tests.helpers import FilenoOnly, assert_blocking, assert_nonblocking
from uds import _fd, _impl

# The shell cache belongs to the pure-Python implementation: the tests that look
# into it call the twins (the C core reads fds without shells).
twins = _impl._TWINS


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_reused_fd_number_reaches_the_new_socket(abstract_name: str) -> None:
    first = uds.bind_unix_addr(abstract_name + "-1")
    number = first.fileno()
    assert uds.local_unix_addr(FilenoOnly(first)) == uds.UnixSocketAddr.new(abstract_name + "-1")
    first.close()
    second = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with second:
        if second.fileno() != number:
            os.dup2(second.fileno(), number)
            second.close()
            second = socket.socket(fileno=number)
        second.bind(uds.UnixSocketAddr.new(abstract_name + "-2").to_std())
        got = uds.local_unix_addr(FilenoOnly(second))
        assert got == uds.UnixSocketAddr.new(abstract_name + "-2")


def test_dropping_the_cached_shells_never_closes_the_callers_fd(
    stream_pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = stream_pair
    twins.send_fds(FilenoOnly(a), b"x", [])
    assert twins.recv_fds(FilenoOnly(b), 1, 0)[0] == b"x"
    assert a.fileno() in _fd._SHELLS
    _fd._SHELLS.clear()
    gc.collect()
    assert _is_open(a.fileno()) and _is_open(b.fileno())
    a.sendall(b"still open")
    assert b.recv(64) == b"still open"


def test_uncached_shells_detach_too(
    stream_pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = stream_pair
    monkeypatch.setattr(_fd, "_SHELL_CACHE_LIMIT", 0)
    _fd._SHELLS.clear()
    for _ in range(3):
        assert twins.local_unix_addr(FilenoOnly(a)).is_unnamed
    gc.collect()
    assert not _fd._SHELLS
    assert _is_open(a.fileno())


def test_a_closed_fd_is_ebadf_whether_or_not_its_shell_is_cached() -> None:
    for cached in (False, True):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        wrapper = FilenoOnly(sock)
        _fd._SHELLS.pop(sock.fileno(), None)
        if cached:
            assert twins.local_unix_addr(wrapper).is_unnamed
            assert sock.fileno() in _fd._SHELLS
        sock.close()
        with pytest.raises(OSError) as closed:
            twins.local_unix_addr(wrapper)
        assert closed.value.errno == errno.EBADF, cached


def test_shared_shells_keep_each_fds_own_blocking_mode(
    stream_pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = stream_pair
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        uds.recv_fds(FilenoOnly(b), 1, 0)
    assert_nonblocking(b)
    uds.send_fds(FilenoOnly(a), b"y", [])
    assert uds.recv_fds(b.fileno(), 1, 0)[0] == b"y"
    assert_blocking(a)


class _Returns:
    def __init__(self, value: object) -> None:
        self.value = value

    def fileno(self) -> object:
        return self.value


class _IntSubclass(int):
    pass


def test_fileno_of_accepts_ints_and_filenos_and_refuses_the_rest() -> None:
    assert _fd.fileno_of(7) == 7
    assert _fd.fileno_of(_IntSubclass(8)) == 8 and type(_fd.fileno_of(_IntSubclass(8))) is int
    assert _fd.fileno_of(_Returns(9)) == 9  # type: ignore[arg-type]
    assert _fd.fileno_of(_Returns(_IntSubclass(10))) == 10  # type: ignore[arg-type]
    for bad in (True, "3", 3.0, None, object()):
        with pytest.raises(TypeError, match="expected a file descriptor"):
            _fd.fileno_of(bad)  # type: ignore[arg-type]
    for returned in (True, "3", None):
        with pytest.raises(TypeError, match=r"_Returns\.fileno"):
            _fd.fileno_of(_Returns(returned))  # type: ignore[arg-type]
    for negative in (-1, _Returns(-1)):
        with pytest.raises(ValueError, match="-1"):
            _fd.fileno_of(negative)  # type: ignore[arg-type]
