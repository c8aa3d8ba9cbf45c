# SPDX-License-Identifier: GPL-3.0-or-later
"""Anomaly flags: a probability above a threshold on at least `min_n` of the last `window_n` cycles."""
from __future__ import annotations

from typing import Dict, Iterable

import numpy as np


class PersistenceFlagger:
    """Per-model persistence rule over the recent history of "probability >= threshold"."""

    def __init__(self, threshold: float = 99.0, min_n: int = 3, window_n: int = 5):
        self.threshold = threshold
        self.min_n = min_n
        self.window_n = window_n
        self.history_: Dict[str, int] = {}
        self._mask = (1 << window_n) - 1

    def update(self, names: Iterable[str], probabilities: np.ndarray) -> np.ndarray:
        """Record one cycle of probabilities (one per name, NaN = no value); return the flags (bool)."""
        flags = np.zeros(len(probabilities), dtype=bool)
        for i, (name, above) in enumerate(zip(names, probabilities >= self.threshold)):
            history = ((self.history_.get(name, 0) << 1) | int(above)) & self._mask
            self.history_[name] = history
            flags[i] = bin(history).count("1") >= self.min_n
        return flags

    def forget(self, names: Iterable[str]) -> None:
        """Drop the history of models that no longer exist."""
        for name in names:
            self.history_.pop(name, None)
