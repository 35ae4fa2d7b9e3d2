"""Blocking seqpacket listener and connection, on real sockets with thread and process peers."""

from __future__ import annotations

import errno
import fcntl
import os
import pathlib
import select
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

import uds
from tests.helpers import assert_blocking, assert_cloexec, same_file
from uds import UnixSeqpacketConn, UnixSeqpacketListener, UnixSocketAddr


@pytest.fixture
def pair() -> Iterator[tuple[UnixSeqpacketConn, UnixSeqpacketConn]]:
    a, b = UnixSeqpacketConn.pair()
    with a, b:
        yield a, b


@pytest.fixture
def connected(
    abstract_name: str,
) -> Iterator[tuple[UnixSeqpacketListener, UnixSeqpacketConn, UnixSeqpacketConn]]:
    """A listener, a client connected to it and the server side of that connection."""
    listener = UnixSeqpacketListener.bind_unix_addr(abstract_name)
    with listener, UnixSeqpacketConn.connect_unix_addr(abstract_name) as client:
        server, _ = listener.accept_unix_addr()
        with server:
            yield listener, client, server


def queued_nothing(conn: UnixSeqpacketConn) -> bool:
    """Whether nothing is waiting to be read on ``conn`` (without blocking)."""
    readable, _, _ = select.select([conn], [], [], 0)
    return not readable


# Packets ------------------------------------------------------------------------------


def test_packet_boundaries_are_kept(pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn]) -> None:
    a, b = pair
    packets = [b"one", b"two-two", b"x" * 1000, b"3"]
    for packet in packets:
        assert a.send(packet) == len(packet)
    assert [b.recv(4096) for _ in packets] == packets


