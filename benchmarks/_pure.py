"""The "uds pure" column: a case's ``uds`` loop in a worker process with ``UDS_PURE_PYTHON=1``.

uds picks its implementation when it is imported, so the pure-Python one runs
in another process. The "uds before" column is the same worker importing uds
as it was before the C core (:data:`BEFORE_COMMIT`, extracted with ``git
archive``), to tell whether the fallback got slower.

The worker sets the case up once, then times the loop each time it is asked
(``n`` on a line of its stdin, the nanoseconds on a line of its stdout), so
that it takes part in the interleaved rounds like the C program
does: self-timed, process start-up outside the clock. Unlike the C program it
stays up between rounds, keeping its caches and connections warm as the
in-process columns do.

``python -m benchmarks._pure CASE`` is the worker.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Optional, Sequence

from benchmarks._case import OURS
from benchmarks._timing import Loop

__all__ = ["BEFORE_COMMIT", "extract_before", "pure_loop"]

_ROOT = Path(__file__).resolve().parent.parent
_READY = "ready"
#: The last commit before the C core: its uds is the pure-Python library of before.
BEFORE_COMMIT = "f077193"


def extract_before(into: Path) -> tuple[Optional[Path], Optional[str]]:
    """Write uds as of :data:`BEFORE_COMMIT` under ``into``: the directory, or why there is none."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(_ROOT), "archive", BEFORE_COMMIT, "uds"],
            capture_output=True,
            timeout=60,
        )
    except OSError as error:
        return None, f"git is not available ({error})"
    if archive.returncode != 0:
        return None, f"git archive {BEFORE_COMMIT} failed: {archive.stderr.decode().strip()}"
    into.mkdir(parents=True, exist_ok=True)
    unpacked = subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout)
    if unpacked.returncode != 0:
        return None, "tar could not unpack the archive"
    return into, None


def pure_loop(stack: ExitStack, key: str, uds_home: Optional[Path] = None) -> Loop:
    """Start a pure-Python worker for case ``key``, stopped when ``stack`` unwinds.

    ``uds_home`` is a directory holding another ``uds`` package to import
    instead of this tree's (its errors are not shown: a case it cannot run
    raises).

    Raises:
        RuntimeError: the worker could not set the case up or run it once
            (its stderr says why).
    """
    path = os.environ.get("PYTHONPATH")
    homes = [str(uds_home)] if uds_home else []
    env = {
        **os.environ,
        "UDS_PURE_PYTHON": "1",
        "PYTHONPATH": os.pathsep.join([*homes, str(_ROOT), *([path] if path else [])]),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._pure", key],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if uds_home else None,
        text=True,
        env=env,
        # python -m puts the working directory first on sys.path: it picks the uds.
        cwd=uds_home or _ROOT,
    )
    stack.callback(_stop, worker)
    assert worker.stdin is not None and worker.stdout is not None
    requests, replies = worker.stdin, worker.stdout
    if replies.readline().strip() != _READY:
        raise RuntimeError(f"the pure-Python worker for {key} did not start")

    def loop(n: int) -> float:
        requests.write(f"{n}\n")
        requests.flush()
        reply = replies.readline()
        if not reply:
            raise RuntimeError(f"the pure-Python worker for {key} exited")
        return float(reply)

    return loop


def _stop(worker: subprocess.Popen[str]) -> None:
    if worker.stdin is not None:
        worker.stdin.close()
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    if worker.stdout is not None:
        worker.stdout.close()


def _serve(key: str, requests: IO[str], replies: IO[str]) -> int:
    import uds
    from benchmarks._suite import ALL_CASES

    native_available = getattr(uds, "native_available", lambda: False)  # absent before
    if native_available():
        print("uds pure worker: the C core is active despite UDS_PURE_PYTHON", file=sys.stderr)
        return 1
    case = next(case for case in ALL_CASES if case.key == key)
    with ExitStack() as stack:
        loop = case.setup(stack)[OURS]
        loop(1)  # fails here, not mid-round, where this uds lacks a call the case makes
        replies.write(f"{_READY}\n")
        replies.flush()
        for line in requests:
            n = int(line)
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                start = time.perf_counter_ns()
                loop(n)
                elapsed = time.perf_counter_ns() - start
            finally:
                if gc_was_enabled:
                    gc.enable()
            replies.write(f"{elapsed}\n")
            replies.flush()
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Serve timing requests for one case until stdin closes."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m benchmarks._pure CASE", file=sys.stderr)
        return 2
    return _serve(args[0], sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
