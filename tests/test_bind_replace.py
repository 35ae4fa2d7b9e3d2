"""bind_path(..., replace=True): a new server takes a live socket's path over atomically
(issue 14 item 3). Clients connecting in a tight loop never see the path missing or refused."""

from __future__ import annotations

import errno
import os
import pathlib
import socket
import stat
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import uds
import uds.asyncio
import uds.nonblocking
from uds import bind_path

ROUNDS = 200


class Hammer:
    """Connects to ``path`` in a tight loop from a thread, counting outcomes by errno."""

    def __init__(self, path: str, kind: int) -> None:
        self.path = path
        self.kind = kind
        self.outcomes: Counter[str] = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stop.is_set():
            sock = socket.socket(socket.AF_UNIX, self.kind)
            try:
                sock.connect(self.path)
            except OSError as error:
                self.outcomes[errno.errorcode.get(error.errno or 0, str(error))] += 1
            else:
                self.outcomes["connected"] += 1
            finally:
                sock.close()

    def connections(self) -> int:
        return self.outcomes["connected"]


@contextmanager
def hammering(path: str, kind: int) -> Iterator[Hammer]:
    hammer = Hammer(path, kind)
    hammer.thread.start()
    try:
        yield hammer
    finally:
        hammer.stop.set()
        hammer.thread.join()


def _drain(listener: uds.UnixSeqpacketListener) -> int:
    """Accept and close every queued connection; return how many there were."""
    listener.set_nonblocking(True)
    count = 0
    while True:
        try:
            conn, _ = listener.accept_unix_addr()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_two_hundred_handovers_under_a_connecting_client(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "svc.sock")
    current = uds.UnixSeqpacketListener.bind(path, unlink_on_close=True, mode=0o600)
    accepted = 0
    with hammering(path, socket.SOCK_SEQPACKET) as hammer:
        try:
            for _ in range(ROUNDS):
                before = hammer.connections()
                successor = uds.UnixSeqpacketListener.bind(
                    path, replace=True, unlink_on_close=True, mode=0o600
                )
                # The old server still owns its listening fd and its queue: it
                # finishes what reached it, then closes without removing the
                # successor's file.
                accepted += _drain(current)
                current.close()
                current = successor
                info = os.lstat(path)
                assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
                accepted += _drain(current)
                current.set_nonblocking(False)
                while hammer.connections() == before:  # a client got through this round
                    accepted += _drain(current)
                    current.set_nonblocking(False)
        finally:
            hammer.stop.set()
            hammer.thread.join()
            accepted += _drain(current)
            current.close()
    assert not os.path.lexists(path)  # the last server removed its own file
    outcomes = dict(hammer.outcomes)
    assert outcomes.get("ECONNREFUSED", 0) == 0, outcomes
    assert outcomes.get("ENOENT", 0) == 0, outcomes
    assert set(outcomes) <= {"connected", "EAGAIN"}, outcomes
    assert hammer.connections() >= ROUNDS
    assert accepted > 0


def test_a_stream_handover_keeps_the_old_servers_queue(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "svc.sock")
    old = uds.bind_unix_addr(path, unlink_on_close=True)
    queued = uds.connect_to_unix_addr(path)
    new = uds.bind_unix_addr(path, replace=True, unlink_on_close=True)
    with old, new, queued:
        assert new.socket_file is not None and new.socket_file.is_ours()  # type: ignore[attr-defined]
        assert not old.socket_file.is_ours()  # type: ignore[attr-defined]
        fresh = uds.connect_to_unix_addr(path)
        with fresh:
            served, _ = uds.accept_unix_addr(old)  # the client queued before the rename
            with served:
                queued.sendall(b"old")
                assert served.recv(8) == b"old"
            served, _ = uds.accept_unix_addr(new)
            with served:
                fresh.sendall(b"new")
                assert served.recv(8) == b"new"
        old.close()
        assert os.path.exists(path)  # the old server's close left the new file
    assert not os.path.lexists(path)


def test_replace_takes_over_a_stale_file_and_creates_a_missing_one(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "svc.sock")
    with uds.asyncio.UnixSeqpacketListener.bind(path, replace=True):  # nothing there yet
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    # The stale file left behind is replaced (no probe needed).
    listener = uds.nonblocking.UnixSeqpacketListener.bind_unix_addr(path, replace=True)
    with listener, uds.UnixSeqpacketConn.connect(path):
        conn, _ = listener.accept_unix_addr()
        conn.close()
    os.unlink(path)


@pytest.mark.parametrize(
    ("what", "said"),
    [("symlink", "symbolic link"), ("regular file", "regular file"), ("directory", "directory")],
)
def test_replace_refuses_anything_but_a_socket(
    tmp_path: pathlib.Path, what: str, said: str
) -> None:
    path = tmp_path / "svc.sock"
    target = tmp_path / "elsewhere"
    if what == "symlink":
        path.symlink_to(target)
    elif what == "regular file":
        path.write_text("precious")
    else:
        path.mkdir()
    before = os.lstat(path)
    with pytest.raises(FileExistsError) as caught:
        uds.UnixSeqpacketListener.bind(path, replace=True)
    assert caught.value.errno == errno.EADDRINUSE and caught.value.filename == str(path)
    assert said in str(caught.value)
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert not target.exists()
    # No private directory is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["svc.sock"] + (["elsewhere"] if target.exists() else [])
    )


def test_replace_mode_is_exact_and_the_private_directory_goes(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "svc.sock")
    old_umask = os.umask(0o077)
    try:
        with (
            uds.bind_unix_addr(path, socket.SOCK_DGRAM),
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
        ):
            created = bind_path(sock, path, replace=True, mode=0o660)
            assert stat.S_IMODE(os.lstat(path).st_mode) == 0o660
            assert created.is_ours() and created.path == path
            assert sorted(p.name for p in tmp_path.iterdir()) == ["svc.sock"]
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
                client.sendto(b"to the new one", path)
                assert sock.recv(32) == b"to the new one"
            assert created.unlink()
    finally:
        os.umask(old_umask)


def test_replace_is_never_the_default_and_excludes_replace_stale(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "svc.sock")
    with uds.UnixSeqpacketListener.bind(path, unlink_on_close=True):
        with pytest.raises(FileExistsError):
            uds.UnixSeqpacketListener.bind(path)
        with pytest.raises(ValueError, match="replace_stale"):
            uds.UnixSeqpacketListener.bind(path, replace=True, replace_stale=True)
        with pytest.raises(ValueError, match="path addresses"):
            uds.bind_unix_addr("@x", replace=True)
