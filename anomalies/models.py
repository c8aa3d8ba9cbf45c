# SPDX-License-Identifier: GPL-3.0-or-later
"""PyOD detectors: built lazily (only the configured model's module is imported), trained on feature
matrices, and turned into scorers that keep PyOD's per-call overhead off the per-cycle path."""
from __future__ import annotations

import importlib
import warnings
from typing import Callable, Dict, Protocol, Tuple

import numpy as np

# model name -> (module, class, constructor arguments besides contamination)
_PYOD_MODELS: Dict[str, Tuple[str, str, dict]] = {
    "pca": ("pyod.models.pca", "PCA", {}),
    "hbos": ("pyod.models.hbos", "HBOS", {}),
    "iforest": ("pyod.models.iforest", "IForest", {"n_estimators": 50, "random_state": 0}),
    "cblof": ("pyod.models.cblof", "CBLOF", {"n_clusters": 3, "random_state": 0}),
    "loda": ("pyod.models.loda", "LODA", {}),
    "copod": ("pyod.models.copod", "COPOD", {}),
    "ecod": ("pyod.models.ecod", "ECOD", {}),
}


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
    """PyOD's PCA score in plain numpy: sum over the selected components of the distance between the
    standardised row and the component, divided by the component's explained-variance ratio."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, components: np.ndarray, weights: np.ndarray):
        self.mean = mean
        self.scale = scale
        self.components = components
        self.weights = np.maximum(weights, 1e-6)

    @classmethod
    def from_pyod(cls, detector) -> "PcaScorer":
        scaler = detector.scaler_
        return cls(scaler.mean_, scaler.scale_, detector.selected_components_,
                   detector.selected_w_components_)

    def score(self, features: np.ndarray) -> np.ndarray:
        standardized = (features - self.mean) / self.scale
        squared = ((standardized[:, None, :] - self.components[None, :, :]) ** 2).sum(axis=2)
        return (np.sqrt(squared) / self.weights).sum(axis=1)


_FAST_SCORERS: Dict[str, Callable[[object], Scorer]] = {"pca": PcaScorer.from_pyod}


def detector_class(name: str) -> type:
    """The PyOD class of model `name`; imports only that model's module (and what it needs)."""
    module_name, class_name, _ = _PYOD_MODELS[name]
    return getattr(importlib.import_module(module_name), class_name)


def build_detector(name: str, contamination: float):
    """A new, unfitted PyOD detector."""
    return detector_class(name)(contamination=contamination, **_PYOD_MODELS[name][2])


def fit_scorer(name: str, features: np.ndarray, contamination: float) -> Tuple[Scorer, np.ndarray]:
    """Fit model `name` on `features`; return its scorer and the scores of the training rows."""
    detector = build_detector(name, contamination)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector.fit(features)
    fast = _FAST_SCORERS.get(name)
    if fast is None:
        return PyodScorer(detector), np.asarray(detector.decision_scores_, dtype=np.float64)
    scorer = fast(detector)
    return scorer, scorer.score(features)
