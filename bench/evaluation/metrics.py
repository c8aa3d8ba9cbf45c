# SPDX-License-Identifier: GPL-3.0-or-later
"""Accuracy metrics of one series' outputs, and their aggregation over series.

- AUC-PR: sklearn's average_precision_score of the probability (threshold-free).
- Events: an event is a maximal run of label-1 rows; it is found when a flag is raised inside it; a false
  alarm is a maximal run of flags overlapping no event, and counts as one (false) event. Precision =
  found / (found + false alarms), recall = found / events.
- False alarms per day of normal (label-0) data, from the sampling interval.
- Detection delay: rows from an event's start to its first flag, over found events.
- Point-adjusted F1 (a found event counts all its rows as detected; flatters; for comparison with the
  literature only), beside the PA-F1 of random flags raised at the same rate.

Label -1 marks rows that are not judged (a recording's unplanned activity, known but not a planned fault):
they count neither as normal nor as anomalous, and a run of flags touching them is no false alarm.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np


def runs(mask: np.ndarray) -> np.ndarray:
    """(start, end) of each maximal run of True, end exclusive: k × 2."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges.reshape(-1, 2)


@dataclass
class SeriesScore:
    dataset: str
    series: str
    rows: int
    interval_s: float
    auc_pr: float
    events: int
    found: int
    false_alarms: int
    normal_days: float
    delays: List[int]
    pa_f1: float
    random_pa_f1: float
    flag_rate: float

    @property
    def precision(self) -> float:
        return _ratio(self.found, self.found + self.false_alarms)

    @property
    def recall(self) -> float:
        return _ratio(self.found, self.events)

    @property
    def f1(self) -> float:
        return _f1(self.precision, self.recall)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def point_adjusted_f1(labels: np.ndarray, flags: np.ndarray) -> float:
    judged = labels >= 0
    labels, flags = labels[judged], flags[judged]
    adjusted = flags.astype(bool).copy()
    for start, end in runs(labels == 1):
        if adjusted[start:end].any():
            adjusted[start:end] = True
    true_positive = np.sum(adjusted & (labels == 1))
    return _f1(_ratio(true_positive, adjusted.sum()), _ratio(true_positive, np.sum(labels == 1)))


def score_series(dataset: str, series: str, labels: np.ndarray, probability: np.ndarray, flags: np.ndarray,
                 interval_s: float, seed: int = 0) -> SeriesScore:
    from sklearn.metrics import average_precision_score

    labels = np.asarray(labels).astype(int)
    flags = np.asarray(flags, dtype=bool)
    events = runs(labels == 1)
    found, delays = 0, []
    for start, end in events:
        hits = np.flatnonzero(flags[start:end])
        if len(hits):
            found += 1
            delays.append(int(hits[0]))
    false_alarms = sum(1 for start, end in runs(flags) if not labels[start:end].any())
    judged = labels >= 0
    auc = float(average_precision_score(labels[judged], np.asarray(probability)[judged])) if (labels == 1).any() \
        else float("nan")
    rate = float(flags.mean())
    rng = np.random.default_rng(seed)
    random_flags = rng.random(len(flags)) < rate
    return SeriesScore(dataset, series, len(labels), interval_s, auc, len(events), found, false_alarms,
                       float(np.sum(labels == 0)) * interval_s / 86400, delays,
                       point_adjusted_f1(labels, flags), point_adjusted_f1(labels, random_flags), rate)


@dataclass
class Aggregate:
    """Over several series: means over series, and pooled counts."""

    series: int
    auc_pr_mean: float
    events: int
    found: int
    false_alarms: int
    precision: float
    recall: float
    f1: float  # from pooled counts
    f1_mean: float  # mean of per-series F1
    false_alarms_per_day: float
    delay_samples: float  # median over found events
    delay_minutes: float
    pa_f1: float
    random_pa_f1: float
    flag_rate: float


def aggregate(scores: Sequence[SeriesScore]) -> Aggregate:
    found = sum(s.found for s in scores)
    false_alarms = sum(s.false_alarms for s in scores)
    events = sum(s.events for s in scores)
    precision, recall = _ratio(found, found + false_alarms), _ratio(found, events)
    delays = [d for s in scores for d in s.delays]
    minutes = [d * s.interval_s / 60 for s in scores for d in s.delays]
    aucs = [s.auc_pr for s in scores if np.isfinite(s.auc_pr)]
    return Aggregate(
        len(scores), float(np.mean(aucs)) if aucs else float("nan"), events, found, false_alarms,
        precision, recall, _f1(precision, recall), float(np.mean([s.f1 for s in scores])),
        _ratio(false_alarms, sum(s.normal_days for s in scores)),
        float(np.median(delays)) if delays else float("nan"), float(np.median(minutes)) if minutes else float("nan"),
        float(np.mean([s.pa_f1 for s in scores])), float(np.mean([s.random_pa_f1 for s in scores])),
        float(np.mean([s.flag_rate for s in scores])))


def pooled_auc_pr(labels: Sequence[np.ndarray], probabilities: Sequence[np.ndarray]) -> float:
    """AUC-PR over the concatenation of series (meaningful when probabilities share a scale)."""
    from sklearn.metrics import average_precision_score

    labels, probabilities = np.concatenate(labels), np.concatenate(probabilities)
    judged = labels >= 0
    return float(average_precision_score(labels[judged], probabilities[judged])) if (labels == 1).any() \
        else float("nan")
