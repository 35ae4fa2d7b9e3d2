"""The "uds pure" column: a case's ``uds`` loop in a worker process with ``UDS_PURE_PYTHON=1``.

uds picks its implementation when it is imported, so the pure-Python one runs
in another process. The "uds before" column is the same worker importing uds
as it was before the C core (:data:`BEFORE_COMMIT`, extracted with ``git
archive``), to tell whether the fallback got slower.

One worker per column serves the whole run: it sets each case up once, then
times the loop each time it is asked (``n`` on a line of its stdin, the
nanoseconds on a line of its stdout), so that it takes part in the interleaved
rounds like the C program does: self-timed, process start-up outside the
clock. Unlike the C program it stays up between rounds, keeping its caches and
connections warm as the in-process columns do.

``python -m benchmarks._pure`` is the worker; requests: ``case KEY CLOCK``
(set up; answers ``ready`` or ``error: ...``), ``N`` (run and time N
iterations), ``end`` (tear down).
"""

from __future__ import annotations

import gc
import os
import select
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Callable, Optional, Sequence

from benchmarks._case import OURS
from benchmarks._timing import CPU, WALL, Loop, clock_ns

__all__ = ["BEFORE_COMMIT", "PureWorker", "extract_before"]

_ROOT = Path(__file__).resolve().parent.parent
_READY = "ready"
#: How long a worker may take to set a case up or run one round.
_TIMEOUT_S = 300
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


class PureWorker:
    """A worker process timing cases' ``uds`` loops on pure-Python uds; :meth:`close` stops it.

    ``uds_home`` is a directory holding another ``uds`` package to import
    instead of this tree's (the worker's errors are then not shown: a case that
    version cannot run is reported by :meth:`loop` raising).
    """

    def __init__(self, uds_home: Optional[Path] = None) -> None:
        path = os.environ.get("PYTHONPATH")
        homes = [str(uds_home)] if uds_home else []
        env = {
            **os.environ,
            "UDS_PURE_PYTHON": "1",
            "PYTHONPATH": os.pathsep.join([*homes, str(_ROOT), *([path] if path else [])]),
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._pure"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if uds_home else None,
            text=True,
            env=env,
            # python -m puts the working directory first on sys.path: it picks the uds.
            cwd=uds_home or _ROOT,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._requests, self._replies = self._process.stdin, self._process.stdout

    def _ask(self, request: str) -> str:
        try:
            self._requests.write(request + "\n")
            self._requests.flush()
        except BrokenPipeError:
            pass  # it exited: the empty reply says so
        # One line per request, so nothing is left buffered between replies.
        if not select.select([self._replies], [], [], _TIMEOUT_S)[0]:
            self._process.kill()
            raise RuntimeError(f"the pure-Python worker did not answer {request!r} in time")
        reply = self._replies.readline()
        if not reply:
            raise RuntimeError("the pure-Python worker exited")
        return reply.strip()

    def loop(self, stack: ExitStack, key: str, clock: str) -> Loop:
        """Set case ``key`` up in the worker (torn down when ``stack`` unwinds): its loop.

        The loop times itself on ``clock`` in the worker.

        Raises:
            RuntimeError: the worker could not set the case up or run it once.
        """
        reply = self._ask(f"case {key} {clock}")
        if reply != _READY:
            raise RuntimeError(f"the pure-Python worker cannot run {key}: {reply}")
        stack.callback(self._ask, "end")

        def loop(n: int) -> float:
            return float(self._ask(str(n)))

        return loop

    def close(self) -> None:
        """Stop the worker (it tears down what it has set up)."""
        try:
            self._requests.close()
        except BrokenPipeError:
            pass  # it has exited already
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._replies.close()


def _serve(requests: IO[str], replies: IO[str]) -> int:
    """Answer ``case KEY CLOCK``, ``N`` (time N iterations) and ``end`` until EOF."""
    import uds
    from benchmarks._suite import ALL_CASES

    native_available = getattr(uds, "native_available", lambda: False)  # absent before
    if native_available():
        print("uds pure worker: the C core is active despite UDS_PURE_PYTHON", file=sys.stderr)
        return 1
    cases = {case.key: case for case in ALL_CASES}
    stack = ExitStack()
    loop: Optional[Loop] = None
    now = clock_ns(CPU)

    def reply(text: object) -> None:
        replies.write(f"{text}\n")
        replies.flush()

    with stack:
        for line in requests:
            words = line.split()
            if words[:1] == ["case"] and len(words) == 3 and words[2] in (CPU, WALL):
                stack.close()
                loop, now = None, clock_ns(words[2])
                try:
                    loop = cases[words[1]].setup(stack)[OURS]
                    loop(1)  # fails here, not mid-round, where this uds lacks a call
                except Exception as error:
                    stack.close()
                    reply(f"error: {type(error).__name__}: {error}".replace("\n", " "))
                    continue
                reply(_READY)
            elif words == ["end"]:
                stack.close()
                loop = None
                reply("done")
            elif len(words) == 1 and words[0].isdigit() and loop is not None:
                reply(_timed(loop, int(words[0]), now))
            else:
                reply(f"error: unexpected request {line.strip()!r}")
    return 0


def _timed(loop: Loop, n: int, now: Callable[[], int]) -> int:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = now()
        loop(n)
        return now() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Serve timing requests until stdin closes."""
    if list(sys.argv[1:] if argv is None else argv):
        print("usage: python -m benchmarks._pure (requests on stdin)", file=sys.stderr)
        return 2
    return _serve(sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
