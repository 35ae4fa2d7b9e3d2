"""uds.systemd against the real programs: systemd-socket-activate and systemd-notify."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import json
import os
import pathlib
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional, cast

import pytest

import uds
from tests.helpers import assert_cloexec, open_fds, same_file
from tests.test_cli import TIMEOUT, wait_bound
from uds.systemd import (
    LISTEN_FDS_START,
    NotifyListener,
    format_notify_state,
    listen_fds,
    listen_fds_raw,
    notify,
    notify_barrier,
    parse_notify_message,
    remove_stored_fds,
    store_fds,
    watchdog_enabled,
)

LISTEN_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (it comes with systemd)")
    return path


# A service started by socket activation: it describes what listen_fds() gave
# it and sends that description to its first client.
SERVICE = r"""
import fcntl, json, os, socket, sys
import uds, uds.systemd

variables = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
before = {k: os.environ.get(k) for k in variables}
raw = sys.argv[1:] == ["--raw"]
passed = uds.systemd.listen_fds_raw() if raw else uds.systemd.listen_fds()
after = {k: os.environ.get(k) for k in variables}
sockets = []
for obj, name in passed:
    fd = obj if isinstance(obj, int) else obj.fileno()
    cloexec = bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
    sockets.append({"name": name, "class": type(obj).__name__, "fd": fd, "cloexec": cloexec})
report = json.dumps({"pid": os.getpid(), "before": before, "after": after, "sockets": sockets})
first = passed[0][0]
if isinstance(first, int):
    first = socket.socket(fileno=first)
if isinstance(first, uds.UnixSeqpacketListener):
    conn, _ = first.accept_unix_addr()
    conn.recv(100)
    conn.send(report.encode())
elif isinstance(first, uds.UnixSeqpacketConn):
    first.recv(100)
    first.send(report.encode())
elif first.type == socket.SOCK_DGRAM:
    _, sender = first.recvfrom(100)
    first.sendto(report.encode(), sender)
else:
    conn, _ = first.accept()
    conn.recv(100)
    conn.sendall(report.encode())
    conn.close()
