# SPDX-License-Identifier: GPL-3.0-or-later
"""Streaming calibration: a score's probability is its rank among the model's own recent scores."""
from __future__ import annotations

import numpy as np

from anomalies.calibration import MIN_TAIL_SCORES, pareto_fit, pareto_survival, relative_to_threshold

TAIL_SHARE = 0.02  # the top 2% of recent scores fit the tail
SCORE_DTYPE = np.float32


class RollingCalibrator:
    """Empirical CDF of the last `window_n` scores, kept sorted in arrays allocated once (a model's memory
    does not grow while its window fills): O(log n) to read, one O(n) memmove to update. Scores are kept as
    float32 (28 KiB a model at 3,600: a parent with 16 children runs ~3,600 models); their 7 digits
    leave ranks among distinct scores as they are.

    - `probability(s)`: percentage of recent scores strictly below s, as the offline calibrator does with
      training scores; NaN before the first score. In the top TAIL_SHARE the CDF is a generalised Pareto
      distribution fitted to those scores (peaks over threshold, as extreme value theory's SPOT does): a
      window of 3,600 scores cannot say "1 in 100,000" empirically, and flags that are rare on stationary
      data need that resolution, because streaming scores come in runs (a run of 5 new highs is one
      ordinary excursion).
    - `normalized(s)`: (s - min) / (threshold - min) over the window, the threshold being its
      1 - contamination quantile: above 1 means beyond what the recent past reached.
    """

    def __init__(self, window_n: int = 3600, contamination: float = 0.001):
        self.window_n = window_n
        self.contamination = contamination
        # written whole now, so that their pages are resident from the start, not as the window fills
        self.recent_ = np.full(window_n, np.nan, dtype=SCORE_DTYPE)  # ring buffer, oldest at next_ once full
        self.sorted_ = np.full(window_n, np.nan, dtype=SCORE_DTYPE)  # the first n_ entries, ascending
        self.n_ = 0
        self.next_ = 0

    def __getstate__(self) -> dict:
        """Pickled without the sorted copy, which loading rebuilds, and without the ring's unused tail; a
        view, not a copy (a pickler keeps every object it pickled alive until it is done)."""
        state = self.__dict__.copy()
        state.update(recent_=self.recent_[:self.n_], sorted_=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        scores = self.recent_
        self.recent_ = np.full(self.window_n, np.nan, dtype=SCORE_DTYPE)
        self.recent_[:len(scores)] = scores
        self.sorted_ = np.full(self.window_n, np.nan, dtype=SCORE_DTYPE)
        self.sorted_[:len(scores)] = np.sort(self.recent_[:len(scores)])

    def probability(self, score: float) -> float:
        n = self.n_
        if n == 0 or score != score:
            return float("nan")
        window = self.sorted_[:n]
        n_tail = max(MIN_TAIL_SCORES, int(TAIL_SHARE * n))
        if n > n_tail and score > window[n - n_tail - 1]:
            base = float(window[n - n_tail - 1])
            survival = pareto_survival(score - base, *pareto_fit(window[n - n_tail:].astype(np.float64) - base))
            return float(100.0 * (1.0 - n_tail / n * survival))
        return 100.0 * int(np.searchsorted(window, SCORE_DTYPE(score), side="left")) / n

    def normalized(self, score: float) -> float:
        n = self.n_
        if n == 0 or score != score:
            return float("nan")
        low = float(self.sorted_[0])
        threshold = float(self.sorted_[min(n - 1, int((1.0 - self.contamination) * n))])
        return float(relative_to_threshold(score, low, max(threshold - low, 1e-12)))

    def learn(self, score: float) -> None:
        """Add a score (NaN is ignored), dropping the oldest once the window is full."""
        if score != score:
            return
        score = SCORE_DTYPE(score)
        n = self.n_
        if n == self.window_n:
            i = int(np.searchsorted(self.sorted_[:n], self.recent_[self.next_], side="left"))
            self.sorted_[i:n - 1] = self.sorted_[i + 1:n]
            n -= 1
        j = int(np.searchsorted(self.sorted_[:n], score, side="right"))
        self.sorted_[j + 1:n + 1] = self.sorted_[j:n]
        self.sorted_[j] = score
        self.n_ = n + 1
        self.recent_[self.next_] = score
        self.next_ = (self.next_ + 1) % self.window_n
