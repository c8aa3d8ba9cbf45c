# SPDX-License-Identifier: GPL-3.0-or-later
"""Scoring every trained model from one feature row per cycle, with the models of one kind batched.

PCA, zscore and zmax models are scored together, per kind, with a handful of numpy calls over flat arrays,
whatever their number; other kinds go through their scorer one by one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .calibration import EmpiricalCalibrator, relative_to_threshold
from .flags import Flagger
from .models import PcaScorer, Scorer, ZmaxScorer, ZscoreScorer


@dataclass
class TrainedModel:
    """A fitted model, its columns (indices into `TrainedState.columns`) and calibration."""

    name: str
    column_index: np.ndarray
    feature_index: np.ndarray
    scorer: Scorer
    calibrator: EmpiricalCalibrator
    feature_min: Optional[np.ndarray] = None
    feature_span: Optional[np.ndarray] = None
    feature_mean: Optional[np.ndarray] = None  # training means of its (normalised) features: for attribution

    def features(self, feature_row: np.ndarray) -> np.ndarray:
        """This model's features (normalised when configured), as a 1-row matrix, from the feature row
        of all columns."""
        own = feature_row[self.feature_index][None, :]
        if self.feature_min is not None:
            own = (own - self.feature_min) / self.feature_span
        return own



def raw_standardisation(model: TrainedModel) -> Tuple[np.ndarray, np.ndarray]:
    """(mean, scale) of a PCA, zscore or zmax model's standardisation in terms of its raw features: a custom model's
    min-max normalisation folded in, so that a batch standardises every model's raw features at once."""
    mean, scale = model.scorer.mean, model.scorer.scale
    if model.feature_min is None:
        return mean, scale
    return model.feature_min + mean * model.feature_span, scale * model.feature_span


class PcaBatch:
    """PyOD's PCA score of many models at once.

    For model m with standardised features z and selected components c_j (weights w_j), the score is
    sum_j ||z - c_j|| / w_j, with ||z - c_j||^2 = |z|^2 - 2 z.c_j + |c_j|^2. The dot products of all
    models are one weighted bincount over the (component, feature) pairs of every model.
    """

    def __init__(self, models: Sequence[TrainedModel]):
        feature_index, mean, scale, model_of_feature = [], [], [], []
        pair_feature, pair_row, pair_coef = [], [], []
        row_model, row_norm2, row_weight = [], [], []
        offset = rows = 0
        for m, model in enumerate(models):
            scorer: PcaScorer = model.scorer
            n = len(model.feature_index)
            m_mean, m_scale = raw_standardisation(model)
            feature_index.append(model.feature_index)
            mean.append(m_mean)
            scale.append(m_scale)
            model_of_feature.append(np.full(n, m))
            k = len(scorer.components)
            pair_feature.append(np.tile(np.arange(offset, offset + n), k))
            pair_row.append(np.repeat(np.arange(rows, rows + k), n))
            pair_coef.append(scorer.components.ravel())
            row_model.append(np.full(k, m))
            row_norm2.append((scorer.components ** 2).sum(axis=1))
            row_weight.append(scorer.weights)
            offset += n
            rows += k
        self.n_models = len(models)
        self.n_rows = rows
        self.feature_index = np.concatenate(feature_index)
        self.mean = np.concatenate(mean)
        self.scale = np.concatenate(scale)
        self.model_of_feature = np.concatenate(model_of_feature)
        self.pair_feature = np.concatenate(pair_feature)
        self.pair_row = np.concatenate(pair_row)
        self.pair_coef = np.concatenate(pair_coef)
        self.row_model = np.concatenate(row_model)
        self.row_norm2 = np.concatenate(row_norm2)
        self.row_weight = np.concatenate(row_weight)

    def score(self, feature_row: np.ndarray) -> np.ndarray:
        z = (feature_row[self.feature_index] - self.mean) / self.scale
        z_norm2 = np.bincount(self.model_of_feature, weights=z * z, minlength=self.n_models)
        dots = np.bincount(self.pair_row, weights=self.pair_coef * z[self.pair_feature], minlength=self.n_rows)
        squared = np.maximum(z_norm2[self.row_model] - 2 * dots + self.row_norm2, 0.0)
        return np.bincount(self.row_model, weights=np.sqrt(squared) / self.row_weight, minlength=self.n_models)


class StandardisedBatch:
    """Many zmax or zscore models at once: one standardisation of all models' features, then one reduction
    per model over its contiguous slice."""

    def __init__(self, models: Sequence[TrainedModel]):
        standardisations = [raw_standardisation(model) for model in models]
        self.feature_index = np.concatenate([m.feature_index for m in models])
        self.mean = np.concatenate([mean for mean, _ in standardisations])
        self.scale = np.concatenate([scale for _, scale in standardisations])
        self.sizes = np.array([len(m.feature_index) for m in models])
        self.offsets = np.cumsum(np.concatenate([[0], self.sizes[:-1]]))

    def z(self, feature_row: np.ndarray) -> np.ndarray:
        return np.abs((feature_row[self.feature_index] - self.mean) / self.scale)