"""


@contextmanager
def activate(
    *options: str, service_args: tuple[str, ...] = ()
) -> Iterator[subprocess.Popen[bytes]]:
    """Run the service under systemd-socket-activate with ``options``."""
    program = require("systemd-socket-activate")
    process = subprocess.Popen(
        [program, *options, sys.executable, "-c", SERVICE, *service_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate()


def ask(addr: str, kind: int) -> dict[str, Any]:
    """Send a request to the activated service and return its report."""
    if kind == socket.SOCK_DGRAM:
        with uds.connect_from_to_unix_addr("", addr, kind) as sock:
            sock.send(b"hello")
            reply = sock.recv(65536)
    else:
        with uds.connect_to_unix_addr(addr, kind) as sock:
            sock.send(b"hello")
            reply = sock.recv(65536)
    result: dict[str, Any] = json.loads(reply)
    return result


def test_seqpacket_activation_gives_a_seqpacket_listener(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "web.sock")
    with activate("-l", path, "--seqpacket", "--fdname=web") as process:
        wait_bound(path, socket.SOCK_SEQPACKET, process)
        report = ask(path, socket.SOCK_SEQPACKET)
        assert process.wait(TIMEOUT) == 0
    # systemd-socket-activate execs the service in its own process.
    assert report["pid"] == process.pid
    assert report["before"] == {
        "LISTEN_PID": str(process.pid),
        "LISTEN_FDS": "1",
        "LISTEN_FDNAMES": "web",
    }
    assert report["after"] == {"LISTEN_PID": None, "LISTEN_FDS": None, "LISTEN_FDNAMES": None}
    assert report["sockets"] == [
        {"name": "web", "class": "UnixSeqpacketListener", "fd": LISTEN_FDS_START, "cloexec": True}
    ]


def test_accepted_seqpacket_connection_gives_a_connection(abstract_name: str) -> None:
    with activate("-l", abstract_name, "--seqpacket", "--accept") as process:
        wait_bound(abstract_name, socket.SOCK_SEQPACKET, process)
        report = ask(abstract_name, socket.SOCK_SEQPACKET)
    assert report["sockets"] == [
        {"name": "unknown", "class": "UnixSeqpacketConn", "fd": 3, "cloexec": True}
    ]


def test_stream_activation_with_two_named_sockets(abstract_name: str) -> None:
    first, second = f"{abstract_name}-a", f"{abstract_name}-b"
    with activate("-l", first, "-l", second, "--fdname=first:second") as process:
        wait_bound(first, socket.SOCK_STREAM, process)
        wait_bound(second, socket.SOCK_STREAM, process)
        report = ask(first, socket.SOCK_STREAM)
    assert report["before"]["LISTEN_FDNAMES"] == "first:second"
    assert [(s["name"], s["class"], s["fd"], s["cloexec"]) for s in report["sockets"]] == [
        ("first", "socket", 3, True),
        ("second", "socket", 4, True),
    ]


def test_datagram_activation_and_raw_fds(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "dgram.sock")
    with activate("-l", path, "--datagram", service_args=("--raw",)) as process:
        wait_bound(path, socket.SOCK_DGRAM, process, listening=False)
        report = ask(path, socket.SOCK_DGRAM)
    assert report["sockets"] == [{"name": "unknown", "class": "int", "fd": 3, "cloexec": True}]
    assert report["after"]["LISTEN_FDS"] is None


# listen_fds without a manager: the environment protocol -------------------------------


@pytest.fixture
def clean_listen_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in LISTEN_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_nothing_passed(clean_listen_env: pytest.MonkeyPatch) -> None:
    assert listen_fds() == [] and listen_fds_raw() == []


def test_fds_meant_for_another_process_are_left_alone(clean_listen_env: pytest.MonkeyPatch) -> None:
    clean_listen_env.setenv("LISTEN_PID", str(os.getppid()))
    clean_listen_env.setenv("LISTEN_FDS", "1")
    assert listen_fds(unset_environment=False) == []
    assert os.environ["LISTEN_FDS"] == "1"
    assert listen_fds() == []
    assert not any(variable in os.environ for variable in LISTEN_VARIABLES)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"LISTEN_FDS": "1x"}, "LISTEN_FDS='1x' is not a decimal number"),
        ({"LISTEN_FDS": "-1"}, "LISTEN_FDS='-1' is not a decimal number"),
        ({"LISTEN_FDS": "2", "LISTEN_FDNAMES": "a"}, "LISTEN_FDNAMES has 1 names for LISTEN_FDS=2"),
        # sd_listen_fds rejects absurd counts (EINVAL); building the list would exhaust memory.
        ({"LISTEN_FDS": "99999999999999"}, "LISTEN_FDS=99999999999999 is more than the"),
        ({"LISTEN_FDS": str(2**31)}, "LISTEN_FDS=2147483648 is more than the"),
    ],
)
def test_malformed_environment(
    clean_listen_env: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    clean_listen_env.setenv("LISTEN_PID", str(os.getpid()))
    for key, value in variables.items():
        clean_listen_env.setenv(key, value)
    with pytest.raises(ValueError, match=message):
        listen_fds()
    assert not any(variable in os.environ for variable in LISTEN_VARIABLES)


def run_child(code: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=TIMEOUT, check=True
    )
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_a_fifo_stays_an_int_and_a_socketpair_becomes_a_socket() -> None:
    report = run_child(
        r"""
import fcntl, json, os, socket
import uds.systemd
r, w = os.pipe()
a, b = socket.socketpair()
os.dup2(r, 3)  # dup2 makes them inheritable, as a manager passes them
os.dup2(a.fileno(), 4)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="2", LISTEN_FDNAMES="pipe:pair")
passed = uds.systemd.listen_fds()
print(json.dumps([
    [type(obj).__name__, name, bool(fcntl.fcntl(3 + i, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)]
    for i, (obj, name) in enumerate(passed)
] + [passed[1][0].type == socket.SOCK_STREAM, passed[1][0].family == socket.AF_UNIX]))
"""
    )
    assert report == [["int", "pipe", True], ["socket", "pair", True], True, True]


def test_a_missing_fd_raises_ebadf_and_closes_the_others() -> None:
    report = run_child(
        r"""
import json, os
import uds.systemd
r, w = os.pipe()
os.dup2(r, 3)
os.closerange(4, 6)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="3")
try:
    uds.systemd.listen_fds()
