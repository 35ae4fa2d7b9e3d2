"""The ancillary engine on real sockets: timestamps, pidfds, labels, truncation, reserve."""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Iterator

import pytest

import uds
from tests.helpers import FilenoOnly, assert_blocking, assert_cloexec, fd_target, open_fds
from uds import UnsupportedPlatformError
from uds.ancillary import (
    recv_ancillary,
    send_ancillary,
    set_nosigpipe,
    set_passcred,
    set_passpidfd,
    set_passsec,
    set_timestamps,
)

KINDS = {
    "stream": socket.SOCK_STREAM,
    "dgram": socket.SOCK_DGRAM,
    "seqpacket": socket.SOCK_SEQPACKET,
}
# Linux 6.18: which socket types get SCM_TIMESTAMP(NS). Stream data never does.
TIMESTAMPED = {"stream": False, "dgram": True, "seqpacket": True}
WINDOW_NS = 60 * 1_000_000_000


def _pidfds_supported() -> bool:
    a, b = socket.socketpair()
    with a, b:
        try:
            set_passpidfd(a)
        except UnsupportedPlatformError:
            return False
    return True


needs_pidfd = pytest.mark.skipif(
    not _pidfds_supported(), reason="kernel without SO_PASSPIDFD/SCM_PIDFD (Linux 6.5+)"
)


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def pair(kind: str) -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, KINDS[kind])
    with a, b:
        yield a, b


def pidfd_pid(pidfd: int) -> int:
    """The pid a pidfd refers to, from the Pid: line of /proc/self/fdinfo."""
    with open(f"/proc/self/fdinfo/{pidfd}") as info:
        for line in info:
            if line.startswith("Pid:"):
                return int(line.split()[1])
    raise AssertionError(f"fd {pidfd} is not a pidfd")


# Timestamps -------------------------------------------------------------------


@pytest.mark.parametrize("ns", [False, True], ids=["SO_TIMESTAMP", "SO_TIMESTAMPNS"])
def test_timestamps_by_socket_type(
    kind: str, pair: tuple[socket.socket, socket.socket], ns: bool
) -> None:
    sender, receiver = pair
    set_timestamps(FilenoOnly(receiver), ns=ns)
    before = time.time_ns()
    send_ancillary(sender, b"tick")
    received = recv_ancillary(receiver, 16, timestamps=True)
    assert received.data == b"tick"
    if not TIMESTAMPED[kind]:
        assert received.timestamp_ns is None and received.timestamp is None
        return
    assert received.timestamp_ns is not None and received.timestamp is not None
    assert abs(received.timestamp_ns - before) < WINDOW_NS
    assert abs(received.timestamp - before / 1e9) < WINDOW_NS / 1e9
    if not ns:
        assert received.timestamp_ns % 1000 == 0  # microseconds, scaled


