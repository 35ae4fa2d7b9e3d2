"""Many seqpacket messages from another process: none lost, none reordered, none merged."""

from __future__ import annotations

import socket
import struct

import uds
from tests.stress.conftest import Profile, forked, wait_exit_code

SEQ = struct.Struct("=Q")


def _payload(seq: int) -> bytes:
    # Sizes vary so that merged or split packets would be noticed.
    return SEQ.pack(seq) + bytes([seq & 0xFF]) * (seq % 61)


def test_messages_arrive_whole_and_in_order(
    seqpacket_pair: tuple[socket.socket, socket.socket], profile: Profile
) -> None:
    ours, theirs = seqpacket_pair
    count = profile.messages

    def send_all() -> None:
        ours.close()
        for seq in range(count):
            uds.send_fds(theirs, _payload(seq), ())
        theirs.close()

    with forked(send_all) as pid:
        theirs.close()
        buffer = bytearray(256)
        expected = 0
        while True:
            nbytes, fds = uds.recv_fds_into(ours, buffer, 1)
            assert not fds and not fds.truncated
            if nbytes == 0:
                break
            assert bytes(buffer[:nbytes]) == _payload(expected), f"message {expected}"
            expected += 1
        assert expected == count
        assert wait_exit_code(pid) == 0
