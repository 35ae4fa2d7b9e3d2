"""The results as a table (printed and in the markdown report) and the targets reached."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable, Optional

from benchmarks._batch_cases import BATCH_AGAINST_LOOP
from benchmarks._case import (
    ANYIO,
    BY_HAND,
    C_LIMIT,
    COLUMNS,
    MP_REDUCTION,
    OURS,
    OURS_BEFORE,
    OURS_PURE,
    STDLIB_FDS,
)
from benchmarks._pure import BEFORE_COMMIT
from benchmarks._suite import Results, Row
from benchmarks._timing import paired_ratio

__all__ = [
    "RATIO",
    "RATIO_BEFORE",
    "RATIO_C",
    "RATIO_PURE",
    "TARGETS",
    "columns",
    "table",
    "targets",
    "markdown",
]

RATIO = "uds/by hand"
RATIO_PURE = "pure/by hand"
RATIO_BEFORE = "pure/before"
RATIO_C = "uds/C"
_RATIOS = {
    RATIO: (OURS, BY_HAND),
    RATIO_PURE: (OURS_PURE, BY_HAND),
    RATIO_BEFORE: (OURS_PURE, OURS_BEFORE),
    RATIO_C: (OURS, C_LIMIT),
}
_MISSING = "—"


def columns(results: Results) -> list[str]:
    """Table columns: the implementations measured (anyio only when installed), C, ratios."""
    measured = [
        name for name in COLUMNS if name != ANYIO or importlib.util.find_spec("anyio") is not None
    ]
    return ["case", *measured, C_LIMIT, *_RATIOS]


def _ratio(row: Row, over: str, ours: str = OURS) -> Optional[float]:
    """``ours`` over ``over`` in the same rounds (median of the per-round ratios)."""
    if ours in row.samples and over in row.samples:
        return paired_ratio(row.samples[ours], row.samples[over])
    if ours in row.ns and over in row.ns:
        return row.ns[ours] / row.ns[over]
    return None


def _cell(row: Row, column: str) -> str:
    if column == "case":
        return row.case.title
    if row.skipped:
        return _MISSING
    if column in _RATIOS:
        ours, over = _RATIOS[column]
        ratio = _ratio(row, over, ours)
        return _MISSING if ratio is None else f"{ratio:.2f}"
    value = row.ns.get(column)
    return _MISSING if value is None else f"{value:.0f}"


def table(results: Results) -> str:
    """A markdown table, padded to line up in a terminal: ns/op per implementation."""
    header = columns(results)
    lines = [header] + [[_cell(row, column) for column in header] for row in results.rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        padded = [cells[0].ljust(widths[0])]
        padded += [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths))
    return "\n".join([render(lines[0]), rule + "|", *(render(line) for line in lines[1:])])


#: What a check gets: the row, and every measured row by case key.
Check = Callable[[Row, dict[str, Row]], Optional[tuple[bool, str]]]


@dataclass(frozen=True)
class Target:
    """A goal over some cases: ``check`` gives (reached, what was measured) per row.

    No ``keys`` means every row. A check returns ``None`` when the row lacks a
    column it needs.
    """

    goal: str
    keys: tuple[str, ...]
    check: Check


def _at_most(over: str, limit: float) -> Check:
    def check(row: Row, rows: dict[str, Row]) -> Optional[tuple[bool, str]]:
        ratio = _ratio(row, over)
        if ratio is None:
            return None
        return ratio <= limit, f"{ratio:.2f}x ({row.ns[OURS]:.0f} vs {row.ns[over]:.0f} ns)"

    return check


def _below_helpers(limit: float) -> Check:
    def check(row: Row, rows: dict[str, Row]) -> Optional[tuple[bool, str]]:
        ratios = {name: _ratio(row, name) for name in (STDLIB_FDS, MP_REDUCTION)}
        measured = {name: ratio for name, ratio in ratios.items() if ratio is not None}
        if not measured:
            return None
        shown = ", ".join(f"{ratio:.2f}x {name}" for name, ratio in measured.items())
        return all(ratio <= limit for ratio in measured.values()), shown

    return check


def _batch_below_c_loop(limit: float) -> Check:
    def check(row: Row, rows: dict[str, Row]) -> Optional[tuple[bool, str]]:
        loop = rows.get(BATCH_AGAINST_LOOP[row.case.key])
        if OURS not in row.ns or loop is None or C_LIMIT not in loop.ns:
            return None
        ours, c_loop = row.ns[OURS], loop.ns[C_LIMIT]
        shown = f"{ours / c_loop:.2f}x ({ours:.0f} vs {c_loop:.0f} ns per message"
        if C_LIMIT in row.ns:
            # Where the kernel's per-message work leaves little to batch, C cannot either.
            shown += f"; C's own batch: {row.ns[C_LIMIT] / c_loop:.2f}x"
        return ours <= limit * c_loop, shown + ")"

    return check


_NOISE = 1.10


def _pure_not_slower(row: Row, rows: dict[str, Row]) -> Optional[tuple[bool, str]]:
    ratio = _ratio(row, OURS_BEFORE, OURS_PURE)
    if ratio is None:
        return None
    shown = f"{ratio:.2f}x ({row.ns[OURS_PURE]:.0f} vs {row.ns[OURS_BEFORE]:.0f} ns)"
    return ratio <= _NOISE, shown


TARGETS = [
    Target(
        "<= 1.25x C",
        (
            "seqpacket_64",
            "seqpacket_fds_0",
            "seqpacket_fds_1",
            "seqpacket_fds_8",
            "send_recv_64",
            "fds_1",
            "fds_8",
            "local_addr",
        ),
        _at_most(C_LIMIT, 1.25),
    ),
    Target(
        "fd-passing <= 0.6x socket.send_fds/recv_fds and multiprocessing.reduction",
        ("fds_1", "fds_8", "seqpacket_fds_1", "seqpacket_fds_8"),
        _below_helpers(0.6),
    ),
    Target("64 KiB recv_into <= 1.05x C", ("recv_64k",), _at_most(C_LIMIT, 1.05)),
    Target(
        "send_many/recv_many per message <= 0.5x C's one-call-per-message loop",
        tuple(BATCH_AGAINST_LOOP),
        _batch_below_c_loop(0.5),
    ),
    Target(
        f"pure-Python fallback no slower than before the C core (uds pure <= "
        f"{_NOISE:.2f}x uds before: the noise)",
        (),
        _pure_not_slower,
    ),
]


def targets(results: Results) -> list[str]:
    """One line per target and case: reached or missed, with the measured ratio."""
    by_key = {row.case.key: row for row in results.rows if not row.skipped}
    lines = []
    for target in TARGETS:
        for key in target.keys or tuple(by_key):
            row = by_key.get(key)
            verdict_and_shown = None if row is None else target.check(row, by_key)
            if row is None or verdict_and_shown is None:
                continue
            reached, shown = verdict_and_shown
            verdict = "reached" if reached else "MISSED"
            lines.append(f"- {verdict}: {target.goal} — {row.case.title}: {shown}")
    return lines


def markdown(results: Results, plot_name: Optional[str]) -> str:
    """The report: context, table, targets, notes on what each column does."""
    info = results.machine
    out = [
        "# uds benchmark report",
        "",
        f"{info['date']} · {info['python']} · {info['os']} · {info['cpu']} · "
        f"uds {info['uds']} with {info['implementation']} · {results.settings.label} run "
        f"({results.settings.rounds} rounds of ~{results.settings.round_ms:g} ms "
        "per implementation, interleaved)",
        "",
        (
            "Clock: wall time for every row (--wall). "
            if results.settings.wall
            else "Clock: CPU time (user + system) of the measuring thread, in every "
            "column (the C program and the workers time themselves alike), so that "
            "time spent waiting for a CPU taken by other programs is not counted; "
            "wall time for the ping-pong rows, which wait for their peer. "
        )
        + "Median ns per operation (lower is better); one operation is a send and its "
        "receive (a round trip for ping-pong, asyncio and selectors; per message for "
        "selectors and batches). Ratios: uds/by hand and uds/C from the uds (C core) "
        "column, pure/by hand from the uds pure column, pure/before = uds pure / uds "
        "before; each is the median of the per-round ratios (both columns measured in "
        "the same round), so load that comes and goes cancels; the batch target "
        "compares medians of two rows.",
        "",
        table(results),
        "",
    ]
    if results.c_note:
        out += [f"C limit not measured: {results.c_note}.", ""]
    if results.before_note:
        out += [f"uds before not measured: {results.before_note}.", ""]
    skipped = [row for row in results.rows if row.skipped]
    if skipped:
        out += ["Skipped:", ""]
        out += [f"- {row.case.title}: {row.skipped}" for row in skipped]
        out.append("")
    if plot_name:
        out += [f"![ns/op by case and implementation]({plot_name})", ""]
    out += ["## Targets", "", *targets(results), ""]
    out += [_COLUMN_NOTES.format(before=BEFORE_COMMIT)]
    return "\n".join(out)


_COLUMN_NOTES = """## Columns

