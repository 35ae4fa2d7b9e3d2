"""The results as an SVG bar chart: ns/op per case and implementation, log scale."""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

from benchmarks._case import C_LIMIT, COLUMNS
from benchmarks._suite import Results

__all__ = ["svg"]

_COLORS = {
    "uds": "#1f77b4",
    "uds pure": "#aec7e8",
    "uds before": "#c7c7c7",
    "by hand": "#ff7f0e",
    "socket.send_fds": "#2ca02c",
    "mp.reduction": "#d62728",
    "anyio": "#9467bd",
    C_LIMIT: "#525252",
}
# Room for a label of n characters at font-size 11 (about 6 px per character).
_CHAR_WIDTH = 6.2
_PLOT_WIDTH = 560
_BAR = 9
_GAP = 12
_TOP = 50
_FONT = 'font-family="sans-serif" font-size="11"'


def svg(results: Results) -> str:
    """A standalone SVG document; bars start at the axis, the x axis is log10(ns/op)."""
    rows = [row for row in results.rows if not row.skipped]
    series = [name for name in (*COLUMNS, C_LIMIT) if any(name in row.ns for row in rows)]
    values = [value for row in rows for value in row.ns.values() if value > 0]
    low = math.floor(math.log10(min(values, default=1.0)))
    high = math.ceil(math.log10(max(values, default=10.0)))
    high = max(high, low + 1)
    label_width = 16 + round(_CHAR_WIDTH * max((len(row.case.title) for row in rows), default=10))

    def x(value: float) -> float:
        return label_width + (math.log10(value) - low) / (high - low) * _PLOT_WIDTH

    parts = []
    y = _TOP
    for row in rows:
        present = [name for name in series if name in row.ns]
        group = len(present) * _BAR
        parts.append(
            f'<text x="{label_width - 8}" y="{y + group / 2 + 4:.1f}" text-anchor="end" '
            f"{_FONT}>{escape(row.case.title)}</text>"
        )
        for name in present:
            value = row.ns[name]
            width = max(x(value) - label_width, 1.0)
            parts.append(
                f'<rect x="{label_width}" y="{y}" width="{width:.1f}" height="{_BAR - 1}" '
                f'fill="{_COLORS[name]}"><title>{escape(name)}: {value:.0f} ns</title></rect>'
            )
            y += _BAR
        y += _GAP
    bottom = y
    axis = []
    for power in range(low, high + 1):
        for step in (1, 2, 5):
            value = step * 10.0**power
            if power == high and step > 1:
                break
            pos = x(value)
            shade = "#bbb" if step == 1 else "#e5e5e5"
            axis.append(
                f'<line x1="{pos:.1f}" y1="{_TOP - 6}" x2="{pos:.1f}" y2="{bottom}" '
                f'stroke="{shade}"/>'
            )
            if step == 1:
                axis.append(
                    f'<text x="{pos:.1f}" y="{bottom + 14}" text-anchor="middle" {_FONT}>'
                    f"{_human(value)}</text>"
                )
    legend = []
    lx = label_width
    for name in series:
        legend.append(f'<rect x="{lx}" y="14" width="10" height="10" fill="{_COLORS[name]}"/>')
        legend.append(f'<text x="{lx + 14}" y="23" {_FONT}>{escape(name)}</text>')
        lx += 20 + 7 * len(name)
    width = label_width + _PLOT_WIDTH + 30
    height = bottom + 40
    title = f"ns per operation, log scale ({escape(results.machine['python'])})"
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">',
            f'<rect width="{width}" height="{height}" fill="white"/>',
            *axis,
            *parts,
            *legend,
            f'<text x="{label_width}" y="{bottom + 32}" {_FONT}>{title}</text>',
            "</svg>",
            "",
        ]
    )


def _human(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:g} {unit}"
    return f"{ns:g} ns"
