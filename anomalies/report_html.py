# SPDX-License-Identifier: GPL-3.0-or-later
"""One self-contained HTML file of a look back: the ranked table, and for the top charts their values with
the reference band, the flagged stretches and the change points, drawn as inline SVG (no script, no
network, opens anywhere)."""
from __future__ import annotations

import html
import time
from typing import List, Sequence

import numpy as np

from .attribution import format_number as number
from .lookback import LookBack, ModelOutcome

WIDTH, HEIGHT, MARGIN_LEFT, MARGIN_BOTTOM = 960, 190, 70, 24
MAX_LINES = 5  # dimensions drawn per chart
COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
PLOT_POINTS = 900  # points per line at most (min and max of each block are kept)


def when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def top_dimensions(result: LookBack, model: ModelOutcome, n: int = MAX_LINES) -> List[int]:
    """Positions among a model's columns: those that drove its flags first, then those farthest outside
    their band."""
    excess = result.band_excess()[model.column_index]
    return sorted(range(len(model.column_index)), key=lambda i: (-model.driven[i], -excess[i]))[:n]


def render(result: LookBack, top_n: int = 10, title: str = "") -> str:
    """The whole HTML document."""
    ranked = result.ranked_models()
    window = result.window
    after, before = window.timestamps[0], window.timestamps[-1]
    title = title or f"What was unusual on {result.host}"
    ref_after, ref_before, ref_rows = result.reference
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>Window of interest {when(after)} to {when(before)} ({len(window.values)} s); models trained on "
             f"{when(ref_after)} to {when(ref_before)} ({ref_rows} rows). {len(result.models)} models, "
             f"{sum(m.anomaly_rate > 0 for m in result.models)} flagged at some time, "
             f"{len(result.changes)} change points.</p>",
             _table(result, ranked)]
    for rank, model in enumerate(ranked[:top_n], 1):
        parts.append(f"<h2 id='chart-{rank}'>{rank}. {html.escape(model.name)}</h2>")
        parts.append(_plot(result, model))
    if result.warnings:
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in result.warnings)
                     + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(result: LookBack, ranked: Sequence[ModelOutcome]) -> str:
    rows = ["<table><tr><th>#</th><th>chart</th><th>anomaly rate</th><th>peak probability</th>"
            "<th>flagged stretches</th><th>driving dimensions</th><th>change points</th></tr>"]
    for rank, model in enumerate(ranked, 1):
        if rank > 50 and model.anomaly_rate == 0:
            break
        stretches = model.stretches()
        first = f"{len(stretches)}, first at {when(result.window.timestamps[stretches[0][0]])}" if stretches else "0"
        drivers = ", ".join(f"{html.escape(result.columns[int(model.column_index[i])].dim)} "
                            f"{100 * model.driven[i]:.0f}%" for i in top_dimensions(result, model, 3)
                            if model.driven[i] > 0)
        changes = len(result.changes_of(model.column_index))
        name = html.escape(model.name)
        link = f"<a href='#chart-{rank}'>{name}</a>" if rank <= 10 else name
        rows.append(f"<tr class='{'hot' if model.anomaly_rate > 0 else ''}'><td>{rank}</td><td>{link}</td>"
                    f"<td>{100 * model.anomaly_rate:.1f}%</td><td>{number(model.peak_probability)}</td>"
                    f"<td>{first}</td><td>{drivers}</td><td>{changes}</td></tr>")
    return "\n".join(rows) + "</table>"


