# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a dimension changed level or spread within a window: binary segmentation under a Gaussian cost,
for all dimensions at once.

The cost of a segment of m values is m log(variance + floor) (the negative log-likelihood of a normal
distribution with the segment's own mean and variance, up to constants), so one split point explains a shift
in the mean, in the variance, or both: what `ruptures` calls the "normal" cost with binary segmentation. It
is written here in numpy rather than taken from ruptures because the report runs it over every dimension of
an agent (hundreds to thousands) and the first, most costly split is one vectorised pass over all of them
(ruptures fits one signal at a time in Python), and it needs no compiled dependency on a Raspberry Pi.

Netdata's values are strongly autocorrelated, so a likelihood gain alone (BIC) would split almost every
dimension; a split is kept only when it is also large against the reference window's spread: a level
shift of at least `min_shift` reference standard deviations, or a standard deviation at least `min_ratio`
times larger or smaller that also moved by half of `min_shift` reference standard deviations (so that the
halves of a wave are not "changes of spread").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

MAX_POINTS = 1500  # longer windows are averaged down to this many points first
MIN_SEGMENT = 20  # points on each side of a split
MAX_CHANGES = 3  # per dimension
MAX_DEPTH = 4  # levels of binary segmentation
PENALTY = 10.0  # likelihood gain a split needs, times log(points)


@dataclass(frozen=True)
class ChangePoint:
    """One change of one column: at `row` (index into the window's rows), from `before` to `after` (the
    segments' means), of kind "level" or "spread", with its likelihood gain (larger: clearer)."""

    column: int
    row: int
    kind: str
    before: float
    after: float
    gain: float


class ChangePointDetector:
    """Binary segmentation of every column of a window, judged against a reference window's spread."""

    def __init__(self, min_shift: float = 3.0, min_ratio: float = 3.0, max_changes: int = MAX_CHANGES,
                 max_points: int = MAX_POINTS):
        self.min_shift = min_shift
        self.min_ratio = min_ratio
        self.max_changes = max_changes
        self.max_points = max_points

    def find(self, values: np.ndarray, reference_sd: np.ndarray) -> List[ChangePoint]:
        """Change points of each column of `values` (rows × columns, NaN-free columns only are searched),
        strongest first per column; `reference_sd` is each column's standard deviation in the reference
        window (the yardstick for "large")."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or len(values) < 2 * MIN_SEGMENT:
            return []
        points, step = _average_down(values, self.max_points)
        scale = _scale(reference_sd, values)
        searchable = np.flatnonzero(np.isfinite(points).all(axis=0) & (points.std(axis=0) > 0))
        if len(searchable) == 0:
            return []
        # one vectorised pass over all columns: the top split of each
        first = _best_splits(points[:, searchable], floor_of(scale[searchable]))
        changes: List[ChangePoint] = []
        for j, (split, gain) in zip(searchable, zip(*first)):
            x = points[:, j]
            candidates = sorted(self._candidates(x, 0, len(x), (int(split), float(gain)), floor_of(scale[j])))
            bounds = [0] + [k for k, _ in candidates] + [len(x)]
            found = []
            for i, (k, g) in enumerate(candidates):  # each split judged between its neighbouring splits
                left, right = x[bounds[i]:k], x[k:bounds[i + 2]]
                kind = self._kind(left, right, scale[j])
                if kind:
                    found.append(ChangePoint(int(j), min(len(values) - 1, k * step), kind, float(left.mean()),
                                             float(right.mean()), g))
            changes += sorted(found, key=lambda c: -c.gain)[:self.max_changes]
        return changes

    def _candidates(self, x: np.ndarray, start: int, end: int, best: Optional[Tuple[int, float]], floor: float,
                    depth: int = 0) -> List[Tuple[int, float]]:
        """Binary segmentation of x[start:end] by likelihood gain alone: (split, gain) of every split whose
        gain beats the penalty, down to MAX_DEPTH levels (whether a split is large is judged afterwards,
        between its neighbours: a burst is two changes, and the first split may fall on one edge of it)."""
        if depth >= MAX_DEPTH or end - start < 2 * MIN_SEGMENT:
            return []
        if best is None:
            splits, gains = _best_splits(x[start:end, None], np.array([floor]))
            best = (int(splits[0]), float(gains[0]))
        split, gain = best
        if split < 0 or gain < PENALTY * np.log(end - start):
            return []
        return ([(start + split, gain)] + self._candidates(x, start, start + split, None, floor, depth + 1)
                + self._candidates(x, start + split, end, None, floor, depth + 1))

    def _kind(self, left: np.ndarray, right: np.ndarray, scale: float) -> str:
        """"level", "spread" or "" (too small to be a change) for the two sides of a split."""
        if abs(right.mean() - left.mean()) >= self.min_shift * scale:
            return "level"
        sd_left, sd_right = left.std(), right.std()
        ratio = (max(sd_left, sd_right) + 1e-12 * scale) / (min(sd_left, sd_right) + 1e-12 * scale)
        if ratio >= self.min_ratio and abs(sd_right - sd_left) >= self.min_shift / 2 * scale:
            return "spread"
        return ""


def floor_of(scale):
    """The variance floor of a column: 1% of its reference spread, squared (a flat stretch is not free)."""
    return (0.01 * scale) ** 2


def _scale(reference_sd: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per column, the spread changes are measured in: the reference standard deviation, or (for a column
    constant in the reference) 1% of its typical magnitude, at least a tiny positive number."""
    sd = np.asarray(reference_sd, dtype=np.float64)
    magnitude = np.nanmedian(np.abs(values), axis=0)
    fallback = np.where(np.isfinite(magnitude) & (magnitude > 0), 0.01 * magnitude, 1e-9)
    return np.where(np.isfinite(sd) & (sd > 0), sd, fallback)


def _average_down(values: np.ndarray, max_points: int) -> Tuple[np.ndarray, int]:
    """Means of consecutive blocks of rows, so that at most `max_points` remain; and the block length."""
    step = int(np.ceil(len(values) / max_points))
    if step <= 1:
        return values, 1
    usable = len(values) // step * step
    return values[:usable].reshape(-1, step, values.shape[1]).mean(axis=1), step


def _best_splits(x: np.ndarray, floor: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per column of x (m × d): the split index with the largest gain of the Gaussian cost, and that gain
    (index -1 where the column is too short)."""
    m = len(x)
    if m < 2 * MIN_SEGMENT:
        return np.full(x.shape[1], -1), np.zeros(x.shape[1])
    centred = x - x.mean(axis=0)  # cumulative sums of centred values lose less precision
    s1 = np.vstack([np.zeros(x.shape[1]), np.cumsum(centred, axis=0)])
    s2 = np.vstack([np.zeros(x.shape[1]), np.cumsum(centred ** 2, axis=0)])
    k = np.arange(MIN_SEGMENT, m - MIN_SEGMENT + 1)[:, None]

    def cost(sum1: np.ndarray, sum2: np.ndarray, n: np.ndarray) -> np.ndarray:
        variance = np.maximum(sum2 / n - (sum1 / n) ** 2, 0.0)
        return n * np.log(variance + floor)

    whole = cost(s1[m], s2[m], np.array(float(m)))
    gains = whole - cost(s1[k[:, 0]], s2[k[:, 0]], k) - cost(s1[m] - s1[k[:, 0]], s2[m] - s2[k[:, 0]], m - k)
    best = np.argmax(gains, axis=0)
    return k[best, 0], gains[best, np.arange(x.shape[1])]
