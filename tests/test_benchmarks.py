"""The benchmark suite runs in quick mode and produces a complete table and report."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from benchmarks._case import C_LIMIT, COLUMNS
from benchmarks._suite import ALL_CASES

ROOT = Path(__file__).resolve().parent.parent
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
        timeout=50,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, output


def _table(stdout: str) -> list[list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_every_case_has_a_row_with_numbers(quick_run: tuple[str, Path]) -> None:
    rows = _table(quick_run[0])
    header, rule, body = rows[0], rows[1], rows[2:]
    assert header[:3] == ["case", "uds", "by hand"]
    assert "uds/by hand" in header
    assert all(set(cell) <= set("-:") for cell in rule)
    by_title = {row[0]: dict(zip(header, row)) for row in body}
    assert sorted(by_title) == sorted(case.title for case in ALL_CASES)
    for title, cells in by_title.items():
        # Every case runs: ours, the by-hand baseline and their ratio are numbers.
        assert float(cells["uds"]) > 0, title
        assert float(cells["by hand"]) > 0, title
        assert float(cells["uds/by hand"]) > 0, title
        for column in header[1:]:
            assert cells[column] == _MISSING or float(cells[column]) > 0, (title, column)


def test_fd_passing_rows_compare_against_every_helper(quick_run: tuple[str, Path]) -> None:
    rows = _table(quick_run[0])
    header = rows[0]
    fd_rows = [dict(zip(header, row)) for row in rows[2:] if row[0].startswith("fd-passing")]
    assert len(fd_rows) == 2
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
