# SPDX-License-Identifier: GPL-3.0-or-later
"""Detectors trained on feature matrices: `pca`, `zscore`, `zmax` and `knn` computed here in numpy (neither training nor
scoring pays for PyOD), and PyOD's others, built lazily (only the configured model's module is imported)."""
from __future__ import annotations

import importlib
import warnings
from typing import Dict, Optional, Protocol, Tuple

import numpy as np

from .user_models import OFFLINE_METHODS, is_reference, load_class

# model name -> (module, class, constructor arguments besides contamination)
_PYOD_MODELS: Dict[str, Tuple[str, str, dict]] = {
    "pca": ("pyod.models.pca", "PCA", {}),
    "hbos": ("pyod.models.hbos", "HBOS", {}),
    "iforest": ("pyod.models.iforest", "IForest", {"n_estimators": 50, "random_state": 0}),
    "cblof": ("pyod.models.cblof", "CBLOF", {"n_clusters": 3, "random_state": 0}),
    "loda": ("pyod.models.loda", "LODA", {"random_state": 0}),
    "copod": ("pyod.models.copod", "COPOD", {}),
    "ecod": ("pyod.models.ecod", "ECOD", {}),
}
# model name -> the libraries it imports, for `extras.installed_only` (pca is fitted here, in numpy)
LIBRARIES: Dict[str, Tuple[str, ...]] = {name: (module.partition(".")[0],)
                                         for name, (module, _, _) in _PYOD_MODELS.items() if name != "pca"}


class Scorer(Protocol):
    """Scores feature rows: higher is more anomalous."""

    def score(self, features: np.ndarray) -> np.ndarray:
        ...


class PyodScorer:
    """Any fitted PyOD detector, scored through its own `decision_function`."""

    def __init__(self, detector):
        self.detector = detector

    def score(self, features: np.ndarray) -> np.ndarray:
        return self.detector.decision_function(features)