def test_timestamps_turned_off_send_nothing(
    dgram_pair: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = dgram_pair
    set_timestamps(receiver, ns=True)
    set_timestamps(receiver, on=False)
    send_ancillary(sender, b"x")
    assert recv_ancillary(receiver, 4, timestamps=True).timestamp_ns is None


def test_set_timestamps_rejects_non_bool(dgram_pair: tuple[socket.socket, socket.socket]) -> None:
    with pytest.raises(TypeError, match="ns must be a bool"):
        set_timestamps(dgram_pair[0], ns="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on must be a bool"):
        set_timestamps(dgram_pair[0], on=None)  # type: ignore[arg-type]


# Pidfds -----------------------------------------------------------------------


@needs_pidfd
def test_received_pidfd_refers_to_the_sending_child(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = pair
    set_passpidfd(receiver)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            send_ancillary(sender, b"from child")
            sender.recv(1)  # stay alive until the parent has looked
        finally:
            os._exit(0)
    try:
        received = recv_ancillary(receiver, 32)
        with received:
            assert received.data == b"from child"
            assert received.pidfd is not None
            assert_cloexec(received.pidfd)
            assert fd_target(received.pidfd) == "anon_inode:[pidfd]"
            assert pidfd_pid(received.pidfd) == child
            reference = os.pidfd_open(child)
            try:
                assert pidfd_pid(reference) == pidfd_pid(received.pidfd)
            finally:
                os.close(reference)
            pidfd = received.pidfd
        assert received.pidfd is None
        with pytest.raises(OSError) as info:
            os.fstat(pidfd)
        assert info.value.errno == errno.EBADF
    finally:
        receiver.send(b"!")
        os.waitpid(child, 0)


@needs_pidfd
def test_take_pidfd_hands_it_out(seqpacket_pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = seqpacket_pair
    set_passpidfd(receiver)
    send_ancillary(sender, b"x")
    received = recv_ancillary(receiver, 4)
    pidfd = received.take_pidfd()
    assert pidfd is not None and received.pidfd is None
    received.close()
    try:
        assert pidfd_pid(pidfd) == os.getpid()
    finally:
        os.close(pidfd)
    assert received.take_pidfd() is None


def test_no_pidfd_without_the_option(pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    send_ancillary(sender, b"x")
    assert recv_ancillary(receiver, 4).pidfd is None


# Security labels --------------------------------------------------------------


def _labels_sockets() -> bool:
    a, b = socket.socketpair()
    with a, b:
        try:
            uds.initial_peer_selinux_context(a)
        except OSError:
            return False
    return True


def test_passsec_without_a_labelling_lsm_sends_nothing(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """The kernel accepts SO_PASSSEC; with no LSM labelling sockets, no SCM_SECURITY comes."""
    if _labels_sockets():
        pytest.skip("a security module labels sockets here")
    sender, receiver = pair
    set_passsec(receiver)
    assert receiver.getsockopt(socket.SOL_SOCKET, 34) == 1  # SO_PASSSEC is on
    send_ancillary(sender, b"x")
    received = recv_ancillary(receiver, 4, security=True)
    assert received.security is None and received.unknown == []
    assert not received.ancillary_truncated


# Unsupported options ----------------------------------------------------------


def test_nosigpipe_is_unsupported_on_linux(
    stream_pair: tuple[socket.socket, socket.socket],
) -> None:
    with pytest.raises(UnsupportedPlatformError) as info:
        set_nosigpipe(stream_pair[0])
    assert info.value.errno == errno.EOPNOTSUPP and "SO_NOSIGPIPE" in str(info.value)


def test_unknown_option_errno_becomes_unsupported(
    stream_pair: tuple[socket.socket, socket.socket],
) -> None:
    """What an old kernel answers (ENOPROTOOPT) is reported as UnsupportedPlatformError."""
    from uds import _sockopts

    with pytest.raises(UnsupportedPlatformError, match=r"needs Linux 6\.5"):
        _sockopts._set(stream_pair[0], (socket.SOL_SOCKET, 9999), True, "SO_X", "needs Linux 6.5")


# The unsolicited reserve ------------------------------------------------------


@needs_pidfd
@pytest.mark.parametrize("count", [1, 3, 253])
def test_exact_maxfds_not_truncated_with_every_option_on(
    kind: str, pair: tuple[socket.socket, socket.socket], count: int
) -> None:
    """SO_PASSCRED + SO_PASSPIDFD + timestamps never push N fds out of recv_fds(N)."""
    sender, receiver = pair
    set_passcred(receiver)
    set_passpidfd(receiver)
    set_timestamps(receiver, ns=True)
    r, w = os.pipe()
    try:
        uds.send_fds(sender, b"fds", [r] * count)
        data, fds = uds.recv_fds(receiver, 16, count)
        with fds:
            assert data == b"fds"
            assert len(fds) == count and not fds.truncated
            for fd in fds:
                assert os.path.sameopenfile(fd, r)
                assert_cloexec(fd)
        uds.send_fds(sender, b"all", [w] * count)
        with recv_ancillary(receiver, 16, max_fds=count) as received:
            assert len(received.fds) == count and not received.ancillary_truncated
            assert received.credentials is not None and received.pidfd is not None
            assert (received.timestamp_ns is not None) == TIMESTAMPED[kind]
    finally:
        os.close(r)
        os.close(w)


# Truncation and the rest of the engine ---------------------------------------


def test_message_truncated(seqpacket_pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = seqpacket_pair
    send_ancillary(sender, b"0123456789")
    received = recv_ancillary(receiver, 4)
    assert received.data == b"0123" and received.message_truncated
    assert not received.ancillary_truncated
    send_ancillary(sender, b"fits")
    assert not recv_ancillary(receiver, 4).message_truncated


def test_ancillary_truncated_closes_what_did_not_fit(
    dgram_pair: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = dgram_pair
    r, w = os.pipe()
    try:
        before = open_fds()
        send_ancillary(sender, b"x", fds=[r, w, r])
        with recv_ancillary(receiver, 4, max_fds=1) as received:
            assert received.ancillary_truncated and received.fds.truncated
            assert len(received.fds) == 1 and os.path.sameopenfile(received.fds[0], r)
            assert "ancillary_truncated=True" in repr(received)
        assert open_fds() == before
    finally:
        os.close(r)
        os.close(w)


def test_address_flags_and_scatter_buffers(abstract_name: str) -> None:
    with (
        uds.bind_unix_addr(abstract_name, socket.SOCK_DGRAM) as server,
        uds.bind_unix_addr(abstract_name + "-client", socket.SOCK_DGRAM) as client,
    ):
        sent = send_ancillary(client, [b"ab", b"cd"], addr=abstract_name, credentials=True)
        assert sent == 4
        peeked = recv_ancillary(server, 8, flags=socket.MSG_PEEK)
        assert peeked.data == b"abcd" and peeked.addr == uds.UnixSocketAddr.new(
            abstract_name + "-client"
        )
        head, tail = bytearray(1), bytearray(8)
        received = recv_ancillary(server, [head, tail])
        assert received.data is None and received.nbytes == 4
        assert (bytes(head), bytes(tail[:3])) == (b"a", b"bcd")
        assert received.addr == peeked.addr


def test_borrowed_socket_stays_open_and_blocking(
    stream_pair: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = stream_pair
    for setter in (set_passcred, set_timestamps, set_passsec):
        setter(receiver.fileno())
    send_ancillary(FilenoOnly(sender), b"x")
    assert recv_ancillary(FilenoOnly(receiver), 1).credentials is not None
    assert_blocking(receiver)
    assert receiver.fileno() >= 0 and sender.fileno() >= 0


def test_a_pidfd_the_kernel_could_not_install_is_none_not_a_negative_fd() -> None:
    """With the fd table full, Linux sends -EMFILE in SCM_PIDFD (no MSG_CTRUNC)."""
    import resource

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        try:
            uds.ancillary.set_passpidfd(b, True)
        except uds.UnsupportedPlatformError as error:
            pytest.skip(f"kernel without SO_PASSPIDFD: {error}")
        a.send(b"x")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        fillers: list[int] = []
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(open_fds()) + 64, hard))
        try:
            while True:
                try:
                    fillers.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
                except OSError:
                    break
            received = uds.ancillary.recv_ancillary(b, 10)
        finally:
            for fd in fillers:
                os.close(fd)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        with received:
            assert received.data == b"x"
            assert received.pidfd is None
