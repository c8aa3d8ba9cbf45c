# SPDX-License-Identifier: GPL-3.0-or-later
"""Running standardisation: every detector sees its features as z-scores against the recent past."""
from __future__ import annotations

import numpy as np

VARIANCE_FLOOR = 1e-12


class RunningStandardizer:
    """Exponentially weighted mean and variance per feature, with the span of a `span`-sample window.

    The first samples are averaged plainly (weight 1/n) so the estimates settle fast, then the weight stays
    at 2 / (span + 1), as pandas' `ewm(span=...)`. z-scores are clipped at ±`z_limit`: beyond it a value
    adds nothing, so one wild value cannot stretch a detector's scale.
    """

    def __init__(self, n_features: int, span: int, z_limit: float):
        self.span = span
        self.z_limit = z_limit
        self.mean_ = np.zeros(n_features)
        self.var_ = np.zeros(n_features)
        self.n_seen_ = 0

    def transform(self, x: np.ndarray) -> np.ndarray:
        """z-scores of `x` against what was learned so far, clipped to ±z_limit (0 before any sample)."""
        if self.n_seen_ == 0:
            return np.zeros_like(x)
        z = (x - self.mean_) / np.sqrt(self.var_ + VARIANCE_FLOOR)
        return np.clip(z, -self.z_limit, self.z_limit)

    def learn(self, x: np.ndarray) -> None:
        """Move the mean and variance towards `x`."""
        self.n_seen_ += 1
        weight = max(2.0 / (self.span + 1), 1.0 / self.n_seen_)
        delta = x - self.mean_
        self.mean_ += weight * delta
        self.var_ = (1.0 - weight) * (self.var_ + weight * delta * delta)