- **uds**: this library with its C core (`uds._native`) in the benchmark
  process (extension functions on a `socket.socket` unless the case says
  otherwise; the seqpacket and asyncio types where the case names them).
- **uds pure**: the same loop on the pure-Python implementation, in a worker
  process started with `UDS_PURE_PYTHON=1` (uds picks its implementation at
  import). The worker sets the case up once, stays up, and times each round
  itself when asked, in turn with the others (start-up outside the clock).
- **uds before**: the same worker importing uds as of commit {before}, the
  last one before the C core (pure Python only): "—" where that version lacks
  the calls the row makes. **pure/before** is uds pure over uds before.
- **by hand**: the stdlib doing the same work directly, written inline as a
  hot loop would be: `sendmsg` with `MSG_NOSIGNAL` and a hand-built
  `SCM_RIGHTS` message, `recvmsg` with `MSG_CMSG_CLOEXEC`, a `MSG_CTRUNC`
  check, received fds closed. For asyncio it
  is asyncio streams with a 4-byte length prefix; for selectors, plain sockets.
- **socket.send_fds**: `socket.send_fds`/`socket.recv_fds`, called with
  `MSG_NOSIGNAL` and `MSG_CMSG_CLOEXEC`, which CPython (3.9-3.13) silently
  drops: they do less than the others (received fds stay inheritable, a closed
  peer raises `SIGPIPE`, `MSG_CTRUNC` is not looked at).
