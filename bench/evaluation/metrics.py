# SPDX-License-Identifier: GPL-3.0-or-later
"""Accuracy metrics of one series' outputs, and their aggregation over series.

- AUC-PR: sklearn's average_precision_score of the probability (threshold-free).
- Events: an event is a maximal run of label-1 rows; it is found when a flag is raised inside it.
- Normal time: the judged rows (label 0) outside events and outside the `GRACE_ROWS` rows that follow
  each event's end. A flag raised there is what a user suffers for nothing, so it is charged twice:
  - per alert: each maximal run of flags that starts on normal time is one false alarm (an alert is
    judged by where it starts: a run that starts before an event and reaches into it is charged for the
    part before the event's start). A run that starts inside an event or its grace and goes on past the
    grace is the same alert going on (a slow metric, such as a 5-minute pressure average, still shows the
    fault): it is no new false alarm, but its rows on normal time are charged by time, and reported on
    their own as the flagged time after events;
  - per time: the flagged share of normal time. Event precision = found / (found + false alarms) x
    (1 - flagged share of normal time): flags raised on every row find every event, and their precision
    is 0. Recall = found / events.
- False alarms per day of normal time, from the sampling interval.
- Detection delay: rows from an event's start to the first flag at or after it, over found events. A flag
  already up when the event starts gives delay 0, but the rows it was up before the start are charged
  as above, and are reported on their own as the flagged time before events.
- Point-adjusted F1 (a found event counts all its rows as detected; flatters; for comparison with the
  literature only), beside the PA-F1 of random flags raised at the same rate.

Label -1 marks rows that are not judged (a recording's unplanned activity, known but not a planned fault):
they count neither as normal nor as anomalous, and flags on them are neither found events nor false alarms.
Flags on the normal rows around them are false alarms like any other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np

# Rows after an event's end whose flags are neither found events nor false alarms: the features of a row
# span 9 raw rows (a first difference, a mean of 3, 5 lags), so an event's end is still in the features
# of the 9 rows after it. 10 s on the 1-s Netdata recording, 10 min on SMD, 50 min at ASD's and most of
# NAB's 5-min rows.
GRACE_ROWS = 10


def runs(mask: np.ndarray) -> np.ndarray:
    """(start, end) of each maximal run of True, end exclusive: k × 2."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges.reshape(-1, 2)


def normal_time(labels: np.ndarray, grace_rows: int = GRACE_ROWS) -> np.ndarray:
    """Per row: is it normal time (judged, label 0, not within `grace_rows` after an event's end)?"""
    normal = np.asarray(labels) == 0
    for _, end in runs(np.asarray(labels) == 1):
        normal[end:end + grace_rows] = False
    return normal


def flagged_before_events(labels: np.ndarray, flags: np.ndarray, charged: np.ndarray) -> int:
    """Charged rows in the runs of charged flags that go on into an event: flagged before it started."""
    starts = {int(start) for start, _ in runs(np.asarray(labels) == 1)}
    return int(sum(end - start for start, end in runs(charged) if end in starts and flags[end]))


def continued_after_events(labels: np.ndarray, flags: np.ndarray, charged_runs: np.ndarray,
                           normal: np.ndarray) -> np.ndarray:
    """Per run of charged flags (`runs(flags & normal)`): does it continue a run of flags raised inside an
    event or its grace (the row before it is flagged, judged and not normal time)?"""
    judged_not_normal = (np.asarray(labels) >= 0) & ~normal
    return np.array([start > 0 and bool(flags[start - 1] and judged_not_normal[start - 1])
                     for start, _ in charged_runs], dtype=bool)


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
    normal_rows: int  # rows of normal time
    normal_flagged: int  # flagged rows of normal time
    before_events: int  # of those, rows flagged right before an event's start, in the run reaching into it
    after_events: int  # of those, rows of runs that continue flags raised inside an event or its grace
    delays: List[int]
    pa_f1: float
    random_pa_f1: float
    flag_rate: float

    @property
    def normal_days(self) -> float:
        return self.normal_rows * self.interval_s / 86400

    @property
    def normal_flagged_share(self) -> float:
        return _ratio(self.normal_flagged, self.normal_rows)

    @property
    def precision(self) -> float:
        return event_precision(self.found, self.false_alarms, self.normal_flagged_share)

    @property
    def recall(self) -> float:
        return _ratio(self.found, self.events)

    @property
    def f1(self) -> float:
        return _f1(self.precision, self.recall)


def event_precision(found: int, false_alarms: int, normal_flagged_share: float) -> float:
    """Found events against false alarms, scaled by the share of normal time left unflagged."""
    return _ratio(found, found + false_alarms) * (1.0 - normal_flagged_share)


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
                 interval_s: float, seed: int = 0, grace_rows: int = GRACE_ROWS) -> SeriesScore:
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
    normal = normal_time(labels, grace_rows)
    charged = flags & normal
    charged_runs = runs(charged)
    continued = continued_after_events(labels, flags, charged_runs, normal)
    judged = labels >= 0
    auc = float(average_precision_score(labels[judged], np.asarray(probability)[judged])) if (labels == 1).any() \
        else float("nan")
    rate = float(flags.mean())
    rng = np.random.default_rng(seed)
    random_flags = rng.random(len(flags)) < rate
    return SeriesScore(dataset, series, len(labels), interval_s, auc, len(events), found, int((~continued).sum()),
                       int(normal.sum()), int(charged.sum()), flagged_before_events(labels, flags, charged),
                       int(sum(end - start for (start, end), c in zip(charged_runs, continued) if c)), delays,
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
    normal_flagged_share: float  # flagged share of all series' normal time
    before_events_minutes: float  # flagged before events, in the runs reaching into them, all series
    after_events_minutes: float  # flagged after events' grace, in the runs continuing from them, all series
    delay_samples: float  # median over found events
    delay_minutes: float
    pa_f1: float
    random_pa_f1: float
    flag_rate: float


def aggregate(scores: Sequence[SeriesScore]) -> Aggregate:
    found = sum(s.found for s in scores)
    false_alarms = sum(s.false_alarms for s in scores)
    events = sum(s.events for s in scores)
    normal_days = sum(s.normal_days for s in scores)
    share = _ratio(sum(s.normal_flagged * s.interval_s for s in scores) / 86400, normal_days)
    precision, recall = event_precision(found, false_alarms, share), _ratio(found, events)
    delays = [d for s in scores for d in s.delays]
    minutes = [d * s.interval_s / 60 for s in scores for d in s.delays]
    aucs = [s.auc_pr for s in scores if np.isfinite(s.auc_pr)]
    return Aggregate(
        len(scores), float(np.mean(aucs)) if aucs else float("nan"), events, found, false_alarms,
        precision, recall, _f1(precision, recall), float(np.mean([s.f1 for s in scores])),
        _ratio(false_alarms, normal_days), share, sum(s.before_events * s.interval_s / 60 for s in scores),
        sum(s.after_events * s.interval_s / 60 for s in scores),
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
