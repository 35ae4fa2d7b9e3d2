"""The ``uds`` command against real peers: in-test sockets and other ``uds`` processes."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Optional

import pytest

import uds
from tests.helpers import assert_cloexec, same_file

REPO = pathlib.Path(__file__).resolve().parent.parent
TIMEOUT = 15
_ACCEPTING = 0x10000  # __SO_ACCEPTCON in /proc/net/unix
_PROC_TYPES: dict[int, int] = {
    socket.SOCK_STREAM: 1,
    socket.SOCK_DGRAM: 2,
    socket.SOCK_SEQPACKET: 5,
}


def uds_command(*args: str) -> list[str]:
    """The command line that runs ``python -m uds`` with ``args``."""
    return [sys.executable, "-m", "uds", *args]


def run_uds(*args: str, input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m uds`` to completion with ``input`` on stdin."""
    return subprocess.run(uds_command(*args), input=input, capture_output=True, timeout=TIMEOUT)


def is_bound(address: str, kind: int, *, listening: bool = True) -> bool:
    """Whether a socket of ``kind`` is bound at ``address`` (listening, if asked).

    Reads /proc/net/unix, so nothing connects to the socket to find out.
    """
    # Names are bytes: another process may have bound one that is not UTF-8.
    with open("/proc/net/unix", errors="surrogateescape") as table:
        next(table)
        for line in table:
            fields = line.split(None, 7)
            if len(fields) < 8 or fields[7].rstrip("\n") != address:
                continue
            if int(fields[4], 16) != _PROC_TYPES[kind]:
                continue
            if not listening or int(fields[3], 16) & _ACCEPTING:
                return True
    return False


def wait_bound(
    address: str,
    kind: int = socket.SOCK_STREAM,
    process: Optional[subprocess.Popen[bytes]] = None,
    *,
    listening: bool = True,
) -> None:
    """Wait until something binds ``address``; fail if ``process`` exits first."""
    deadline = time.monotonic() + TIMEOUT
    while not is_bound(address, kind, listening=listening):
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"exited with {process.returncode} before binding: {err.decode()}")
        if time.monotonic() > deadline:
            pytest.fail(f"nothing bound {address} in {TIMEOUT}s")
        time.sleep(0.01)


def _default_sigint() -> None:
    # SIGHUP too: under nohup it arrives ignored, and the CLI keeps ignored signals ignored.
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


