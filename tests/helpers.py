"""Assertions and small utilities shared by the test suite."""

from __future__ import annotations

import fcntl
import os
import socket
from typing import Union

from uds._fd import FileDescriptorLike, fileno_of


def open_fds() -> set[int]:
    """The fds open in this process right now."""
    # The listing includes the fd os.listdir used for the directory itself,
    # already closed when we look: keep only fds that are still open.
    return {fd for fd in map(int, os.listdir("/proc/self/fd")) if _is_open(fd)}


def _is_open(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        return False
    return True


def fd_target(fd: int) -> str:
    """What ``fd`` refers to, as ``readlink /proc/self/fd/N`` shows it."""
    return os.readlink(f"/proc/self/fd/{fd}")


def assert_cloexec(obj: FileDescriptorLike) -> None:
    """Fail unless the fd has FD_CLOEXEC set."""
    fd = fileno_of(obj)
    flags = fcntl.fcntl(fd, fcntl.F_GETFD)
    assert flags & fcntl.FD_CLOEXEC, f"fd {fd} ({fd_target(fd)}) is not close-on-exec"


def assert_nonblocking(obj: FileDescriptorLike) -> None:
    """Fail unless the fd has O_NONBLOCK set."""
    fd = fileno_of(obj)
    assert os.get_blocking(fd) is False, f"fd {fd} is blocking"


def assert_blocking(obj: FileDescriptorLike) -> None:
    """Fail unless the fd is in blocking mode."""
    fd = fileno_of(obj)
    assert os.get_blocking(fd) is True, f"fd {fd} is non-blocking"


def same_file(a: Union[int, str], b: Union[int, str]) -> bool:
    """Whether two fds (or paths) refer to the same open file/inode."""
    sa = os.fstat(a) if isinstance(a, int) else os.stat(a)
    sb = os.fstat(b) if isinstance(b, int) else os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


class FilenoOnly:
    """A wrapper that exposes nothing but ``fileno()``, like third-party socket types."""

    def __init__(self, sock: socket.socket) -> None:
        self._fd = sock.fileno()

    def fileno(self) -> int:
        return self._fd
