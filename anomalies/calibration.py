# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a model's raw score into a probability and a normalised score, using the scores of its training data."""
from __future__ import annotations

import numpy as np


class EmpiricalCalibrator:
    """Empirical CDF of the training scores.

    - `probability(s)`: percentage of training scores below s (0-100). On data like the training data it
      is roughly uniform, so "probability >= 99" happens about 1% of the time.
    - `normalized(s)`: (s - min) / (threshold - min), where threshold is the training quantile
      1 - contamination: 0 at (or below) the most normal training point, above 1 beyond what training saw.

    The CDF is kept exactly for the top `tail` share of scores (where flags are decided) and at
    `body_points` evenly spaced ranks below it, so a model costs a few KiB whatever its training size;
    between kept points the probability is the one of the kept point below (never overstated).
    """

    def __init__(self, contamination: float = 0.001, tail: float = 0.01, body_points: int = 1000):
        self.contamination = contamination
        self.tail = tail
        self.body_points = body_points

    def fit(self, train_scores: np.ndarray) -> "EmpiricalCalibrator":
        scores = np.sort(np.asarray(train_scores, dtype=np.float64))
        scores = scores[np.isfinite(scores)]
        n = len(scores)
        if n == 0:
            raise ValueError("no finite training scores to calibrate on")
        tail_start = n - int(np.ceil(self.tail * n))
        kept = np.unique(np.concatenate([np.linspace(0, n - 1, self.body_points).round().astype(int),
                                         np.arange(tail_start, n)]))
        self.scores_ = scores[kept]
        self.levels_ = np.searchsorted(scores, self.scores_, side="right") / n
        self.low_ = scores[0]
        self.threshold_ = float(np.quantile(scores, 1.0 - self.contamination))
        self.span_ = max(self.threshold_ - self.low_, np.finfo(np.float64).eps)
        return self

    def probability(self, scores: np.ndarray) -> np.ndarray:
        # Training scores strictly below s: a score that training saw many times (a metric that barely
        # moves) is not "beyond" training, however often it recurs.
        below = np.searchsorted(self.scores_, scores, side="left")
        probability = 100.0 * np.where(below > 0, self.levels_[np.maximum(below - 1, 0)], 0.0)
        return np.where(np.isnan(scores), np.nan, probability)  # no score, no probability (not 100)

    def normalized(self, scores: np.ndarray) -> np.ndarray:
        return relative_to_threshold(np.asarray(scores, dtype=np.float64), self.low_, self.span_)


def relative_to_threshold(scores: np.ndarray, low, span) -> np.ndarray:
    """(score - low) / span, floored at 0: 0 at the training minimum, 1 at the training threshold."""
    return np.maximum(scores - low, 0.0) / span
