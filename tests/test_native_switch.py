"""The switch between the C core and the pure-Python implementation (uds._impl)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import uds
from uds import _impl


def _probe(env_value: str | None) -> str:
    env = dict(os.environ)
    env.pop("UDS_PURE_PYTHON", None)
    if env_value is not None:
        env["UDS_PURE_PYTHON"] = env_value
    code = (
        "import uds, uds._impl as i; "
        "print(uds.native_available(), type(uds.send_fds).__name__, "
        "type(uds.UnixSeqpacketConn.send).__name__, i.why_pure)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_uds_pure_python_forces_the_python_twins() -> None:
    assert _probe("1") == "False function function UDS_PURE_PYTHON is set"


@pytest.mark.skipif(_impl.native is None and _impl.why_pure == "UDS_PURE_PYTHON is set",
                    reason="this process runs pure Python on purpose")
def test_the_c_core_runs_unless_told_otherwise() -> None:
    built = _impl.native is not None
    expected = (
        "True builtin_function_or_method method_descriptor None"
        if built
        else f"False function function {_impl.why_pure}"
    )
    assert _probe(None) == expected
    assert _probe("0") == expected


def test_ci_builds_the_c_core() -> None:
    """CI sets UDS_EXPECT_NATIVE=1: a build that silently fell back must fail there."""
    if os.environ.get("UDS_EXPECT_NATIVE") != "1":
        pytest.skip("UDS_EXPECT_NATIVE is not set")
    if os.environ.get("UDS_PURE_PYTHON", "") not in ("", "0"):
        assert not uds.native_available()
    else:
        assert uds.native_available(), _impl.why_pure
        assert _impl.reads_socket_objects, "the C core could not verify CPython's socket layout"


def test_native_available_is_public_and_documented() -> None:
    assert "native_available" in uds.__all__
    assert uds.native_available() is (_impl.native is not None)
    assert "UDS_PURE_PYTHON" in (uds.native_available.__doc__ or "")