@contextmanager
def uds_process(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``python -m uds`` with pipes; kill it if the test leaves it running."""
    process = subprocess.Popen(
        uds_command(*args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # A shell's background job (CI often is one) inherits SIGINT ignored, and
        # Python then installs no KeyboardInterrupt handler (nohup ignores SIGHUP):
        # give the CLI the default dispositions an interactive user's terminal gives it.
        preexec_fn=_default_sigint,
    )
    with process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()


def finish(process: subprocess.Popen[bytes], input: bytes = b"") -> tuple[bytes, bytes]:
    """Feed ``input``, close stdin (unless the test did), wait for exit; return (stdout, stderr)."""
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None
    if process.stdin.closed:
        assert not input
        out, err = process.stdout.read(), process.stderr.read()
        process.wait(TIMEOUT)
        return out, err
    out, err = process.communicate(input, timeout=TIMEOUT)
    return out, err


def finish_all(*runs: tuple[subprocess.Popen[bytes], bytes]) -> list[tuple[bytes, bytes]]:
    """:func:`finish` several processes at once, so that none waits on another's input."""
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = [pool.submit(finish, process, data) for process, data in runs]
        return [future.result() for future in futures]


def read_exactly(fd: int, size: int) -> bytes:
    """Read ``size`` bytes from a pipe, waiting for them."""
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


def recv_all(sock: socket.socket) -> bytes:
    """Read a stream socket until EOF."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def no_traceback(err: bytes) -> None:
    assert b"Traceback" not in err, err.decode()


# connect and listen, stream ------------------------------------------------------


def test_connect_relays_both_directions(abstract_name: str) -> None:
    with uds.bind_unix_addr(abstract_name) as listener, uds_process("connect", abstract_name) as p:
        assert p.stdin is not None
        p.stdin.write(b"hello from the cli\n")
        p.stdin.close()
        conn, _ = uds.accept_unix_addr(listener)
        with conn:
            assert recv_all(conn) == b"hello from the cli\n"  # the cli shut down its side
            conn.sendall(b"hello back\n")
        out, err = finish(p)
    assert (p.returncode, out, err) == (0, b"hello back\n", b"")


def test_cli_to_cli_over_a_path_removes_its_socket_file(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "sock")
    with uds_process("listen", path) as server:
        wait_bound(path, process=server)
        with uds_process("connect", path) as client:
            (out, err), (client_out, client_err) = finish_all(
                (server, b"pong\n"), (client, b"ping\n" * 1000)
            )
    assert (client.returncode, client_out, client_err) == (0, b"pong\n", b"")
    assert (server.returncode, out, err) == (0, b"ping\n" * 1000, b"")
    assert not os.path.lexists(path)


def test_a_large_stream_is_relayed_whole(abstract_name: str) -> None:
    payload = os.urandom(3 * 1024 * 1024)
    with uds_process("listen", abstract_name) as server:
        wait_bound(abstract_name, process=server)
        with uds_process("connect", abstract_name) as client:
            (out, _), (client_out, _) = finish_all((server, payload[::-1]), (client, payload))
    assert client.returncode == 0 and server.returncode == 0
    assert out == payload and client_out == payload[::-1]


def test_listen_serves_one_connection_then_refuses(abstract_name: str) -> None:
    with uds_process("listen", abstract_name) as server:
        wait_bound(abstract_name, process=server)
        first = uds.connect_to_unix_addr(abstract_name)
        with first:
            assert server.stdout is not None
            first.sendall(b"x")
            assert read_exactly(server.stdout.fileno(), 1) == b"x"  # accepted
            with pytest.raises(ConnectionRefusedError):
                uds.connect_to_unix_addr(abstract_name).close()
            first.shutdown(socket.SHUT_WR)
            finish(server)
            assert recv_all(first) == b""
    assert server.returncode == 0


def test_keep_open_serves_connections_in_turn(abstract_name: str) -> None:
    with uds_process("listen", "--keep-open", abstract_name) as server:
        wait_bound(abstract_name, process=server)
        assert server.stdout is not None
        for word in (b"first\n", b"second\n"):
            with uds.connect_to_unix_addr(abstract_name) as client:
                client.sendall(word)
                client.shutdown(socket.SHUT_WR)
                assert recv_all(client) == b""  # a sink sends nothing
            assert read_exactly(server.stdout.fileno(), len(word)) == word
        server.send_signal(signal.SIGINT)
        out, err = finish(server)
    assert server.returncode == 130 and err == b""


def test_peer_closing_ends_the_relay_while_stdin_stays_open(abstract_name: str) -> None:
    with uds.bind_unix_addr(abstract_name) as listener, uds_process("connect", abstract_name) as p:
        conn, _ = uds.accept_unix_addr(listener)
        with conn:
            conn.sendall(b"bye\n")
        # stdin is still open: the relay ends because the peer is gone entirely.
        assert p.stdout is not None
        assert p.stdout.read() == b"bye\n"
        assert p.wait(timeout=TIMEOUT) == 0


# seqpacket and datagrams ------------------------------------------------------------


def test_seqpacket_sends_one_packet_per_read_and_skips_empty_packets(abstract_name: str) -> None:
    with uds_process("listen", "--seqpacket", abstract_name) as server:
        wait_bound(abstract_name, socket.SOCK_SEQPACKET, server)
        with uds.connect_to_unix_addr(abstract_name, socket.SOCK_SEQPACKET) as client:
            for packet in (b"one", b"", b"three"):
                client.send(packet)
            client.shutdown(socket.SHUT_WR)
            out, err = finish(server, b"a single packet\n")
            assert client.recv(100) == b"a single packet\n"
            assert client.recv(100) == b""  # end of connection
    assert (server.returncode, out, err) == (0, b"onethree", b"")


def test_datagram_cli_to_cli(abstract_name: str) -> None:
    with uds_process("listen", "--dgram", abstract_name) as server:
        wait_bound(abstract_name, socket.SOCK_DGRAM, server, listening=False)
        with uds_process("connect", "--dgram", abstract_name) as client:
            (out, err), (client_out, client_err) = finish_all(
                (server, b"answer\n"), (client, b"question\n")
            )
    assert (client.returncode, client_out, client_err) == (0, b"answer\n", b"")
    assert (server.returncode, out, err) == (0, b"question\n", b"")


def test_datagram_listen_answers_the_sender(abstract_name: str) -> None:
    with uds_process("listen", "--dgram", abstract_name) as server:
        wait_bound(abstract_name, socket.SOCK_DGRAM, server, listening=False)
        with uds.connect_from_to_unix_addr(
            f"{abstract_name}-client", abstract_name, socket.SOCK_DGRAM
        ) as client:
            client.send(b"one")
            client.send(b"two")
            client.send(b"")  # end of input
            out, err = finish(server, b"reply")
            assert client.recv(100) == b"reply"
            assert client.recv(100) == b""
    assert (server.returncode, out, err) == (0, b"onetwo", b"")


# fds ------------------------------------------------------------------------------


def test_send_fd_passes_the_files_in_order(abstract_name: str, tmp_path: pathlib.Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text("1")
    second.write_text("2")
    args = ["--seqpacket", "--send-fd", str(first), "--send-fd", str(second), abstract_name]
    with (
        uds.bind_unix_addr(abstract_name, socket.SOCK_SEQPACKET) as listener,
        uds_process("connect", *args) as p,
    ):
        assert p.stdin is not None
        p.stdin.write(b"data")
        p.stdin.close()
        conn, _ = uds.accept_unix_addr(listener)
        with conn:
            data, fds = uds.recv_fds(conn, 100, 4)
            with fds:
                assert data == b"data"
                assert len(fds) == 2 and not fds.truncated
                assert same_file(fds[0], str(first)) and same_file(fds[1], str(second))
                for fd in fds:
                    assert_cloexec(fd)
            assert conn.recv(100) == b""
        finish(p)
    assert p.returncode == 0


def test_send_fd_goes_with_the_first_chunk_of_a_stream(
    abstract_name: str, tmp_path: pathlib.Path
) -> None:
    target = tmp_path / "target"
    target.write_text("x")
    with (
        uds.bind_unix_addr(abstract_name) as listener,
        uds_process("connect", "--send-fd", str(target), abstract_name) as p,
    ):
        assert p.stdin is not None
        p.stdin.write(b"payload")
        p.stdin.close()
        conn, _ = uds.accept_unix_addr(listener)
        with conn:
            data, fds = uds.recv_fds(conn, 100, 4)
            with fds:
                assert len(fds) == 1 and same_file(fds[0], str(target))
            assert data + recv_all(conn) == b"payload"
        finish(p)
    assert p.returncode == 0


def test_received_fds_are_reported_and_closed(abstract_name: str, tmp_path: pathlib.Path) -> None:
    target = tmp_path / "passed-file"
    target.write_text("x")
    with uds_process("listen", abstract_name) as server:
        wait_bound(abstract_name, process=server)
        with uds.connect_to_unix_addr(abstract_name) as client, open(target) as f:
            uds.send_fds(client, b"!", [f.fileno(), f.fileno()])
            assert server.stdout is not None
            assert read_exactly(server.stdout.fileno(), 1) == b"!"
            # The fds were reported before the data was written: they are closed by now.
            held = [os.readlink(f"/proc/{server.pid}/fd/{fd}") for fd in _fds_of(server.pid)]
            assert str(target) not in held
            client.shutdown(socket.SHUT_WR)
            out, err = finish(server)
    assert server.returncode == 0
    assert err.decode().splitlines() == [f"uds: received fd: {target}"] * 2


def _fds_of(pid: int) -> list[str]:
    return os.listdir(f"/proc/{pid}/fd")


def test_received_fds_as_json(abstract_name: str, tmp_path: pathlib.Path) -> None:
    with uds_process("listen", "--seqpacket", "--json", abstract_name) as server:
        wait_bound(abstract_name, socket.SOCK_SEQPACKET, server)
        with uds.connect_to_unix_addr(abstract_name, socket.SOCK_SEQPACKET) as client:
            uds.send_fds(client, b"", [client])
            client.shutdown(socket.SHUT_WR)
            out, err = finish(server)
    events = [json.loads(line) for line in err.decode().splitlines()]
    assert server.returncode == 0 and out == b""
    assert len(events) == 1 and events[0]["event"] == "fd"
    assert re.fullmatch(r"socket:\[\d+\]", events[0]["target"])


def test_send_fd_on_a_stream_needs_input(abstract_name: str) -> None:
    with (
        uds.bind_unix_addr(abstract_name) as listener,
        uds_process("connect", "--send-fd", "/dev/null", abstract_name) as p,
    ):
        conn, _ = uds.accept_unix_addr(listener)
        with conn:
            out, err = finish(p)
            assert recv_all(conn) == b""
    assert p.returncode == 1
    assert err == b"uds: --send-fd needs at least one byte of input on a stream\n"


# credentials ----------------------------------------------------------------------------


def _expected_groups() -> list[int]:
    return sorted(os.getgroups())


def test_listen_prints_the_peers_credentials(abstract_name: str) -> None:
    with uds_process("listen", "--creds", abstract_name) as server:
        wait_bound(abstract_name, process=server)
        with uds.connect_to_unix_addr(abstract_name) as client:
            client.shutdown(socket.SHUT_WR)
            out, err = finish(server)
    line = err.decode()
    assert line.startswith(f"uds: peer pid {os.getpid()}, uid {os.geteuid()}, gid {os.getegid()}")
    assert server.returncode == 0


def test_connect_prints_credentials_as_json(abstract_name: str) -> None:
    with (
        uds.bind_unix_addr(abstract_name, socket.SOCK_SEQPACKET) as listener,
        uds_process("connect", "--seqpacket", "--creds", "--json", abstract_name) as p,
    ):
        conn, _ = uds.accept_unix_addr(listener)
        conn.close()
        out, err = finish(p)
    event = json.loads(err)
    assert event["event"] == "peer-credentials"
    assert (event["pid"], event["uid"], event["gid"]) == (os.getpid(), os.geteuid(), os.getegid())
    assert sorted(event["groups"]) == _expected_groups()
    assert "label" in event
    assert p.returncode == 0


def test_datagram_credentials_come_with_each_message(abstract_name: str) -> None:
    with uds_process("listen", "--dgram", "--creds", "--json", abstract_name) as server:
        wait_bound(abstract_name, socket.SOCK_DGRAM, server, listening=False)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.sendto(b"hi", uds.UnixSocketAddr.new(abstract_name).to_std())
            client.sendto(b"", uds.UnixSocketAddr.new(abstract_name).to_std())
            out, err = finish(server)
    assert server.returncode == 0 and out == b"hi"
    events = [json.loads(line) for line in err.decode().splitlines()]
    creds = [e for e in events if e["event"] == "peer-credentials"]
    assert creds == [
        {"event": "peer-credentials", "pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid()}
    ]
    assert any(e["event"] == "warning" and "not bound" in e["message"] for e in events)


# info -----------------------------------------------------------------------------------


def info_json(address: str) -> tuple[int, dict[str, object]]:
    result = run_uds("info", "--json", address)
    no_traceback(result.stderr)
    return result.returncode, json.loads(result.stdout)


def test_info_on_a_listening_path(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "sock")
    with uds.bind_unix_addr(path, socket.SOCK_SEQPACKET):
        status, info = info_json(path)
    assert status == 0
    assert info["state"] == "listening" and info["types"] == ["seqpacket"]
    assert info["method"] == "diag"
    assert info["probes"] == {"stream": "none", "seqpacket": "listening", "dgram": "none"}
    assert info["file"]["type"] == "socket"  # type: ignore[index]


def test_info_on_a_stale_socket_file(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "sock")
    uds.bind_unix_addr(path).close()  # the file stays behind
    status, info = info_json(path)
    assert status == 1 and info["state"] == "stale" and info["types"] == []
    # /proc/net/unix has no socket under that name, which does not prove that
    # nobody is bound to the file (another name, another network namespace).
    assert info["method"] == "connect"
    text = run_uds("info", path)
    assert text.returncode == 1
    assert (
        text.stdout.decode().splitlines()[0] == f"{path}: stale socket file: nobody is bound to it"
    )


def test_info_on_a_bound_datagram_socket(abstract_name: str) -> None:
    with uds.bind_unix_addr(abstract_name, socket.SOCK_DGRAM):
        status, info = info_json(abstract_name)
    assert status == 0 and info["types"] == ["dgram"] and info["kind"] == "abstract"
    assert info["method"] == "diag" and info["probes"]["dgram"] == "bound"  # type: ignore[index]


def test_info_on_a_stream_socket_that_does_not_listen(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(path)
        status, info = info_json(path)
    assert status == 1 and info["state"] == "bound" and info["method"] == "diag"
    assert info["probes"] == {"stream": "bound", "seqpacket": "none", "dgram": "none"}


def test_info_on_nothing(abstract_name: str, tmp_path: pathlib.Path) -> None:
    assert info_json(abstract_name) == (
        1,
        {
            "address": abstract_name,
            "kind": "abstract",
            "state": "absent",
            "types": [],
            "file": None,
            "method": "diag",
            "probes": {"stream": "none", "seqpacket": "none", "dgram": "none"},
            "resolved": None,
        },
    )
    status, info = info_json(str(tmp_path / "missing"))
    assert status == 1 and info["state"] == "absent" and info["method"] is None
    regular = tmp_path / "file"
    regular.write_text("")
    status, info = info_json(str(regular))
    assert status == 1 and info["state"] == "not-a-socket"
    assert info["file"]["type"] == "regular file"  # type: ignore[index]


def _without_file_permission_bypass() -> list[str]:
    """A command prefix that runs without CAP_DAC_OVERRIDE, so file modes apply to root too."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot drop root's DAC override")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def test_info_and_connect_report_permission_denied(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "sock")
    prefix = _without_file_permission_bypass()
    with uds.bind_unix_addr(path):
        os.chmod(path, 0)  # connect needs write permission on the socket file
        info = subprocess.run(
            [*prefix, *uds_command("info", "--json", path)], capture_output=True, timeout=TIMEOUT
        )
        connect = subprocess.run(
            [*prefix, *uds_command("connect", path)], capture_output=True, timeout=TIMEOUT
        )
    assert info.returncode == 3, info.stderr
    # The table knows someone listens; the file's mode says we may not connect.
    assert json.loads(info.stdout)["method"] == "diag"
    assert json.loads(info.stdout)["types"] == ["stream"]
    assert json.loads(info.stdout)["probes"] == {
        "stream": "listening",
        "seqpacket": "none",
        "dgram": "none",
    }
    assert connect.returncode == 3
    assert connect.stderr == f"uds: cannot connect to {path}: permission denied\n".encode()


