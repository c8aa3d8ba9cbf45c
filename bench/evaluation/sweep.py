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


def trailing_sums(values: np.ndarray, window_n: int) -> np.ndarray:
    """Along the first axis, the sum of each row and the `window_n - 1` rows before it."""
    cumulative = np.cumsum(values, axis=0)
    shifted = np.zeros_like(cumulative)
    shifted[window_n:] = cumulative[:-window_n]
    return cumulative - shifted


def persistent_flags(probability: np.ndarray, threshold: float, min_n: int, window_n: int) -> np.ndarray:
    """Flags of the persistence rule over probabilities in [0, 1] (NaN is below), along the first axis: one
    series, or rows × series (each column on its own)."""
    above = np.nan_to_num(np.asarray(probability, dtype=np.float64) * 100.0, nan=-1.0) >= threshold - TOLERANCE
    return trailing_sums(above.astype(np.int32), window_n) >= min_n


def from_first(runs_of: np.ndarray, qualifies: np.ndarray) -> np.ndarray:
    """Each run of `runs_of` (one series, bool) from its first row where `qualifies` holds to its end."""
    out = np.zeros(len(runs_of), dtype=bool)
    edges = np.diff(np.concatenate([[0], np.asarray(runs_of).astype(np.int8), [0]]))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        first = np.flatnonzero(qualifies[start:end])
        if len(first):
            out[start + first[0]:end] = True
    return out


def hysteresis_flags(probability: np.ndarray, threshold: float, min_n: int, window_n: int,
                     clear_threshold: float) -> np.ndarray:
    """Separate raise and clear rules: a flag is raised by the persistence rule at `threshold` and stays up
    until the same rule at the lower `clear_threshold` no longer holds."""
    raised = persistent_flags(probability, threshold, min_n, window_n)
    return from_first(persistent_flags(probability, clear_threshold, min_n, window_n) | raised, raised)


def suppressed_flags(flags: np.ndarray, window_rows: int, share: float = 0.5) -> np.ndarray:
    """Netdata's suppression: a flag is dropped while the model has been flagged on at least `share` of the
    last `window_rows` rows (a chart that is "anomalous" for a quarter of an hour is its new normal)."""
    flags = np.asarray(flags, dtype=bool)
    window_rows = max(1, int(window_rows))
    return flags & (trailing_sums(flags.astype(np.int32), window_rows) < share * window_rows)


RULE_VARIANTS = ("as configured", "hysteresis: clear below 99", "hysteresis: clear below 99.5",
                 "suppressed when flagged half of 15 min", "hysteresis 99 and suppression")
SUPPRESSION_S = 900


def variant_flags(variant: str, probability: np.ndarray, rule: Tuple[float, int, int],
                  interval_s: float) -> np.ndarray:
    """The flags of one of RULE_VARIANTS over one series' probabilities, around the persistence `rule`."""
    threshold, min_n, window_n = rule
    if variant.startswith("hysteresis"):
        clear = 99.5 if "99.5" in variant else 99.0
        flags = hysteresis_flags(probability, threshold, min_n, window_n, clear)
    else:
        flags = persistent_flags(probability, threshold, min_n, window_n)
    if "suppress" in variant:
        flags = suppressed_flags(flags, round(SUPPRESSION_S / interval_s))
    return flags


def variants_table(series: Sequence, probabilities: Sequence[np.ndarray], rule: Tuple[float, int, int]) -> str:
    """Markdown: event F1, found, false alarms and normal time flagged of each rule variant."""
    lines = ["| flag rule | event F1 | found/events | false alarms | normal flagged % | flagged after events (min) |",
             "|---|---:|---:|---:|---:|---:|"]
    for variant in RULE_VARIANTS:
        scores = [score_series(s.dataset, s.name, s.labels, p, variant_flags(variant, p, rule, s.interval_s),
                               s.interval_s) for s, p in zip(series, probabilities)]
        a = aggregate(scores)
        lines.append(f"| {variant} | {a.f1:.3f} | {a.found}/{a.events} | {a.false_alarms} | "
                     f"{100 * a.normal_flagged_share:.3f} | {a.after_events_minutes:.1f} |")
    return "\n".join(lines)


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
