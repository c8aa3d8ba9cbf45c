# SPDX-License-Identifier: GPL-3.0-or-later
"""A replay of Netdata's own ML (the agent's `src/ml`: ml_features.cc, ml_kmeans.cc, ml.cc, ml_config.cc,
ad_charts.cc, read for Netdata v2), counted in samples like the rest of the replay:

- per dimension, features are the 6 latest smoothed first differences (diff 1, mean of 3, 5 lags);
- a training fits one model per dimension: k-means with 2 clusters on at most `MAX_TRAINING_VECTORS`
  feature vectors sampled at random from the training window (up to 1000 iterations); a model scores a
  vector by its mean distance to the two centres, min-max scaled to 0-100 by the training vectors' mean
  distances and clipped at 100 (0 when they all had the same distance). A dimension constant over the
  window gets no new model (the agent trains a dimension only when its value changed since its last
  training, and a constant window gives no range to scale by);
- a dimension keeps the models of its last `MAX_MODELS` trainings; its anomaly bit is set when every one
  of them scores >= `SCORE_THRESHOLD` (the consensus rule, `KMEANS`), or, for the `KMEANS_NEWEST` rule,
  when the newest does;
- a dimension whose bit was set on `SUPPRESSION_THRESHOLD` of its `SUPPRESSION_WINDOW` scorings since its
  last training is silenced (bit never set) until it trains again;
- the host's anomaly rate is the share of dimensions with the bit set; the host is flagged while that
  rate averaged over the last `GROUPING_S` seconds is >= `HOST_RATE` (the agent's anomaly events).

The agent trains every 3 hours on 6 hours of data, so its 18 models span 54 hours; here a training follows
the replay's schedule (`replay.schedule`), and `pretraining_ends` gives the ensemble the trainings an
agent running since the first row of the training part would have made before the test part starts.
"""
from __future__ import annotations

import warnings
from collections import deque
from typing import Dict, List, Tuple

import numpy as np

from anomalies.features import FeatureSpec, FeatureWindow

from .detectors import DIMENSIONS, Output

KMEANS, KMEANS_NEWEST = "kmeans", "kmeans-1"  # the rules: consensus of all models, the newest model alone
MAX_MODELS = 18  # number of models per dimension
MAX_TRAINING_VECTORS = 1440  # max training vectors
MAX_ITERATIONS = 1000  # maximum number of k-means iterations
SCORE_THRESHOLD = 99.0  # dimension anomaly score threshold 0.99, on the 0-100 score
SUPPRESSION_WINDOW, SUPPRESSION_THRESHOLD = 900, 450  # dimension anomaly rate suppression window / threshold
MIN_TRAINING_ROWS = 900  # min training window (15 min at 1 s)
HOST_RATE = 0.01  # host anomaly rate threshold 1%
GROUPING_S = 300.0  # anomaly detection grouping duration 5 min, grouping 'average'


def pretraining_ends(offset: int, window: int, every: int) -> List[int]:
    """Ends (exclusive row numbers, oldest first) of the trainings an agent running since row 0 makes
    before row `offset`, besides the one at `offset`: every `every` rows back from it, at most
    MAX_MODELS - 1 of them, each with at least min(MIN_TRAINING_ROWS, window) rows of data."""
    least = min(MIN_TRAINING_ROWS, window)
    ends = [offset - k * every for k in range(1, MAX_MODELS) if every > 0 and offset - k * every >= least]
    return ends[::-1]


