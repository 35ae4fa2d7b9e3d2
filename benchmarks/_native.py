"""The C limit: build benchmarks/c/pingpong.c with the system compiler and run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

__all__ = ["c_compiler", "run_c_limit"]

_SOURCE = Path(__file__).parent / "c" / "pingpong.c"


def c_compiler() -> Optional[str]:
    """The C compiler to use ($CC, else cc, gcc or clang on PATH), or ``None``."""
    candidates = [os.environ.get("CC", ""), "cc", "gcc", "clang"]
    for name in candidates:
        if name and shutil.which(name):
            return name
    return None


def run_c_limit(round_ms: float, rounds: int) -> tuple[dict[str, float], Optional[str]]:
    """ns/op per C case key, and why it is empty when it is (no compiler, build error)."""
    compiler = c_compiler()
    if compiler is None:
        return {}, "no C compiler found"
    with tempfile.TemporaryDirectory(prefix="uds-bench-") as build:
        program = Path(build) / "pingpong"
        built = subprocess.run(
            [compiler, "-O2", "-o", str(program), str(_SOURCE)],
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            print(built.stderr, file=sys.stderr)
            return {}, f"{compiler} failed to build {_SOURCE.name}"
        ran = subprocess.run(
            [str(program), str(round_ms), str(rounds)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    if ran.returncode != 0:
        print(ran.stderr, file=sys.stderr)
        return {}, f"{_SOURCE.name} exited with status {ran.returncode}"
    results = {}
    for line in ran.stdout.splitlines():
        key, value = line.split()
        results[key] = float(value)
    return results, None
