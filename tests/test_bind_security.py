"""Secure path binding (uds/_bind.py): exact mode, no clobbering, no symlinks, stale sockets."""

from __future__ import annotations

import errno
import os
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import uds
from tests.helpers import FilenoOnly, assert_cloexec, assert_nonblocking


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process umask after a test that changes it."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _leftovers(directory: Path) -> list[str]:
    return [name for name in os.listdir(directory) if name.startswith(".u")]


def _connects(path: Path, kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_UNIX, kind) as client:
        try:
            client.connect(str(path))
        except ConnectionRefusedError:
            return False
    return True


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o660, 0o666, 0o700, 0o000])
def test_mode_is_exact_under_a_permissive_umask(
    tmp_path: Path, umask: None, mode: int, binding_strategy: str
) -> None:
    os.umask(0)
    path = tmp_path / "s.sock"
    with uds.bind_unix_addr(path, mode=mode) as sock:
        info = os.lstat(path)
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == mode
        assert_cloexec(sock)
        assert _connects(path)
    assert _leftovers(tmp_path) == []


def test_mode_is_exact_under_a_restrictive_umask(
    tmp_path: Path, umask: None, binding_strategy: str
) -> None:
    os.umask(0o077)
    path = tmp_path / "s.sock"
    with uds.bind_unix_addr(path, mode=0o666):
        assert _mode(path) == 0o666


def test_without_mode_the_umask_applies_as_with_bind(tmp_path: Path, umask: None) -> None:
    os.umask(0o027)
    path = tmp_path / "s.sock"
    with uds.bind_unix_addr(path):
        assert _mode(path) == 0o750


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET])
def test_mode_with_every_socket_type(tmp_path: Path, kind: int) -> None:
    path = tmp_path / "s.sock"
    with uds.bind_unix_addr(path, kind, mode=0o604):
        assert _mode(path) == 0o604
        assert _connects(path, kind)


def test_the_file_never_appears_with_another_mode(
    tmp_path: Path, umask: None, binding_strategy: str
) -> None:
    """A thread lstat()s the target in a busy loop while it is bound over and over.

    Every mode it ever observes must be the final one; it also checks that every
    private directory it catches is 0o700. The first socket is held open until
    the watcher has seen it, so the check is never vacuous: a watcher thread that
    the scheduler left waiting for the GIL through all the binds used to make
    this test fail at random under load.
    """
    os.umask(0)
    path = tmp_path / "s.sock"
    seen_modes: set[int] = set()
    seen_dirs: set[int] = set()
    observations = 0
    observed, stop = threading.Event(), threading.Event()

    def watch() -> None:
        nonlocal observations
        while not stop.is_set():
            try:
                seen_modes.add(os.lstat(path).st_mode)
                observations += 1
                observed.set()
            except FileNotFoundError:
                pass
            for entry in os.scandir(tmp_path):
                if entry.name.startswith(".u"):
                    try:
                        seen_dirs.add(entry.stat(follow_symlinks=False).st_mode)
                    except FileNotFoundError:
                        pass

    # Switch threads often, so that the watcher also runs between the rapid binds.
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with uds.bind_unix_addr(path, mode=0o600, unlink_on_close=True):
            assert observed.wait(timeout=30), "the watcher never saw the socket"
        for _ in range(200):
            with uds.bind_unix_addr(path, mode=0o600, unlink_on_close=True):
                pass
    finally:
        stop.set()
        watcher.join()
        sys.setswitchinterval(old_interval)
    assert observations > 0
    assert seen_modes == {stat.S_IFSOCK | 0o600}
    assert seen_dirs <= {stat.S_IFDIR | 0o700}
    assert not path.exists()


