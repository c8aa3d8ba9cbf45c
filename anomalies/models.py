# SPDX-License-Identifier: GPL-3.0-or-later
"""Detectors trained on feature matrices: `pca`, `zscore` and `zmax` computed here in numpy (neither training nor
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
    which hold mostly noise, outweigh the rest."""

    def score(self, features: np.ndarray) -> np.ndarray:
        return (self.z(features) ** 2).mean(axis=1)


NUMPY_MODELS = {"pca": PcaScorer, "zmax": ZmaxScorer, "zscore": ZscoreScorer}  # fitted here, without PyOD


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
               model_path: Optional[str] = None) -> Tuple[Scorer, np.ndarray]:
    """Fit model `name` on `features`; return its scorer and the scores of the training rows (ValueError
    when they are not all finite)."""
    if name in NUMPY_MODELS:
        scorer = NUMPY_MODELS[name].fit(features)
        return scorer, scorer.score(features)
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
