"""Passing many fds from another process: every one arrives close-on-exec, none leaks."""

from __future__ import annotations

import fcntl
import socket

import uds
from tests.helpers import open_fds, same_file
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
                for fd in (fds[0], fds[-1]):
                    assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
                    assert same_file(fd, r)
                received += len(fds)
                received_messages += 1
        assert wait_exit_code(pid) == 0
    assert (received, received_messages) == (total, messages)
    leaked = open_fds() - before
    assert not leaked, f"{len(leaked)} fds leaked"
