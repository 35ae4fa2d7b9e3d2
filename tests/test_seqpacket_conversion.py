"""Blocking and non-blocking seqpacket connections convert into each other, keeping the fd."""

from __future__ import annotations

import pytest

import uds
from tests.helpers import assert_blocking, assert_cloexec, assert_nonblocking


def test_an_accepted_nonblocking_conn_becomes_blocking_with_timeouts(abstract_name: str) -> None:
    with uds.NonblockingUnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
        client = uds.UnixSeqpacketConn.connect_unix_addr(abstract_name)
        with client:
            accepted, _ = listener.accept_unix_addr()
            client.send(b"queued before the conversion")
            fd = accepted.fileno()
            blocking = uds.UnixSeqpacketConn.from_fd(accepted.detach())
            with blocking:
                assert blocking.fileno() == fd and accepted.fileno() == -1
                assert_blocking(blocking)
                assert_cloexec(blocking)
                assert blocking.recv(64) == b"queued before the conversion"
                blocking.set_read_timeout(0.05)
                with pytest.raises(TimeoutError):
                    blocking.recv(64)
                blocking.send(b"reply")
                assert client.recv(64) == b"reply"
                back = uds.NonblockingUnixSeqpacketConn.from_fd(blocking.detach())
                with back:
                    assert_nonblocking(back)
                    with pytest.raises(BlockingIOError):
                        back.recv(64)
