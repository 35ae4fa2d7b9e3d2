"""send_fds / recv_fds / recv_fds_into / send_fds_to / recv_fds_from over real sockets."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

import uds
import uds.ancillary
from tests.helpers import FilenoOnly, assert_cloexec, same_file

SCM_MAX_FD = 253


def test_fds_arrive_in_order_cloexec_and_refer_to_the_same_files(
    stream_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, b = stream_pair
    r, w = pipe
    assert uds.send_fds(a, b"hello", [r, w, r]) == 5
    data, fds = uds.recv_fds(b, 64, 8)
    with fds:
        assert data == b"hello"
        assert len(fds) == 3 and not fds.truncated
        assert same_file(fds[0], r) and same_file(fds[1], w) and same_file(fds[2], r)
        for fd in fds:
            assert_cloexec(fd)
            assert fd not in (r, w)
        os.write(fds[1], b"through the copy")
        assert os.read(r, 100) == b"through the copy"


def test_sender_keeps_its_fds(
    stream_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, b = stream_pair
    r, w = pipe
    uds.send_fds(a, b"x", [w])
    _, fds = uds.recv_fds(b, 1, 1)
    fds.close()
    os.write(w, b"still open")
    assert os.read(r, 20) == b"still open"


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET])
def test_every_socket_type(kind: int, pipe: tuple[int, int]) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, kind)
    with a, b:
        uds.send_fds(a, b"m", [pipe[0]])
        data, fds = uds.recv_fds(b, 10, 1)
        with fds:
            assert data == b"m" and len(fds) == 1 and same_file(fds[0], pipe[0])


def test_objects_with_fileno_are_accepted_as_sockets_and_as_fds(
    stream_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, b = stream_pair
    with open(os.devnull, "rb") as devnull:
        uds.send_fds(FilenoOnly(a), b"f", [devnull, pipe[1]])
        data, fds = uds.recv_fds(b.fileno(), 1, 2)
        with fds:
            assert same_file(fds[0], devnull.fileno()) and same_file(fds[1], pipe[1])


def test_recv_fds_into(
    stream_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, b = stream_pair
    uds.send_fds(a, b"0123456789", [pipe[0]])
    buffer = bytearray(4)
    n, fds = uds.recv_fds_into(FilenoOnly(b), buffer, 2)
    with fds:
        assert n == 4 and buffer == b"0123" and len(fds) == 1
    assert b.recv(10) == b"456789"


def test_253_fds_pass_and_254_are_refused_before_sending(
    seqpacket_pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = seqpacket_pair
    with open(os.devnull, "rb") as devnull:
        many = [devnull.fileno()] * SCM_MAX_FD
        uds.send_fds(a, b"max", many)
        data, fds = uds.recv_fds(b, 10, SCM_MAX_FD)
        with fds:
            assert data == b"max" and len(fds) == SCM_MAX_FD and not fds.truncated
        with pytest.raises(ValueError, match="at most 253"):
            uds.send_fds(a, b"too many", [*many, devnull.fileno()])
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(10)  # nothing was half-sent


def test_too_few_slots_report_truncation_and_close_the_rest(
    seqpacket_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, b = seqpacket_pair
    before = len(os.listdir("/proc/self/fd"))
    uds.send_fds(a, b"3 fds", [pipe[0], pipe[1], pipe[0]])
    data, fds = uds.recv_fds(b, 10, 1)
    with fds:
        assert data == b"3 fds"
        assert fds.truncated is True
        assert len(fds) == 1
    assert len(os.listdir("/proc/self/fd")) == before


def test_plain_recv_of_a_message_with_fds_leaks_nothing(
    seqpacket_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, b = seqpacket_pair
    uds.send_fds(a, b"x", [pipe[0]])
    data, fds = uds.recv_fds(b, 10, 0)
    assert data == b"x" and fds == [] and fds.truncated


class _BrokenFileno:
    def __init__(self, result: object = None, exc: Exception | None = None) -> None:
        self.result, self.exc = result, exc

    def fileno(self) -> object:
        if self.exc is not None:
            raise self.exc
        return self.result


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ([-1], ValueError),
        ([0, 2**31], ValueError),
        ([2**40], ValueError),
        ([True], TypeError),
        ([3, False], TypeError),
        (["3"], TypeError),
        ([1.5], TypeError),
        ([None], TypeError),
        ([_BrokenFileno(result=-1)], ValueError),
    ],
)
def test_bad_fds_raise_before_sending(
    seqpacket_pair: tuple[socket.socket, socket.socket], bad: list[object], error: type[Exception]
) -> None:
    a, b = seqpacket_pair
    with pytest.raises(error):
        uds.send_fds(a, b"data", bad)  # type: ignore[arg-type]
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(10)


def test_a_closed_fd_is_ebadf_and_nothing_is_sent(
    seqpacket_pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = seqpacket_pair
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError) as info:
        uds.send_fds(a, b"data", [r])
    assert info.value.errno == errno.EBADF
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(10)


@pytest.mark.parametrize(
    ("sock", "error"),
    [
        (_BrokenFileno(exc=OSError(errno.EBADF, "gone")), OSError),
        (_BrokenFileno(result=-1), ValueError),
        (_BrokenFileno(result="3"), TypeError),
        (object(), TypeError),
        (-5, ValueError),
    ],
)
def test_bad_socket_objects(sock: object, error: type[Exception], pipe: tuple[int, int]) -> None:
    with pytest.raises(error):
        uds.send_fds(sock, b"x", [pipe[0]])  # type: ignore[arg-type]
    with pytest.raises(error):
        uds.recv_fds(sock, 1, 1)  # type: ignore[arg-type]


def test_closed_socket_object_is_refused(pipe: tuple[int, int]) -> None:
    a, b = socket.socketpair()
    a.close()
    b.close()
    with pytest.raises(OSError):
        uds.send_fds(a, b"x", [pipe[0]])


def test_wrong_family_fails_without_sending(pipe: tuple[int, int]) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as inet,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
    ):
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        inet.connect(receiver.getsockname())
        # Linux would silently drop SCM_RIGHTS on an inet socket: we refuse.
        for sock in (inet, FilenoOnly(inet), inet.fileno()):
            with pytest.raises(OSError, match="AF_INET socket, not AF_UNIX") as info:
                uds.send_fds(sock, b"x", [pipe[0]])
            assert info.value.errno == errno.EAFNOSUPPORT
        with pytest.raises(OSError, match="not AF_UNIX"):
            uds.send_fds_to(inet, b"x", [pipe[0]], "@nowhere")
        with pytest.raises(OSError) as info:
            uds.local_unix_addr(inet)
        assert info.value.errno == errno.EAFNOSUPPORT
        with pytest.raises(BlockingIOError):
            receiver.recv(10)


def test_max_fds_is_validated(stream_pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = stream_pair
    for bad in (-1, 254):
        with pytest.raises(ValueError, match="between 0 and 253"):
            uds.recv_fds(b, 1, bad)
    with pytest.raises(TypeError):
        uds.recv_fds(b, 1, 1.0)  # type: ignore[arg-type]


def test_empty_data_with_fds_on_a_stream_is_refused(
    stream_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, _ = stream_pair
    with pytest.raises(ValueError, match="at least one byte"):
        uds.send_fds(a, b"", [pipe[0]])


def test_empty_data_with_fds_on_seqpacket_is_delivered(
    seqpacket_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, b = seqpacket_pair
    assert uds.send_fds(a, b"", [pipe[0]]) == 0
    data, fds = uds.recv_fds(b, 10, 1)
    with fds:
        assert data == b"" and len(fds) == 1


def test_no_fds_sends_plain_data(stream_pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = stream_pair
    assert uds.send_fds(a, b"plain", []) == 5
    data, fds = uds.recv_fds(b, 10, 4)
    assert data == b"plain" and fds == [] and not fds.truncated


def test_closed_peer_is_broken_pipe_not_sigpipe(pipe: tuple[int, int]) -> None:
    a, b = socket.socketpair()
    b.close()
    with a, pytest.raises(BrokenPipeError):
        uds.send_fds(a, b"x", [pipe[0]])


def test_datagram_to_and_from_addresses(abstract_name: str, pipe: tuple[int, int]) -> None:
    with (
        uds.bind_unix_addr(abstract_name, socket.SOCK_DGRAM) as server,
        uds.bind_unix_addr(abstract_name + "-client", socket.SOCK_DGRAM) as client,
    ):
        assert uds.send_fds_to(client, b"dgram", [pipe[1]], abstract_name) == 5
        data, fds, sender = uds.recv_fds_from(server, 64, 2)
        with fds:
            assert data == b"dgram" and len(fds) == 1 and same_file(fds[0], pipe[1])
            assert_cloexec(fds[0])
        assert sender == uds.UnixSocketAddr.new(abstract_name + "-client")


def _child_sends(sock_fd: int, path: str) -> None:
    code = (
        "import os, socket, sys, uds\n"
        f"s = socket.socket(fileno={sock_fd})\n"
        f"f = open({path!r}, 'rb')\n"
        "uds.send_fds(s, str(os.getpid()).encode(), [f])\n"
    )
    subprocess.run([sys.executable, "-c", code], pass_fds=[sock_fd], check=True, timeout=30)


def test_from_another_process(tmp_path: os.PathLike[str]) -> None:
    target = os.path.join(tmp_path, "secret.txt")
    with open(target, "w") as f:
        f.write("from the child")
    a, b = socket.socketpair()
    with a, b:
        _child_sends(a.fileno(), target)
        data, fds = uds.recv_fds(b, 32, 1)
        with fds:
            assert int(data) != os.getpid()
            assert os.pread(fds[0], 100, 0) == b"from the child"
            assert_cloexec(fds[0])


def test_received_fds_do_not_survive_exec(
    seqpacket_pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = seqpacket_pair
    r, w = os.pipe()
    try:
        uds.send_fds(a, b"x", [w])
        _, fds = uds.recv_fds(b, 1, 1)
        with fds:
            child = subprocess.run(
                [sys.executable, "-c", f"import os; os.fstat({fds[0]})"],
                close_fds=False,
                capture_output=True,
                timeout=30,
            )
            assert child.returncode != 0 and b"Bad file descriptor" in child.stderr
    finally:
        os.close(r)
        os.close(w)


@pytest.fixture
def default_timeout() -> Iterator[None]:
    socket.setdefaulttimeout(2.5)
    try:
        yield
    finally:
        socket.setdefaulttimeout(None)


def test_borrowed_sockets_keep_mode_and_timeout(
    default_timeout: None, pipe: tuple[int, int]
) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(True)
        b.settimeout(None)
        fd_a, fd_b = a.fileno(), b.fileno()
        uds.send_fds(fd_a, b"x", [pipe[0]])
        _, fds = uds.recv_fds(FilenoOnly(b), 1, 1)
        fds.close()
        uds.local_unix_addr(fd_a)
        assert os.get_blocking(fd_a) and os.get_blocking(fd_b)
        assert a.gettimeout() is None and b.gettimeout() is None
        # Still open and usable: the borrowing never closed them.
        a.send(b"y")
        assert b.recv(1) == b"y"


def test_borrowed_nonblocking_fd_raises_blocking_io(
    stream_pair: tuple[socket.socket, socket.socket],
) -> None:
    _, b = stream_pair
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        uds.recv_fds(b.fileno(), 1, 1)
    assert not os.get_blocking(b.fileno())


def test_stdlib_socket_timeout_is_honoured(
    stream_pair: tuple[socket.socket, socket.socket],
) -> None:
    _, b = stream_pair
    b.settimeout(0.05)
    with pytest.raises(TimeoutError if sys.version_info >= (3, 10) else socket.timeout):
        uds.recv_fds(b, 1, 1)


def test_fds_as_a_tuple_and_no_fds_on_any_kind_of_socket(
    stream_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, b = stream_pair
    r, _ = pipe
    assert uds.send_fds(a, b"t", (r, r)) == 1
    data, fds = uds.recv_fds(b, 8, 4)
    with fds:
        assert data == b"t" and len(fds) == 2 and same_file(fds[1], r)
        assert_cloexec(fds[0])
    for sender in (a, FilenoOnly(a), a.fileno()):
        for nothing in ((), []):
            assert uds.send_fds(sender, b"e", nothing) == 1
            data, fds = uds.recv_fds(b, 8, 4)
            assert data == b"e" and fds == [] and not fds.truncated


@pytest.mark.parametrize("bad", [[False], [True], [-1], [2**31]])
def test_bad_fds_are_refused_on_every_send_path(
    seqpacket_pair: tuple[socket.socket, socket.socket], bad: list[int]
) -> None:
    a, b = seqpacket_pair
    conn = uds.UnixSeqpacketConn.from_fd(os.dup(a.fileno()))
    with conn:
        for send in (
            lambda: uds.send_fds(a, b"x", bad),
            lambda: uds.send_fds(FilenoOnly(a), b"x", tuple(bad)),
            lambda: uds.ancillary.send_ancillary(a, b"x", fds=bad),
            lambda: conn.send_fds(b"x", bad),
        ):
            with pytest.raises((TypeError, ValueError)):
                send()
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(10)


def test_stdin_and_stdout_numbers_still_pass(
    seqpacket_pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = seqpacket_pair
    uds.send_fds(a, b"std", [0, 1, 2])
    _, fds = uds.recv_fds(b, 3, 3)
    with fds:
        assert [same_file(fd, n) for n, fd in enumerate(fds)] == [True, True, True]
