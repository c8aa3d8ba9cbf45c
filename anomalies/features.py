# SPDX-License-Identifier: GPL-3.0-or-later
"""Feature vectors: differences, then a moving average, then lags, for every column at once; optionally
the smoothed level itself beside them, and a long level.

Layout of one feature row over `d` columns: `lags_n + 1` blocks of `d` values, newest first, i.e. block k
holds the smoothed differences of time t-k; with `levels`, one more block holds the moving average of the
raw values at time t (a held change, such as memory kept in use, shows in differences only at its edges);
with `long_level_n`, a last block holds the mean of the last `long_level_n` raw values (a plateau that
short bursts in training reached but never held). A model over some columns takes the same columns from
every block, so one feature computation serves all models.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .collection_clock import MAX_FILL_N


@dataclass(frozen=True)
class FeatureSpec:
    """How raw values become features (the upstream `diffs_n`, `smooth_n`, `lags_n`, `include_levels`, and
    the offline module's `long_level_n`, 0 for none)."""

    diffs_n: int = 1
    smooth_n: int = 3
    lags_n: int = 5
    levels: bool = False
    long_level_n: int = 0

    @classmethod
    def from_config(cls, config) -> "FeatureSpec":
        """The spec of a job's (validated) config (the streaming module's has no long level)."""
        return cls(config.diffs_n, config.smooth_n, config.lags_n, config.include_levels,
                   getattr(config, "long_level_n", 0))

    @property
    def blocks(self) -> int:
        """Blocks of one value per column in a feature row."""
        return self.lags_n + 1 + int(self.levels) + int(self.long_level_n > 0)

    @property
    def window(self) -> int:
        """Raw rows needed to make one feature row."""
        return max(self.diffs_n + self.smooth_n + self.lags_n, self.long_level_n)

    def matrix(self, values: np.ndarray) -> np.ndarray:
        """Feature rows for every time of `values` (n × d) that has a full window: (n - window + 1) × blocks·d."""
        values = np.asarray(values, dtype=np.float64)
        rows = len(values) - self.window + 1
        if rows <= 0:
            return np.empty((0, self.blocks * values.shape[1]))
        diffed = np.diff(values, n=self.diffs_n, axis=0) if self.diffs_n else values
        smoothed = _moving_average(diffed, self.smooth_n)
        newest = len(smoothed)
        blocks = [smoothed[newest - k - rows:newest - k] for k in range(self.lags_n + 1)]
        if self.levels:
            blocks.append(_moving_average(values, self.smooth_n)[-rows:])
        if self.long_level_n:
            blocks.append(_moving_average(values, self.long_level_n)[-rows:])
        return np.concatenate(blocks, axis=1)

    def feature_groups(self, feature_index: np.ndarray, n_columns: int) -> np.ndarray:
        """Per feature (positions in a feature row over `n_columns` columns): 1 for a long level, else 0."""
        if not self.long_level_n:
            return np.zeros(len(feature_index), dtype=int)
        return (np.asarray(feature_index) // n_columns == self.blocks - 1).astype(int)

    def level_features(self, n_columns: int) -> np.ndarray:
        """Per feature of a row over `n_columns` columns: is it a level (smoothed or long), not a difference?"""
        return np.arange(self.blocks * n_columns) // n_columns > self.lags_n

    def feature_index(self, columns: Sequence[int], n_columns: int) -> np.ndarray:
        """Positions, in a feature row over `n_columns` columns, of the features of `columns`, in the order
        `matrix(values[:, columns])` produces them."""
        columns = np.asarray(columns)
        return (np.arange(self.blocks)[:, None] * n_columns + columns[None, :]).ravel()


def _moving_average(values: np.ndarray, n: int) -> np.ndarray:
    """Trailing mean of n rows; a missing value only affects the n rows whose window holds it."""
    if n == 1:
        return values
    if len(values) < n:
        return values[:0]
    return np.lib.stride_tricks.sliding_window_view(values, n, axis=0).mean(axis=-1)


class FeatureWindow:
    """The last `spec.window` raw rows of every column, giving the newest feature row in O(window) time.

    Missing values (NaN, ±Inf) are carried forward from the last finite value of the column, as the
    training data is forward-filled.
    """

    def __init__(self, spec: FeatureSpec, seed: np.ndarray):
        self.spec = spec
        self.rows_ = np.array(seed[-spec.window:], dtype=np.float64)
        self.last_finite_ = _last_finite(self.rows_)

    def restart(self) -> None:
        """Forget every row (after a gap in the data: no feature may span it)."""
        self.rows_ = self.rows_[:0]
        self.last_finite_ = np.full(self.rows_.shape[1], np.nan)

    def push(self, row: np.ndarray, missed: int = 0) -> Optional[np.ndarray]:
        """Add the newest raw row, after `missed` rows the reads did not see (filled in on the line from the
        last row to this one, as many as MAX_FILL_N; more restart the window); return the newest feature row,
        or None while the window fills."""
        if missed > MAX_FILL_N:
            self.restart()
        elif missed > 0 and len(self.rows_):
            known = np.where(np.isfinite(row), row, self.last_finite_)
            steps = np.arange(1, missed + 1)[:, None] / (missed + 1)
            filled = self.last_finite_ + steps * (known - self.last_finite_)
            self.rows_ = np.vstack([self.rows_, filled])[-self.spec.window:]
        row = np.where(np.isfinite(row), row, self.last_finite_)
        self.last_finite_ = np.where(np.isfinite(row), row, self.last_finite_)
        self.rows_ = np.vstack([self.rows_, row[None, :]])[-self.spec.window:]
        if len(self.rows_) < self.spec.window:
            return None
        return self.spec.matrix(self.rows_)[-1]


def _last_finite(rows: np.ndarray) -> np.ndarray:
    last = np.full(rows.shape[1], np.nan)
    for row in rows:
        last = np.where(np.isfinite(row), row, last)
    return last