# errors ---------------------------------------------------------------------------------


def test_refused_is_one_clear_line(abstract_name: str) -> None:
    result = run_uds("connect", abstract_name)
    assert result.returncode == 1
    assert result.stderr == f"uds: cannot connect to {abstract_name}: connection refused\n".encode()


def test_missing_path_and_bad_addresses(tmp_path: pathlib.Path) -> None:
    missing = str(tmp_path / "missing")
    result = run_uds("connect", "--seqpacket", missing)
    assert result.returncode == 1
    assert (
        result.stderr == f"uds: cannot connect to {missing}: no such file or directory\n".encode()
    )
    for bad in ("@" + "x" * 200, "/" + "y" * 200, ""):
        result = run_uds("connect", bad)
        assert result.returncode == 2, bad
        assert result.stderr.startswith(b"uds: bad address"), result.stderr
        assert len(result.stderr.splitlines()) == 1
    usage = run_uds("connect", "--stream", "--dgram", "@x")
    assert usage.returncode == 2 and b"not allowed with" in usage.stderr
    no_traceback(usage.stderr)


def test_listen_on_a_taken_path_leaves_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "taken"
    path.write_text("precious")
    result = run_uds("listen", str(path))
    assert result.returncode == 1
    assert (
        result.stderr
        == (
            f"uds: cannot listen on {path}: cannot bind there: the path is a regular file, "
            "not a socket; it is never replaced\n"
        ).encode()
    )
    assert path.read_text() == "precious"


