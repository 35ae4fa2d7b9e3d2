"""The C limit: build benchmarks/c/pingpong.c with the system compiler, run it per round."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

from benchmarks._timing import Loop

__all__ = ["C_PROGRAM_VARIABLE", "build_c_program", "c_compiler", "c_echo_command", "c_loop"]

_SOURCE = Path(__file__).parent / "c" / "pingpong.c"
#: The environment variable through which a run passes the built program on.
C_PROGRAM_VARIABLE = "UDS_BENCH_C_PROGRAM"


def c_compiler() -> Optional[str]:
    """The C compiler to use ($CC, else cc, gcc or clang on PATH), or ``None``."""
    for name in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def build_c_program(build_dir: Path) -> tuple[Optional[Path], Optional[str]]:
    """Compile the C program into ``build_dir``: its path, or why there is none."""
    compiler = c_compiler()
    if compiler is None:
        return None, "no C compiler found"
    program = build_dir / "pingpong"
    built = subprocess.run(
        [compiler, "-O2", "-o", str(program), str(_SOURCE)], capture_output=True, text=True
    )
    if built.returncode != 0:
        print(built.stderr, file=sys.stderr)
        return None, f"{compiler} failed to build {_SOURCE.name}"
    return program, None


def c_loop(program: Path, key: str, clock: str) -> Loop:
    """A self-timed loop: the C program runs ``n`` operations and reports their nanoseconds.

    ``clock`` is :data:`~benchmarks._timing.CPU` or :data:`~benchmarks._timing.WALL`.

    Process start-up is outside the C program's clock, so this takes part in the
    interleaved rounds like the Python implementations.
    """

    def loop(n: int) -> float:
        ran = subprocess.run(
            [str(program), key, str(n), clock], capture_output=True, text=True, timeout=120
        )
        if ran.returncode != 0:
            raise RuntimeError(f"{program.name} {key} {n} failed: {ran.stderr.strip()}")
        return float(ran.stdout)

    return loop


def c_echo_command(fd: int) -> Optional[list[str]]:
    """The command running the C echo peer on ``fd``, if this run built the C program."""
    program = os.environ.get(C_PROGRAM_VARIABLE)
    return [program, "echo", str(fd)] if program else None
