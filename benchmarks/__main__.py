"""``python -m benchmarks [--quick] [--wall] [--output DIR] [--cases KEY,...]``: measure, report."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Optional, Sequence

from benchmarks._plot import svg
from benchmarks._report import markdown, table, targets
from benchmarks._suite import ALL_CASES, FULL, QUICK, run

_RESULTS = Path(__file__).parent / "results"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the suite, print the table, and write the report where asked."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run of a few seconds; no report by default"
    )
    parser.add_argument(
        "--wall",
        action="store_true",
        help="time every case on the wall clock (default: CPU time of the measuring "
        "thread, except for ping-pong, which waits for another process)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"where to write latest.md and latest.svg (default: {_RESULTS} for a full run)",
    )
    parser.add_argument(
        "--cases",
        help="comma-separated case keys: " + ", ".join(case.key for case in ALL_CASES),
    )
    args = parser.parse_args(argv)
    only = args.cases.split(",") if args.cases else None
    unknown = set(only or ()) - {case.key for case in ALL_CASES}
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    settings = QUICK if args.quick else FULL
    results = run(dataclasses.replace(settings, wall=args.wall), only)
    print(table(results))
    print()
    print("\n".join(targets(results)))
    output = args.output or (None if args.quick or only else _RESULTS)
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        (output / "latest.svg").write_text(svg(results), encoding="utf-8")
        (output / "latest.md").write_text(markdown(results, "latest.svg"), encoding="utf-8")
        print(f"\nreport written to {output / 'latest.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
