"""The event-loop examples run as programs and print what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str) -> list[str]:
    completed = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    return completed.stdout.splitlines()


def test_selectors_echo() -> None:
    assert run_example("selectors_echo.py", "4") == [
        f"client {i}: [b'hello {i}', b'two', b'bye']" for i in range(4)
    ]


def test_mio_reactor() -> None:
    assert run_example("mio_reactor.py") == [
        "reactor -> REACTOR",
        "tokens -> TOKENS",
        "readiness -> READINESS",
        "reactor stopped by its waker",
    ]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_asyncio_fd_server(loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed")
    args = ["uvloop"] if loop == "uvloop" else []
    assert run_example("asyncio_fd_server.py", *args) == [
        f"{name}: hello {name}, written by the server (done)" for name in ("ada", "bob", "cy")
    ]