except OSError as error:
    errno_, message = error.errno, str(error)
try:
    os.fstat(3)
    fd3 = "open"
except OSError:
    fd3 = "closed"
print(json.dumps([errno_, fd3, "LISTEN_FDS" in os.environ, message]))
"""
    )
    items: list[Any] = cast(Any, report)  # the child prints a JSON list
    assert items[:3] == [errno.EBADF, "closed", False]
    assert "fd 4 " in items[3] and "LISTEN_FDS=3" in items[3], items[3]


# sd_notify ---------------------------------------------------------------------------------


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifyListener]:
    with NotifyListener() as notify_listener:
        monkeypatch.setenv("NOTIFY_SOCKET", notify_listener.notify_socket)
        yield notify_listener


def test_systemd_notify_ready_and_status(listener: NotifyListener) -> None:
    program = require("systemd-notify")
    with subprocess.Popen(
        [program, "--ready", "--status=serving requests"], stderr=subprocess.PIPE
    ) as process:
        with listener.recv(TIMEOUT) as message:
            assert message.fields == {"READY": "1", "STATUS": "serving requests"}
            assert message.credentials is not None
            # systemd-notify speaks for its parent (us), which root may claim.
            expected = os.getpid() if os.geteuid() == 0 else process.pid
            assert message.credentials.pid == expected
            assert (message.credentials.uid, message.credentials.gid) == (os.getuid(), os.getgid())
            assert not message.fds
        # It then waits on a barrier: an fd that is released when we close it.
        with listener.recv(TIMEOUT) as barrier:
            assert barrier.fields == {"BARRIER": "1"}
            assert len(barrier.fds) == 1
            assert_cloexec(barrier.fds[0])
        _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err


def test_systemd_notify_with_pid_sends_mainpid_from_itself(listener: NotifyListener) -> None:
    program = require("systemd-notify")
    with subprocess.Popen([program, "--ready", "--pid=4242", "--no-block"]) as process:
        with listener.recv(TIMEOUT) as message:
            assert message.fields == {"READY": "1", "MAINPID": "4242"}
            assert message.credentials is not None
            assert message.credentials.pid == process.pid
        assert process.wait(TIMEOUT) == 0


def test_notify_sends_state_fds_and_credentials(
    listener: NotifyListener, tmp_path: pathlib.Path
) -> None:
    stored = tmp_path / "stored"
    stored.write_text("state")
    with open(stored) as f:
        assert notify({"FDSTORE": 1, "FDNAME": "state", "STATUS": "up"}, fds=[f]) is True
    with listener.recv(TIMEOUT) as message:
        assert message.data == b"FDSTORE=1\nFDNAME=state\nSTATUS=up"
        assert message.credentials is not None
        creds = message.credentials
        assert (creds.pid, creds.uid, creds.gid) == (os.getpid(), os.getuid(), os.getgid())
        assert len(message.fds) == 1 and not message.fds.truncated
        assert same_file(message.fds[0], str(stored))
        assert_cloexec(message.fds[0])


def test_notify_claiming_another_pid(listener: NotifyListener) -> None:
    assert notify("READY=1", pid=os.getppid())
    with listener.recv(TIMEOUT) as message:
        assert message.credentials is not None
        # Without privilege the claim is dropped and our own pid is sent, as sd_pid_notify does.
        expected = os.getppid() if os.geteuid() == 0 else os.getpid()
        assert message.credentials.pid == expected


def test_notify_without_a_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    assert notify("READY=1", unset_environment=True) is False


def test_notify_unsets_the_environment_when_asked(listener: NotifyListener) -> None:
    assert notify("STATUS=once", unset_environment=True) is True
    assert "NOTIFY_SOCKET" not in os.environ
    assert listener.recv(TIMEOUT).fields == {"STATUS": "once"}


def test_notify_to_a_path(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "notify"
    with NotifyListener(str(path)) as listener:
        assert listener.notify_socket == str(path)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert notify("READY=1")
        assert listener.recv(TIMEOUT).fields == {"READY": "1"}


@pytest.mark.parametrize("where", ["abstract", "path"])
def test_notify_falls_back_to_seqpacket(
    monkeypatch: pytest.MonkeyPatch, abstract_name: str, tmp_path: pathlib.Path, where: str
) -> None:
    address = abstract_name if where == "abstract" else str(tmp_path / "notify")
    with uds.UnixSeqpacketListener.bind_unix_addr(address) as manager:
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        assert notify("READY=1")
        conn, _ = manager.accept_unix_addr()
        with conn:
            assert conn.recv(100) == b"READY=1"


def test_notify_when_nobody_listens(monkeypatch: pytest.MonkeyPatch, abstract_name: str) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", abstract_name)
    with pytest.raises(ConnectionRefusedError):
        notify("READY=1")


def test_bad_arguments_send_nothing(listener: NotifyListener) -> None:
    closed_fd = max(open_fds()) + 1000  # notify's own socket cannot take this number
    with pytest.raises(ValueError, match="empty"):
        notify("")
    with pytest.raises(TypeError, match="fileno"):
        notify("FDSTORE=1", fds=["not an fd"])  # type: ignore[list-item]
    with pytest.raises(OSError) as refused:  # closed: the kernel refuses the whole message
        notify("FDSTORE=1", fds=[closed_fd])
    assert refused.value.errno == errno.EBADF
    with pytest.raises(ValueError, match="invalid file descriptor -1"):
        notify("FDSTORE=1", fds=[-1])
    with pytest.raises(BlockingIOError):
        listener.recv(0)


def test_a_notify_socket_that_is_not_unix(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("relative/path", "vsock:2:1234", "@"):
        monkeypatch.setenv("NOTIFY_SOCKET", value)
        with pytest.raises(OSError) as raised:
            notify("READY=1")
        assert raised.value.errno == errno.EAFNOSUPPORT


def test_long_messages_are_reported_truncated(listener: NotifyListener) -> None:
    assert notify({"STATUS": "x" * 5000})
    message = listener.recv(TIMEOUT)
    assert message.truncated and len(message.data) == 4096


def test_listener_iterates_and_has_an_abstract_address(listener: NotifyListener) -> None:
    assert listener.addr.is_abstract and listener.notify_socket.startswith("@")
    for state in ("READY=1", "RELOADING=1", "STOPPING=1"):
        notify(state)
    received = [message.data for _, message in zip(range(3), listener)]
    assert received == [b"READY=1", b"RELOADING=1", b"STOPPING=1"]


def test_format_and_parse() -> None:
    assert format_notify_state("READY=1\nSTATUS=a=b") == b"READY=1\nSTATUS=a=b"
    assert format_notify_state({"READY": True, "WATCHDOG": False, "ERRNO": 5}) == (
        b"READY=1\nWATCHDOG=0\nERRNO=5"
    )
    for bad in ({"": 1}, {"A=B": 1}, {"STATUS": "two\nlines"}, {}):
        with pytest.raises(ValueError):
            format_notify_state(bad)
    with pytest.raises(TypeError):
        format_notify_state(b"READY=1")  # type: ignore[arg-type]
    assert parse_notify_message(b"READY=1\nnoise\n=x\nSTATUS=a=b\nSTATUS=c\n") == {
        "READY": "1",
        "STATUS": "c",
    }


# fd store, barrier and watchdog -------------------------------------------------------


def _libsystemd() -> ctypes.CDLL:
    name = ctypes.util.find_library("systemd")
    if name is None:
        pytest.skip("libsystemd is not installed (the reference sd_notify implementation)")
    return ctypes.CDLL(name)


def test_store_fds_sends_fdstore_with_a_name(
    listener: NotifyListener, tmp_path: pathlib.Path
) -> None:
    stored = tmp_path / "stored"
    stored.write_text("state")
    a, b = socket.socketpair()
    with open(stored) as f, a, b:
        assert store_fds([f, a], "conn-1") is True
        with listener.recv(TIMEOUT) as message:
            assert message.data == b"FDSTORE=1\nFDNAME=conn-1"
            assert len(message.fds) == 2 and not message.fds.truncated
            assert same_file(message.fds[0], str(stored))
            assert os.fstat(message.fds[1]).st_ino == os.fstat(a.fileno()).st_ino
        # Still ours and open: storing hands the manager duplicates.
        assert os.fstat(f.fileno()).st_size == 5 and os.fstat(a.fileno()).st_ino
        assert store_fds([b], poll=False) is True
        with listener.recv(TIMEOUT) as message:
            assert message.fields == {"FDSTORE": "1", "FDPOLL": "0"}  # unnamed: "stored"
            assert len(message.fds) == 1


def test_remove_stored_fds(listener: NotifyListener) -> None:
    assert remove_stored_fds("conn-1") is True
    with listener.recv(TIMEOUT) as message:
        assert message.data == b"FDSTOREREMOVE=1\nFDNAME=conn-1" and not message.fds


def test_store_fds_matches_libsystemd(listener: NotifyListener, pipe: tuple[int, int]) -> None:
    lib = _libsystemd()
    state = b"FDSTORE=1\nFDNAME=db"
    fds = (ctypes.c_int * 1)(pipe[0])
    assert lib.sd_pid_notify_with_fds(0, 0, state, fds, 1) > 0
    with listener.recv(TIMEOUT) as theirs:
        assert store_fds([pipe[0]], "db")
        with listener.recv(TIMEOUT) as ours:
            assert ours.data == theirs.data == state
            assert len(ours.fds) == len(theirs.fds) == 1
            assert ours.credentials == theirs.credentials


def test_fd_store_arguments_are_checked_before_sending(
    listener: NotifyListener, pipe: tuple[int, int]
) -> None:
    for name in ("", "a:b", "x" * 256, "tab\there", "é"):
        with pytest.raises(ValueError, match="fd name"):
            store_fds([pipe[0]], name)
        with pytest.raises(ValueError, match="fd name"):
            remove_stored_fds(name)
    assert store_fds([pipe[0]], "~ " + "x" * 253)  # the longest, with the edge characters
    with listener.recv(TIMEOUT) as message:
        assert message.fields["FDNAME"] == "~ " + "x" * 253
    with pytest.raises(ValueError, match="at least one fd"):
        store_fds([], "empty")
    with pytest.raises(TypeError):
        store_fds([pipe[0]], b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid file descriptor -1"):
        store_fds([-1], "neg")
    with pytest.raises(BlockingIOError):
        listener.recv(0)


def test_fd_store_without_a_manager(monkeypatch: pytest.MonkeyPatch, pipe: tuple[int, int]) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert store_fds([pipe[0]], "x") is False
    assert remove_stored_fds("x") is False
    assert notify_barrier() is False


def _barrier_in_thread(
    call: Callable[[], object],
) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # reported to the test thread
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_notify_barrier_waits_until_the_manager_closes_the_fd(listener: NotifyListener) -> None:
    thread, outcome = _barrier_in_thread(lambda: notify_barrier(TIMEOUT))
    try:
        message = listener.recv(TIMEOUT)
        with message:
            assert message.data == b"BARRIER=1" and len(message.fds) == 1
            mode = os.fstat(message.fds[0]).st_mode
            assert stat.S_ISFIFO(mode)
            assert fcntl.fcntl(message.fds[0], fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY
            thread.join(0.2)
            assert thread.is_alive() and not outcome  # still waiting on our copy
        thread.join(TIMEOUT)
    finally:
        thread.join(TIMEOUT)
    assert outcome == [True]


def test_notify_barrier_times_out(listener: NotifyListener) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="BARRIER=1"):
        notify_barrier(0.2)
    assert time.monotonic() - started >= 0.2
    with listener.recv(TIMEOUT) as message:
        assert message.fields == {"BARRIER": "1"} and len(message.fds) == 1
    with pytest.raises(ValueError, match="timeout"):
        notify_barrier(-1)


def test_notify_barrier_sends_what_libsystemd_sends(listener: NotifyListener) -> None:
    lib = _libsystemd()
    lib.sd_notify_barrier.argtypes = [ctypes.c_int, ctypes.c_uint64]
    theirs_thread, theirs_outcome = _barrier_in_thread(
        lambda: lib.sd_notify_barrier(0, int(TIMEOUT * 1e6))
    )
    with listener.recv(TIMEOUT) as theirs:
        ours_thread, ours_outcome = _barrier_in_thread(lambda: notify_barrier(TIMEOUT))
        with listener.recv(TIMEOUT) as ours:
            assert ours.data == theirs.data == b"BARRIER=1"
            assert len(ours.fds) == len(theirs.fds) == 1
            kinds = {stat.S_IFMT(os.fstat(m.fds[0]).st_mode) for m in (ours, theirs)}
            assert kinds == {stat.S_IFIFO}
            assert ours.credentials == theirs.credentials
    for thread in (theirs_thread, ours_thread):
        thread.join(TIMEOUT)
    assert theirs_outcome == [1] and ours_outcome == [True]


WATCHDOG_CASES = [
    (None, None),
    ("5000000", None),
    ("250000", "self"),
    ("5000000", "other"),
    ("0", None),
    ("18446744073709551615", None),  # USEC_INFINITY
    ("18446744073709551614", None),
    ("-5", None),
    ("5s", None),
    ("1000", "0"),
    ("1000", "pid"),
]


@pytest.mark.parametrize(("usec", "pid"), WATCHDOG_CASES)
def test_watchdog_enabled_agrees_with_libsystemd(
    monkeypatch: pytest.MonkeyPatch, usec: Optional[str], pid: Optional[str]
) -> None:
    lib = _libsystemd()
    lib.sd_watchdog_enabled.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_uint64)]
    for variable, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            value = {"self": str(os.getpid()), "other": str(os.getpid() + 1)}.get(value, value)
            monkeypatch.setenv(variable, value)
    interval = ctypes.c_uint64(0)
    theirs = lib.sd_watchdog_enabled(0, ctypes.byref(interval))
    if theirs < 0:
        with pytest.raises(ValueError, match="WATCHDOG_"):
            watchdog_enabled()
    elif theirs == 0:
        assert watchdog_enabled() is None
    else:
        assert watchdog_enabled() == interval.value / 1e6
    assert ("WATCHDOG_USEC" in os.environ) is (usec is not None)  # left alone by default


def test_watchdog_enabled_can_unset_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_enabled(unset_environment=True) == 3.0
    assert "WATCHDOG_USEC" not in os.environ and "WATCHDOG_PID" not in os.environ
    assert watchdog_enabled() is None
    monkeypatch.setenv("WATCHDOG_USEC", "junk")
    with pytest.raises(ValueError):
        watchdog_enabled(unset_environment=True)
    assert "WATCHDOG_USEC" not in os.environ


def test_a_service_keeps_its_watchdog_fed(listener: NotifyListener) -> None:
    # As systemd starts a service: WATCHDOG_PID is the service's own pid (the
    # shell execs Python, keeping its pid), so only that process pings.
    service = r"""
import os, time, uds.systemd
interval = uds.systemd.watchdog_enabled(unset_environment=True)
assert interval == 1.0, interval
assert "WATCHDOG_USEC" not in os.environ
uds.systemd.notify("READY=1")
for _ in range(3):
    time.sleep(interval / 2)
    uds.systemd.notify("WATCHDOG=1")
assert uds.systemd.notify_barrier(10)
"""
    env = dict(os.environ, WATCHDOG_USEC="1000000")
    with subprocess.Popen(
        ["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" -c "$1"', sys.executable, service],
        env=env,
        stderr=subprocess.PIPE,
    ) as process:
        received = []
        for _ in range(5):
            with listener.recv(TIMEOUT) as message:
                assert message.credentials is not None
                assert message.credentials.pid == process.pid
                received.append((message.data, time.monotonic()))
        _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    assert [data for data, _ in received] == [b"READY=1"] + [b"WATCHDOG=1"] * 3 + [b"BARRIER=1"]
    pings = [when for data, when in received if data == b"WATCHDOG=1"]
    assert all(later - earlier < 1.0 for earlier, later in zip(pings, pings[1:]))
