"""The protocol-API and anyio examples run as programs and print what they promise."""

from __future__ import annotations

import pytest

from tests.test_examples_event_loops import run_example

GREETINGS = [f"{name}: hello {name}, written by the server (ok)" for name in ("ada", "bob", "cy")]


# Each subprocess costs about a second: one run per kind, on different loops.
@pytest.mark.parametrize(("kind", "loop"), [("stream", "asyncio"), ("seqpacket", "uvloop")])
def test_asyncio_protocol_fd_server(kind: str, loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed")
    args = [kind] + (["uvloop"] if loop == "uvloop" else [])
    assert run_example("asyncio_protocol_fd_server.py", *args) == GREETINGS


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_fd_passing(backend: str) -> None:
    pytest.importorskip("anyio", reason="anyio is not installed")
    pytest.importorskip(backend, reason=f"{backend} is not installed")
    assert run_example("anyio_fd_passing.py", backend) == [
        "ada: here 'a pipe for ada'",
        "bob: here 'a pipe for bob'",
        "stream: 'written before sending'",
    ]
