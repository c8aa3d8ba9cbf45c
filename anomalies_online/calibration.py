# SPDX-License-Identifier: GPL-3.0-or-later
"""Streaming calibration: a score's probability is its rank among the model's own recent scores."""
from __future__ import annotations

import bisect
import math
from collections import deque
from typing import Deque, List

from anomalies.calibration import relative_to_threshold


TAIL_SHARE = 0.02  # the top 2% of recent scores fit the exponential tail
MIN_TAIL_SCORES = 10


class RollingCalibrator:
    """Empirical CDF of the last `window_n` scores, kept sorted (O(log n) to read, O(n) memmove to update).

    - `probability(s)`: percentage of recent scores strictly below s, as the offline calibrator does with
      training scores; NaN before the first score. In the top TAIL_SHARE the CDF is an exponential fitted
      to those scores (peaks over threshold, as in extreme value theory's SPOT): a window of 3,600 scores
      cannot say "1 in 100,000" empirically, and flags that are rare on stationary data need that
      resolution, because streaming scores come in runs (a run of 5 new highs is one ordinary excursion).
    - `normalized(s)`: (s - min) / (threshold - min) over the window, the threshold being its
      1 - contamination quantile: above 1 means beyond what the recent past reached.
    """

    def __init__(self, window_n: int = 3600, contamination: float = 0.001):
        self.window_n = window_n
        self.contamination = contamination
        self.recent_: Deque[float] = deque()
        self.sorted_: List[float] = []

    @property
    def n_(self) -> int:
        """How many scores the window holds."""
        return len(self.sorted_)

    def probability(self, score: float) -> float:
        if not self.sorted_ or score != score:
            return float("nan")
        n = len(self.sorted_)
        n_tail = max(MIN_TAIL_SCORES, int(TAIL_SHARE * n))
        if n > n_tail and score > self.sorted_[n - n_tail - 1]:
            base = self.sorted_[n - n_tail - 1]
            return 100.0 * (1.0 - n_tail / n * _pareto_survival(score - base, self.sorted_[n - n_tail:], base))
        return 100.0 * bisect.bisect_left(self.sorted_, score) / n

    def normalized(self, score: float) -> float:
        if not self.sorted_ or score != score:
            return float("nan")
        low = self.sorted_[0]
        threshold = self.sorted_[min(len(self.sorted_) - 1, int((1.0 - self.contamination) * len(self.sorted_)))]
        return float(relative_to_threshold(score, low, max(threshold - low, 1e-12)))

    def learn(self, score: float) -> None:
        """Add a score (NaN is ignored), dropping the oldest once the window is full."""
        if score != score:
            return
        if len(self.recent_) == self.window_n:
            oldest = self.recent_.popleft()
            del self.sorted_[bisect.bisect_left(self.sorted_, oldest)]
        self.recent_.append(score)
        bisect.insort(self.sorted_, score)


def _pareto_survival(excess: float, tail: List[float], base: float) -> float:
    """P(X - base > excess | X > base) under a generalised Pareto distribution fitted to `tail` (the scores
    above `base`) by the method of moments; the shape is kept in [-0.5, 0.45], where that estimate holds."""
    excesses = [x - base for x in tail]
    mean = sum(excesses) / len(excesses)
    variance = sum((x - mean) ** 2 for x in excesses) / len(excesses)
    if mean <= 0 or variance <= 0:
        return 0.0
    shape = min(0.45, max(-0.5, 0.5 * (1.0 - mean * mean / variance)))
    scale = mean * (1.0 - shape)
    if abs(shape) < 1e-6:
        return math.exp(-excess / scale)
    base_term = 1.0 + shape * excess / scale
    return 0.0 if base_term <= 0 else base_term ** (-1.0 / shape)
