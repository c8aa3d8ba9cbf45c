# SPDX-License-Identifier: GPL-3.0-or-later
"""Streaming detectors. Each one scores a standardised feature vector, then learns it (river's
score-then-learn order, so a sample is never judged by a model that has already seen it)."""
from __future__ import annotations

import math
import warnings
from collections import deque
from typing import TYPE_CHECKING, Deque, Dict, Optional, Protocol, Tuple

import numpy as np

from anomalies.user_models import STREAMING_METHODS, is_reference, load_class

if TYPE_CHECKING:  # the configuration checks its model against LIBRARIES: imported there, not here
    from .config import OnlineConfig

SEED = 0  # every detector is seeded: the same stream gives the same scores
# model name -> the libraries it imports, for `anomalies.extras.installed_only` (zscore is numpy only)
LIBRARIES: Dict[str, Tuple[str, ...]] = {"rrcf": ("rrcf", "pkg_resources"), "xstream": ("pysad",),
                                         "hst": ("pysad",), "rshash": ("pysad",), "loda": ("pysad",)}


class Detector(Protocol):
    def score_learn_one(self, z: np.ndarray) -> float:
        """Anomaly score of `z` (higher is more anomalous; NaN while warming up), then learn `z`."""


class ZScoreDetector:
    """Mean squared z-score of the features: how far, in recent standard deviations, this sample is from the
    recent mean. It learns nothing itself: the running standardisation is its whole state."""

    def score_learn_one(self, z: np.ndarray) -> float:
        return float(np.mean(z * z))


class RRCFDetector:
    """Robust random cut forest (the `rrcf` package): `num_trees` trees of the last `tree_size` points, each
    point `shingle_size` consecutive feature vectors; the score is the mean collusive displacement."""

    def __init__(self, num_trees: int = 10, tree_size: int = 256, shingle_size: int = 1):
        with warnings.catch_warnings():  # rrcf imports pkg_resources, which warns about itself
            warnings.simplefilter("ignore")
            import rrcf
        self.tree_size = tree_size
        self.forest_ = [rrcf.RCTree(random_state=SEED + i) for i in range(num_trees)]
        self.shingle_: Deque[np.ndarray] = deque(maxlen=shingle_size)
        self.index_ = 0

    def score_learn_one(self, z: np.ndarray) -> float:
        self.shingle_.append(z)
        if len(self.shingle_) < self.shingle_.maxlen:
            return float("nan")
        point = np.concatenate(self.shingle_)
        total = 0.0
        for tree in self.forest_:
            if len(tree.leaves) >= self.tree_size:
                tree.forget_point(self.index_ - self.tree_size)
            tree.insert_point(point, index=self.index_)
            total += tree.codisp(self.index_)
        self.index_ += 1
        return total / len(self.forest_)


class PysadDetector:
    """A PySAD model: `score_partial`, then `fit_partial`."""

    def __init__(self, model):
        self.model = model

    def score_learn_one(self, z: np.ndarray) -> float:
        score = float(np.asarray(self.model.score_partial(z)).ravel()[0])
        self.model.fit_partial(z)
        return score


class UserDetector:
    """A river-style model of the user's (`learn_one(x)`, `score_one(x)`, x a dict `{"f0": z0, ...}` of the
    standardised features): it scores, then learns. When it raises or gives a score that is not a finite
    number, it is replaced by `ZScoreDetector` for good and `failure_` says why (the job logs it once)."""

    def __init__(self, model):
        self.model = model
        self.failure_: Optional[str] = None
        self.fallback_: Optional[ZScoreDetector] = None

    def score_learn_one(self, z: np.ndarray) -> float:
        if self.fallback_ is None:
            x = {f"f{i}": float(v) for i, v in enumerate(z)}
            try:
                score = float(self.model.score_one(x))
                self.model.learn_one(x)
                if math.isfinite(score):
                    return score
                self.failure_ = f"score_one returned {score}"
            except Exception as error:  # noqa: BLE001 - the user's code may fail in any way
                self.failure_ = f"{type(error).__name__}: {error}"
            self.fallback_ = ZScoreDetector()
        return self.fallback_.score_learn_one(z)


def make_detector(config: OnlineConfig, n_features: int) -> Detector:
    """The detector `config.model` names (a built-in one with `model_args` besides its defaults, or the
    user's class), for standardised vectors of `n_features` (each within ±`config.z_limit`). ValueError when the
    user's class cannot be constructed with `model_args`."""
    args = config.model_args
    if is_reference(config.model):
        try:
            return UserDetector(load_class(config.model, STREAMING_METHODS, config.model_path)(**args))
        except Exception as error:  # noqa: BLE001 - its constructor may fail in any way
            raise ValueError(f"{config.model}(**model_args) failed: {type(error).__name__}: {error}") from error
    if config.model == "zscore":
        return ZScoreDetector()
    if config.model == "rrcf":
        return RRCFDetector(config.num_trees, config.tree_size, config.shingle_size)
    bounds = np.full(n_features, -config.z_limit), np.full(n_features, config.z_limit)
    if config.model == "xstream":
        from pysad.models import xStream
        return PysadDetector(xStream(**{"random_state": SEED, **args}))
    if config.model == "hst":
        from pysad.models import HalfSpaceTrees
        return PysadDetector(HalfSpaceTrees(*bounds, **{"random_state": SEED, **args}))
    if config.model == "rshash":
        from pysad.models import RSHash
        return PysadDetector(RSHash(*bounds, **{"random_state": SEED, **args}))
    if config.model == "loda":
        from pysad.models import LODA
        return PysadDetector(LODA(**{"random_state": SEED, **args}))
    raise ValueError(f"unknown streaming model {config.model!r}")
