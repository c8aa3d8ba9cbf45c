# SPDX-License-Identifier: GPL-3.0-or-later
"""Streaming detectors. Each one scores a standardised feature vector, then learns it (river's
score-then-learn order, so a sample is never judged by a model that has already seen it)."""
from __future__ import annotations

import warnings
from collections import deque
from typing import TYPE_CHECKING, Deque, Dict, Protocol, Tuple

import numpy as np

from .standardize import Z_LIMIT

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


def make_detector(config: OnlineConfig, n_features: int) -> Detector:
    """The detector `config.model` names, for standardised vectors of `n_features` (each within ±Z_LIMIT)."""
    if config.model == "zscore":
        return ZScoreDetector()
    if config.model == "rrcf":
        return RRCFDetector(config.num_trees, config.tree_size, config.shingle_size)
    bounds = np.full(n_features, -Z_LIMIT), np.full(n_features, Z_LIMIT)
    if config.model == "xstream":
        from pysad.models import xStream
        return PysadDetector(xStream(random_state=SEED))
    if config.model == "hst":
        from pysad.models import HalfSpaceTrees
        return PysadDetector(HalfSpaceTrees(*bounds, random_state=SEED))
    if config.model == "rshash":
        from pysad.models import RSHash
        return PysadDetector(RSHash(*bounds, random_state=SEED))
    if config.model == "loda":
        from pysad.models import LODA
        return PysadDetector(LODA(random_state=SEED))
    raise ValueError(f"unknown streaming model {config.model!r}")
