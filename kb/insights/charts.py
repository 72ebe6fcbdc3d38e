"""Server-rendered SVG charts: a line chart for trends, a histogram for distributions, a bar chart for
top-N lists. No JavaScript. Each `Chart` carries its data as a table (`columns`, `rows`) and as
CSV (`Chart.csv()`), so a page shows the table and offers the download beside the picture.

The SVG is self-contained (inline styles, `viewBox`, `role="img"` with a `<title>`), scales to
its container, and every label is XML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from kb.csvout import csv_lines

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
FONT = "font-family:system-ui,sans-serif;font-size:11px;fill:#333"


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """CSV text of a table (the columns of the first row unless given), through the one safe writer."""
    columns = list(columns or (rows[0].keys() if rows else []))
    return csv_lines(columns, ([_cell(r.get(k)) for k in columns] for r in rows))


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, list | tuple):
        return " | ".join(str(x) for x in v)
    return "" if v is None else v


@dataclass
class Chart:
    kind: str  # line | histogram | bar
    title: str
    svg: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def csv(self) -> str:
        return to_csv(self.rows, self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "svg": self.svg, "columns": self.columns, "rows": self.rows}


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.2g}" if abs(v) < 1 else f"{v:.1f}"


def _frame(width: int, height: int, title: str, body: list[str]) -> str:
    t = escape(title)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
            f'aria-label="{t}" style="max-width:{width}px"><title>{t}</title>'
            f'<rect width="{width}" height="{height}" fill="#fff"/>'
            f'<text x="8" y="16" style="{FONT};font-size:13px;font-weight:600">{t}</text>' + "".join(body) + "</svg>")


def _y_axis(x0: int, y0: int, y1: int, ymax: float, x1: int, ymin: float = 0.0) -> list[str]:
    out = []
    for k in range(5):
        v = ymin + (ymax - ymin) * k / 4
        y = y0 - (y0 - y1) * k / 4
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 4}" y="{y + 3:.1f}" text-anchor="end" style="{FONT}">{escape(_fmt(v))}</text>')
    out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#999"/>')
    out.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#999"/>')
    return out


def line_chart(series: dict[str, Sequence[tuple[str, float | None]]], *, title: str, x_label: str = "",
               y_label: str = "", y_max: float | None = None, width: int = 640, height: int = 260) -> Chart:
    """One line per series over shared x categories (e.g. weeks); None values leave a gap."""
    xs: list[str] = []
    for pts in series.values():
        for x, _ in pts:
            if x not in xs:
                xs.append(x)
    xs.sort()
    vals = [v for pts in series.values() for _, v in pts if v is not None]
    ymax = y_max if y_max is not None else _nice_max(max(vals) if vals else 1.0)
    x0, x1, y0, y1 = 48, width - 12, height - 52, 28
    body = _y_axis(x0, y0, y1, ymax, x1)
    step = (x1 - x0) / max(1, len(xs) - 1)
    pos = {x: x0 + (i * step if len(xs) > 1 else (x1 - x0) / 2) for i, x in enumerate(xs)}
    every = max(1, math.ceil(len(xs) / 8))
    for i, x in enumerate(xs):
        if i % every == 0 or i == len(xs) - 1:
            body.append(f'<text x="{pos[x]:.1f}" y="{y0 + 14}" text-anchor="middle" style="{FONT}">'
                        f'{escape(str(x))}</text>')
    rows: list[dict[str, Any]] = []
    for n, (name, pts) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for x, v in sorted(pts, key=lambda p: p[0]):
            rows.append({"series": name, "x": x, "value": v})
            if v is None:
                segments.append([])
                continue
            y = y0 - (y0 - y1) * (min(v, ymax) / ymax if ymax else 0)
            segments[-1].append(f"{pos[x]:.1f},{y:.1f}")
            body.append(f'<circle cx="{pos[x]:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"><title>'
                        f'{escape(f"{name} {x}: {_fmt(v)}")}</title></circle>')
        for seg in segments:
            if len(seg) > 1:
                body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(seg)}"/>')
        lx = x0 + (n % 4) * ((x1 - x0) // 4)
        ly = height - 10 - 14 * (n // 4)
        if len(series) > 1 or name:
            body.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="10" fill="{color}"/>'
                        f'<text x="{lx + 14}" y="{ly + 1}" style="{FONT}">{escape(str(name)[:40])}</text>')
    if y_label:
        body.append(f'<text x="{x0}" y="{y1 - 6}" style="{FONT}">{escape(y_label)}</text>')
    if x_label:
        body.append(f'<text x="{x1}" y="{y0 + 28}" text-anchor="end" style="{FONT}">{escape(x_label)}</text>')
    return Chart("line", title, _frame(width, height, title, body), ["series", "x", "value"], rows)


def histogram(values: Sequence[float], *, title: str, bins: int = 10, lo: float | None = None,
              hi: float | None = None, x_label: str = "", width: int = 640, height: int = 240) -> Chart:
    """Counts of values in equal-width bins between lo and hi (default: the data's range)."""
    vals = [float(v) for v in values if v is not None]
    lo = min(vals) if lo is None and vals else (lo or 0.0)
    hi = max(vals) if hi is None and vals else (hi if hi is not None else 1.0)
    if hi <= lo:
        hi = lo + 1.0
    width_bin = (hi - lo) / bins
    counts = [0] * bins
    for v in vals:
        k = min(bins - 1, max(0, int((v - lo) / width_bin)))
        counts[k] += 1
    rows = [{"from": round(lo + k * width_bin, 4), "to": round(lo + (k + 1) * width_bin, 4), "count": c}
            for k, c in enumerate(counts)]
    ymax = _nice_max(max(counts) if counts else 1)
    x0, x1, y0, y1 = 48, width - 12, height - 40, 28
    body = _y_axis(x0, y0, y1, ymax, x1)
    bw = (x1 - x0) / bins
    for k, c in enumerate(counts):
        h = (y0 - y1) * c / ymax
        x = x0 + k * bw
        body.append(f'<rect x="{x + 1:.1f}" y="{y0 - h:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" fill="{PALETTE[0]}">'
                    f'<title>{escape(_fmt(rows[k]["from"]) + "–" + _fmt(rows[k]["to"]) + ": " + str(c))}</title></rect>')
    for k in range(bins + 1):
        if k % max(1, bins // 5) == 0 or k == bins:
            body.append(f'<text x="{x0 + k * bw:.1f}" y="{y0 + 14}" text-anchor="middle" style="{FONT}">'
                        f'{escape(_fmt(lo + k * width_bin))}</text>')
    if x_label:
        body.append(f'<text x="{x1}" y="{y0 + 30}" text-anchor="end" style="{FONT}">{escape(x_label)}</text>')
    return Chart("histogram", title, _frame(width, height, title, body), ["from", "to", "count"], rows)


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, top_n: int = 10, value_label: str = "value",
              x_max: float | None = None, width: int = 640) -> Chart:
    """Horizontal bars for the top-N items, largest first (as given when already sorted)."""
    items = list(items)[:top_n]
    rows = [{"label": label, value_label: v} for label, v in items]
    bar_h, gap, left = 18, 6, 220
    height = 36 + len(items) * (bar_h + gap) + 8
    xmax = x_max if x_max is not None else _nice_max(max((v for _, v in items), default=1.0))
    x0, x1 = left, width - 48
    body = []
    for k, (label, v) in enumerate(items):
        y = 30 + k * (bar_h + gap)
        w = (x1 - x0) * (max(v, 0) / xmax if xmax else 0)
        text = str(label) if len(str(label)) <= 34 else str(label)[:33] + "…"
        body.append(f'<text x="{x0 - 6}" y="{y + 13}" text-anchor="end" style="{FONT}">{escape(text)}'
                    f'<title>{escape(str(label))}</title></text>')
        body.append(f'<rect x="{x0}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE[0]}"/>')
        body.append(f'<text x="{x0 + w + 4:.1f}" y="{y + 13}" style="{FONT}">{escape(_fmt(v))}</text>')
    return Chart("bar", title, _frame(width, height, title, body), ["label", value_label], rows)
