# SPDX-License-Identifier: GPL-3.0-or-later
"""The streaming models of a job: each one standardises its features, scores them, learns them, and reads
its score against its own recent scores. `stream_cycle` is the per-cycle step, shared with the accuracy
benchmark's replay."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from anomalies.columns import Column
from anomalies.features import FeatureSpec
from anomalies.flags import Flagger
from anomalies.planning import ModelSpec
from anomalies.scoring import CycleScores
from anomalies.user_models import is_reference

from .calibration import RollingCalibrator
from .config import OnlineConfig
from .detectors import Detector, ZScoreDetector, make_detector
from .standardize import RunningStandardizer


@dataclass
class StreamingModel:
    """One model's learned state. Its feature positions depend on the job's current columns (`bind`)."""

    spec: ModelSpec
    standardizer: RunningStandardizer
    detector: Detector
    calibrator: RollingCalibrator
    column_index: np.ndarray
    feature_index: np.ndarray
    settle_n: int
    last_z_: Optional[np.ndarray] = None  # the newest sample's standardised features, for attribution

    def step(self, features: np.ndarray) -> Tuple[float, float]:
        """Score one feature vector, learn it; return (probability 0-100, score relative to the threshold).

        The first `settle_n` scores only teach the detector (its first scores, against a few samples, are
        wild and would stretch the calibration window for as long as they stay in it): NaN until then."""
        self.last_z_ = self.standardizer.transform(features)
        score = self.detector.score_learn_one(self.last_z_)
        self.standardizer.learn(features)
        if self.standardizer.n_seen_ <= self.settle_n:
            return float("nan"), float("nan")
        probability = self.calibrator.probability(score)
        normalized = self.calibrator.normalized(score)
        self.calibrator.learn(score)
        return probability, normalized


class StreamingBank:
    """Every model of a job, in a fixed order, bound to the job's current list of columns."""

    def __init__(self, config: OnlineConfig, feature_spec: FeatureSpec):
        self.config = config
        self.feature_spec = feature_spec
        self.models: List[StreamingModel] = []
        self.names: List[str] = []
        self.columns: List[Column] = []
        self.user_model = is_reference(config.model)
        self.problems: List[str] = []  # for the job's log: what went wrong with the user's model class
        self.failed_: Set[str] = set()  # models whose user class failed and was replaced, said once

    def replan(self, specs: Sequence[ModelSpec]) -> Tuple[List[str], List[str]]:
        """Keep the models whose spec is unchanged, start new ones, drop the rest; return (added, removed)."""
        kept: Dict[ModelSpec, StreamingModel] = {m.spec: m for m in self.models}
        columns = list(dict.fromkeys(c for spec in specs for c in spec.columns))
        position = {column: i for i, column in enumerate(columns)}
        models, not_built = [], []
        for spec in specs:
            column_index = np.array([position[c] for c in spec.columns])
            feature_index = self.feature_spec.feature_index(column_index, len(columns))
            model = kept.get(spec)
            if model is None:
                try:
                    detector: Detector = make_detector(self.config, len(feature_index))
                except ValueError as error:
                    not_built.append((spec.name, error))
                    detector = ZScoreDetector()
                standardizer = RunningStandardizer(len(feature_index), self.config.window_n, self.config.z_limit)
                model = StreamingModel(spec, standardizer,
                                       detector, RollingCalibrator(self.config.window_n, self.config.contamination),
                                       column_index, feature_index, self.config.warmup_n // 10)
            model.column_index, model.feature_index = column_index, feature_index
            models.append(model)
        if not_built:
            self.problems.append(f"model: {not_built[0][1]}; {len(not_built)} models use the default zscore "
                                 "instead")
        old_names = set(self.names)
        self.models, self.columns = models, columns
        self.names = [m.spec.name for m in models]
        added = [name for name in self.names if name not in old_names]
        return added, sorted(old_names - set(self.names))

    def check_user_detector(self, model: StreamingModel) -> None:
        """Say once when a model's user class failed and the default zscore took its place."""
        failure = getattr(model.detector, "failure_", None)
        if failure and model.spec.name not in self.failed_:
            self.failed_.add(model.spec.name)
            self.problems.append(f"model: {self.config.model} of model '{model.spec.name}' failed ({failure}); "
                                 "it uses the default zscore from now on")

    def adopt(self, models: Sequence[StreamingModel]) -> None:
        """Take over models learned before a restart, before the first `replan`: it keeps those whose spec
        still exists, as it keeps its own, and reports them as added (the charts have none yet)."""
        self.models = list(models)

    def warm(self) -> np.ndarray:
        """Per model: has it learned `warmup_n` samples (so its flags count)? The first tenth of the warm-up
        lets the detector settle, the rest fills its calibration window."""
        return np.array([m.standardizer.n_seen_ >= self.config.warmup_n for m in self.models], dtype=bool)

    def learn_history(self, values: np.ndarray) -> int:
        """Feed past raw rows (time × current columns) through every model, as if they had come live;
        return how many feature rows that was. Rows where a model lacks a value are skipped for it."""
        features = self.feature_spec.matrix(values)
        for model in self.models:
            own = features[:, model.feature_index]
            for row in own[np.isfinite(own).all(axis=1)]:
                model.step(row)
        return len(features)


def stream_cycle(bank: StreamingBank, flagger: Flagger, feature_row: np.ndarray,
                 fresh_columns: np.ndarray) -> CycleScores:
    """One cycle: every model whose columns all got a finite value, and whose features are all finite
    (`complete`), scores and learns the newest feature row (its probability stays NaN until its detector
    gives scores); flags count only for models past their warm-up."""
    n = len(bank.models)
    complete = np.zeros(n, dtype=bool)
    probabilities, normalized = np.full(n, np.nan), np.full(n, np.nan)
    for i, model in enumerate(bank.models):
        if fresh_columns[model.column_index].all():
            features = feature_row[model.feature_index]
            if np.isfinite(features).all():  # a column with no value yet leaves NaN in the window
                probabilities[i], normalized[i] = model.step(features)
                complete[i] = True
                if bank.user_model:
                    bank.check_user_detector(model)
    flags = flagger.update(bank.names, np.where(bank.warm(), probabilities, np.nan))
    return CycleScores(complete, probabilities, flags, normalized, flagger.levels())
