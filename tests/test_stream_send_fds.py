"""send_fds on a blocking stream socket sends all of its data, as a blocking send does.

The C core first tries the call without waiting; when only part fits, it must
finish the rest (the fds went with the first byte, exactly once).
"""

from __future__ import annotations

import os
import socket
import threading

import uds
from tests.helpers import same_file


def test_a_large_blocking_stream_send_goes_out_whole_with_its_fds_once(
    stream_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, b = stream_pair
    payload = os.urandom(4 * 1024 * 1024)
    received = bytearray()
    fds: list[int] = []

    def read() -> None:
        while len(received) < len(payload):
            data, got = uds.recv_fds(b, 1 << 16, 4)
            assert data, "the stream ended early"
            received.extend(data)
            fds.extend(got.detach())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert uds.send_fds(a, payload, [pipe[0]]) == len(payload)
    finally:
        reader.join(30)
    try:
        assert bytes(received) == payload
        assert len(fds) == 1 and same_file(fds[0], pipe[0])
    finally:
        for fd in fds:
            os.close(fd)
