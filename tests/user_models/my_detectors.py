# SPDX-License-Identifier: GPL-3.0-or-later
"""Model classes of a user's own, as the README's worked example writes them (tests load them from a
`model_path` directory)."""
import math

import numpy as np


class FarFromMedian:
    """Offline: how far a row is from the training median, in training MADs (the largest over features)."""

    def __init__(self, floor=1e-9):
        self.floor = floor

    def fit(self, X):
        self.median_ = np.median(X, axis=0)
        self.mad_ = np.maximum(np.median(np.abs(X - self.median_), axis=0), self.floor)
        return self

    def decision_function(self, X):
        return (np.abs(X - self.median_) / self.mad_).max(axis=1)


class RunningDistance:
    """Streaming, river-style: the distance of a sample from the running mean of the samples before it."""

    def __init__(self, alpha=0.01):
        self.alpha = alpha
        self.mean = {}

    def score_one(self, x):
        return math.sqrt(sum((v - self.mean.get(k, 0.0)) ** 2 for k, v in x.items()))

    def learn_one(self, x):
        for k, v in x.items():
            self.mean[k] = (1 - self.alpha) * self.mean.get(k, v) + self.alpha * v


class NoScore:
    """Has fit but no decision_function."""

    def fit(self, X):
        return self


class FailsToFit(FarFromMedian):
    def fit(self, X):
        raise RuntimeError("cannot fit this")


class NanScores(FarFromMedian):
    def decision_function(self, X):
        return np.full(len(X), np.nan)


class FailsAfter(RunningDistance):
    """Streaming: scores 20 samples, then raises."""

    def __init__(self, after=20):
        super().__init__()
        self.after = after
        self.seen = 0

    def score_one(self, x):
        self.seen += 1
        if self.seen > self.after:
            raise ZeroDivisionError("it broke")
        return super().score_one(x)
