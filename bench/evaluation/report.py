# SPDX-License-Identifier: GPL-3.0-or-later
"""Markdown tables of the aggregated metrics, sanity checks of them, and optional plots."""
from __future__ import annotations

import math
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .metrics import Aggregate

PA_F1 = "PA-F1 (flatters; literature only)"
COLUMNS = ["Configuration", "AUC-PR", "AUC-PR pooled", "Event F1", "P", "R", "found/events", "false alarms",
           "FA/day", "normal flagged %", "flagged before events (min)", "flagged after events (min)", "F1 mean/series", "delay (samples)",
           "delay (min)", "flag %", PA_F1, "random PA-F1"]


def _number(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def table(rows: Sequence[Tuple[str, Aggregate, float]]) -> str:
    """rows: (configuration label, aggregate, pooled AUC-PR or NaN)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|"]
    for label, a, pooled in rows:
        cells = [label, _number(a.auc_pr_mean), _number(pooled), _number(a.f1), _number(a.precision),
                 _number(a.recall), f"{a.found}/{a.events}", str(a.false_alarms), _number(a.false_alarms_per_day, 2),
                 _number(100 * a.normal_flagged_share, 3), _number(a.before_events_minutes, 1),
                 _number(a.after_events_minutes, 1), _number(a.f1_mean), _number(a.delay_samples, 1), _number(a.delay_minutes, 1),
                 _number(100 * a.flag_rate, 2), _number(a.pa_f1), _number(a.random_pa_f1)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check(label: str, a: Aggregate) -> List[str]:
    """What is malformed in one aggregate (empty when all is well)."""
    problems = []
    for name in ("auc_pr_mean", "precision", "recall", "f1", "f1_mean", "pa_f1", "random_pa_f1", "flag_rate",
                 "normal_flagged_share"):
        value = getattr(a, name)
        if not (np.isfinite(value) and 0.0 <= value <= 1.0):
            problems.append(f"{label}: {name} = {value!r} is not a finite number in [0, 1]")
    if not (np.isfinite(a.false_alarms_per_day) and a.false_alarms_per_day >= 0):
        problems.append(f"{label}: false alarms per day = {a.false_alarms_per_day!r}")
    for what, minutes in (("before", a.before_events_minutes), ("after", a.after_events_minutes)):
        if not (np.isfinite(minutes) and minutes >= 0):
            problems.append(f"{label}: flagged {what} events = {minutes!r} min")
    if not 0 <= a.found <= a.events or a.events == 0:
        problems.append(f"{label}: found {a.found} of {a.events} events")
    if a.found and not (np.isfinite(a.delay_samples) and a.delay_samples >= 0):
        problems.append(f"{label}: delay {a.delay_samples!r}")
    return problems


def plot_series(path: str, title: str, labels: np.ndarray, outputs: Dict[str, Tuple[np.ndarray, np.ndarray]],
                interval_s: float) -> None:
    """One panel per output: probability (line), flags (ticks), labelled events shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .metrics import runs

    hours = np.arange(len(labels)) * interval_s / 3600
    figure, axes = plt.subplots(len(outputs), 1, figsize=(14, 2.2 * len(outputs)), sharex=True, squeeze=False)
    for axis, (name, (probability, flags)) in zip(axes[:, 0], outputs.items()):
        for start, end in runs(labels == 1):
            axis.axvspan(hours[start], hours[min(end, len(hours) - 1)], color="tab:red", alpha=0.2, lw=0)
        axis.plot(hours, probability, lw=0.6, color="tab:blue")
        flagged = np.flatnonzero(flags)
        axis.plot(hours[flagged], np.full(len(flagged), 1.04), "|", color="black", ms=6)
        axis.set_ylim(-0.02, 1.1)
        axis.set_ylabel("probability", fontsize=8)
        axis.set_title(name, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("hours into the test part (red: labelled events, ticks: flags)")
    figure.suptitle(title)
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
