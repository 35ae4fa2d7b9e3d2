"""The tutorial programs in examples/ run and do what their pages say.

Each tutorial page of docs/tutorials includes a program with ``literalinclude``;
every program included there must be run by a test (this file, or
test_examples_event_loops.py / test_example_quickstart.py for the older ones).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import uds
from uds.systemd import NotifyListener

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TUTORIALS = ROOT / "docs" / "tutorials"


def run_example(name: str, *args: str) -> list[str]:
    completed = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    return completed.stdout.splitlines()


def test_fd_to_child() -> None:
    assert run_example("fd_to_child.py") == [
        "parent: peer pid is the child's: True",
        "parent: child exited with 0",
        "parent: read 'written by the child (close-on-exec: True)'",
    ]


def test_prefork_server_spreads_connections_over_worker_processes() -> None:
    lines = run_example("prefork_server.py", "3", "7")
    served = [
        re.fullmatch(r"worker (\d) \(pid (\d+), parent (\d+)\) got 'request (\d)'", line)
        for line in lines[:7]
    ]
    assert all(served), lines
    parents = {int(m.group(3)) for m in served if m}
    worker_pids = {int(m.group(1)): int(m.group(2)) for m in served if m}
    assert len(parents) == 1 and len(set(worker_pids.values())) == 3
    assert parents.isdisjoint(worker_pids.values())
    # Round robin: request i went to worker i % 3, each worker always in its process.
    assert [(int(m.group(1)), int(m.group(4))) for m in served if m] == [
        (i % 3, i) for i in range(7)
    ]
    assert all(int(m.group(2)) == worker_pids[int(m.group(1))] for m in served if m)
    assert sorted(lines[7:]) == sorted(
        f"worker pid {pid} exited with 0" for pid in worker_pids.values()
    )


def test_peer_policy_admits_the_same_user_and_refuses_others() -> None:
    lines = run_example("peer_policy.py")
    uid = os.geteuid()
    assert lines[0] == f"server: policy PeerPolicy(uids=[{uid}])"
    assert re.fullmatch(rf"server: admitted pid \d+ \(uid {uid}\)", lines[1]), lines
    assert lines[2] == "client (same user): got 'welcome, then HELLO'"
    if uid != 0:
        assert lines[3:] == [
            "server: not root, so no client as another user (that one would be refused)"
        ]
        return
    assert re.fullmatch(
        r"server: refused: peer not allowed by PeerPolicy\(uids=\[0\]\): "
        r"pid \d+, uid 65534, gid 65534, groups none",
        lines[3],
    ), lines
    assert lines[4:] == ["client (uid 65534): got 'refused'"]


def connect_when_bound(address: str, deadline: float) -> uds.UnixSocketAddr:
    """Wait until systemd-socket-activate has bound ``address``; return it."""
    while True:
        try:
            with uds.connect_to_unix_addr(address) as probe:
                probe.sendall(b"hello")
                assert probe.recv(1024).startswith(b"hello from pid ")
                return uds.UnixSocketAddr.new(address)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_socket_activated_service_reports_ready() -> None:
    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        pytest.skip("systemd-socket-activate is not installed (apt-get install systemd)")
    address = f"@uds-tutorial-greeter-{os.getpid()}"
    with (
        NotifyListener() as manager,
        subprocess.Popen(
            [
                activate,
                "-l",
                address,
                "--fdname=greeter",
                "-E",
                f"NOTIFY_SOCKET={manager.notify_socket}",
                # It passes the service no other variable unless told to.
                *(["-E", "PYTHONPATH"] if "PYTHONPATH" in os.environ else []),
                sys.executable,
                "-W",
                "error",
                str(EXAMPLES / "systemd_service.py"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as process,
    ):
        try:
            # It execs the service on the first connection.
            connect_when_bound(address, time.monotonic() + 20)
            with manager.recv(timeout=20) as ready:
                assert ready.fields == {
                    "READY": "1",
                    "STATUS": f"greeting on {address} (greeter)",
                }
                # systemd-socket-activate execs the service in its own process.
                assert ready.credentials is not None
                assert ready.credentials.pid == process.pid
            with manager.recv(timeout=20) as status:
                assert status.fields == {"STATUS": "served 1"}
            with uds.connect_to_unix_addr(address) as client:
                client.sendall(b"stop")
                assert client.recv(1024) == f"hello from pid {process.pid} via greeter".encode()
            for expected in ({"STATUS": "served 2"}, {"STOPPING": "1"}):
                with manager.recv(timeout=20) as message:
                    assert message.fields == expected
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate()


def test_systemd_service_runs_without_a_manager() -> None:
    address = f"@uds-tutorial-self-bound-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")}
    with subprocess.Popen(
        [sys.executable, "-W", "error", str(EXAMPLES / "systemd_service.py"), address],
        env=env,
        stderr=subprocess.PIPE,
    ) as process:
        try:
            connect_when_bound(address, time.monotonic() + 20)
            with uds.connect_to_unix_addr(address) as client:
                client.sendall(b"stop")
                assert client.recv(1024) == f"hello from pid {process.pid} via self-bound".encode()
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate()


def test_every_included_program_is_run_by_a_test() -> None:
    included = set()
    for page in TUTORIALS.glob("*.rst"):
        for target in re.findall(r"^\.\. literalinclude:: (\S+)", page.read_text(), re.M):
            path = (page.parent / target).resolve()
            assert path.is_file(), f"{page.name} includes a missing {target}"
            included.add(path.name)
    assert included >= {
        "fd_to_child.py",
        "selectors_echo.py",
        "mio_reactor.py",
        "asyncio_fd_server.py",
        "prefork_server.py",
        "systemd_service.py",
        "peer_policy.py",
    }
    tests = "".join(p.read_text() for p in (ROOT / "tests").glob("test_example*.py"))
    for name in included:
        runs = rf'(run_example\(\s*"{re.escape(name)}"|/ "{re.escape(name)}")'
        assert re.search(runs, tests), f"examples/{name} is in a tutorial but no test runs it"