class NetdataKMeans:
    """Netdata's ML over the dimensions (columns) of one series; `rules` maps a configuration name to
    KMEANS or KMEANS_NEWEST, all read from the same trained models. One output per configuration: the
    share of dimensions with the anomaly bit set (probability) and the host flag."""

    def __init__(self, rules: Dict[str, str], n_columns: int, interval_s: float):
        self.rules = rules
        self.outputs: List[Output] = [(name, DIMENSIONS) for name in rules]
        self.spec = FeatureSpec(1, 3, 5)
        self.n_columns = n_columns
        self.index = np.stack([self.spec.feature_index([j], n_columns) for j in range(n_columns)])
        self.models: List[deque] = [deque(maxlen=MAX_MODELS) for _ in range(n_columns)]
        grouping = max(1, int(round(GROUPING_S / interval_s)))
        self.recent = {name: deque(maxlen=grouping) for name in rules}
        self.scorings = {name: np.zeros(n_columns, dtype=int) for name in rules}
        self.anomalous = {name: np.zeros(n_columns, dtype=int) for name in rules}
        self.silenced = {name: np.zeros(n_columns, dtype=bool) for name in rules}
        self.window = None
        self.pushed = False
        self.rng = np.random.default_rng(0)
        self.trainings = 0
        self.warnings: List[str] = []

    def train(self, values: np.ndarray) -> None:
        """A new model for every dimension that is not constant over the window `values` (rows × columns)."""
        for j in range(self.n_columns):
            column = values[:, j]
            finite = column[np.isfinite(column)]
            if len(finite) < self.spec.window + 1 or np.ptp(finite) == 0:
                continue
            model = self._fit(self.spec.matrix(values[:, [j]]))
            if model is not None:
                self.models[j].appendleft(model)  # newest first
                for name in self.rules:
                    self.scorings[name][j] = self.anomalous[name][j] = 0
                    self.silenced[name][j] = False
        self._pack()
        if not self.pushed:  # until the first row is scored, the feature window starts where training ended
            self.window = FeatureWindow(self.spec, values[-self.spec.window:])
        self.trainings += 1

    def _fit(self, features: np.ndarray):
        from sklearn.cluster import KMeans

        features = features[np.isfinite(features).all(axis=1)]
        if len(features) < 2:
            return None
        ratio = min(1.0, MAX_TRAINING_VECTORS / len(features))
        sample = features[self.rng.random(len(features)) < ratio] if ratio < 1 else features
        if len(sample) < 2:
            return None
        with warnings.catch_warnings():  # a window of a few distinct vectors converges to fewer clusters
            warnings.simplefilter("ignore")
            kmeans = KMeans(n_clusters=2, n_init=1, max_iter=MAX_ITERATIONS, random_state=0).fit(sample)
        centres = kmeans.cluster_centers_
        distances = _mean_distance(sample[:, None, :], centres[None, :, :])
        return centres, float(distances.min()), float(distances.max())

    def _pack(self) -> None:
        """The models as arrays: centres (columns × MAX_MODELS × 2 × 6), low and span (columns × MAX_MODELS),
        NaN where a dimension has fewer models; newest first."""
        width = self.spec.lags_n + 1
        self.centres = np.full((self.n_columns, MAX_MODELS, 2, width), np.nan)
        self.low = np.full((self.n_columns, MAX_MODELS), np.nan)
        self.span = np.full((self.n_columns, MAX_MODELS), np.nan)
        for j, models in enumerate(self.models):
            for m, (centres, low, high) in enumerate(models):
                self.centres[j, m], self.low[j, m], self.span[j, m] = centres, low, high - low

    def advance(self, rows: np.ndarray) -> None:
        for row in rows:
            self.window.push(row)
        self.pushed = True

    def score(self, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        self.pushed = True
        features = [self.window.push(row) for row in rows]
        present = [i for i, f in enumerate(features) if f is not None]
        bits = {name: np.zeros((len(rows), self.n_columns), dtype=bool) for name in self.rules}
        if present:
            scores = self._scores(np.vstack([features[i] for i in present]))
            valid, above = np.isfinite(scores), scores >= SCORE_THRESHOLD
            unanimous = ~(valid & ~above).any(axis=2) & (valid & above).any(axis=2)
            for name, rule in self.rules.items():
                bits[name][present] = unanimous if rule == KMEANS else valid[:, :, 0] & above[:, :, 0]
        share = np.zeros((len(rows), len(self.outputs)))
        flag = np.zeros((len(rows), len(self.outputs)), dtype=bool)
        for k, name in enumerate(self.rules):
            for i in range(len(rows)):  # step by step: suppression and grouping carry across chunks
                share[i, k] = self._suppressed(name, bits[name][i]).sum() / self.n_columns
                self.recent[name].append(share[i, k])
                flag[i, k] = np.mean(self.recent[name]) >= HOST_RATE
        return share, flag

    def _scores(self, matrix: np.ndarray, chunk: int = 256) -> np.ndarray:
        """Rows × columns × MAX_MODELS scores 0-100 (NaN where a dimension has no such model)."""
        out = np.empty((len(matrix), self.n_columns, MAX_MODELS))
        for start in range(0, len(matrix), chunk):
            own = matrix[start:start + chunk][:, self.index]  # rows × columns × 6
            distance = _mean_distance(own[:, :, None, None, :], self.centres[None])
            with np.errstate(invalid="ignore", divide="ignore"):
                scaled = 100.0 * np.abs((distance - self.low) / self.span)
            out[start:start + chunk] = np.where(self.span == 0, 0.0, np.minimum(scaled, 100.0))
        return out

    def _suppressed(self, name: str, bits: np.ndarray) -> np.ndarray:
        """One scoring's anomaly bits after silencing, and the silencing counters updated."""
        active = ~self.silenced[name]
        bits = bits & active
        self.scorings[name] += active
        self.anomalous[name] += bits
        self.silenced[name] |= (self.anomalous[name] >= SUPPRESSION_THRESHOLD) & (
            self.scorings[name] >= SUPPRESSION_WINDOW)
        return bits


def _mean_distance(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance to the 2 centres (the axis before the last of `centres`), broadcast."""
    return np.sqrt(((vectors - centres) ** 2).sum(axis=-1)).mean(axis=-1)