def test_msg_eor_is_accepted_and_changes_nothing(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    """Every send is already one record; Linux takes MSG_EOR and ignores it."""
    a, b = pair
    a.send(b"with", socket.MSG_EOR)
    a.send(b"without")
    assert (b.recv(64), b.recv(64)) == (b"with", b"without")


def test_truncated_packet_is_not_resumed(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    a.send(b"0123456789")
    a.send(b"next")
    assert b.recv(4) == b"0123"
    assert b.recv(100) == b"next"


def test_truncation_is_reported_by_recv_vectored_and_recv_fds(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    a.send(b"0123456789")
    first, second = bytearray(3), bytearray(3)
    assert b.recv_vectored([first, second]) == (6, True)
    assert (first, second) == (b"012", b"345")
    a.send(b"abcdef")
    buffer = bytearray(6)
    assert b.recv_vectored([buffer]) == (6, False)
    a.send_fds(b"0123456789", [])
    data, truncated, fds = b.recv_fds(5, 1)
    assert (data, truncated, list(fds)) == (b"01234", True, [])
    a.send(b"short")
    data, truncated, fds = b.recv_fds(64, 1)
    assert (data, truncated) == (b"short", False)


def test_zero_length_packets_are_delivered_and_not_merged(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    assert a.send(b"") == 0
    assert a.send_vectored([]) == 0
    a.send(b"x")
    assert b.recv(10) == b""
    assert b.recv_into(bytearray(10)) == 0
    assert b.recv(10) == b"x"
    assert queued_nothing(b)


def test_end_of_connection_reads_as_zero_bytes_like_an_empty_packet(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    """Linux returns 0 for both; only readiness (POLLHUP) says the peer is gone."""
    a, b = pair
    poller = select.poll()
    poller.register(b, select.POLLIN)
    a.send(b"")
    assert b.recv(10) == b""
    assert poller.poll(0) == []  # an empty packet: the peer is still there
    a.close()
    events = dict(poller.poll(0))
    assert events[b.fileno()] & select.POLLHUP
    assert b.recv(10) == b""
    assert b.recv(10) == b""  # every read after the end returns at once


def test_recv_into_send_vectored_and_peek(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    assert a.send_vectored([b"head", memoryview(b"-"), bytearray(b"tail")]) == 9
    assert b.peek(100) == b"head-tail"
    first = bytearray(4)
    rest = bytearray(10)
    assert b.peek_vectored([first, rest]) == (9, False)
    assert (first, bytes(rest[:5])) == (b"head", b"-tail")
    buffer = bytearray(100)
    assert b.recv_into(buffer) == 9
    assert buffer[:9] == b"head-tail"
    assert queued_nothing(b)


# File descriptors --------------------------------------------------------------------


def test_fds_arrive_in_order_and_close_on_exec(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn], tmp_path: pathlib.Path
) -> None:
    a, b = pair
    r, w = os.pipe()
    other = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with other, open(tmp_path / "file", "wb") as file:
        try:
            sent = [w, file.fileno(), other.fileno(), r]
            assert a.send_fds(b"four", [w, file, other, r]) == 4
            data, truncated, fds = b.recv_fds(64, 4)
            with fds:
                assert (data, truncated, fds.truncated, len(fds)) == (b"four", False, False, 4)
                for fd in fds:
                    assert_cloexec(fd)
                # A pipe's two ends share an inode: the access mode tells them apart.
                modes = [fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE for fd in fds]
                assert modes == [fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE for fd in sent]
                assert [same_file(f, g) for f, g in zip(fds, sent)] == [True] * 4
                assert not same_file(fds[1], fds[2])
        finally:
            os.close(r)
            os.close(w)


def test_fds_with_an_empty_packet(pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn]) -> None:
    a, b = pair
    r, w = os.pipe()
    try:
        assert a.send_fds(b"", (r,)) == 0
    finally:
        os.close(r)
    data, truncated, fds = b.recv_fds(64, 2)
    with fds:
        assert (data, truncated, len(fds)) == (b"", False, 1)
        os.write(w, b"!")
        assert os.read(fds[0], 1) == b"!"
    os.close(w)


def test_253_fds_work_and_254_raise_before_sending(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    r, w = os.pipe()
    try:
        assert a.send_fds(b"max", [r] * 253) == 3
        data, _, fds = b.recv_fds(64, 253)
        with fds:
            assert len(fds) == 253 and not fds.truncated
            assert all(same_file(fd, r) for fd in fds)
            assert len(set(fds)) == 253
        with pytest.raises(ValueError, match=r"254 fds.*253"):
            a.send_fds(b"too many", [r] * 254)
        with pytest.raises(ValueError, match=r"254 fds.*253"):
            a.send_fds(b"too many", iter([r] * 254))
        assert queued_nothing(b)
    finally:
        os.close(r)
        os.close(w)


def test_extra_fds_are_closed_and_reported(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    r, w = os.pipe()
    try:
        a.send_fds(b"3 fds", [r, w, r])
        data, truncated, fds = b.recv_fds(64, 1)
        with fds:
            assert (data, truncated, len(fds), fds.truncated) == (b"3 fds", False, 1, True)
            assert same_file(fds[0], r)
        # The packet's fds are discarded (closed by the kernel) by a plain recv too.
        a.send_fds(b"dropped", [r, w])
        assert b.recv(64) == b"dropped"
    finally:
        os.close(r)
        os.close(w)


def test_send_fds_accepts_objects_with_fileno(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    other_a, other_b = UnixSeqpacketConn.pair()
    with other_a, other_b:
        a.send_fds(b"conn", [other_a])
        _, _, fds = b.recv_fds(64, 1)
        with fds:
            received = UnixSeqpacketConn.from_fd(fds.take(0))
        with received:
            received.send(b"through the passed socket")
            assert other_b.recv(64) == b"through the passed socket"


def test_invalid_fd_sends_nothing(pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn]) -> None:
    a, b = pair
    r, w = os.pipe()
    os.close(w)
    try:
        with pytest.raises(OSError) as info:
            a.send_fds(b"bad", [r, w])
        assert info.value.errno == errno.EBADF
        with pytest.raises(TypeError):
            a.send_fds(b"bad", ["not an fd"])  # type: ignore[list-item]
        assert queued_nothing(b)
    finally:
        os.close(r)


def test_recv_fds_rejects_bad_maxfds_before_receiving(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    a.send(b"still queued")
    with pytest.raises(ValueError, match="254"):
        b.recv_fds(64, 254)
    with pytest.raises(ValueError, match="-1"):
        b.recv_fds(64, -1)
    with pytest.raises(TypeError):
        b.recv_fds(64, "1")  # type: ignore[arg-type]
    assert b.recv(64) == b"still queued"


# Timeouts ------------------------------------------------------------------------------


def test_read_timeout_raises_timeout_error(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    assert b.read_timeout() is None
    b.set_read_timeout(0.2)
    assert b.read_timeout() == 0.2
    for call in (lambda: b.recv(10), lambda: b.recv_into(bytearray(10)), lambda: b.recv_fds(10, 1)):
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            call()
        assert time.monotonic() - start >= 0.15  # it waited, rather than failing at once
    a.send(b"in time")
    assert b.recv(10) == b"in time"
    b.set_read_timeout(None)
    assert b.read_timeout() is None


def test_write_timeout_raises_timeout_error(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, _ = pair
    assert a.write_timeout() is None
    a.set_write_timeout(0.1)
    assert a.write_timeout() == 0.1
    packet = b"x" * 4096
    with pytest.raises(TimeoutError):
        for _ in range(100_000):  # until the peer's queue is full
            a.send(packet)
    with pytest.raises(TimeoutError):
        a.send_fds(packet, [0])


def test_dontwait_raises_blocking_io_error_even_with_a_timeout(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, b = pair
    b.set_read_timeout(5)
    with pytest.raises(BlockingIOError):
        b.recv(10, socket.MSG_DONTWAIT)
    with pytest.raises(BlockingIOError):
        b.recv_into(bytearray(10), 0, socket.MSG_DONTWAIT)
    with pytest.raises(BlockingIOError):
        for _ in range(100_000):  # until the peer's queue is full
            a.send(b"x" * 4096, socket.MSG_DONTWAIT)


def test_timeouts_are_separate_and_validated(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, _ = pair
    a.set_read_timeout(2.5)
    assert a.write_timeout() is None
    a.set_write_timeout(1e-9)  # tiny, yet a timeout: not "no timeout"
    assert a.write_timeout() == 1e-9
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive"):
            a.set_read_timeout(bad)
    with pytest.raises(TypeError):
        a.set_write_timeout("1")  # type: ignore[arg-type]
    assert a.read_timeout() == 2.5


def test_accept_timeout(abstract_name: str) -> None:
    with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
        assert listener.timeout() is None
        listener.set_timeout(0.1)
        assert listener.timeout() == 0.1
        with pytest.raises(TimeoutError):
            listener.accept_unix_addr()
        with UnixSeqpacketConn.connect_unix_addr(abstract_name):
            conn, _ = listener.accept_unix_addr()
            conn.close()
        assert listener.take_error() is None


def test_default_socket_timeout_does_not_apply(abstract_name: str) -> None:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(0.05)
    try:
        with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
            client = UnixSeqpacketConn.connect_unix_addr(abstract_name)
            server, _ = listener.accept_unix_addr()
            a, b = UnixSeqpacketConn.pair()
            for conn in (listener, client, server, a, b):
                assert_blocking(conn)
            for conn in (client, server, a, b):
                assert conn.read_timeout() is None
                conn.close()
    finally:
        socket.setdefaulttimeout(previous)


# Errors -------------------------------------------------------------------------------

_SIGPIPE_PEER = textwrap.dedent(
    """
    import signal, sys
    import uds
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # a write to a closed peer would kill us
    failures = 0
    for name, send in [
        ("send", lambda c: c.send(b"x")),
        ("send_vectored", lambda c: c.send_vectored([b"x"])),
        ("send_fds", lambda c: c.send_fds(b"x", [0])),
    ]:
        a, b = uds.UnixSeqpacketConn.pair()
        b.close()
        try:
            send(a)
        except BrokenPipeError:
            print(name, "BrokenPipeError")
        finally:
            a.close()
    """
)


def test_closed_peer_gives_broken_pipe_not_sigpipe() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SIGPIPE_PEER], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"killed by signal {-result.returncode}: {result.stderr}"
    assert result.stdout.split("\n")[:3] == [
        "send BrokenPipeError",
        "send_vectored BrokenPipeError",
        "send_fds BrokenPipeError",
    ]


def test_send_after_shutdown(pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn]) -> None:
    a, b = pair
    a.shutdown(socket.SHUT_WR)
    assert b.recv(10) == b""
    with pytest.raises(BrokenPipeError):
        a.send(b"x")
    b.send(b"other way still works")
    assert a.recv(64) == b"other way still works"
    assert a.take_error() is None


def test_connect_to_missing_path_leaks_nothing(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        UnixSeqpacketConn.connect(tmp_path / "missing")
    with pytest.raises(ConnectionRefusedError):
        UnixSeqpacketConn.connect_unix_addr("@uds-test-nobody-listens-here-" + os.urandom(8).hex())
    with pytest.raises(ValueError, match="NUL"):
        UnixSeqpacketConn.connect("bad\0path")


def test_connect_to_a_stream_listener_is_refused(abstract_name: str) -> None:
    with uds.bind_unix_addr(abstract_name, socket.SOCK_STREAM):
        with pytest.raises(OSError) as info:
            UnixSeqpacketConn.connect_unix_addr(abstract_name)
        assert info.value.errno in (errno.ECONNREFUSED, errno.EPROTOTYPE)


def test_bind_to_taken_address_leaks_nothing(abstract_name: str, tmp_path: pathlib.Path) -> None:
    with UnixSeqpacketListener.bind_unix_addr(abstract_name):
        with pytest.raises(OSError) as info:
            UnixSeqpacketListener.bind_unix_addr(abstract_name)
        assert info.value.errno == errno.EADDRINUSE
        with pytest.raises(OSError) as info:
            UnixSeqpacketConn.connect_from_to_unix_addr(abstract_name, abstract_name)
        assert info.value.errno == errno.EADDRINUSE
    path = tmp_path / "taken"
    with UnixSeqpacketListener.bind(path):
        with pytest.raises(FileExistsError, match="in use or stale") as exists:
            UnixSeqpacketListener.bind(path)
        assert exists.value.errno == errno.EADDRINUSE
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(FileExistsError, match="regular file"):
        UnixSeqpacketListener.bind(tmp_path / "file")


# Listeners and addresses ---------------------------------------------------------------


def test_listener_on_absolute_path(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "absolute.sock"
    with UnixSeqpacketListener.bind(path) as listener:
        assert listener.local_unix_addr() == UnixSocketAddr.from_path(path)
        assert listener.local_unix_addr().is_absolute_path
        with UnixSeqpacketConn.connect(str(path)) as client:
            server, addr = listener.accept_unix_addr()
            with server:
                assert addr.is_unnamed
                assert client.peer_unix_addr() == UnixSocketAddr.from_path(path)
                client.send(b"hello")
                assert server.recv(10) == b"hello"
    assert stat.S_ISSOCK(os.lstat(path).st_mode)  # close() leaves the file


def test_listener_on_relative_path(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with UnixSeqpacketListener.bind("relative.sock") as listener:
        addr = listener.local_unix_addr()
        assert addr.is_relative_path and addr.as_pathname() == pathlib.Path("relative.sock")
        assert stat.S_ISSOCK(os.lstat(tmp_path / "relative.sock").st_mode)
        with UnixSeqpacketConn.connect_unix_addr(UnixSocketAddr.new("relative.sock")) as client:
            server, _ = listener.accept_unix_addr()
            with server:
                server.send(b"relative")
                assert client.recv(10) == b"relative"


def test_bind_with_mode(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "private.sock"
    with UnixSeqpacketListener.bind(path, mode=0o600), UnixSeqpacketConn.connect(path):
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600


def test_bind_path_is_a_path_even_with_an_at_sign(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with UnixSeqpacketListener.bind("@not-abstract") as listener:
        assert listener.local_unix_addr().is_path
        assert (tmp_path / "@not-abstract").exists()


def test_connect_from_to_unix_addr(abstract_name: str) -> None:
    client_name = abstract_name + "-client"
    listener = UnixSeqpacketListener.bind_unix_addr(abstract_name)
    client = UnixSeqpacketConn.connect_from_to_unix_addr(client_name, abstract_name)
    with listener, client:
        server, addr = listener.accept_unix_addr()
        with server:
            assert addr == UnixSocketAddr.new(client_name)
            assert server.peer_unix_addr() == UnixSocketAddr.new(client_name)
            assert server.local_unix_addr() == UnixSocketAddr.new(abstract_name)
            assert client.local_unix_addr() == UnixSocketAddr.new(client_name)


def test_everything_is_close_on_exec_and_blocking(
    connected: tuple[UnixSeqpacketListener, UnixSeqpacketConn, UnixSeqpacketConn],
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    for sock in (*connected, *pair):
        assert_cloexec(sock)
        assert_blocking(sock)
    listener, client, _ = connected
    for clone in (listener.try_clone(), client.try_clone()):
        with clone:
            assert_cloexec(clone)
            assert_blocking(clone)


def test_repr_shows_fd_and_addresses(
    connected: tuple[UnixSeqpacketListener, UnixSeqpacketConn, UnixSeqpacketConn],
    abstract_name: str,
) -> None:
    listener, client, server = connected
    assert repr(listener) == f"<UnixSeqpacketListener fd={listener.fileno()} local={abstract_name}>"
    assert repr(client) == (
        f"<UnixSeqpacketConn fd={client.fileno()} local=(unnamed) peer={abstract_name}>"
    )
    assert f"local={abstract_name} peer=(unnamed)" in repr(server)
    client.close()
    assert repr(client) == "<UnixSeqpacketConn closed>"


# Credentials ---------------------------------------------------------------------------


def test_peer_credentials_of_a_forked_client(abstract_name: str) -> None:
    with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
        pid = os.fork()
        if pid == 0:  # the child: connect, wait for the go-ahead, exit
            code = 1
            try:
                with UnixSeqpacketConn.connect_unix_addr(abstract_name) as conn:
                    conn.send(b"child")
                    code = 0 if conn.recv(10) == b"bye" else 2
            finally:
                os._exit(code)
        try:
            server, _ = listener.accept_unix_addr()
            with server:
                creds = server.initial_peer_credentials()
                assert creds.pid == pid
                assert (creds.euid, creds.egid) == (os.geteuid(), os.getegid())
                assert server.recv(10) == b"child"
                server.send(b"bye")
        finally:
            _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


def test_pair_credentials_and_pidfd(pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn]) -> None:
    a, _ = pair
    creds = a.initial_peer_credentials()
    assert (creds.pid, creds.euid) == (os.getpid(), os.geteuid())
    try:
        pidfd = a.peer_pidfd()
    except uds.UnsupportedPlatformError:
        return  # kernel older than 6.5
    try:
        assert_cloexec(pidfd)
        if hasattr(signal, "pidfd_send_signal"):
            signal.pidfd_send_signal(pidfd, 0)  # refers to a live process: ours
    finally:
        os.close(pidfd)


def test_selinux_context_is_reported_or_unsupported(
    pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn],
) -> None:
    a, _ = pair
    try:
        label = a.initial_peer_selinux_context()
    except uds.UnsupportedPlatformError as error:
        assert error.errno == errno.EOPNOTSUPP
    else:
        assert isinstance(label, bytes) and b"\0" not in label


# Ownership -----------------------------------------------------------------------------


def test_from_fd_takes_ownership_and_sets_flags() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with b:
        fd = a.detach()
        os.set_inheritable(fd, True)
        os.set_blocking(fd, False)
        conn = UnixSeqpacketConn.from_fd(fd)
        with conn:
            assert conn.fileno() == fd
            assert_cloexec(conn)
            assert_blocking(conn)
            conn.send(b"adopted")
            assert b.recv(10) == b"adopted"
        with pytest.raises(OSError) as info:
            os.fstat(fd)
        assert info.value.errno == errno.EBADF


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        (
            lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM),
            errno.EPROTOTYPE,
            "SOCK_STREAM",
        ),
        (lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), errno.EPROTOTYPE, "SOCK_DGRAM"),
        (lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM), errno.EAFNOSUPPORT, "AF_INET"),
    ],
    ids=["stream", "dgram", "inet"],
)
def test_from_fd_rejects_other_sockets(make: object, code: int, words: str) -> None:
    sock = make()  # type: ignore[operator]
    with sock:
        for cls in (UnixSeqpacketConn, UnixSeqpacketListener):
            with pytest.raises(OSError, match=words) as info:
                cls.from_fd(sock.fileno())
            assert info.value.errno == code
        assert sock.fileno() >= 0 and os.fstat(sock.fileno())  # still open, still ours


def test_from_fd_rejects_a_pipe_and_wrong_roles(abstract_name: str) -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(OSError, match=f"fd {r} is not a socket") as info:
            UnixSeqpacketConn.from_fd(r)
        assert info.value.errno == errno.ENOTSOCK
        os.fstat(r)
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(TypeError):
        UnixSeqpacketConn.from_fd(3.0)  # type: ignore[arg-type]
    with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
        with pytest.raises(OSError, match="listening") as info:
            UnixSeqpacketConn.from_fd(listener.fileno())
        assert info.value.errno == errno.EINVAL
        with UnixSeqpacketConn.connect_unix_addr(abstract_name) as client:
            with pytest.raises(OSError, match="not a listening") as info:
                UnixSeqpacketListener.from_fd(client.fileno())
            assert info.value.errno == errno.EINVAL
        adopted = UnixSeqpacketListener.from_fd(os.dup(listener.fileno()))
        with adopted, UnixSeqpacketConn.connect_unix_addr(abstract_name):
            conn, _ = adopted.accept_unix_addr()
            conn.close()


def test_try_clone_shares_the_socket(pair: tuple[UnixSeqpacketConn, UnixSeqpacketConn]) -> None:
    a, b = pair
    a.set_read_timeout(0.5)
    clone = a.try_clone()
    with clone:
        assert clone.fileno() != a.fileno()
        assert clone.read_timeout() == 0.5  # shared with the original
        clone.send(b"from the clone")
        assert b.recv(64) == b"from the clone"
        b.send(b"to either")
        assert clone.recv(64) == b"to either"
        a.close()
        b.send(b"after the original closed")
        assert clone.recv(64) == b"after the original closed"


def test_listener_clone_accepts_too(abstract_name: str) -> None:
    listener = UnixSeqpacketListener.bind_unix_addr(abstract_name)
    client = UnixSeqpacketConn.connect_unix_addr(abstract_name)
    with listener, listener.try_clone() as clone, client:
        listener.close()
        conn, _ = clone.accept_unix_addr()
        conn.close()


def test_detach_returns_the_fd_and_stops_owning_it() -> None:
    a, b = UnixSeqpacketConn.pair()
    with b:
        fd = a.detach()
        assert a.fileno() == -1
        a.close()  # must not close the detached fd
        with socket.socket(fileno=fd) as sock:
            sock.send(b"still open")
            assert b.recv(64) == b"still open"


def test_closed_objects_refuse_io() -> None:
    a, b = UnixSeqpacketConn.pair()
    with a, b:
        pass
    assert a.fileno() == -1
    a.close()  # idempotent
    with pytest.raises(OSError):
        a.send(b"x")


# A real server -------------------------------------------------------------------------


def test_threaded_echo_server_with_fds(abstract_name: str) -> None:
    clients = 8
    with UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:

        def serve() -> None:
            for _ in range(clients):
                conn, _ = listener.accept_unix_addr()
                with conn:
                    while True:
                        data, _, fds = conn.recv_fds(256, 4)
                        with fds:
                            if not data and not fds:
                                break
                            conn.send_fds(data.upper(), fds)

        server = threading.Thread(target=serve)
        server.start()
        try:
            r, w = os.pipe()
            try:
                for n in range(clients):
                    with UnixSeqpacketConn.connect_unix_addr(abstract_name) as conn:
                        conn.set_read_timeout(10)
                        conn.send_fds(f"hello {n}".encode(), [r, w])
                        data, truncated, fds = conn.recv_fds(256, 4)
                        with fds:
                            assert (data, truncated) == (f"HELLO {n}".encode(), False)
                            assert [same_file(f, g) for f, g in zip(fds, (r, w))] == [True, True]
                        conn.send(b"last" * 10)
                        assert conn.recv(16) == b"LASTLASTLASTLAST"
            finally:
                os.close(r)
                os.close(w)
        finally:
            server.join(30)
        assert not server.is_alive()


def test_listener_unlinks_its_socket_file_on_close_only_when_asked(tmp_path: pathlib.Path) -> None:
    kept, removed = tmp_path / "kept.sock", tmp_path / "removed.sock"
    with UnixSeqpacketListener.bind(kept):
        pass
    assert kept.exists()
    with UnixSeqpacketListener.bind(removed, unlink_on_close=True) as listener:
        assert removed.exists()
        with UnixSeqpacketConn.connect(removed):
            pass
    assert not removed.exists()
    listener.close()  # again: nothing left to remove, no error


def test_unlink_on_close_spares_a_file_that_replaced_ours(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.sock"
    listener = UnixSeqpacketListener.bind(path, unlink_on_close=True)
    os.unlink(path)
    with UnixSeqpacketListener.bind(path) as newcomer:
        listener.close()
        assert path.exists()
        with UnixSeqpacketConn.connect(path):
            newcomer.accept_unix_addr()[0].close()


def test_listener_detach_hands_over_the_fd(abstract_name: str) -> None:
    listener = UnixSeqpacketListener.bind_unix_addr(abstract_name)
    fd = listener.detach()
    assert listener.fileno() == -1
    with UnixSeqpacketListener.from_fd(fd) as adopted:
        assert adopted.local_unix_addr() == UnixSocketAddr.new(abstract_name)


def test_bind_unix_addr_to_a_path_leaves_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.sock"
    with UnixSeqpacketListener.bind_unix_addr(UnixSocketAddr.from_path(path)):
        pass
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