@pytest.fixture
def private_directory_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the portable private-directory strategy (what the BSDs and macOS get)."""
    monkeypatch.setattr("uds._bind._MODE_BEFORE_BIND", False)


@pytest.fixture(params=["native", "private-directory"])
def binding_strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "private-directory":
        monkeypatch.setattr("uds._bind._MODE_BEFORE_BIND", False)
    return str(request.param)


@pytest.mark.skipif(not uds._bind._MODE_BEFORE_BIND, reason="Linux binds with the inode mode")
def test_linux_keeps_the_real_address_with_a_mode(tmp_path: Path, umask: None) -> None:
    os.umask(0o077)
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        socket_file = uds.bind_path(sock, path, mode=0o660)
        assert uds.local_unix_addr(sock).as_pathname() == path
        assert _mode(path) == 0o660
        assert _leftovers(tmp_path) == []
        socket_file.unlink()


def test_socket_address_is_the_private_path_but_the_file_is_the_target(
    tmp_path: Path, private_directory_binding: None
) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        socket_file = uds.bind_path(sock, path, mode=0o600)
        assert socket_file.path == str(path)
        assert socket_file.is_ours()
        # The kernel keeps the name bind() was given (documented in uds._bind).
        local = uds.local_unix_addr(sock).as_pathname()
        assert local is not None and local.parent.parent == tmp_path
        assert not local.exists()
        socket_file.unlink()


def test_symlink_to_a_file_is_refused_and_untouched(tmp_path: Path) -> None:
    target = tmp_path / "secret.txt"
    target.write_bytes(b"keep me")
    os.chmod(target, 0o600)
    link = tmp_path / "s.sock"
    link.symlink_to(target)
    for options in ({}, {"mode": 0o666}, {"replace_stale": True}):
        with pytest.raises(FileExistsError, match="symbolic link") as raised:
            uds.bind_unix_addr(link, **options)  # type: ignore[arg-type]
        assert raised.value.errno == errno.EADDRINUSE
        assert raised.value.filename == str(link)
        assert os.readlink(link) == str(target)
        assert target.read_bytes() == b"keep me"
        assert _mode(target) == 0o600
    assert _leftovers(tmp_path) == []


def test_dangling_symlink_is_refused_and_its_target_not_created(tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "x.sock"
    (tmp_path / "nowhere").mkdir()
    link = tmp_path / "s.sock"
    link.symlink_to(target)
    for options in ({}, {"mode": 0o600}, {"replace_stale": True}):
        with pytest.raises(FileExistsError, match="symbolic link"):
            uds.bind_unix_addr(link, **options)  # type: ignore[arg-type]
        assert not os.path.lexists(target)
        assert link.is_symlink()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET])
def test_a_live_socket_is_never_stolen(tmp_path: Path, kind: int) -> None:
    path = tmp_path / "s.sock"
    with uds.bind_unix_addr(path, kind) as owner:
        inode = os.lstat(path).st_ino
        for options, message in (
            ({}, "socket file, in use or stale"),
            ({"mode": 0o600}, "socket file, in use or stale"),
            ({"replace_stale": True}, "live socket"),
        ):
            with pytest.raises(FileExistsError, match=message) as raised:
                uds.bind_unix_addr(path, kind, **options)  # type: ignore[arg-type]
            assert raised.value.errno == errno.EADDRINUSE
            assert os.lstat(path).st_ino == inode
        assert _connects(path, kind)
        assert uds.local_unix_addr(owner).as_pathname() == path


def test_a_live_listener_with_a_full_backlog_is_not_stolen(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    clients = []
    with uds.bind_unix_addr(path, backlog=0):
        try:
            # Fill the backlog so that a blocking connect would hang.
            while True:
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                clients.append(client)
                try:
                    client.connect(str(path))
                except BlockingIOError:
                    break
            with pytest.raises(FileExistsError, match="live socket"):
                uds.bind_unix_addr(path, replace_stale=True)
        finally:
            for client in clients:
                client.close()
        assert path.exists()


def test_a_stale_socket_is_replaced_only_on_request(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    uds.bind_unix_addr(path).close()
    stale = os.lstat(path).st_ino
    with pytest.raises(FileExistsError, match="in use or stale") as raised:
        uds.bind_unix_addr(path)
    assert "replace_stale=True" in str(raised.value)
    assert os.lstat(path).st_ino == stale
    assert not _connects(path)
    with uds.bind_unix_addr(path, replace_stale=True, mode=0o600):
        # (The inode number may be reused, so liveness, not st_ino, tells them apart.)
        assert _mode(path) == 0o600
        assert _connects(path)


@pytest.mark.parametrize("make", ["file", "dir", "fifo"])
def test_other_files_are_never_replaced(tmp_path: Path, make: str) -> None:
    path = tmp_path / "s.sock"
    if make == "file":
        path.write_bytes(b"data")
    elif make == "dir":
        path.mkdir()
    else:
        os.mkfifo(path)
    before = os.lstat(path)
    for options in ({}, {"mode": 0o600}, {"replace_stale": True}):
        with pytest.raises(FileExistsError, match="not a socket") as raised:
            uds.bind_unix_addr(path, **options)  # type: ignore[arg-type]
        assert str(path) in str(raised.value)
        after = os.lstat(path)
        assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    if make == "file":
        assert path.read_bytes() == b"data"
    assert _leftovers(tmp_path) == []


def test_unlink_on_close_removes_only_our_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with uds.bind_unix_addr(path, unlink_on_close=True) as sock:
        assert isinstance(sock, uds.UnlinkingSocket)
        assert sock.socket_file is not None and sock.socket_file.path == str(path)
        conn = uds.connect_to_unix_addr(path)
        accepted, _ = sock.accept()
        with conn, accepted:
            # Accepted sockets are plain sockets: closing them unlinks nothing.
            assert type(accepted) is socket.socket
        with sock.dup() as duplicate:
            assert duplicate.socket_file is None  # type: ignore[attr-defined]
        assert path.exists()
    assert not path.exists()

    first = uds.bind_unix_addr(path, unlink_on_close=True)
    os.unlink(path)
    with uds.bind_unix_addr(path) as second:
        first.close()
        assert path.exists(), "closing the first listener removed the second one's file"
        assert uds.local_unix_addr(second).as_pathname() == path
    os.unlink(path)


def test_socket_file_unlink_spares_a_replacement(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        socket_file = uds.bind_path(sock, path)
    os.unlink(path)
    path.write_bytes(b"someone else's")
    assert socket_file.unlink() is False
    assert path.read_bytes() == b"someone else's"
    path.unlink()
    assert socket_file.unlink() is False


def test_socket_file_context_manager(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock, uds.bind_path(sock, path) as socket_file:
        assert socket_file.is_ours()
    assert not path.exists()


def test_bind_path_borrows_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
    with sock, uds.bind_path(FilenoOnly(sock), path, mode=0o620):
        assert sock.fileno() >= 0
        assert_nonblocking(sock)
        assert _mode(path) == 0o620
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.sendto(b"ping", str(path))
        assert sock.recv(8) == b"ping"


def test_bind_path_failure_keeps_the_borrowed_socket_open(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    path.write_bytes(b"")
    with socket.socket(socket.AF_UNIX) as sock:
        with pytest.raises(FileExistsError):
            uds.bind_path(sock, path, mode=0o600)
        assert sock.fileno() >= 0
    assert _leftovers(tmp_path) == []


def test_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with uds.bind_unix_addr("rel.sock", mode=0o600, unlink_on_close=True):
        assert _mode(tmp_path / "rel.sock") == 0o600
        assert _connects(Path("rel.sock"))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"mode": 0o10000}, ValueError, "0o7777"),
        ({"mode": -1}, ValueError, "0o7777"),
        ({"mode": "600"}, TypeError, "str"),
        ({"mode": True}, TypeError, "bool"),
    ],
)
def test_bad_modes_raise_before_anything_is_created(
    tmp_path: Path, options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        uds.bind_unix_addr(tmp_path / "s.sock", **options)  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_path_options_with_an_abstract_address(abstract_name: str) -> None:
    for options in ({"mode": 0o600}, {"replace_stale": True}, {"unlink_on_close": True}):
        with pytest.raises(ValueError, match="path addresses"):
            uds.bind_unix_addr(abstract_name, **options)  # type: ignore[arg-type]


def test_too_long_a_path_for_the_private_directory(
    tmp_path: Path, private_directory_binding: None
) -> None:
    limit = uds.UnixSocketAddr.max_path_len()
    deep = tmp_path / ("d" * max(1, limit - len(str(tmp_path)) - 4))
    deep.mkdir()
    path = deep / "s"
    assert len(str(path)) <= limit
    with pytest.raises(ValueError, match=f"limit of {limit}"):
        uds.bind_unix_addr(path, mode=0o600)
    assert os.listdir(deep) == []
    with uds.bind_unix_addr(path, unlink_on_close=True):
        assert path.exists()


def test_seqpacket_listener_binds_through_bind_path(tmp_path: Path, umask: None) -> None:
    os.umask(0)
    path = tmp_path / "s.sock"
    with uds.UnixSeqpacketListener.bind(path, mode=0o600):
        assert _mode(path) == 0o600
        with pytest.raises(FileExistsError, match="live socket"):
            uds.UnixSeqpacketListener.bind(path, replace_stale=True)
    with pytest.raises(FileExistsError, match="in use or stale"):
        uds.UnixSeqpacketListener.bind(path)
    with uds.UnixSeqpacketListener.bind(path, replace_stale=True):
        assert _connects(path, socket.SOCK_SEQPACKET)
    os.unlink(path)
    path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError, match="symbolic link"):
        uds.UnixSeqpacketListener.bind(path, mode=0o600)
    assert not (tmp_path / "elsewhere").exists()


def test_a_failed_bind_does_not_disturb_the_live_listener(tmp_path: Path) -> None:
    """Without replace_stale, the error is described without a probe connection."""
    path = tmp_path / "s.sock"
    with uds.bind_unix_addr(path) as owner:
        with pytest.raises(FileExistsError, match="in use or stale"):
            uds.bind_unix_addr(path)
        owner.setblocking(False)
        with pytest.raises(BlockingIOError):
            owner.accept()


def test_two_starters_replacing_the_same_stale_socket_cannot_orphan_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B finds the file stale, then stalls before unlinking; A starts meanwhile.

    Without the directory lock A would bind, then B would unlink A's live
    socket and bind its own, leaving A listening on a name nobody can reach.
    """
    import uds._bind as bind_module

    path = tmp_path / "svc.sock"
    uds.bind_unix_addr(path).close()  # stale
    b_checked, a_done = threading.Event(), threading.Event()
    real_is_live = bind_module._is_live

    def slow_is_live(target: str, kind: int) -> bool:
        live = real_is_live(target, kind)
        if threading.current_thread().name == "B":
            b_checked.set()
            a_done.wait(timeout=0.5)  # A cannot finish first while B holds the lock
        return live

    monkeypatch.setattr(bind_module, "_is_live", slow_is_live)
    results: dict[str, object] = {}

    def starter() -> None:
        name = threading.current_thread().name
        try:
            results[name] = uds.bind_unix_addr(path, replace_stale=True)
        except OSError as error:
            results[name] = error
        if name == "A":
            a_done.set()

    b = threading.Thread(target=starter, name="B")
    b.start()
    assert b_checked.wait(timeout=10)
    a = threading.Thread(target=starter, name="A")
    a.start()
    a.join(timeout=10)
    b.join(timeout=10)
    winners = [s for s in results.values() if isinstance(s, socket.socket)]
    losers = [e for e in results.values() if isinstance(e, FileExistsError)]
    try:
        assert len(winners) == 1 and len(losers) == 1, results
        assert "live socket" in str(losers[0])
        winner = winners[0]
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(path))
            winner.setblocking(False)
            conn, _ = winner.accept()  # the path reaches the winner
            conn.close()
    finally:
        for s in winners:
            s.close()
