"""The benchmark suite runs in quick mode and produces a complete table and report."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from benchmarks._case import C_LIMIT, COLUMNS
from benchmarks._pure import BEFORE_COMMIT
from benchmarks._report import TARGETS
from benchmarks._suite import ALL_CASES

ROOT = Path(__file__).resolve().parent.parent


def _history_available() -> bool:
    """Whether the library of before the C core can be extracted (not in an sdist)."""
    try:
        found = subprocess.run(
            ["git", "-C", str(ROOT), "cat-file", "-e", f"{BEFORE_COMMIT}^{{commit}}"],
            capture_output=True,
        )
    except OSError:
        return False
    return found.returncode == 0


HISTORY = _history_available()
_MISSING = "—"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    output = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, output


def _table(stdout: str) -> list[list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_every_case_has_a_row_with_numbers(quick_run: tuple[str, Path]) -> None:
    rows = _table(quick_run[0])
    header, rule, body = rows[0], rows[1], rows[2:]
    assert header[:5] == ["case", "uds", "uds pure", "uds before", "by hand"]
    assert header[-4:] == ["uds/by hand", "pure/by hand", "pure/before", "uds/C"]
    assert all(set(cell) <= set("-:") for cell in rule)
    by_title = {row[0]: dict(zip(header, row)) for row in body}
    assert sorted(by_title) == sorted(case.title for case in ALL_CASES)
    for title, cells in by_title.items():
        # Every case runs: ours, the by-hand baseline and their ratio are numbers.
        assert float(cells["uds"]) > 0, title
        assert float(cells["by hand"]) > 0, title
        assert float(cells["uds/by hand"]) > 0, title
        # The pure-Python worker measured the same loop.
        assert float(cells["uds pure"]) > 0, title
        assert float(cells["pure/by hand"]) > 0, title
        for column in header[1:]:
            assert cells[column] == _MISSING or float(cells[column]) > 0, (title, column)


def test_fd_passing_rows_compare_against_every_helper(quick_run: tuple[str, Path]) -> None:
    rows = _table(quick_run[0])
    header = rows[0]
    keys = ("fds_1", "fds_8", "seqpacket_fds_1", "seqpacket_fds_8")
    titles = {case.title for case in ALL_CASES if case.key in keys}
    fd_rows = [dict(zip(header, row)) for row in rows[2:] if row[0] in titles]
    assert len(fd_rows) == 4
    for cells in fd_rows:
        assert float(cells["socket.send_fds"]) > 0
        assert float(cells["mp.reduction"]) > 0


def test_c_limit_column_is_filled_when_a_compiler_exists(quick_run: tuple[str, Path]) -> None:
    from benchmarks._native import c_compiler

    if c_compiler() is None:
        pytest.skip("no C compiler on this machine")
    rows = _table(quick_run[0])
    header = rows[0]
    c_values = [dict(zip(header, row))[C_LIMIT] for row in rows[2:]]
    cases_with_c = [case for case in ALL_CASES if case.c_key]
    assert len([value for value in c_values if value != _MISSING]) == len(cases_with_c)
    assert all(float(value) > 0 for value in c_values if value != _MISSING)


def test_report_has_context_table_targets_and_a_valid_svg(quick_run: tuple[str, Path]) -> None:
    stdout, output = quick_run
    report = (output / "latest.md").read_text(encoding="utf-8")
    assert sys.version.split()[0] in report
    assert "## Targets" in report and "](latest.svg)" in report
    for case in ALL_CASES:
        assert case.title in report
    plot = ElementTree.parse(output / "latest.svg").getroot()
    assert plot.tag == "{http://www.w3.org/2000/svg}svg"
    bars = plot.findall(".//{http://www.w3.org/2000/svg}rect[@height='8']")
    rows = _table(stdout)
    header = rows[0]
    measured = [i for i, name in enumerate(header) if name in (*COLUMNS, C_LIMIT)]
    numbers = sum(1 for row in rows[2:] for i in measured if row[i] != _MISSING)
    assert len(bars) == numbers


def test_every_c_row_does_the_same_calls_as_its_python_row(quick_run: tuple[str, Path]) -> None:
    from benchmarks._native import c_compiler

    if c_compiler() is None:
        pytest.skip("no C compiler on this machine")
    rows = _table(quick_run[0])
    header = rows[0]
    by_title = {row[0]: dict(zip(header, row)) for row in rows[2:]}
    # Each seqpacket and batch row has its own C case (not the stream pair's).
    keys = {case.c_key for case in ALL_CASES if case.c_key}
    assert {
        "seqpacket_64",
        "seqpacket_fds_0",
        "seqpacket_fds_1",
        "seqpacket_fds_8",
        "seqpacket_mmsg_32",
        "seqpacket_loop_32",
        "dgram_mmsg_32",
        "dgram_loop_32",
        "pingpong",
        "pingpong_unpinned",
        "selectors_10",
        "selectors_100",
        "selectors_1000",
    } <= keys
    for case in ALL_CASES:
        if case.c_key:
            assert float(by_title[case.title]["uds/C"]) > 0, case.title


def test_report_gives_a_verdict_for_every_issue_target(quick_run: tuple[str, Path]) -> None:
    stdout, output = quick_run
    report = (output / "latest.md").read_text(encoding="utf-8")
    verdicts = [
        line for line in report.splitlines() if line.startswith(("- reached: ", "- MISSED: "))
    ]
    for target in TARGETS:
        if not HISTORY and "before" in target.goal:
            continue  # no git history here (an sdist): the "before" column stays empty
        lines = [line for line in verdicts if f" {target.goal} — " in line]
        # Every row a target names was measured, so each gets a verdict with its figures;
        # a target over every row (pure vs before) has one where both columns were measured.
        assert len(lines) == len(target.keys) if target.keys else lines, target.goal
        assert all(any(ch.isdigit() for ch in line.rsplit(" — ", 1)[1]) for line in lines)
    assert "uds pure" in report and "UDS_PURE_PYTHON=1" in report


@pytest.mark.skipif(not HISTORY, reason="needs the git history (f077193): not in an sdist")
def test_before_column_times_uds_as_it_was_before_the_c_core(quick_run: tuple[str, Path]) -> None:
    rows = _table(quick_run[0])
    header = rows[0]
    cells = {row[0]: dict(zip(header, row)) for row in rows[2:]}
    # Rows whose calls existed before the C core have the old library's figure and ratio;
    # the batch calls are new, so that row has none.
    seqpacket = cells["seqpacket 64 B send+recv (UnixSeqpacketConn)"]
    assert float(seqpacket["uds before"]) > 0 and float(seqpacket["pure/before"]) > 0
    batch = next(cell for title, cell in cells.items() if "send_many" in title)
    assert batch["uds before"] == _MISSING and batch["pure/before"] == _MISSING


def test_pure_worker_runs_the_pure_python_implementation() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "UDS_PURE_PYTHON": "1"}
    worker = subprocess.run(
        [sys.executable, "-m", "benchmarks._pure"],
        cwd=ROOT,
        env=env,
        input="case seqpacket_64 cpu\n10\n1000\nend\ncase no_such_case wall\n"
        "case pingpong wall\n10\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 0, worker.stderr
    replies = worker.stdout.splitlines()
    assert replies[0] == "ready" and replies[3] == "done"
    assert float(replies[1]) > 0 and float(replies[2]) > 0
    # A case it cannot set up is an answer, not the end of the worker.
    assert replies[4].startswith("error: KeyError")
    assert replies[5] == "ready" and float(replies[6]) > 0
    assert len(replies) == 7


def test_pure_worker_refuses_to_time_the_c_core() -> None:
    import uds

    if not uds.native_available():
        pytest.skip("the C core is not active here")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("UDS_PURE_PYTHON", None)
    worker = subprocess.run(
        [sys.executable, "-m", "benchmarks._pure"],
        cwd=ROOT,
        env=env,
        input="case seqpacket_64 cpu\n10\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 1
    assert "C core" in worker.stderr and worker.stdout == ""


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity"), reason="no os.sched_setaffinity on this OS"
)
def test_pin_to_one_cpu_pins_both_ends_and_restores() -> None:
    from contextlib import ExitStack

    from benchmarks._case import pin_to_one_cpu

    before = os.sched_getaffinity(0)
    peer = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        with ExitStack() as stack:
            cpu = pin_to_one_cpu(stack, peer.pid)
            assert cpu == max(before)
            assert os.sched_getaffinity(0) == {cpu}
            assert os.sched_getaffinity(peer.pid) == {cpu}
        assert os.sched_getaffinity(0) == before
    finally:
        assert peer.stdin is not None
        peer.stdin.close()
        peer.wait(10)


def test_c_program_times_on_the_clock_it_is_given(tmp_path: Path) -> None:
    from benchmarks._native import build_c_program

    program, why = build_c_program(tmp_path)
    if program is None:
        pytest.skip(f"no C program: {why}")
    for clock in ("cpu", "wall"):
        ran = subprocess.run(
            [str(program), "seqpacket_64", "1000", clock], capture_output=True, text=True
        )
        assert ran.returncode == 0, ran.stderr
        assert float(ran.stdout) > 0
    wrong = subprocess.run([str(program), "seqpacket_64", "10", "sundial"], capture_output=True)
    assert wrong.returncode == 2


def test_ratios_pair_the_columns_round_by_round() -> None:
    from benchmarks._timing import paired_ratio

    # Load arrives in round 2 for "over" and in round 3 for "ours": the medians of
    # the columns (4 vs 200) would say 0.02; the rounds say 2.
    ours = [2.0, 4.0, 400.0]
    over = [1.0, 200.0, 200.0]
    assert paired_ratio(ours, over) == 2.0
    assert paired_ratio([3.0, 6.0], [1.0, 2.0]) == 3.0
