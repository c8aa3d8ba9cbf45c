# SPDX-License-Identifier: GPL-3.0-or-later
"""Flag settings swept after a replay: the persistence rule (probability >= threshold on at least min_n of
the last window_n rows) applied again to the probabilities a configuration gave, so that one replay shows
the whole trade-off between events found and false alarms.

It is exact except where the replay held values after a retraining (the collector repeats its previous
values then); `agreement` says how close the re-applied rule comes to the replay's own flags at the
configuration's own settings.
"""
from __future__ import annotations

from typing import Iterable, List, Sequence, Tuple

import numpy as np

from .metrics import aggregate, score_series

# probabilities are stored as float32 fractions (a step of ~6e-6 percentage points near 100): a threshold
# is met within this many percentage points
TOLERANCE = 1e-5


def persistent_flags(probability: np.ndarray, threshold: float, min_n: int, window_n: int) -> np.ndarray:
    """Flags of the persistence rule over one series of probabilities in [0, 1] (NaN is below)."""
    above = np.nan_to_num(np.asarray(probability, dtype=np.float64) * 100.0, nan=-1.0) >= threshold - TOLERANCE
    counts = np.convolve(above.astype(np.int32), np.ones(window_n, dtype=np.int32))[:len(above)]
    return counts >= min_n


def agreement(results: Iterable[Tuple[np.ndarray, np.ndarray]], threshold: float, min_n: int,
              window_n: int) -> float:
    """Share of rows where the re-applied rule gives the replay's own flag, over (probability, flags)."""
    same = total = 0
    for probability, flags in results:
        same += int(np.sum(persistent_flags(probability, threshold, min_n, window_n) == flags.astype(bool)))
        total += len(flags)
    return same / total if total else float("nan")


def sweep_table(series: Sequence, probabilities: Sequence[np.ndarray], settings: List[Tuple[float, int, int]],
                marked: Tuple[float, int, int]) -> str:
    """Markdown: event F1, precision, recall, false alarms per day and flag rate per (threshold, min_n,
    window_n), over `series` (bench Series) with their probabilities; the `marked` row is the default."""
    lines = ["| flags_threshold | flags_min_n of flags_window_n | event F1 | P | R | found/events | "
             "false alarms | FA/day | normal flagged % | flag % |", "|" + "---:|" * 10]
    for threshold, min_n, window_n in settings:
        scores = [score_series(s.dataset, s.name, s.labels, p, persistent_flags(p, threshold, min_n, window_n),
                               s.interval_s) for s, p in zip(series, probabilities)]
        a = aggregate(scores)
        label = f"**{threshold:g}**" if (threshold, min_n, window_n) == marked else f"{threshold:g}"
        lines.append(f"| {label} | {min_n} of {window_n} | {a.f1:.3f} | {a.precision:.3f} | {a.recall:.3f} | "
                     f"{a.found}/{a.events} | {a.false_alarms} | {a.false_alarms_per_day:.2f} | "
                     f"{100 * a.normal_flagged_share:.3f} | {100 * a.flag_rate:.3f} |")
    return "\n".join(lines)
