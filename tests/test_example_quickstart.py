"""examples/quickstart.py runs as the README says; its server sends non-root clients away."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys
from types import ModuleType

import pytest

import uds

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "quickstart.py"
NOBODY = 65534


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quickstart_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runs_as_documented() -> None:
    # stdin is /dev/null; stdout and stderr are the two pipes that capture the output.
    with subprocess.Popen(
        [sys.executable, "-W", "error", str(EXAMPLE)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 2, out
    if os.geteuid() != 0:
        assert lines == [
            f"server: refusing uid {os.geteuid()} (pid {process.pid})",
            "client got: go away!",
        ]
        return
    match = re.fullmatch(
        rf"server: 'Here I come' from pid {process.pid} with fds "
        r"\['/dev/null', '(pipe:\[\d+\])', '(pipe:\[\d+\])'\]",
        lines[0],
    )
    assert match, lines[0]
    assert match.group(1) != match.group(2)
    assert lines[1] == "client got: welcome, root"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching the client to another user needs root")
def test_server_sends_a_non_root_client_away(
    abstract_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load_example()
    with uds.UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
        pid = os.fork()
        if pid == 0:  # the client, as nobody
            code = 1
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                with uds.UnixSeqpacketConn.connect_unix_addr(abstract_name) as client:
                    client.send_fds(b"Here I come", [0, 1, 2])
                    code = 0 if client.recv(64) == b"go away!\n" else 2
            finally:
                os._exit(code)
        try:
            example.serve_one(listener)
        finally:
            _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert capsys.readouterr().out == f"server: refusing uid {NOBODY} (pid {pid})\n"
