# SPDX-License-Identifier: GPL-3.0-or-later
"""Running standardisation: every detector sees its features as z-scores against the recent past."""
from __future__ import annotations

import numpy as np

Z_LIMIT = 10.0  # |z| beyond this adds nothing: one wild value must not stretch a detector's scale forever
ROBUST_Z_LIMIT = 1000.0  # robust learning keeps wild values from stretching the scale, so z may grow
ROBUST_STEP_SIGMAS = 3.0  # robust learning moves towards a sample by at most this many standard deviations
ROBUST_HELD_N = 300  # ... unless the feature has stayed that far out this many samples: then it is the new normal
VARIANCE_FLOOR = 1e-12


class RunningStandardizer:
    """Exponentially weighted mean and variance per feature, with the span of a `span`-sample window.

    The first samples are averaged plainly (weight 1/n) so the estimates settle fast, then the weight stays
    at 2 / (span + 1), as pandas' `ewm(span=...)`.

    `robust`: z is clipped only at ±ROBUST_Z_LIMIT, and learning moves towards a sample by at most
    ROBUST_STEP_SIGMAS standard deviations (Huber-style), so a fault is not taken in at full weight; a feature
    held beyond that for ROBUST_HELD_N samples is learned at full weight again (a lasting change becomes the
    new normal).
    """

    def __init__(self, n_features: int, span: int, robust: bool = False):
        self.span = span
        self.robust = robust
        self.mean_ = np.zeros(n_features)
        self.var_ = np.zeros(n_features)
        self.n_seen_ = 0
        self.held_ = np.zeros(n_features, dtype=np.int64)  # robust: samples in a row beyond the step limit

    def transform(self, x: np.ndarray) -> np.ndarray:
        """z-scores of `x` against what was learned so far, clipped to ±Z_LIMIT (0 before any sample)."""
        if self.n_seen_ == 0:
            return np.zeros_like(x)
        z = (x - self.mean_) / np.sqrt(self.var_ + VARIANCE_FLOOR)
        limit = ROBUST_Z_LIMIT if self.robust else Z_LIMIT
        return np.clip(z, -limit, limit)

    def learn(self, x: np.ndarray) -> None:
        """Move the mean and variance towards `x`."""
        self.n_seen_ += 1
        weight = max(2.0 / (self.span + 1), 1.0 / self.n_seen_)
        delta = x - self.mean_
        if self.robust and self.n_seen_ > 1:
            bound = ROBUST_STEP_SIGMAS * np.sqrt(self.var_ + VARIANCE_FLOOR)
            beyond = np.abs(delta) > bound
            self.held_ = np.where(beyond, self.held_ + 1, 0)
            limited = beyond & (self.held_ < ROBUST_HELD_N)
            delta = np.where(limited, np.clip(delta, -bound, bound), delta)
        self.mean_ += weight * delta
        self.var_ = (1.0 - weight) * (self.var_ + weight * delta * delta)
