"""Per-message credentials (SCM_CREDENTIALS) on real sockets, with forked senders."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable, Iterator

import pytest

from tests.helpers import FilenoOnly, assert_blocking
from uds.ancillary import (
    ReceivedCredentials,
    SendCredentials,
    get_passcred,
    recv_ancillary,
    send_ancillary,
    set_passcred,
)

NOBODY = 65534
KINDS = {
    "stream": socket.SOCK_STREAM,
    "dgram": socket.SOCK_DGRAM,
    "seqpacket": socket.SOCK_SEQPACKET,
}
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="claiming other ids needs root")


@pytest.fixture(params=sorted(KINDS))
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, KINDS[request.param])
    with a, b:
        yield a, b


def in_child(body: Callable[[], int]) -> tuple[int, int]:
    """Run ``body`` in a forked child: its pid and exit status (255 on an exception)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        status = 255
        try:
            status = body()
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    return pid, os.waitstatus_to_exitcode(status)


def test_passcred_gives_the_sending_child_credentials(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = pair
    set_passcred(receiver)
    assert get_passcred(receiver) is True

    def send() -> int:
        send_ancillary(sender, b"hi")
        return 0

    child_pid, status = in_child(send)
    assert status == 0
    with recv_ancillary(receiver, 16) as received:
        assert received.data == b"hi"
        assert received.credentials == ReceivedCredentials(child_pid, os.getuid(), os.getgid())
        assert not received.ancillary_truncated


def test_without_passcred_no_credentials_arrive(pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    assert get_passcred(receiver) is False
    send_ancillary(sender, b"x")
    received = recv_ancillary(receiver, 4, credentials=True)
    assert received.credentials is None and received.data == b"x"


def test_passcred_can_be_turned_off_again(pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    set_passcred(FilenoOnly(receiver))
    set_passcred(FilenoOnly(receiver), on=False)
    assert get_passcred(receiver) is False
    send_ancillary(sender, b"x")
    assert recv_ancillary(receiver, 4).credentials is None
    assert_blocking(receiver)


def test_sending_own_credentials_explicitly(pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    set_passcred(receiver)
    send_ancillary(sender, b"a", credentials=True)
    send_ancillary(sender, b"b", credentials=SendCredentials.current())
    mine = ReceivedCredentials(os.getpid(), os.getuid(), os.getgid())
    first = recv_ancillary(receiver, 1)
    second = recv_ancillary(receiver, 1)
    assert (first.data, second.data) == (b"a", b"b")
    assert first.credentials == mine and second.credentials == mine


@needs_root
def test_root_may_claim_another_existing_pid(pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    set_passcred(receiver)
    other = os.getppid()  # exists for the whole test
    assert other != os.getpid()
    send_ancillary(sender, b"x", credentials=SendCredentials(other, NOBODY, NOBODY))
    received = recv_ancillary(receiver, 4)
    assert received.credentials == ReceivedCredentials(other, NOBODY, NOBODY)


@needs_root
def test_root_cannot_claim_a_pid_that_does_not_exist(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = pair
    set_passcred(receiver)
    with pytest.raises(OSError) as info:
        send_ancillary(sender, b"x", credentials=SendCredentials(2**22 + 7, 0, 0))
    assert info.value.errno == errno.ESRCH
    receiver.setblocking(False)
    with pytest.raises(BlockingIOError):
        recv_ancillary(receiver, 4)  # nothing was half-sent


@needs_root
def test_unprivileged_child_cannot_claim_another_pid_or_uid(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """A child that dropped to nobody gets EPERM for foreign ids, and may send its own."""
    sender, receiver = pair
    set_passcred(receiver)
    parent = os.getpid()

    def attempt() -> int:
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        outcomes = 0
        for claim in (
            SendCredentials(parent, NOBODY, NOBODY),
            SendCredentials(os.getpid(), 0, NOBODY),
            SendCredentials(os.getpid(), NOBODY, 0),
        ):
            try:
                send_ancillary(sender, b"lie", credentials=claim)
            except PermissionError:
                outcomes += 1
        send_ancillary(sender, b"own", credentials=SendCredentials.current())
        return outcomes

    child_pid, refused = in_child(attempt)
    assert refused == 3
    received = recv_ancillary(receiver, 8)
    assert received.data == b"own"
    assert received.credentials is not None
    assert (received.credentials.uid, received.credentials.gid) == (NOBODY, NOBODY)
    assert received.credentials.pid == child_pid


def test_bad_credentials_argument_is_refused_before_sending(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = pair
    with pytest.raises(TypeError, match="SendCredentials"):
        send_ancillary(sender, b"x", credentials=(1, 2, 3))  # type: ignore[arg-type]
    receiver.setblocking(False)
    with pytest.raises(BlockingIOError):
        receiver.recv(4)


def test_set_passcred_rejects_non_bool_and_non_sockets() -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(TypeError, match="bool"):
            set_passcred(r, on=1)  # type: ignore[arg-type]
        with pytest.raises(OSError) as info:
            set_passcred(r)
        assert info.value.errno == errno.ENOTSOCK
    finally:
        os.close(r)
        os.close(w)
