"""Passing many fds from another process: every one arrives close-on-exec, none leaks."""

from __future__ import annotations

import fcntl
import os
import socket

import uds
from tests.helpers import open_fds
from tests.stress.conftest import Profile, forked, wait_exit_code

PER_MESSAGE = 250


def test_many_fds_passed_and_none_leaked(
    seqpacket_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int], profile: Profile
) -> None:
    ours, theirs = seqpacket_pair
    r, _ = pipe
    total = profile.fds
    messages = -(-total // PER_MESSAGE)

    def send_all() -> None:
        ours.close()
        left = total
        while left:
            batch = min(left, PER_MESSAGE)
            uds.send_fds(theirs, batch.to_bytes(2, "little"), [r] * batch)
            left -= batch
        theirs.close()

    pipe_stat = os.fstat(r)
    want = (pipe_stat.st_dev, pipe_stat.st_ino)
    before = open_fds()
    received = 0
    received_messages = 0
    with forked(send_all) as pid:
        theirs.close()
        while True:
            data, fds = uds.recv_fds(ours, 8, PER_MESSAGE)
            with fds:
                if not data:
                    assert not fds
                    break
                assert len(fds) == int.from_bytes(data, "little")
                assert not fds.truncated
                for fd in fds:
                    assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, f"fd {fd} inheritable"
                    stat = os.fstat(fd)
                    assert (stat.st_dev, stat.st_ino) == want, f"fd {fd} is not the pipe"
                received += len(fds)
                received_messages += 1
        assert wait_exit_code(pid) == 0
    assert (received, received_messages) == (total, messages)
    leaked = open_fds() - before
    assert not leaked, f"{len(leaked)} fds leaked"
