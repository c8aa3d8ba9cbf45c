# SPDX-License-Identifier: GPL-3.0-or-later
"""What the replay drives: the collector's own pipeline (with this project's calibration and flags, or
upstream's PyOD predict_proba/predict rule on the same models) and a Netdata-ML-style k-means baseline.

A detector is trained on a window of raw rows, then fed raw rows in time order: `advance` (rows seen while
outputs are held after a training) or `score` (rows whose outputs count). It returns, per row and per
output (`outputs`: (configuration, view) pairs), a probability in [0, 1] and a flag.
"""
from __future__ import annotations

from collections import deque
from typing import Dict, List, Sequence, Tuple

import numpy as np

from anomalies.columns import Column
from anomalies.config import Config
from anomalies.features import FeatureSpec, FeatureWindow
from anomalies.flags import PersistenceFlagger
from anomalies.models import PcaScorer, PyodScorer
from anomalies.scoring import ModelBank, score_cycle
from anomalies.planning import ModelSpec
from anomalies.training import train_models

Output = Tuple[str, str]  # (configuration name, view)
SERVER, PER_METRIC, DIMENSIONS = "server model", "per-metric models", "per-dimension share"


def columns_and_specs(series_name: str, metrics: Sequence[str],
                      per_metric: bool = True) -> Tuple[List[Column], List[ModelSpec]]:
    """One column per metric; one custom model over all metrics (if more than one) and, when
    `per_metric`, one model per metric."""
    columns = [Column("eval", series_name, metric) for metric in metrics]
    if len(columns) == 1:
        return columns, [ModelSpec(f"{series_name}.{metrics[0]}", tuple(columns))]
    specs = [ModelSpec(series_name, tuple(columns))]
    if per_metric:
        specs += [ModelSpec(f"{series_name}.{metric}", (column,)) for metric, column in zip(metrics, columns)]
    return columns, specs


