"""The results as a table (printed and in the markdown report) and the targets reached."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable, Optional

from benchmarks._case import ANYIO, BY_HAND, C_LIMIT, COLUMNS, MP_REDUCTION, OURS, STDLIB_FDS
from benchmarks._suite import Results, Row

__all__ = ["RATIO", "RATIO_C", "columns", "table", "targets", "markdown"]

RATIO = "uds/by hand"
RATIO_C = "uds/C"
_MISSING = "—"


def columns(results: Results) -> list[str]:
    """Table columns: the implementations measured (anyio only when installed), C, ratios."""
    measured = [
        name for name in COLUMNS if name != ANYIO or importlib.util.find_spec("anyio") is not None
    ]
    return ["case", *measured, C_LIMIT, RATIO, RATIO_C]


def _ratio(row: Row, over: str) -> Optional[float]:
    if OURS in row.ns and over in row.ns:
        return row.ns[OURS] / row.ns[over]
    return None


def _cell(row: Row, column: str) -> str:
    if column == "case":
        return row.case.title
    if row.skipped:
        return _MISSING
    if column in (RATIO, RATIO_C):
        ratio = _ratio(row, BY_HAND if column == RATIO else C_LIMIT)
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


@dataclass(frozen=True)
class Target:
    """A goal over some cases: ``check`` gives (reached, what was measured) per row."""

    goal: str
    keys: tuple[str, ...]
    needs: str
    check: Callable[[Row], tuple[bool, str]]


def _at_most(over: str, limit: float) -> Callable[[Row], tuple[bool, str]]:
    def check(row: Row) -> tuple[bool, str]:
        ratio = _ratio(row, over)
        assert ratio is not None
        return ratio <= limit, f"{ratio:.2f}x"

    return check


def _faster_than_helpers(row: Row) -> tuple[bool, str]:
    ours = row.ns[OURS]
    others = {name: row.ns[name] for name in (STDLIB_FDS, MP_REDUCTION) if name in row.ns}
    shown = ", ".join(f"{ours / value:.2f}x {name}" for name, value in others.items())
    return all(ours < value for value in others.values()), shown


TARGETS = [
    Target(
        "hot paths <= 1.10x the by-hand stdlib",
        (
            "send_recv_64",
            "fds_1",
            "fds_8",
            "recv_64k",
            "local_addr",
            "pingpong",
            "seqpacket_64",
            "selectors_10",
            "selectors_100",
            "selectors_1000",
        ),
        BY_HAND,
        _at_most(BY_HAND, 1.10),
    ),
    Target(
        "fd-passing faster than socket.send_fds/recv_fds and multiprocessing.reduction",
        ("fds_1", "fds_8"),
        STDLIB_FDS,
        _faster_than_helpers,
    ),
    Target(
        "extension functions on a fileno()-only object <= 1.25x the by-hand stdlib",
        ("send_recv_64_fileno", "local_addr_fileno"),
        BY_HAND,
        _at_most(BY_HAND, 1.25),
    ),
    Target("64 KiB within 1.15x of C", ("recv_64k",), C_LIMIT, _at_most(C_LIMIT, 1.15)),
]


def targets(results: Results) -> list[str]:
    """One line per target and case: reached or missed, with the measured ratio."""
    by_key = {row.case.key: row for row in results.rows if not row.skipped}
    lines = []
    for target in TARGETS:
        for key in target.keys:
            row = by_key.get(key)
            if row is None or target.needs not in row.ns or OURS not in row.ns:
                continue
            reached, shown = target.check(row)
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
        f"uds {info['uds']} · {results.settings.label} run "
        f"({results.settings.rounds} rounds of ~{results.settings.round_ms:g} ms "
        "per implementation, interleaved)",
        "",
        "Median ns per operation (lower is better); one operation is a send and its "
        "receive (a round trip for ping-pong, asyncio and selectors, per message).",
        "",
        table(results),
        "",
    ]
    if results.c_note:
        out += [f"C limit not measured: {results.c_note}.", ""]
    skipped = [row for row in results.rows if row.skipped]
    if skipped:
        out += ["Skipped:", ""]
        out += [f"- {row.case.title}: {row.skipped}" for row in skipped]
        out.append("")
    if plot_name:
        out += [f"![ns/op by case and implementation]({plot_name})", ""]
    out += ["## Targets", "", *targets(results), ""]
    out += [_COLUMN_NOTES]
    return "\n".join(out)


_COLUMN_NOTES = """## Columns

- **uds**: this library (extension functions on a `socket.socket` unless the case
  says otherwise; the seqpacket and asyncio types where the case names them).
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
- **C**: `benchmarks/c/pingpong.c`, the same system calls from C: the floor.
  It is started once per round, in turn with the others, and times itself
  (process start-up excluded). Its ping-pong peer is C too.
"""