def test_send_fd_that_cannot_be_opened(abstract_name: str, tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "missing"
    result = run_uds("connect", "--send-fd", str(missing), abstract_name)
    assert result.returncode == 1
    assert result.stderr == f"uds: cannot open {missing}: no such file or directory\n".encode()
    combined = run_uds("listen", "--keep-open", "--send-fd", "/dev/null", abstract_name)
    assert combined.returncode == 2 and b"--keep-open" in combined.stderr


# entry points and the README --------------------------------------------------------------


def test_console_script_and_version() -> None:
    script = pathlib.Path(sys.executable).with_name("uds")
    if not script.exists():
        pytest.skip(f"the uds console script is not installed next to {sys.executable}")
    result = subprocess.run([str(script), "--version"], capture_output=True, timeout=TIMEOUT)
    assert result.returncode == 0 and result.stdout.strip() == f"uds {uds.__version__}".encode()


def test_main_returns_the_status_in_process(abstract_name: str) -> None:
    from uds.__main__ import main

    assert main(["info", abstract_name]) == 1


def _readme_cli_commands() -> Sequence[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\$ (.+)$", section, re.MULTILINE)


def test_readme_cli_example_works(abstract_name: str) -> None:
    commands = _readme_cli_commands()
    listen = next(c for c in commands if " listen " in c)
    connect = next(c for c in commands if " connect " in c)
    # The README's commands, on a name of our own so that runs cannot collide.
    listen, connect = (c.replace("@demo", abstract_name) for c in (listen, connect))
    assert abstract_name in listen and abstract_name in connect

    def start(command: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command.replace("python ", f"{sys.executable} ", 1),
            shell=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    with start(listen) as server:
        wait_bound(abstract_name, process=server)
        with start(connect) as client:
            (out, err), (client_out, client_err) = finish_all((server, b"hello\n"), (client, b""))
    assert (server.returncode, out, err) == (0, b"hi\n", b"")
    assert (client.returncode, client_out, client_err) == (0, b"hello\n", b"")


# names a peer controls are escaped ---------------------------------------------------------

_FORGED = "x\nuds: peer pid 1, uid 0, gid 0\x1b[2J"


def test_a_received_fds_file_name_cannot_forge_lines_or_reach_the_terminal(
    abstract_name: str, tmp_path: pathlib.Path
) -> None:
    target = tmp_path / _FORGED
    target.write_text("")
    with uds_process("listen", "--seqpacket", abstract_name) as server:
        wait_bound(abstract_name, socket.SOCK_SEQPACKET, server)
        with (
            uds.connect_to_unix_addr(abstract_name, socket.SOCK_SEQPACKET) as client,
            open(target) as f,
        ):
            uds.send_fds(client, b"z", [f.fileno()])
            client.shutdown(socket.SHUT_WR)
            out, err = finish(server)
    assert server.returncode == 0 and out == b"z"
    assert b"\x1b" not in err
    assert err.decode().splitlines() == [
        f"uds: received fd: {tmp_path}/x\\x0auds: peer pid 1, uid 0, gid 0\\x1b[2J"
    ]


def test_json_keeps_the_exact_name_and_escapes_bytes_that_are_not_utf8(
    abstract_name: str, tmp_path: pathlib.Path
) -> None:
    names = [tmp_path / _FORGED, pathlib.Path(os.fsdecode(bytes(tmp_path) + b"/bad\xff\\"))]
    for name in names:
        name.write_text("")
    with uds_process("listen", "--seqpacket", "--json", abstract_name) as server:
        wait_bound(abstract_name, socket.SOCK_SEQPACKET, server)
        with uds.connect_to_unix_addr(abstract_name, socket.SOCK_SEQPACKET) as client:
            files = [os.open(name, os.O_RDONLY | os.O_CLOEXEC) for name in names]
            try:
                uds.send_fds(client, b"z", files)
            finally:
                for fd in files:
                    os.close(fd)
            client.shutdown(socket.SHUT_WR)
            out, err = finish(server)
    assert server.returncode == 0
    lines = err.decode("ascii").splitlines()  # json.dumps escapes everything else
    assert [json.loads(line)["target"] for line in lines] == [
        f"{tmp_path}/{_FORGED}",
        f"{tmp_path}/bad\\xff\\",  # undecodable bytes as backslash escapes, as bytes.decode does
    ]


def test_a_peers_security_label_is_escaped_in_text_and_exact_in_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from uds._cli_relay import Reporter

    fields: dict[str, object] = {
        "pid": 7,
        "uid": 0,
        "gid": 0,
        "groups": [],
        "label": b"a\n\xc2\x9bb\xff",
    }
    Reporter(False).credentials(fields)
    Reporter(True).credentials(fields)
    text, event = capsys.readouterr().err.splitlines()
    assert text == "uds: peer pid 7, uid 0, gid 0, label a\\x0a\\xc2\\x9bb\\xff"
    assert json.loads(event)["label"] == "a\n\x9bb\\xff"


# the relay cleans up after itself ----------------------------------------------------------


def test_relay_error_path_closes_its_pipe_and_stops_its_thread() -> None:
    from uds._cli_relay import Relay, Reporter, StdoutClosed

    stdin_read, stdin_write = os.pipe()  # stdin stays open: the sender waits on it
    stdout_read, stdout_write = os.pipe()
    os.close(stdout_read)  # stdout's reader is gone
    threads = threading.active_count()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        with a, b:
            b.send(b"data")
            relay = Relay(
                a,
                socket.SOCK_SEQPACKET,
                Reporter(False),
                "test",
                stdin=stdin_read,
                stdout=stdout_write,
            )
            fds_during = set(os.listdir("/proc/self/fd"))
            with pytest.raises(StdoutClosed):
                relay.run()
            assert set(os.listdir("/proc/self/fd")) == fds_during
            assert threading.active_count() == threads
    finally:
        for fd in (stdin_read, stdin_write, stdout_write):
            os.close(fd)


def test_relay_stops_its_sender_when_the_peer_goes_while_stdin_is_open() -> None:
    from uds._cli_relay import Relay, Reporter

    stdin_read, stdin_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    threads = threading.active_count()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with a:
            b.sendall(b"bye")
            b.close()
            fds_during = set(os.listdir("/proc/self/fd"))
            Relay(
                a,
                socket.SOCK_STREAM,
                Reporter(False),
                "test",
                stdin=stdin_read,
                stdout=stdout_write,
            ).run()
            assert set(os.listdir("/proc/self/fd")) == fds_during
            assert threading.active_count() == threads
            assert os.read(stdout_read, 10) == b"bye"
    finally:
        for fd in (stdin_read, stdin_write, stdout_read, stdout_write):
            os.close(fd)


# listen on paths: the library's explanation, --replace-stale, --mode ---------------------


def test_listen_on_a_stale_socket_says_why_and_how(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "stale.sock")
    uds.bind_unix_addr(path).close()
    result = run_uds("listen", path)
    assert result.returncode == 1
    assert (
        result.stderr
        == (
            f"uds: cannot listen on {path}: cannot bind there: the path is a socket file, "
            "in use or stale; pass --replace-stale to replace it only if nobody is listening\n"
        ).encode()
    )
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_replace_stale_replaces_only_a_stale_socket(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "sock")
    uds.bind_unix_addr(path).close()
    with uds_process("listen", "--replace-stale", path) as server:
        wait_bound(path, process=server)
        with uds.connect_to_unix_addr(path) as client:
            client.sendall(b"over the new socket")
            client.shutdown(socket.SHUT_WR)
            out, err = finish(server)
    assert (server.returncode, out, err) == (0, b"over the new socket", b"")
    assert not os.path.lexists(path)  # removed on exit: the cli created it
    with uds.bind_unix_addr(path):
        live = run_uds("listen", "--replace-stale", path)
    assert live.returncode == 1
    assert (
        live.stderr
        == (
            f"uds: cannot listen on {path}: cannot bind there: the path is in use by a live "
            "socket; it is never replaced\n"
        ).encode()
    )


def test_listen_mode_sets_the_socket_files_permissions(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "sock")
    with uds_process("listen", "--mode", "640", path) as server:
        wait_bound(path, process=server)
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o640
        with uds.connect_to_unix_addr(path) as client:
            client.shutdown(socket.SHUT_WR)
            finish(server)
    assert server.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mode", "9"), b"uds listen: error: argument --mode: invalid octal mode: '9'"),
        (("--mode", "17777"), b"uds listen: error: argument --mode: invalid octal mode: '17777'"),
        (
            ("--mode", "600", "@abstract"),
            b"uds: --mode, --replace-stale and --replace apply to paths",
        ),
        (
            ("--replace-stale", "@abstract"),
            b"uds: --mode, --replace-stale and --replace apply to paths",
        ),
    ],
)
def test_path_options_are_checked_before_binding(
    tmp_path: pathlib.Path, args: tuple[str, ...], message: bytes
) -> None:
    if not args[-1].startswith("@"):
        args = (*args, str(tmp_path / "sock"))
    result = run_uds("listen", *args)
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert not os.path.lexists(tmp_path / "sock")


# info does not disturb what it looks at ---------------------------------------------------


@pytest.mark.parametrize("where", ["abstract", "path"])
def test_info_does_not_take_a_one_shot_listeners_only_connection(
    where: str, abstract_name: str, tmp_path: pathlib.Path
) -> None:
    address = abstract_name if where == "abstract" else str(tmp_path / "sock")
    with uds_process("listen", "--seqpacket", address) as server:
        wait_bound(address, socket.SOCK_SEQPACKET, server)
        status, info = info_json(address)
        text = run_uds("info", address)
        assert (status, info["state"], info["types"]) == (0, "listening", ["seqpacket"])
        assert info["method"] == "diag"
        assert text.returncode == 0 and "  method: kernel socket table" in text.stdout.decode()
        # The listener is still waiting for its one peer: this one.
        with uds.connect_to_unix_addr(address, socket.SOCK_SEQPACKET) as client:
            client.send(b"the real peer")
            client.shutdown(socket.SHUT_WR)
            out, err = finish(server)
    assert (server.returncode, out, err) == (0, b"the real peer", b"")


def test_info_finds_a_socket_by_its_file_whatever_name_it_was_bound_under(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind("relative.sock")  # the table shows "relative.sock"
        listener.listen()
        listener.setblocking(False)
        assert is_bound("relative.sock", socket.SOCK_STREAM)
        for address, cwd in (
            (str(tmp_path / "relative.sock"), tmp_path),
            ("relative.sock", tmp_path),
            ("../relative.sock", tmp_path / "sub"),
        ):
            result = subprocess.run(
                uds_command("info", "--json", address),
                capture_output=True,
                timeout=TIMEOUT,
                cwd=cwd,
            )
            assert result.stderr == b""  # nothing said about probing: nothing probed
            info = json.loads(result.stdout)
            assert (result.returncode, info["state"], info["method"]) == (0, "listening", "diag")
            assert info["probes"]["stream"] == "listening"
            if not os.path.isabs(address):
                assert info["resolved"] == str(tmp_path / "relative.sock")
            with pytest.raises(BlockingIOError):
                listener.accept()  # nobody connected


def test_info_on_a_relative_path_leaves_a_one_shot_listen_alone(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with uds_process("listen", "--seqpacket", "svc.sock") as server:
        wait_bound("svc.sock", socket.SOCK_SEQPACKET, server)
        text = run_uds("info", "svc.sock")
        assert text.returncode == 0 and text.stderr == b""
        lines = text.stdout.decode().splitlines()
        assert lines[0] == "svc.sock: listening (seqpacket)"
        assert f"  resolved: {tmp_path / 'svc.sock'}" in lines
        with uds.UnixSeqpacketConn.connect("svc.sock") as client:  # still waiting for its peer
            client.send(b"the real peer")
            client.shutdown(socket.SHUT_WR)
            out, err = finish(server)
    assert (server.returncode, out, err) == (0, b"the real peer", b"")


def test_a_stale_file_at_a_live_sockets_old_path_does_not_fool_info(
    tmp_path: pathlib.Path,
) -> None:
    path = str(tmp_path / "sock")
    with uds.bind_unix_addr(path):  # live, and the table keeps showing it under that name
        os.unlink(path)
        uds.bind_unix_addr(path).close()  # a stale socket file now sits at the path
        assert is_bound(path, socket.SOCK_STREAM)
        result = run_uds("info", "--json", path)
    info = json.loads(result.stdout)
    assert (result.returncode, info["state"], info["method"]) == (1, "stale", "connect")
    # Said before probing, on stderr: the file belongs to no socket of this namespace.
    assert result.stderr.decode() == (
        "uds: no socket of this network namespace is bound to that file; probing "
        f"{path} with a connection of each type (a listener there sees it open and close)\n"
    )


def test_info_on_an_abstract_name_that_proc_shows_ambiguously(abstract_name: str) -> None:
    # /proc/net/unix shows a NUL in an abstract name as "@": "@x\0y" and "@x@y" look alike.
    decoy = uds.UnixSocketAddr.from_abstract(abstract_name[1:].encode() + b"\0y")
    with uds.bind_unix_addr(decoy, socket.SOCK_DGRAM):
        status, info = info_json(abstract_name + "@y")
    # netlink gives the name's exact bytes: no ambiguity, no probe.
    assert (status, info["state"], info["method"]) == (1, "absent", "diag")


def test_info_on_a_path_whose_listener_closed_but_a_connection_lives(
    tmp_path: pathlib.Path,
) -> None:
    path = str(tmp_path / "sock")
    listener = uds.bind_unix_addr(path)
    with listener, uds.connect_to_unix_addr(path):
        conn, _ = uds.accept_unix_addr(listener)
        listener.close()  # the file stays; the accepted connection still shows the path
        with conn:
            assert is_bound(path, socket.SOCK_STREAM, listening=False)
            status, info = info_json(path)
    # The table shows the accepted connection at the file, and nothing accepting there.
    assert (status, info["state"], info["method"]) == (1, "stale", "diag")
    assert info["probes"]["stream"] == "connected"  # type: ignore[index]


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_termination_signals_clean_up_the_socket_file(
    tmp_path: pathlib.Path, signum: int, status: int
) -> None:
    path = str(tmp_path / "svc.sock")
    with uds_process("listen", path) as server:
        wait_bound(path, process=server)
        server.send_signal(signum)
        out, err = finish(server)
    assert (server.returncode, err) == (status, b"")
    assert not os.path.exists(path)
    with uds_process("listen", path) as again:  # the next listen is not refused
        wait_bound(path, process=again)
        again.send_signal(signal.SIGTERM)
        finish(again)
    assert again.returncode == 143


# issue 12 item 13, issue 14 item 3: hints, help, --replace ---------------------------------


@pytest.mark.parametrize("where", ["abstract", "path"])
def test_connect_with_the_wrong_type_suggests_the_right_flag(
    where: str, abstract_name: str, tmp_path: pathlib.Path
) -> None:
    address = abstract_name if where == "abstract" else str(tmp_path / "sock")
    with uds.bind_unix_addr(address, socket.SOCK_SEQPACKET) as listener:
        listener.setblocking(False)
        result = run_uds("connect", address)
        with pytest.raises(BlockingIOError):
            listener.accept()  # the hint came from the table, not from a connection
    reason = "connection refused" if where == "abstract" else "protocol wrong type for socket"
    assert result.returncode == 1
    assert (
        result.stderr
        == (
            f"uds: cannot connect to {address}: {reason}; "
            "a seqpacket socket listens there: try --seqpacket\n"
        ).encode()
    )
    with uds.bind_unix_addr(abstract_name + "-d", socket.SOCK_DGRAM):
        result = run_uds("connect", "--seqpacket", abstract_name + "-d")
    assert result.stderr.endswith(b"a dgram socket is bound there: try --dgram\n")


def test_refused_with_nothing_there_has_no_hint(abstract_name: str) -> None:
    result = run_uds("connect", "--seqpacket", abstract_name)
    assert result.stderr == f"uds: cannot connect to {abstract_name}: connection refused\n".encode()


@pytest.mark.parametrize("command", ["listen", "connect", "info", "ls"])
def test_help_keeps_its_line_breaks_and_lists_every_exit_status(command: str) -> None:
    result = run_uds(command, "--help")
    assert result.returncode == 0
    text = result.stdout.decode()
    # The epilog's lines as written, not re-wrapped into one paragraph.
    assert "\naddresses: a path, or @name for an abstract address (Linux), written as uds\n" in text
    assert "\nexit status: 0 success, 1 failure (refused, not found, in use, stale),\n" in text
    for status in ("130 interrupted", "141 stdout closed", "143 SIGTERM", "129 SIGHUP"):
        assert status in text.replace("\n", " "), status
    top = run_uds("--help").stdout.decode()
    assert "130 interrupted" in top and "141 stdout closed" in top.replace("\n", " ")


def test_listen_replace_takes_over_a_live_path_without_refusing(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "svc.sock")
    with uds_process("listen", "--keep-open", path) as old:
        wait_bound(path, process=old)
        assert old.stdout is not None
        with uds.connect_to_unix_addr(path) as early:
            early.sendall(b"to the old one\n")
            assert old.stdout.readline() == b"to the old one\n"
        with uds_process("listen", "--replace", path) as new:
            deadline = time.monotonic() + TIMEOUT
            while _listener_pid(path) != new.pid:
                assert time.monotonic() < deadline and new.poll() is None
                time.sleep(0.01)
            replaced = os.lstat(path).st_ino
            old.send_signal(signal.SIGTERM)
            out, err = finish(old)
            # The old server exits cleanly and leaves its successor's file in place.
            assert (old.returncode, out, err) == (143, b"", b"")
            assert os.lstat(path).st_ino == replaced and _listener_pid(path) == new.pid
            with uds.connect_to_unix_addr(path) as late:
                late.sendall(b"to the new one\n")
                late.shutdown(socket.SHUT_WR)
                out, err = finish(new)
            assert (new.returncode, out, err) == (0, b"to the new one\n", b"")
    assert not os.path.lexists(path)  # the new one removed its own file


def _listener_pid(path: str) -> Optional[int]:
    """The pid holding the stream listener whose socket file is at ``path`` (via uds ls)."""
    result = run_uds("ls", "--json", "--listening", path)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    if len(rows) != 1 or not rows[0]["processes"]:
        return None
    return int(rows[0]["processes"][0]["pid"])


def test_cli_addresses_read_as_they_print(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, abstract_name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    # "./@svc" is the file "@svc", "@name" is abstract: as UnixSocketAddr prints them.
    with uds_process("listen", "--seqpacket", "./@svc") as server:
        # /proc shows the path as bound under the name given to bind(), "@svc", which
        # another process's relative path (or abstract name) could show too: wait for
        # our file first.
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "@svc").exists():
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        wait_bound("@svc", socket.SOCK_SEQPACKET, server)
        text = run_uds("info", "./@svc")
        assert text.stdout.decode().splitlines()[0] == "./@svc: listening (seqpacket)"
        with uds.UnixSeqpacketConn.connect("@svc") as client:  # connect takes a path
            client.shutdown(socket.SHUT_WR)
            finish(server)
    assert server.returncode == 0 and not (tmp_path / "@svc").exists()
    odd = uds.UnixSocketAddr.from_abstract(abstract_name[1:].encode() + b"\x01\\")
    with uds.bind_unix_addr(odd, socket.SOCK_DGRAM):
        info = run_uds("info", str(odd))  # "@...\x01\x5c", pasted back
    assert info.returncode == 0
    assert info.stdout.decode().splitlines()[0] == f"{odd}: listening (dgram)"
