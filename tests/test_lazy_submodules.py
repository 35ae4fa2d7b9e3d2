"""`import uds` then `uds.asyncio...`: submodules are attributes, imported on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_import_uds_does_not_import_asyncio_or_systemd_support() -> None:
    loaded = _run(
        "import sys, uds; print(sorted(m for m in ('asyncio', 'uds.asyncio', 'uds.systemd',"
        " 'uds.anyio', 'anyio', 'trio') if m in sys.modules))"
    )
    assert loaded == "[]"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("uds.nonblocking.UnixSeqpacketConn.__name__", "NonblockingUnixSeqpacketConn"),
        ("uds.ancillary.recv_ancillary.__name__", "recv_ancillary"),
        ("uds.asyncio.UnixSeqpacketConn.__module__", "uds._asyncio_seqpacket"),
        ("uds.systemd.notify.__name__", "notify"),
        ("uds.ext.send_fds is uds.send_fds", "True"),
        ("'asyncio' in dir(uds)", "True"),
    ],
)
def test_submodules_are_attributes(expression: str, expected: str) -> None:
    assert _run(f"import uds; print({expression})") == expected


def test_unknown_attributes_still_raise() -> None:
    import uds

    with pytest.raises(AttributeError, match="no attribute 'nonesuch'"):
        uds.nonesuch  # type: ignore[attr-defined]  # noqa: B018
