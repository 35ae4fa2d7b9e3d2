"""Run the cases and the C program, and collect what the report needs."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import uds
from benchmarks import (
    _async_cases,
    _batch_cases,
    _loop_cases,
    _peer_cases,
    _selector_cases,
    _seqpacket_cases,
    _sync_cases,
)
from benchmarks._case import C_LIMIT, OURS, OURS_BEFORE, OURS_PURE, Case, Unavailable
from benchmarks._native import C_PROGRAM_VARIABLE, build_c_program, c_loop
from benchmarks._pure import PureWorker, extract_before
from benchmarks._timing import CPU, WALL, measure

__all__ = ["ALL_CASES", "Row", "Results", "Settings", "run"]

ALL_CASES: list[Case] = [
    *_sync_cases.CASES,
    *_peer_cases.CASES,
    *_seqpacket_cases.CASES,
    *_batch_cases.CASES,
    *_selector_cases.CASES,
    *_async_cases.CASES,
    *_loop_cases.CASES,
]


@dataclass(frozen=True)
class Settings:
    """How long to measure: ``round_ms`` per implementation per round, ``rounds`` rounds.

    ``wall`` times every case on the wall clock (else only those that wait for
    another process; the others count the CPU time of the measuring thread).
    """

    round_ms: float
    rounds: int
    label: str
    wall: bool = False


FULL = Settings(round_ms=10.0, rounds=41, label="full")
QUICK = Settings(round_ms=2.0, rounds=3, label="quick")


@dataclass
class Row:
    """One case's medians in ns/op per column, or why it was skipped.

    ``samples`` has each column's ns/op per round, rounds in the same order.
    """

    case: Case
    ns: dict[str, float] = field(default_factory=dict)
    skipped: Optional[str] = None
    clock: str = CPU
    samples: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Results:
    """Everything one run measured, with the context needed to read it."""

    rows: list[Row]
    c_note: Optional[str]
    before_note: Optional[str]
    settings: Settings
    machine: dict[str, str]


def machine_info() -> dict[str, str]:
    """Where and when the numbers were taken."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "cpu": f"{cpu}, {os.cpu_count()} logical CPUs",
        "uds": uds.__version__,
        "implementation": "the C core (uds._native)"
        if uds.native_available()
        else f"pure Python ({getattr(sys.modules.get('uds._impl'), 'why_pure', None)})",
    }


def _run_case(
    case: Case,
    settings: Settings,
    c_program: Optional[Path],
    pure: PureWorker,
    before: Optional[PureWorker],
) -> Row:
    clock = WALL if settings.wall else case.clock
    with ExitStack() as stack:
        try:
            loops = case.setup(stack)
        except Unavailable as why:
            return Row(case, skipped=str(why))
        if case.pure and OURS in loops:
            try:
                loops[OURS_PURE] = pure.loop(stack, case.key, clock)
            except RuntimeError as why:
                # Its cell stays empty; the run goes on (the tests require it filled).
                print(f"  {case.title}: no {OURS_PURE} column: {why}", file=sys.stderr)
            if before is not None:
                try:
                    loops[OURS_BEFORE] = before.loop(stack, case.key, clock)
                except RuntimeError:
                    pass  # the calls this case makes are new since
        if c_program is not None and case.c_key is not None:
            loops[C_LIMIT] = c_loop(c_program, case.c_key, clock)
        samples = measure(loops, settings.round_ms, settings.rounds, clock)
    per_op = {name: [value / case.per for value in values] for name, values in samples.items()}
    return Row(
        case,
        {name: statistics.median(values) for name, values in per_op.items()},
        clock=clock,
        samples=per_op,
    )


def run(settings: Settings, only: Optional[Sequence[str]] = None) -> Results:
    """Measure every case (or those whose key is in ``only``), the C limit included."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="uds-bench-") as build, ExitStack() as workers:
        c_program, c_note = build_c_program(Path(build))
        before_home, before_note = extract_before(Path(build) / "before")
        if c_program is not None:
            # The ping-pong cases (and the pure-Python workers) find their echo peer here.
            os.environ[C_PROGRAM_VARIABLE] = str(c_program)
        pure = PureWorker()
        workers.callback(pure.close)
        before = None
        if before_home is not None:
            before = PureWorker(before_home)
            workers.callback(before.close)
        for case in ALL_CASES:
            if only and case.key not in only:
                continue
            row = _run_case(case, settings, c_program, pure, before)
            note = f"skipped: {row.skipped}" if row.skipped else "done"
            print(f"  {case.title}: {note}", file=sys.stderr, flush=True)
            rows.append(row)
        os.environ.pop(C_PROGRAM_VARIABLE, None)
    return Results(rows, c_note, before_note, settings, machine_info())
