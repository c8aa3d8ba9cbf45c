# SPDX-License-Identifier: GPL-3.0-or-later
"""What the replay drives: the collector's own pipeline (with this project's calibration and flags, or
upstream's PyOD predict_proba/predict rule on the same models); Netdata's own ML is in netdata_ml.py.

A detector is trained on a window of raw rows, then fed raw rows in time order: `advance` (rows seen while
outputs are held after a training) or `score` (rows whose outputs count). It returns, per row and per
output (`outputs`: (configuration, view) pairs), a probability in [0, 1] and a flag.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

from anomalies.calibration import EmpiricalCalibrator
from anomalies.columns import Column
from anomalies.config import Config
from anomalies.features import FeatureSpec, FeatureWindow
from anomalies.flags import flagger_for, note_training
from anomalies.deviation import DeviationGate, offline_judge
from anomalies.models import KnnScorer, PcaScorer, PyodScorer, StandardisedScorer, fit_scorer
from anomalies.planning import ModelSpec
from anomalies.scoring import ModelBank, TrainedModel, score_cycle
from anomalies.training import MIN_TRAINING_ROWS, train_models

Output = Tuple[str, str]  # (configuration name, view)
SERVER, PER_METRIC, DIMENSIONS = "server model", "per-metric models", "per-dimension share"
PER_CHART = "per-chart models"
CHART_PREFIX = "chart:"  # model names of the per-chart view: <series>.chart:<chart>


def charts_of(metrics: Sequence[str]) -> Dict[str, List[int]]:
    """Netdata-recorded metrics ('chart|dim') grouped by chart, in order; {} for other data."""
    charts: Dict[str, List[int]] = {}
    for i, metric in enumerate(metrics):
        chart, sep, _ = metric.partition("|")
        if not sep:
            return {}
        charts.setdefault(chart, []).append(i)
    return charts if len(charts) > 1 else {}


def columns_and_specs(series_name: str, metrics: Sequence[str],
                      per_metric: bool = True) -> Tuple[List[Column], List[ModelSpec]]:
    """One column per metric; one custom model over all metrics (if more than one) and, when
    `per_metric`, one model per metric and, for Netdata recordings, one per chart (as the collector
    models a chart)."""
    columns = [Column("eval", series_name, metric) for metric in metrics]
    if len(columns) == 1:
        return columns, [ModelSpec(f"{series_name}.{metrics[0]}", tuple(columns))]
    specs = [ModelSpec(series_name, tuple(columns))]
    if per_metric:
        specs += [ModelSpec(f"{series_name}.{metric}", (column,)) for metric, column in zip(metrics, columns)]
        specs += [ModelSpec(f"{series_name}.{CHART_PREFIX}{chart}", tuple(columns[i] for i in index))
                  for chart, index in charts_of(metrics).items()]
    return columns, specs


def view_names(specs: Sequence[ModelSpec], per_metric: bool) -> Dict[str, List[str]]:
    """Model names of each view the specs of `columns_and_specs` hold (a view without models is left out;
    with `per_metric`, a series of one metric has its one model as the per-metric view too)."""
    chart = [s.name for s in specs[1:] if CHART_PREFIX in s.name]
    metric = [s.name for s in specs[1:] if CHART_PREFIX not in s.name]
    if per_metric and not metric:
        metric = [specs[0].name]
    views = {SERVER: [specs[0].name], PER_METRIC: metric, PER_CHART: chart}
    return {view: names for view, names in views.items() if names}


class CollectorDetector:
    """`train_models` + `FeatureWindow` + `score_cycle`, as `AnomaliesJob` runs them, and upstream's rule.

    `rules` maps a configuration name to "ours" (score_cycle's calibrated probability and persistence
    flags on the collector's models) or "upstream" (PyOD's predict_proba 'linear', i.e. min-max of the
    training scores clipped to [0, 1], and predict(), i.e. raw score > the training quantile
    1 - contamination; no persistence, on `upstream_models`). Both rules share one replay. Views: the
    server model (all metrics in one custom model) and the per-metric models (probability = max over
    metrics, flag = any).
    """

    def __init__(self, config: Config, series_name: str, metrics: Sequence[str], rules: Dict[str, str],
                 per_metric: bool = True):
        self.config = config
        self.columns, self.specs = columns_and_specs(series_name, metrics, per_metric)
        self.view_names = view_names(self.specs, per_metric)
        self.rules = rules
        self.outputs: List[Output] = [(name, view) for name in rules for view in self.view_names]
        self.feature_spec = FeatureSpec.from_config(config)
        self.flagger = ViewFlaggers(config, self.view_names)
        # the "ours" rule's probability of each per-chart model (rows × `chart_names`, NaN where a chart has
        # no model), as of the last `score`: for rules across charts tried after the replay (node_rules.py)
        self.chart_names = self.view_names.get(PER_CHART, []) if "ours" in rules.values() else []
        self.chart_probability = np.empty((0, len(self.chart_names)))
        self.gate = DeviationGate()
        self.window = None
        self.banks: Dict[str, ModelBank] = {}  # rule -> its models
        self.warnings: List[str] = []
        self.trainings = 0

    def train(self, values: np.ndarray) -> None:
        kinds = set(self.rules.values())
        if self.window is None:  # later trainings continue from the job's own window, as the job does
            self.window = FeatureWindow(self.feature_spec, values[-self.feature_spec.window:])
        if "ours" in kinds:
            state = train_models(self.specs, self.columns, values, self.config, self.warnings.append)
            self.flagger.forget(set(self.banks.get("ours", ModelBank([])).names) - set(state.bank.names))
            self.flagger.note_training(state.rows * self.config.update_every)
            self.banks["ours"] = state.bank
            self.band, self.deviation_rules = state.band, self.config.deviation_rules(state.bank.names)
            self.batched = _BatchRaw(state.bank) if state.bank.other_positions else None
        if "upstream" in kinds:
            self.banks["upstream"] = upstream_models(self.specs, self.columns, values, self.config)
        self.trainings += 1

    def positions(self, rule: str, view: str) -> List[int]:
        """Positions in the rule's bank of the models of a view."""
        position = {name: i for i, name in enumerate(self.banks[rule].names)}
        return [position[name] for name in self.view_names[view] if name in position]

    def advance(self, rows: np.ndarray) -> None:
        for row in rows:
            self.window.push(row)

    def score(self, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        features = [self.window.push(row) for row in rows]
        fresh = np.isfinite(rows)
        outputs = {"ours": self._ours, "upstream": self._upstream}
        results = {rule: outputs[rule](features, fresh, rows) for rule in set(self.rules.values())}
        if self.chart_names:
            self.chart_probability = _columns_of(results["ours"][0], self.banks["ours"].names, self.chart_names)
        out_probability = np.zeros((len(rows), len(self.outputs)))
        out_flag = np.zeros((len(rows), len(self.outputs)), dtype=bool)
        for j, (name, view) in enumerate(self.outputs):
            probability, flag = results[self.rules[name]]
            positions = self.positions(self.rules[name], view)
            if positions:
                values = probability[:, positions]
                out_probability[:, j] = np.where(np.isnan(values), 0.0, values).max(axis=1)
                out_flag[:, j] = flag[:, positions].any(axis=1)
        return out_probability, out_flag

    def _ours(self, features: List, fresh: np.ndarray, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """score_cycle's probabilities (0-1) and flags (with the job's deviation rules), rows × models of the
        collector's bank."""
        bank = self.banks["ours"]
        probability = np.full((len(features), len(bank.names)), np.nan)
        flag = np.zeros((len(features), len(bank.names)), dtype=bool)
        raw_rows = self.batched.raw(features) if self.batched is not None else None
        given = _GivenRaw(bank)
        for i, feature_row in enumerate(features):
            if feature_row is not None and bank.names:
                given.raw = raw_rows[i] if raw_rows is not None else bank.raw_scores(feature_row)
                cycle = score_cycle(given, self.flagger, feature_row, fresh[i])
                flag[i], _ = self.gate.apply(bank.names, cycle.flags, cycle.levels, self.deviation_rules, offline_judge(
                    bank.models, self.deviation_rules, self.band, len(self.columns), feature_row, rows[i]))
                probability[i] = cycle.probabilities / 100.0
        return probability, flag

    def _upstream(self, features: List, fresh: np.ndarray, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """predict_proba 'linear' and predict() of upstream's models, rows × models."""
        bank = self.banks["upstream"]
        calibrators = [m.calibrator for m in bank.models]
        low = np.array([c.low_ for c in calibrators])
        high = np.array([c.scores_[-1] for c in calibrators])  # the training maximum is kept exactly
        span = np.where(high > low, high - low, 1.0)
        threshold = np.array([c.threshold_ for c in calibrators])
        probability = np.full((len(features), len(bank.names)), np.nan)
        flag = np.zeros((len(features), len(bank.names)), dtype=bool)
        for i, feature_row in enumerate(features):
            if feature_row is not None and bank.names:
                raw = bank.raw_scores(feature_row)
                raw[~(bank.complete(fresh[i]) & np.isfinite(raw))] = np.nan
                probability[i] = np.clip((raw - low) / span, 0.0, 1.0)
                flag[i] = raw > threshold
        return probability, flag


def _columns_of(values: np.ndarray, names: Sequence[str], wanted: Sequence[str]) -> np.ndarray:
    """The columns of `values` (rows × `names`) in the order of `wanted`; NaN for a name not there."""
    position = {name: i for i, name in enumerate(names)}
    out = np.full((len(values), len(wanted)), np.nan)
    for k, name in enumerate(wanted):
        if name in position:
            out[:, k] = values[:, position[name]]
    return out


def upstream_models(specs: Sequence[ModelSpec], columns: List[Column], values: np.ndarray,
                    config: Config) -> ModelBank:
    """Upstream's models: one per spec on every feature of its columns, as upstream fitted PyOD on a chart's
    whole frame, the features of dimensions constant in the window included (`train_models` leaves them
    out). A model whose features are all constant is left out: upstream's scores were NaN, never a flag.

    `pca` is `models.PcaScorer`, not PyOD's own PCA: PyOD 3 divides by an explained-variance ratio of
    exactly 0 for each component of zero variance (constant features: most SMD servers, many Netdata
    dimensions) and scores every row +inf, where upstream's PyOD 1.0.9 with scikit-learn 1.2.2 got ratios
    of ~1e-34 and finite scores, which PcaScorer's floor of 1e-6 reproduces. Replayed with upstream's own
    pins on the first training of every SMD and ASD server and of the Netdata recording, the server models'
    flags were the same on every test row, predict_proba within 0.0005; leaving the constant features out
    instead changed 0.8% of the recording's flags (4.43% of rows flagged, upstream 5.19%).
    """
    feature_spec = FeatureSpec.from_config(config)
    index = {column: i for i, column in enumerate(columns)}
    models = []
    for spec in specs:
        column_index = np.array([index[c] for c in spec.columns])
        features = feature_spec.matrix(values[:, column_index])
        features = features[np.isfinite(features).all(axis=1)]
        if len(features) < MIN_TRAINING_ROWS or not (features.std(axis=0) > 0).any():
            continue
        scorer, scores = fit_scorer(config.model, features, config.contamination, config.model_args)
        models.append(TrainedModel(spec.name, column_index, feature_spec.feature_index(column_index, len(columns)),
                                   scorer, EmpiricalCalibrator(config.contamination).fit(scores)))
    return ModelBank(models)


class ViewFlaggers:
    """The job's flag rule within each view apart (the `Flagger` interface over the whole bank): the bank
    holds the models of every view, and a rule across models (`flags_min_models`) must only see those of
    one view, as a job holds only its own charts."""

    def __init__(self, config: Config, view_names: Dict[str, List[str]]):
        self.flaggers = {view: flagger_for(config) for view in view_names}
        self.view_of = {name: view for view, names in view_names.items() for name in names}
        self.levels_ = np.empty(0)
        self._names: List[str] = []
        self._picked: Dict[str, Tuple[np.ndarray, List[str]]] = {}  # view -> its positions and names

    def update(self, names: Sequence[str], probabilities: np.ndarray) -> np.ndarray:
        if list(names) != self._names:  # the bank changed: which positions each view holds
            self._names = list(names)
            self._picked = {}
            for view in self.flaggers:
                positions = [i for i, name in enumerate(names) if self.view_of.get(name) == view]
                if positions:
                    self._picked[view] = (np.array(positions), [names[i] for i in positions])
        flags = np.zeros(len(names), dtype=bool)
        self.levels_ = np.zeros(len(names))
        for view, (positions, view_names) in self._picked.items():
            flagger = self.flaggers[view]
            flags[positions] = flagger.update(view_names, probabilities[positions])
            self.levels_[positions] = flagger.levels()
        return flags

    def levels(self) -> np.ndarray:
        return self.levels_

    def forget(self, names) -> None:
        for flagger in self.flaggers.values():
            flagger.forget(names)

    def note_training(self, seconds: float) -> None:
        """The span of history the bank was trained on (`anomalies.flags.note_training`), in every view."""
        for flagger in self.flaggers.values():
            note_training(flagger, seconds)


class _GivenRaw:
    """The trained ModelBank, except that the raw scores of the current row are handed in: for models PyOD
    scores one by one, computed beforehand for a chunk of rows (the same numbers: the scores of a fixed
    model do not depend on other rows). score_cycle does the rest."""

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
        for positions, batch in self.bank.batches:
            for i, f in zip(rows, present):
                raw[i, positions] = batch.score(f)
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
    if isinstance(scorer, (PcaScorer, StandardisedScorer, KnnScorer, PyodScorer)):
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