class PcaScorer:
    """PyOD's PCA detector (standardised features, all components, weighted by explained-variance ratio),
    fitted and scored in plain numpy: the score of a row is the sum over components of the distance between
    the standardised row and the component, divided by the component's explained-variance ratio.

    Fitting follows PyOD + scikit-learn exactly (StandardScaler; PCA's covariance eigen-solver, which
    scikit-learn picks for tall data; `svd_flip` signs), without importing either: ~200 MB and ~1.4 s less.
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray, components: np.ndarray, weights: np.ndarray):
        self.mean = mean
        self.scale = scale
        self.components = components
        self.weights = np.maximum(weights, 1e-6)

    @classmethod
    def fit(cls, features: np.ndarray) -> "PcaScorer":
        mean = features.mean(axis=0)
        scale = features.std(axis=0)
        scale[scale < 10 * np.finfo(np.float64).eps] = 1.0
        standardized = (features - mean) / scale
        centred = standardized - standardized.mean(axis=0)
        eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues = np.maximum(eigenvalues[order], 0.0)
        components = eigenvectors[:, order].T
        largest = np.argmax(np.abs(components), axis=1)
        components *= np.sign(components[np.arange(len(components)), largest])[:, None]
        total = eigenvalues.sum()  # 0 when every feature is constant to within rounding: weights at the floor
        return cls(mean, scale, components, eigenvalues / total if total > 0 else np.zeros_like(eigenvalues))

    def score(self, features: np.ndarray) -> np.ndarray:
        standardized = (features - self.mean) / self.scale
        squared = ((standardized ** 2).sum(axis=1)[:, None] - 2 * standardized @ self.components.T
                   + (self.components ** 2).sum(axis=1)[None, :])
        return (np.sqrt(np.maximum(squared, 0.0)) / self.weights).sum(axis=1)


class StandardisedScorer:
    """Scores a row from its features' z-scores, each feature standardised by its training mean and standard
    deviation.

    A feature (nearly) constant in training gets the scale `RELATIVE_FLOOR` x (|mean| + 1): a counter that
    was always 0 scores a z of 1000 for a change of 1, which is the anomaly it is, yet stays finite.
    """

    RELATIVE_FLOOR = 1e-3

    def __init__(self, mean: np.ndarray, scale: np.ndarray):
        self.mean = mean
        self.scale = scale

    @classmethod
    def fit(cls, features: np.ndarray) -> "StandardisedScorer":
        mean = features.mean(axis=0)
        return cls(mean, np.maximum(features.std(axis=0), cls.RELATIVE_FLOOR * (np.abs(mean) + 1.0)))

    def z(self, features: np.ndarray) -> np.ndarray:
        """Absolute z-score of every feature of `features` (rows x features)."""
        return np.abs((features - self.mean) / self.scale)

    def score(self, features: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class ZmaxScorer(StandardisedScorer):
    """The largest absolute z-score over a row's features: a change in any one feature counts in full, where
    a sum over all features (PCA's distances) dilutes it among the quiet ones."""

    def score(self, features: np.ndarray) -> np.ndarray:
        return self.z(features).max(axis=1)


class ZscoreScorer(StandardisedScorer):
    """The mean squared z-score of a row's features (a Mahalanobis distance that ignores correlations): the
    streaming module's `zscore` against the training window's mean and spread. Every feature counts by its
    own rarity; PCA's score divides by the explained variance of each component, so its rarest directions,
    which hold mostly noise, outweigh the rest.

    With feature groups (`groups`: one contiguous run of features per group id, e.g. the long levels after
    the rest), each group's mean squared z is divided by its own `GROUP_QUANTILE` over the training rows
    (at least 1, the mean a feature's squared z has in training), and the score is the largest of those:
    a long level far out is not averaged away among the many features of differences and lags.
    """

    GROUP_QUANTILE = 0.99

    def __init__(self, mean: np.ndarray, scale: np.ndarray, group_starts: Optional[np.ndarray] = None,
                 group_scale: Optional[np.ndarray] = None):
        super().__init__(mean, scale)
        self.group_starts = np.zeros(1, dtype=int) if group_starts is None else np.asarray(group_starts)
        self.group_scale = np.ones(len(self.group_starts)) if group_scale is None else np.asarray(group_scale)

    @classmethod
    def fit(cls, features: np.ndarray, groups: Optional[np.ndarray] = None) -> "ZscoreScorer":
        standardised = StandardisedScorer.fit(features)
        if groups is None or len(np.unique(groups)) < 2:
            return cls(standardised.mean, standardised.scale)
        groups = np.asarray(groups)
        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        if len(starts) != len(np.unique(groups)):
            raise ValueError("each feature group must be one contiguous run of features")
        scorer = cls(standardised.mean, standardised.scale, starts)
        scorer.group_scale = np.maximum(np.quantile(scorer.group_means(features), cls.GROUP_QUANTILE, axis=0), 1.0)
        return scorer

    def group_means(self, features: np.ndarray) -> np.ndarray:
        """Mean squared z of each group of features (rows × groups)."""
        squared = self.z(features) ** 2
        return np.add.reduceat(squared, self.group_starts, axis=1) / np.diff(np.r_[self.group_starts,
                                                                                     squared.shape[1]])

    def score(self, features: np.ndarray) -> np.ndarray:
        return (self.group_means(features) / self.group_scale).max(axis=1)

    def feature_parts(self, features: np.ndarray) -> np.ndarray:
        """Each feature's part of a row's score (1 × features): its squared z over its group's size and
        scale, in the group that sets the score; 0 in the others."""
        squared = self.z(features[:1]) ** 2
        sizes = np.diff(np.r_[self.group_starts, squared.shape[1]])
        group_of = np.repeat(np.arange(len(sizes)), sizes)
        weights = 1.0 / (sizes * self.group_scale)
        winner = int(np.argmax(self.group_means(features[:1])[0] / self.group_scale))
        return np.where(group_of == winner, squared[0] * weights[group_of], 0.0)[None, :]


class KnnScorer:
    """The mean Euclidean distance of a row's standardised features to its `n_neighbors` nearest training
    rows: how far a row is from anything the training window saw, where `zscore` measures how far it is from
    the window's centre. A burst that recurred in training has neighbours; a fault has none.

    The references are at most `max_references` evenly spaced training rows. A training row's own score
    leaves out the references within `exclusion_n` rows of it, so that it is scored as a new row is (whose
    own minute is never among the references); the calibrator reads those scores.
    """

    CHUNK_ROWS = 512  # rows whose distances to every reference are held at once

    def __init__(self, n_neighbors: int = 20, max_references: int = 2000, exclusion_n: int = 60):
        self.n_neighbors = n_neighbors
        self.max_references = max_references
        self.exclusion_n = exclusion_n

    def fit(self, features: np.ndarray) -> "KnnScorer":
        """Learn the standardisation and the references; `training_scores_` holds the training rows' scores."""
        standardiser = StandardisedScorer.fit(features)
        self.mean_, self.scale_ = standardiser.mean, standardiser.scale
        standardized = self._standardize(features)
        self.reference_step_ = max(1, -(-len(features) // int(self.max_references)))
        self.references_ = np.ascontiguousarray(standardized[::self.reference_step_])
        self.reference_norms_ = (self.references_ ** 2).sum(axis=1)
        self.training_scores_ = self._nearest(standardized, leave_out_own=True)
        return self

    def score(self, features: np.ndarray) -> np.ndarray:
        return self._nearest(self._standardize(features))

    def _standardize(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, dtype=np.float64) - self.mean_) / self.scale_

    def _nearest(self, standardized: np.ndarray, leave_out_own: bool = False) -> np.ndarray:
        """Mean distance to the k nearest references, a chunk of rows at a time. Squared distances are
        |r|^2 - 2 x.r per reference, and the row's own |x|^2 is added to the k nearest only."""
        n_references = len(self.references_)
        k = max(1, min(int(self.n_neighbors), n_references))
        scores = np.empty(len(standardized))
        for start in range(0, len(standardized), self.CHUNK_ROWS):
            rows = standardized[start:start + self.CHUNK_ROWS]
            partial = self.reference_norms_ - 2.0 * (rows @ self.references_.T)
            if leave_out_own:
                self._leave_out_neighbourhood(partial, start, k)
            nearest = np.partition(partial, k - 1, axis=1)[:, :k] if k < n_references else partial
            squared = nearest + (rows ** 2).sum(axis=1)[:, None]
            scores[start:start + len(rows)] = np.sqrt(np.maximum(squared, 0.0)).mean(axis=1)
        return scores

    def _leave_out_neighbourhood(self, partial: np.ndarray, start: int, k: int) -> None:
        """Set to infinity, for training rows start, start + 1, ..., the references within exclusion_n rows
        of each (a contiguous band, the references being evenly spaced), unless fewer than k would be left
        (a short training window): such a row keeps them all."""
        own = np.arange(start, start + len(partial))
        first = np.clip(-(-(own - self.exclusion_n) // self.reference_step_), 0, len(self.references_))
        last = np.clip((own + self.exclusion_n) // self.reference_step_ + 1, first, len(self.references_))
        last = np.where(len(self.references_) - (last - first) < k, first, last)
        offsets = np.arange(int((last - first).max(initial=0)))
        columns = first[:, None] + offsets[None, :]
        inside = columns < last[:, None]
        partial[np.nonzero(inside)[0], columns[inside]] = np.inf


NUMPY_MODELS = {"pca": PcaScorer, "zmax": ZmaxScorer, "zscore": ZscoreScorer}  # fitted here, without PyOD
IMPORT_FREE_MODELS = (*NUMPY_MODELS, "knn")  # numpy only: neither PyOD nor scikit-learn is imported


def detector_class(name: str) -> type:
    """The PyOD class of model `name`; imports only that model's module (and what it needs)."""
    module_name, class_name, _ = _PYOD_MODELS[name]
    return getattr(importlib.import_module(module_name), class_name)


def build_detector(name: str, contamination: float, model_args: Optional[dict] = None,
                   model_path: Optional[str] = None):
    """A new, unfitted detector: a built-in PyOD one (its defaults here, then `model_args`), or the user's
    class a `package.module:Class` name gives, constructed with `model_args` alone."""
    if is_reference(name):
        return load_class(name, OFFLINE_METHODS, model_path)(**(model_args or {}))
    return detector_class(name)(**{"contamination": contamination, **_PYOD_MODELS[name][2], **(model_args or {})})


def fit_scorer(name: str, features: np.ndarray, contamination: float, model_args: Optional[dict] = None,
               model_path: Optional[str] = None, groups: Optional[np.ndarray] = None) -> Tuple[Scorer, np.ndarray]:
    """Fit model `name` on `features` (`zscore` scores its feature `groups` apart, see ZscoreScorer); return its
    scorer and the scores of the training rows (ValueError when they are not all finite)."""
    if name == "zscore":
        scorer = ZscoreScorer.fit(features, groups)
        return scorer, scorer.score(features)
    if name in NUMPY_MODELS:
        scorer = NUMPY_MODELS[name].fit(features)
        return scorer, scorer.score(features)
    if name == "knn":
        scorer = KnnScorer(**(model_args or {})).fit(features)
        return scorer, scorer.training_scores_
    detector = build_detector(name, contamination, model_args, model_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector.fit(features)
        scores = getattr(detector, "decision_scores_", None)
        if scores is None or len(scores) != len(features):  # a class of the user's need not keep them
            scores = detector.decision_function(features)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if len(scores) != len(features) or not np.isfinite(scores).all():
        raise ValueError("its training scores are not one finite number per row")
    return PyodScorer(detector), scores
