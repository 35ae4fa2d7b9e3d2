"""The ``uds`` command talking to socat, both ways, over paths and abstract names.

socat comes from the distribution (``.ci/run`` installs it); without it these
tests are skipped.
"""

from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import uds
from tests.test_cli import finish_all, uds_process, wait_bound

SOCAT = shutil.which("socat")
pytestmark = pytest.mark.skipif(SOCAT is None, reason="socat is not installed")

KINDS = {"stream": socket.SOCK_STREAM, "seqpacket": socket.SOCK_SEQPACKET}


@contextmanager
def socat(address: str) -> Iterator[subprocess.Popen[bytes]]:
    """socat relaying its stdin/stdout to ``address``; -t gives the peer time to answer."""
    assert SOCAT is not None
    process = subprocess.Popen(
        [SOCAT, "-t", "10", address, "STDIO"],
        stdin=subprocess.PIPE,
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


def socat_address(role: str, where: str, target: str, kind: str) -> str:
    """socat's name for ``target``: UNIX-/ABSTRACT- LISTEN/CONNECT, type=5 for seqpacket."""
    family = "ABSTRACT" if where == "abstract" else "UNIX"
    name = target[1:] if where == "abstract" else target
    option = ",type=5" if kind == "seqpacket" else ""
    return f"{family}-{role}:{name}{option}"


@pytest.fixture(params=["abstract", "path"])
def target(request: pytest.FixtureRequest, abstract_name: str, tmp_path: pathlib.Path) -> str:
    return abstract_name if request.param == "abstract" else str(tmp_path / "socat.sock")


def where(target: str) -> str:
    return "abstract" if target.startswith("@") else "path"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_uds_connects_to_socat(target: str, kind: str) -> None:
    with socat(socat_address("LISTEN", where(target), target, kind)) as server:
        wait_bound(target, KINDS[kind], server)
        with uds_process("connect", f"--{kind}", target) as client:
            (socat_out, socat_err), (uds_out, uds_err) = finish_all(
                (server, b"from socat\n"), (client, b"from uds\n")
            )
    assert (client.returncode, uds_out, uds_err) == (0, b"from socat\n", b"")
    assert (server.returncode, socat_out) == (0, b"from uds\n"), socat_err


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_socat_connects_to_uds(target: str, kind: str) -> None:
    with uds_process("listen", f"--{kind}", target) as server:
        wait_bound(target, KINDS[kind], server)
        with socat(socat_address("CONNECT", where(target), target, kind)) as client:
            (uds_out, uds_err), (socat_out, socat_err) = finish_all(
                (server, b"from uds\n"), (client, b"from socat\n")
            )
    assert (server.returncode, uds_out, uds_err) == (0, b"from socat\n", b"")
    assert (client.returncode, socat_out) == (0, b"from uds\n"), socat_err


def test_packets_pass_through_socat_whole(abstract_name: str) -> None:
    """uds -> socat -> a seqpacket listener here: one stdin chunk arrives as one packet."""
    front, back = f"{abstract_name}-front", f"{abstract_name}-back"
    chunk = bytes(range(256)) * 12  # under PIPE_BUF: one write, one read, one packet
    assert SOCAT is not None
    with uds.bind_unix_addr(back, socket.SOCK_SEQPACKET) as listener:
        relay = subprocess.Popen(
            [
                SOCAT,
                socat_address("LISTEN", "abstract", front, "seqpacket"),
                socat_address("CONNECT", "abstract", back, "seqpacket"),
            ],
            stderr=subprocess.PIPE,
        )
        with relay:
            wait_bound(front, socket.SOCK_SEQPACKET, relay)
            with uds_process("connect", "--seqpacket", front) as client:
                conn, _ = uds.accept_unix_addr(listener)
                with conn:
                    ((out, err),) = finish_all((client, chunk))
                    assert conn.recv(65536) == chunk
                    assert conn.recv(65536) == b""  # end of input travelled too
            relay.communicate(timeout=10)
    assert (client.returncode, out, err) == (0, b"", b"")