class CollectorDetector:
    """`train_models` + `FeatureWindow` + `score_cycle`, as `AnomaliesJob` runs them.

    `rules` maps a configuration name to "ours" (score_cycle's calibrated probability and persistence
    flags) or "upstream" (PyOD's predict_proba 'linear', i.e. min-max of the training scores clipped to
    [0, 1], and predict(), i.e. raw score > the training quantile 1 - contamination; no persistence). Both
    read the same models' raw scores, so one replay serves both. Views: the server model (all metrics in
    one custom model) and the per-metric models (probability = max over metrics, flag = any).
    """

    def __init__(self, config: Config, series_name: str, metrics: Sequence[str], rules: Dict[str, str],
                 per_metric: bool = True):
        self.config = config
        self.columns, self.specs = columns_and_specs(series_name, metrics, per_metric)
        self.server_name = self.specs[0].name
        self.metric_names = [s.name for s in self.specs[1:]] or [self.server_name]
        self.rules = rules
        views = (SERVER, PER_METRIC) if per_metric else (SERVER,)
        self.outputs: List[Output] = [(name, view) for name in rules for view in views]
        self.feature_spec = FeatureSpec(config.diffs_n, config.smooth_n, config.lags_n)
        self.flagger = PersistenceFlagger(config.flags_threshold, config.flags_min_n, config.flags_window_n)
        self.window = None
        self.bank: ModelBank = ModelBank([])
        self.warnings: List[str] = []
        self.trainings = 0

    def train(self, values: np.ndarray) -> None:
        state = train_models(self.specs, self.columns, values, self.config, self.warnings.append)
        self.flagger.forget(set(self.bank.names) - set(state.bank.names))
        if self.window is None:  # later trainings continue from the job's own window, as the job does
            self.window = FeatureWindow(self.feature_spec, state.recent_values)
        self.bank = state.bank
        self.trainings += 1
        position = {name: i for i, name in enumerate(self.bank.names)}
        self.positions = {SERVER: [position[self.server_name]] if self.server_name in position else [],
                          PER_METRIC: [position[name] for name in self.metric_names if name in position]}
        calibrators = [m.calibrator for m in self.bank.models]
        self.low = np.array([c.low_ for c in calibrators])
        self.high = np.array([c.scores_[-1] for c in calibrators])  # the training maximum is kept exactly
        self.threshold = np.array([c.threshold_ for c in calibrators])
        self.batched = _BatchRaw(self.bank) if self.bank.other_positions else None

    def advance(self, rows: np.ndarray) -> None:
        for row in rows:
            self.window.push(row)

    def score(self, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        n_models = len(self.bank.names)
        kinds = list(dict.fromkeys(self.rules.values()))
        probability = {k: np.full((len(rows), n_models), np.nan) for k in kinds}
        flag = {k: np.zeros((len(rows), n_models), dtype=bool) for k in kinds}
        features = [self.window.push(row) for row in rows]
        raw_rows = self.batched.raw(features) if self.batched is not None else None
        given = _GivenRaw(self.bank)
        span = np.where(self.high > self.low, self.high - self.low, 1.0)
        for i, (row, feature_row) in enumerate(zip(rows, features)):
            if feature_row is None or not n_models:
                continue
            given.raw = raw_rows[i] if raw_rows is not None else self.bank.raw_scores(feature_row)
            if "ours" in probability:
                cycle = score_cycle(given, self.flagger, feature_row, np.isfinite(row))
                probability["ours"][i], flag["ours"][i] = cycle.probabilities / 100.0, cycle.flags
            if "upstream" in probability:
                raw = given.raw_scores(feature_row)
                raw[~(self.bank.complete(np.isfinite(row)) & np.isfinite(raw))] = np.nan
                probability["upstream"][i] = np.clip((raw - self.low) / span, 0.0, 1.0)
                flag["upstream"][i] = raw > self.threshold
        out_probability = np.zeros((len(rows), len(self.outputs)))
        out_flag = np.zeros((len(rows), len(self.outputs)), dtype=bool)
        for j, (name, view) in enumerate(self.outputs):
            positions = self.positions[view] if n_models else []
            if positions:
                values = probability[self.rules[name]][:, positions]
                out_probability[:, j] = np.where(np.isnan(values), 0.0, values).max(axis=1)
                out_flag[:, j] = flag[self.rules[name]][:, positions].any(axis=1)
        return out_probability, out_flag


class _GivenRaw:
    """The trained ModelBank, except that the raw scores of the current row are handed in: computed once
    for both rules, and for models PyOD scores one by one computed beforehand for a chunk of rows (the
    same numbers: the scores of a fixed model do not depend on other rows). score_cycle does the rest."""

    def __init__(self, bank: ModelBank):
        self._bank = bank
        self.raw = None

    def __getattr__(self, name):
        return getattr(self._bank, name)

    def raw_scores(self, feature_row: np.ndarray) -> np.ndarray:
        return np.array(self.raw, dtype=np.float64)


class _BatchRaw:
    """Raw scores of many rows at once for the models the bank scores one by one through PyOD."""

    def __init__(self, bank: ModelBank):
        self.bank = bank

    def raw(self, features: List) -> np.ndarray:
        present = [f for f in features if f is not None]
        raw = np.full((len(features), len(self.bank.models)), np.nan)
        if not present:
            return raw
        rows = [i for i, f in enumerate(features) if f is not None]
        matrix = np.vstack(present)
        if self.bank.pca_batch is not None:
            for i, f in zip(rows, present):
                raw[i, self.bank.pca_positions] = self.bank.pca_batch.score(f)
        for position in self.bank.other_positions:
            model = self.bank.models[position]
            own = matrix[:, model.feature_index]
            if model.feature_min is not None:
                own = (own - model.feature_min) / model.feature_span
            raw[rows, position] = batch_scores(model.scorer, own)
        return raw


def batch_scores(scorer, features: np.ndarray) -> np.ndarray:
    """What `scorer.score(features[i:i+1])[0]` gives for every row i, computed in one call.

    PyOD's COPOD and ECOD `decision_function` rank a batch against the training rows *and the rest of
    the batch*; the collector scores one row at a time, i.e. against training + that row. That is
    reproduced here with sorted training columns instead of a concatenation per row.
    """
    detector = getattr(scorer, "detector", None)
    kind = type(detector).__name__ if isinstance(scorer, PyodScorer) else ""
    if kind in ("COPOD", "ECOD") and getattr(detector, "n_jobs", 1) == 1:
        return _ecdf_scores(np.asarray(detector.X_train, dtype=np.float64), features, kind)
    if isinstance(scorer, (PcaScorer, PyodScorer)):
        return scorer.score(features)
    return np.array([scorer.score(row[None, :])[0] for row in features])


def _ecdf_scores(train: np.ndarray, rows: np.ndarray, kind: str) -> np.ndarray:
    n = len(train)
    ordered = np.sort(train, axis=0)
    at_most = np.column_stack([np.searchsorted(ordered[:, j], rows[:, j], side="right") for j in range(rows.shape[1])])
    at_least = n - np.column_stack([np.searchsorted(ordered[:, j], rows[:, j], side="left") for j in range(rows.shape[1])])
    left = -np.log((at_most + 1) / (n + 1))
    right = -np.log((at_least + 1) / (n + 1))
    skewness = np.sign(_skew_with_row(train, rows))
    tail = left * -np.sign(skewness - 1) + right * np.sign(skewness + 1)
    both = (left + right) / 2 if kind == "COPOD" else np.maximum(left, right)
    return np.maximum(tail, both).sum(axis=1)


def _skew_with_row(train: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """scipy.stats.skew (biased) of each column of train + one row, for every row: rows × columns."""
    centre = train.mean(axis=0)
    shifted = train - centre
    s1, s2, s3 = shifted.sum(axis=0), (shifted ** 2).sum(axis=0), (shifted ** 3).sum(axis=0)
    d = rows - centre
    count = len(train) + 1
    mean = (s1 + d) / count
    m2 = (s2 + d ** 2) / count - mean ** 2
    m3 = (s3 + d ** 3) / count - 3 * mean * (s2 + d ** 2) / count + 2 * mean ** 3
    with np.errstate(invalid="ignore", divide="ignore"):
        return m3 / m2 ** 1.5


class NetdataKMeans:
    """Netdata's own ML, per dimension: k-means (k=2) on the 6 latest smoothed first differences (diff 1,
    mean of 3, 5 lags), fitted on a 20% sample of the training window; a dimension is anomalous when its
    distance to the nearest centre exceeds the 99th percentile of the (sampled) training distances.
    Series score = share of anomalous dimensions; flag = that share averaged over the last 5 minutes of
    samples is >= 1% (Netdata's host anomaly rate threshold 1%, grouping 'average' over 5 min).
    Dimensions constant in the training window are not modelled (never anomalous). One model per
    dimension (newer agents keep ~18 and require all to agree: not reproduced).
    """

    SAMPLE = 0.2
    PERCENTILE = 99.0
    HOST_RATE = 0.01
    GROUPING_S = 300.0

    def __init__(self, name: str, n_columns: int, interval_s: float):
        self.outputs: List[Output] = [(name, DIMENSIONS)]
        self.spec = FeatureSpec(1, 3, 5)
        self.n_columns = n_columns
        self.window = None
        self.recent = deque(maxlen=max(1, int(round(self.GROUPING_S / interval_s))))
        self.rng = np.random.default_rng(0)
        self.trainings = 0
        self.warnings: List[str] = []

    def train(self, values: np.ndarray) -> None:
        from sklearn.cluster import KMeans

        self.models = []
        for j in range(self.n_columns):
            features = self.spec.matrix(values[:, [j]])
            features = features[np.isfinite(features).all(axis=1)]
            if len(features) < 10 or not (features.std(axis=0) > 0).any():
                continue
            size = max(10, int(np.ceil(self.SAMPLE * len(features))))
            sample = features[self.rng.choice(len(features), size=min(size, len(features)), replace=False)]
            kmeans = KMeans(n_clusters=2, n_init=1, random_state=0).fit(sample)
            distances = kmeans.transform(sample).min(axis=1)
            self.models.append((self.spec.feature_index([j], self.n_columns), kmeans.cluster_centers_,
                                np.percentile(distances, self.PERCENTILE)))
        if self.window is None:
            self.window = FeatureWindow(self.spec, values[-self.spec.window:])
        self.trainings += 1

    def advance(self, rows: np.ndarray) -> None:
        for row in rows:
            self.window.push(row)

    def score(self, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        features = [self.window.push(row) for row in rows]
        present = [i for i, f in enumerate(features) if f is not None]
        share = np.zeros(len(rows))
        if present and self.models:
            matrix = np.vstack([features[i] for i in present])
            bits = np.zeros((len(present), len(self.models)), dtype=bool)
            for k, (index, centres, threshold) in enumerate(self.models):
                own = matrix[:, index]
                distance = np.sqrt(((own[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
                bits[:, k] = distance > threshold
            share[present] = bits.sum(axis=1) / self.n_columns
        flag = np.zeros(len(rows), dtype=bool)
        for i, value in enumerate(share):  # step by step: the grouping window carries across chunks
            self.recent.append(value)
            flag[i] = np.mean(self.recent) >= self.HOST_RATE
        return share[:, None], flag[:, None]

