# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a model's raw score into a probability and a normalised score, using the scores of its training data."""
from __future__ import annotations

import numpy as np

MIN_TAIL_SCORES = 10  # the fewest top scores a tail is fitted to


class EmpiricalCalibrator:
    """Empirical CDF of the training scores.

    - `probability(s)`: percentage of training scores below s (0-100). On data like the training data it
      is roughly uniform, so "probability >= 99" happens about 1% of the time.
    - `normalized(s)`: (s - min) / (threshold - min), where threshold is the training quantile
      1 - contamination: 0 at (or below) the most normal training point, above 1 beyond what training saw.

    The CDF is kept exactly for the top `tail` share of scores (where flags are decided) and at
    `body_points` evenly spaced ranks below it, so a model costs a few KiB whatever its training size;
    between kept points the probability is the one of the kept point below (never overstated).

    Beyond the training maximum the empirical CDF says only "100"; there a generalised Pareto tail fitted
    to the top `tail` share of the training scores (peaks over threshold, as the streaming calibrator
    does; a bounded tail is read as exponential, which has no end point) keeps grading: probability =
    100 * (1 - S(s) / (n * S(max))), from 100 * (1 - 1/n) at the maximum towards 100. Scores beyond anything seen stay ranked (for AUC-PR and for thresholds stricter than one
    in n), and a score equal to the maximum keeps its empirical probability.
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
        top = scores[min(tail_start, n - MIN_TAIL_SCORES):] if n > MIN_TAIL_SCORES else scores[:0]
        self.tail_base_ = float(top[0]) if len(top) else float(scores[-1])
        shape, self.tail_scale_ = pareto_fit(top - self.tail_base_)
        self.tail_shape_ = max(shape, 0.0)  # beyond the maximum no end point: exponential or heavier
        self.max_survival_ = float(pareto_survival(scores[-1] - self.tail_base_, self.tail_shape_, self.tail_scale_))
        self.n_ = n
        return self

    def probability(self, scores: np.ndarray) -> np.ndarray:
        # Training scores strictly below s: a score that training saw many times (a metric that barely
        # moves) is not "beyond" training, however often it recurs.
        below = np.searchsorted(self.scores_, scores, side="left")
        probability = 100.0 * np.where(below > 0, self.levels_[np.maximum(below - 1, 0)], 0.0)
        if self.max_survival_ > 0:  # beyond the training maximum: graded by the fitted tail
            survival = pareto_survival(scores - self.tail_base_, self.tail_shape_, self.tail_scale_)
            probability = np.where(scores > self.scores_[-1],
                                   100.0 * (1.0 - survival / (self.n_ * self.max_survival_)), probability)
        return np.where(np.isnan(scores), np.nan, probability)  # no score, no probability (not 100)

    def probability_of(self, score: float) -> float:
        """`probability` of one score (a Python float), the same number without numpy's per-call overhead:
        the per-cycle path asks it of every model. Only a score beyond the training maximum takes the
        fitted tail, through `probability` itself."""
        if score != score:  # NaN: no score, no probability
            return float("nan")
        if self.max_survival_ > 0 and score > self.scores_[-1]:
            return float(self.probability(np.float64(score)))
        below = int(self.scores_.searchsorted(score))  # side="left": training scores strictly below
        return 100.0 * float(self.levels_[below - 1]) if below > 0 else 0.0

    def normalized(self, scores: np.ndarray) -> np.ndarray:
        return relative_to_threshold(np.asarray(scores, dtype=np.float64), self.low_, self.span_)


def pareto_fit(excesses: np.ndarray) -> tuple:
    """(shape, scale) of a generalised Pareto distribution fitted to `excesses` (>= 0) by the method of
    moments, the shape kept in [-0.5, 0.45] where that estimate holds; scale 0 when they do not spread."""
    if len(excesses) == 0:
        return 0.0, 0.0
    mean, variance = float(excesses.mean()), float(excesses.var())
    if mean <= 0 or variance <= 0:
        return 0.0, 0.0
    shape = min(0.45, max(-0.5, 0.5 * (1.0 - mean * mean / variance)))
    return shape, mean * (1.0 - shape)


def pareto_survival(excess, shape: float, scale: float) -> np.ndarray:
    """P(X > excess) under the generalised Pareto distribution (shape, scale), elementwise; 1 at or
    below 0, and 0 everywhere above it for scale 0 (excesses that did not spread)."""
    excess = np.maximum(np.asarray(excess, dtype=np.float64), 0.0)
    if scale <= 0:
        return np.where(excess > 0, 0.0, 1.0)
    if abs(shape) < 1e-6:
        return np.exp(-excess / scale)
    base_term = 1.0 + shape * excess / scale
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(base_term > 0, np.abs(base_term) ** (-1.0 / shape), 0.0)


def relative_to_threshold(scores: np.ndarray, low, span) -> np.ndarray:
    """(score - low) / span, floored at 0: 0 at the training minimum, 1 at the training threshold."""
    return np.maximum(scores - low, 0.0) / span