- **mp.reduction**: `multiprocessing.reduction.sendfds`/`recvfds` (no flags:
  received fds are inheritable).
- **anyio**: anyio's UNIX socket stream (`send_fds`/`receive_fds`, or
  length-prefixed messages), on asyncio.
- **C**: `benchmarks/c/pingpong.c`, the same system calls as the uds row on
  the same socket type (`send`/`recv` for seqpacket `send`/`recv`,
  `sendmsg`/`recvmsg` with `SCM_RIGHTS` for `send_fds`/`recv_fds`, received fds
  closed, `sendmmsg`/`recvmmsg` for batches, `getsockname`, `epoll_wait` +
  `recv`/`send` for the selectors echo): the floor. It is
  started once per round, in turn with the others, and times itself (process
  start-up excluded).
- **Ping-pong**: every column talks to the same echo peer, the C program's
  (`pingpong echo FD`). The first row pins both processes to one CPU (the
  highest allowed, in C and Python alike), so a round trip is two context
  switches on one CPU; the unpinned row also pays cross-CPU wake-ups.
- **Batches**: 32 packets of 64 B sent with one `send_many` and received with
  `recv_many`, per message; the by-hand column and the "one call per message"
  rows send and receive them one call each, and the target compares the batch
  with the C column of that loop row.
"""