class ZmaxBatch(StandardisedBatch):
    """The zmax score (largest |z| of a model's features) of many models at once."""

    def score(self, feature_row: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(self.z(feature_row), self.offsets)


class ZscoreBatch(StandardisedBatch):
    """The zscore score of many models at once: the mean squared z of each feature group of each model (one
    group unless the model has long levels), over the group's scale, the largest per model."""

    def __init__(self, models: Sequence[TrainedModel]):
        super().__init__(models)
        starts, scales, first_group = [], [], []
        for offset, model in zip(self.offsets, models):
            first_group.append(len(starts))
            starts.extend(offset + model.scorer.group_starts)
            scales.extend(model.scorer.group_scale)
        self.group_starts = np.array(starts, dtype=int)
        self.group_divisor = np.diff(np.r_[self.group_starts, len(self.feature_index)]) * np.array(scales)
        self.first_group = np.array(first_group, dtype=int)

    def score(self, feature_row: np.ndarray) -> np.ndarray:
        groups = np.add.reduceat(self.z(feature_row) ** 2, self.group_starts) / self.group_divisor
        return np.maximum.reduceat(groups, self.first_group)


class ModelBank:
    """All models of one training, in a fixed order: raw scores, completeness, calibration."""

    def __init__(self, models: Sequence[TrainedModel]):
        self.models = list(models)
        self.names = [m.name for m in self.models]
        self.batches = []  # (positions, batch) per kind scored in one pass
        for kind, batch in ((PcaScorer, PcaBatch), (ZmaxScorer, ZmaxBatch), (ZscoreScorer, ZscoreBatch)):
            positions = [i for i, m in enumerate(self.models) if isinstance(m.scorer, kind)]
            if positions:
                self.batches.append((np.array(positions, dtype=int), batch([self.models[i] for i in positions])))
        batched = {int(i) for positions, _ in self.batches for i in positions}
        self.other_positions: List[int] = sorted(set(range(len(self.models))) - batched)
        columns = [m.column_index for m in self.models]
        self.column_concat = np.concatenate(columns) if columns else np.empty(0, dtype=int)
        self.column_offsets = np.cumsum([0] + [len(c) for c in columns[:-1]])
        self.low = np.array([m.calibrator.low_ for m in self.models])
        self.span = np.array([m.calibrator.span_ for m in self.models])

    def complete(self, fresh_columns: np.ndarray) -> np.ndarray:
        """Per model: did every one of its columns get a finite value this cycle?"""
        if not self.models:
            return np.zeros(0, dtype=bool)
        return np.logical_and.reduceat(fresh_columns[self.column_concat], self.column_offsets)

    def raw_scores(self, feature_row: np.ndarray) -> np.ndarray:
        scores = np.empty(len(self.models))
        for positions, batch in self.batches:
            scores[positions] = batch.score(feature_row)
        for i in self.other_positions:
            model = self.models[i]
            scores[i] = model.scorer.score(model.features(feature_row))[0]
        return scores

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Empirical percentile (0-100) of each raw score among its model's training scores."""
        scores = np.asarray(raw, dtype=np.float64).tolist()  # Python floats: one scalar search per model
        return np.array([m.calibrator.probability_of(s) for m, s in zip(self.models, scores)], dtype=np.float64)

    def normalized(self, raw: np.ndarray) -> np.ndarray:
        """Scores relative to each model's training threshold (see EmpiricalCalibrator.normalized)."""
        return relative_to_threshold(raw, self.low, self.span)


@dataclass
class CycleScores:
    """One cycle's outputs per model of a bank (NaN / False where a model had no complete input), and
    each model's anomaly level (`Flagger.levels`)."""

    complete: np.ndarray
    probabilities: np.ndarray
    flags: np.ndarray
    normalized: np.ndarray
    levels: np.ndarray


def score_cycle(bank: ModelBank, flagger: Flagger, feature_row: np.ndarray,
                fresh_columns: np.ndarray) -> CycleScores:
    """Score every model on the newest feature row and update the flags: the per-cycle step of a job,
    shared with the accuracy benchmark's replay."""
    raw = bank.raw_scores(feature_row)
    complete = bank.complete(fresh_columns) & np.isfinite(raw)
    raw[~complete] = np.nan
    probabilities = bank.probabilities(raw)
    flags = flagger.update(bank.names, probabilities)
    return CycleScores(complete, probabilities, flags, bank.normalized(raw), flagger.levels())
