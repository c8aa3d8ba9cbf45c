# SPDX-License-Identifier: GPL-3.0-or-later
"""Why a model is flagged: which of its dimensions drive its score, what each one was expected to be, and in
which direction it moved. Computed only when a flag rises, so its cost is off the per-cycle path.

- Expected value and band of a dimension: the median and the middle 95% of its raw values in the training
  window (offline), or its running mean +- 2 running standard deviations (streaming).
- Share of the score: PCA's score is a sum over components of distances, and a squared distance is a sum
  over features, so each feature's part of it is exact, and so is each feature's squared z in zscore's
  mean of squared z-scores; zmax's score is the largest |z| of a feature, so a
  dimension's share is its own largest |z| (the one that sets the score has the largest share); other
  offline models leave one dimension out (its
  features at their training means) and take the drop in score. Streaming models are read through their
  standardised features: each feature's squared z-score (zscore's own score, and the cheap equivalent for
  the others). Shares are summed per dimension and add up to 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np

from .columns import Column
from .models import PcaScorer, ZmaxScorer, ZscoreScorer

BAND_QUANTILES = (2.5, 50.0, 97.5)  # the band is the middle 95% of the training values, the median expected
BAND_ROWS = 2000  # training rows the band is read from, evenly spaced (a 95% band needs no more; 4 h is 14,400)
TOP_DIMENSIONS = 3  # dimensions named in a flag's log line, at most
MIN_SHARE = 0.05  # and only those with at least this share of the score (the largest always)


@dataclass
class ExpectedBand:
    """Per column: the expected value and the band of usual values (NaN where the column had none)."""

    expected: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def from_values(cls, values: np.ndarray) -> "ExpectedBand":
        """From training rows (time x columns): the median and the middle 95% of each column."""
        values = np.asarray(values, dtype=np.float64)
        values = values[::max(1, len(values) // BAND_ROWS)]
        columns = values.shape[1] if values.ndim == 2 else 0
        if len(values) == 0 or columns == 0:
            empty = np.full(columns, np.nan)
            return cls(empty, empty.copy(), empty.copy())
        finite = np.where(np.isfinite(values), values, np.nan)
        has_values = np.isfinite(finite).any(axis=0)
        low, expected, high = (np.full(columns, np.nan) for _ in range(3))
        if has_values.any():
            low[has_values], expected[has_values], high[has_values] = np.nanpercentile(
                finite[:, has_values], BAND_QUANTILES, axis=0)
        return cls(expected, low, high)

    @classmethod
    def from_running(cls, mean: np.ndarray, variance: np.ndarray) -> "ExpectedBand":
        """From a running mean and variance: mean +- 2 standard deviations."""
        spread = 2.0 * np.sqrt(np.maximum(variance, 0.0))
        return cls(np.asarray(mean, dtype=np.float64), mean - spread, mean + spread)


def pca_feature_shares(scorer: PcaScorer, features: np.ndarray) -> np.ndarray:
    """Each feature's exact part of a PCA score, for one row of the model's own features (sums to the score).

    The score is sum_j d_j / w_j with d_j^2 = sum_f (z_f - c_jf)^2, so feature f's part is
    sum_j (z_f - c_jf)^2 / (d_j w_j)."""
    z = (np.asarray(features, dtype=np.float64).ravel() - scorer.mean) / scorer.scale
    squared = (z[None, :] - scorer.components) ** 2
    distance = np.sqrt(squared.sum(axis=1))
    per_component = np.where(distance > 0, 1.0 / np.maximum(distance, 1e-300), 0.0) / scorer.weights
    return (squared * per_component[:, None]).sum(axis=0)


def leave_one_out_shares(score: Callable[[np.ndarray], float], features: np.ndarray, reference: np.ndarray,
                         groups: Sequence[np.ndarray]) -> np.ndarray:
    """Per group of features: how much the score drops when that group is set to `reference` (at least 0)."""
    features = np.asarray(features, dtype=np.float64).ravel()
    full = score(features)
    drops = np.zeros(len(groups))
    for g, index in enumerate(groups):
        replaced = features.copy()
        replaced[index] = reference[index]
        drops[g] = max(0.0, full - score(replaced))
    return drops


def per_dimension(feature_parts: np.ndarray, feature_columns: np.ndarray, model_columns: np.ndarray,
                  combine: np.ufunc = np.add) -> np.ndarray:
    """Feature parts combined per column of the model (in `model_columns` order; summed, or the largest
    with `combine=np.maximum`), as shares summing to 1 (all 0 when the parts are)."""
    position = {int(c): i for i, c in enumerate(model_columns)}
    combined = np.zeros(len(model_columns))
    combine.at(combined, [position[int(c)] for c in feature_columns], np.maximum(feature_parts, 0.0))
    total = combined.sum()
    return combined / total if total > 0 else combined


def streaming_parts(model, n_columns: int, levels: bool) -> tuple:
    """(per column of a streaming model (`anomalies_online.stream.StreamingModel`), its share of the newest
    sample's distance from the running statistics; its expected band from the running mean and variance of
    the level features, or None without them) for the sample it has just scored."""
    feature_columns = model.feature_index % n_columns
    shares = per_dimension(model.last_z_ ** 2, feature_columns, model.column_index)
    return shares, running_band(model) if levels else None


def running_band(model) -> ExpectedBand:
    """A streaming model's expected band per own column, from the running mean and variance of its level
    features (the last block of its features: a model built with `include_levels`)."""
    level = slice(len(model.feature_index) - len(model.column_index), None)
    return ExpectedBand.from_running(model.standardizer.mean_[level], model.standardizer.var_[level])


def format_number(value: float) -> str:
    """A value as a person reads it: 3-4 significant digits, `n/a` when it is not finite."""
    if not np.isfinite(value):
        return "n/a"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-2):
        return f"{value:.3g}"
    return f"{value:.4g}" if abs(value) >= 100 else f"{value:.3g}"


def describe_flag(model: str, columns: Sequence[Column], shares: np.ndarray, values: np.ndarray,
                  band: Optional[ExpectedBand], column_index: np.ndarray, top_n: int = TOP_DIMENSIONS,
                  band_index: Optional[np.ndarray] = None) -> str:
    """One log line for a rising flag: the dimensions with the largest shares, each with its value, the
    expected value and band, and the direction, e.g.
    `system.ram flagged: used 4100 (62% of the score), expected 2300 (1900 to 2700), above; ...`.
    `band` is per column of `columns` (offline), or per column of the model when `band_index` is
    `arange(len(column_index))` (streaming); without a band only values and shares are said."""
    parts: List[str] = []
    for i in np.argsort(-shares, kind="stable")[:top_n]:
        if shares[i] <= 0 or (parts and shares[i] < MIN_SHARE):
            break
        j = int(column_index[i])
        column, value = columns[j], float(values[j])
        name = column.dim if len({columns[int(k)].chart for k in column_index}) == 1 \
            else f"{column.chart}|{column.dim}"
        text = f"{name} {format_number(value)} ({100 * shares[i]:.0f}% of the score)"
        if band is not None:
            b = j if band_index is None else int(band_index[i])
            expected, low, high = float(band.expected[b]), float(band.low[b]), float(band.high[b])
            direction = "above" if value > expected else "below" if value < expected else "at"
            text += (f", expected {format_number(expected)} ({format_number(low)} to {format_number(high)}), "
                     f"{direction}" + (" but within the band" if low <= value <= high else ""))
        parts.append(text)
    return f"{model} flagged: " + ("; ".join(parts) if parts else "no dimension stands out")


def offline_shares(model, feature_row: np.ndarray, n_columns: int) -> np.ndarray:
    """Per column of a trained offline model (`scoring.TrainedModel`), its share of the score of `feature_row`
    (the feature row of all `n_columns` columns)."""
    own = model.features(feature_row)[0]
    feature_columns = model.feature_index % n_columns
    if isinstance(model.scorer, PcaScorer):
        parts = pca_feature_shares(model.scorer, own)
        return per_dimension(parts, feature_columns, model.column_index)
    if isinstance(model.scorer, ZmaxScorer):
        return per_dimension(np.nan_to_num(model.scorer.z(own[None, :])[0]), feature_columns, model.column_index,
                             np.maximum)
    if isinstance(model.scorer, ZscoreScorer):
        return per_dimension(np.nan_to_num(model.scorer.feature_parts(own[None, :])[0]), feature_columns,
                             model.column_index)
    groups = [np.flatnonzero(feature_columns == c) for c in model.column_index]
    reference = model.feature_mean if model.feature_mean is not None else np.zeros_like(own)
    drops = leave_one_out_shares(lambda x: float(model.scorer.score(x[None, :])[0]), own, reference, groups)
    total = drops.sum()
    return drops / total if total > 0 else drops


def log_explanation(log, model_name: str, explain: Callable[[], str]) -> None:
    """Log the line `explain` makes for a rising flag; if it fails, one warning instead (an explanation must
    never stop the scoring)."""
    try:
        log.info(explain())
    except Exception as error:  # noqa: BLE001 - any failure only costs the line
        log.warning(f"model '{model_name}': cannot say what drives its flag ({error!r})")


class RisingFlags:
    """Which models' flags rose this cycle (were down the cycle before, or the model is new)."""

    def __init__(self):
        self.flagged_: set = set()

    def update(self, names: Sequence[str], flags: np.ndarray) -> List[int]:
        """Positions of the models whose flag is up now and was not the cycle before."""
        now = {names[i] for i in np.flatnonzero(flags)}
        rising = [i for i in np.flatnonzero(flags) if names[i] not in self.flagged_]
        self.flagged_ = now
        return rising