def _plot(result: LookBack, model: ModelOutcome) -> str:
    """An SVG of a chart's top dimensions: bands as pale strips, flagged time shaded red, change points as
    dashed lines."""
    window = result.window
    t = window.timestamps
    columns = [int(model.column_index[i]) for i in top_dimensions(result, model)]
    values = window.values[:, columns]
    band_low, band_high = result.band.low[columns], result.band.high[columns]
    span = np.concatenate([values[np.isfinite(values)], band_low[np.isfinite(band_low)],
                           band_high[np.isfinite(band_high)]])
    low, high = (float(span.min()), float(span.max())) if len(span) else (0.0, 1.0)
    if high <= low:
        low, high = low - 1, high + 1
    plot_w, plot_h = WIDTH - MARGIN_LEFT - 10, HEIGHT - MARGIN_BOTTOM - 10
    t0, t1 = float(t[0]), float(max(t[-1], t[0] + 1))

    def x(ts: float) -> float:
        return MARGIN_LEFT + (ts - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return 10 + (high - v) / (high - low) * plot_h

    svg = [f"<svg class='plot' width='{WIDTH}' height='{HEIGHT}' viewBox='0 0 {WIDTH} {HEIGHT}' "
           "xmlns='http://www.w3.org/2000/svg'>",
           f"<rect x='{MARGIN_LEFT}' y='10' width='{plot_w}' height='{plot_h}' fill='#fff' stroke='#ccc'/>"]
    for first, last in model.stretches():
        width = max(1.0, x(t[last]) - x(t[first]))
        svg.append(f"<rect class='flagged' x='{x(t[first]):.1f}' y='10' width='{width:.1f}' height='{plot_h}' "
                   "fill='#d62728' fill-opacity='0.18'/>")
    for k, j in enumerate(columns):
        colour = COLOURS[k % len(COLOURS)]
        if np.isfinite(band_low[k]) and np.isfinite(band_high[k]):
            height = max(0.5, y(band_low[k]) - y(band_high[k]))
            svg.append(f"<rect class='band' x='{MARGIN_LEFT}' y='{y(band_high[k]):.1f}' width='{plot_w}' "
                       f"height='{height:.1f}' fill='{colour}' fill-opacity='0.12'/>")
        svg.append(f"<polyline fill='none' stroke='{colour}' stroke-width='1.3' "
                   f"points='{_points(t, values[:, k], x, y)}'/>")
    for change in result.changes_of(columns):
        cx = x(t[change.row])
        svg.append(f"<line class='change' x1='{cx:.1f}' x2='{cx:.1f}' y1='10' y2='{10 + plot_h}' stroke='#333' "
                   f"stroke-dasharray='4 3'><title>{html.escape(result.columns[change.column].dim)}: {change.kind} "
                   f"change, {number(change.before)} to {number(change.after)}</title></line>")
    for v in (low, (low + high) / 2, high):
        svg.append(f"<text x='{MARGIN_LEFT - 6}' y='{y(v) + 4:.1f}' text-anchor='end'>{number(v)}</text>")
    for ts, anchor in ((t0, "start"), ((t0 + t1) / 2, "middle"), (t1, "end")):
        svg.append(f"<text x='{x(ts):.1f}' y='{HEIGHT - 6}' text-anchor='{anchor}'>"
                   f"{time.strftime('%H:%M:%S', time.localtime(ts))}</text>")
    svg.append("</svg>")
    legend = " ".join(
        f"<span><i style='background:{COLOURS[k % len(COLOURS)]}'></i>{html.escape(result.columns[j].dim)} "
        f"(expected {number(result.band.expected[j])}, band {number(result.band.low[j])} to "
        f"{number(result.band.high[j])})</span>" for k, j in enumerate(columns))
    return "".join(svg) + f"<p class='legend'>{legend} <span class='key'>red: flagged; dashed: change point</span></p>"


def _points(t: np.ndarray, v: np.ndarray, x, y) -> str:
    """Polyline points, at most PLOT_POINTS pairs: each block keeps its minimum and maximum, so spikes
    survive."""
    finite = np.isfinite(v)
    t, v = t[finite], v[finite]
    if len(v) == 0:
        return ""
    step = max(1, int(np.ceil(len(v) / (PLOT_POINTS / 2))))
    if step > 1:
        usable = len(v) // step * step
        blocks_v, blocks_t = v[:usable].reshape(-1, step), t[:usable].reshape(-1, step)
        rows = np.arange(len(blocks_v))
        lo, hi = blocks_v.argmin(axis=1), blocks_v.argmax(axis=1)
        first, second = np.minimum(lo, hi), np.maximum(lo, hi)
        t = np.column_stack([blocks_t[rows, first], blocks_t[rows, second]]).ravel()
        v = np.column_stack([blocks_v[rows, first], blocks_v[rows, second]]).ravel()
    return " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in zip(t, v))


STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1000px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }
tr.hot td { background: #fff4f4; }
h2 { font-size: 16px; margin: 22px 0 4px; }
svg.plot text { font-size: 11px; fill: #555; }
p.legend { font-size: 12px; margin: 2px 0 10px; }
p.legend span { margin-right: 14px; white-space: nowrap; }
p.legend i { display: inline-block; width: 12px; height: 3px; margin-right: 4px; vertical-align: middle; }
p.legend .key { color: #777; }
"""
