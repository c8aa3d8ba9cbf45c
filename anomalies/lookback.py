# SPDX-License-Identifier: GPL-3.0-or-later
"""What was unusual between two times: train the job's models on a reference window, replay a window of
interest through them as the collector would have scored it second by second, and rank charts and
dimensions by how long they were flagged, with each dimension's expected band and its change points.

The steps are the collector's own (planning, `train_models`, `FeatureWindow`, `score_cycle`, attribution),
so a report says what the `anomalies` job would have flagged had it run with these settings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .attribution import ExpectedBand, offline_shares
from .changepoints import ChangePoint, ChangePointDetector
from .columns import Column
from .config import Config
from .collection_clock import CollectionClock
from .features import FeatureSpec, FeatureWindow
from .flags import flagger_for, note_training
from .netdata_source import NetdataSource, describe_error
from .planning import ModelSpec, plan_models
from .scoring import score_cycle
from .training import train_models

Progress = Callable[[str, int, int], None]


class LookBackError(Exception):
    """Input the report cannot work with (unknown host, empty window, nothing matched): one clear sentence."""


@dataclass
class Window:
    """Raw values of some columns, one row per second: `timestamps` (unix s) × `values` (rows × columns)."""

    timestamps: np.ndarray
    values: np.ndarray


@dataclass
class ModelOutcome:
    """One model over the window of interest: per row its probability (0-100, NaN unscored), flag and score
    relative to its threshold; per own column, the share of the flagged time that dimension drove."""

    name: str
    column_index: np.ndarray
    probability: np.ndarray
    flags: np.ndarray
    score: np.ndarray
    driven: np.ndarray

    @property
    def anomaly_rate(self) -> float:
        """Share (0-1) of the window's rows on which the model was flagged."""
        return float(self.flags.mean()) if len(self.flags) else 0.0

    @property
    def peak_probability(self) -> float:
        return float(np.nanmax(self.probability)) if np.isfinite(self.probability).any() else float("nan")

    def stretches(self) -> List[Tuple[int, int]]:
        """Runs of flagged rows, as (first, last) row indices."""
        edges = np.diff(np.concatenate([[0], self.flags.astype(np.int8), [0]]))
        return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


@dataclass
class LookBack:
    """Everything a report shows: the window of interest, the reference band, every model's outcome and the
    change points, for the columns of `columns`."""

    host: str
    columns: List[Column]
    reference: Tuple[int, int, int]  # after, before, rows read
    window: Window
    band: ExpectedBand
    models: List[ModelOutcome]
    changes: List[ChangePoint]
    warnings: List[str] = field(default_factory=list)
    excess_: Optional[np.ndarray] = field(default=None, init=False, repr=False)

    def ranked_models(self) -> List[ModelOutcome]:
        """Models by anomaly rate, then peak probability (the most unusual first)."""
        return sorted(self.models, key=lambda m: (-m.anomaly_rate, -np.nan_to_num(m.peak_probability, nan=-1)))

    def band_excess(self) -> np.ndarray:
        """Per column, its largest distance outside the reference band during the window, in band widths
        (0 if it stayed inside); computed once, on the first call (the ranking and every plot ask for it)."""
        if self.excess_ is not None:
            return self.excess_
        values = self.window.values
        width = self.band.high - self.band.low
        width = np.where(width > 0, width, np.maximum(np.abs(self.band.expected) * 0.01, 1e-9))
        with np.errstate(invalid="ignore"):
            outside = np.maximum(values - self.band.high, self.band.low - values) / width
        self.excess_ = np.nan_to_num(np.nanmax(np.maximum(outside, 0.0), axis=0, initial=0.0), nan=0.0)
        return self.excess_

    def dimension_rates(self) -> np.ndarray:
        """Per column, the share of the window's rows its model was flagged for, weighted by that column's part
        in the model's score (a model flagged 10% of the time because of one of its dimensions gives that
        dimension 10%)."""
        rates = np.zeros(len(self.columns))
        for model in self.models:
            rates[model.column_index] += model.driven * model.anomaly_rate
        return rates

    def ranked_dimensions(self) -> List[int]:
        """Column positions by flagged time driven, then distance outside the band."""
        rates, excess = self.dimension_rates(), self.band_excess()
        return sorted(range(len(self.columns)), key=lambda j: (-rates[j], -excess[j]))

    def changes_of(self, columns: Sequence[int]) -> List[ChangePoint]:
        wanted = set(int(c) for c in columns)
        return [c for c in self.changes if c.column in wanted]


def read_window(source: NetdataSource, host: str, columns: Sequence[Column], after: int, before: int,
                log: Callable[[str], None]) -> Window:
    """Per-second values of `columns` on `host` between two timestamps (forward-filled by netdata-pandas;
    rows before the first sample dropped)."""
    charts = list(dict.fromkeys(c.chart for c in columns))
    try:
        frame = source.training_window(host, charts, after, before, log, keep_time=True)
    except ValueError as error:
        if "No objects to concatenate" not in str(error):
            raise
        return Window(np.empty(0), np.empty((0, len(columns))))  # netdata-pandas: no chart had a row
    frame = frame.reindex(columns=[f"{c.chart}|{c.dim}" for c in columns])
    values = frame.to_numpy(dtype=np.float64)
    keep = ~np.isnan(values).all(axis=1) if values.size else np.zeros(len(values), dtype=bool)
    return Window(frame.index.to_numpy(dtype=np.float64)[keep], values[keep])


def look_back(config: Config, after: int, before: int, train_after: int, train_before: int,
              progress: Optional[Progress] = None, source: Optional[NetdataSource] = None) -> LookBack:
    """Train `config`'s models on [train_after, train_before], score [after, before] and find change points;
    raise LookBackError on input it cannot use."""
    source = source or NetdataSource.for_config(config)
    warnings: List[str] = []
    say = progress or (lambda *_: None)
    try:
        charts = source.chart_dimensions(config.host)
    except Exception as error:  # noqa: BLE001 - any failure here means: no such agent or host
        raise LookBackError(f"cannot list the charts of '{config.host}': {describe_error(error)}") from error
    specs = plan_models(config, {config.host: charts}, warnings.append)
    specs = [s for s in specs if all(c.host == config.host for c in s.columns)]
    if not specs:
        raise LookBackError(f"no chart of '{config.host}' matches '{config.charts_regex.pattern}'")
    columns = list(dict.fromkeys(c for spec in specs for c in spec.columns))
    say(f"reading the reference window ({len(specs)} charts)", 0, 3)
    reference = _read(source, config.host, columns, train_after, train_before, "reference window", warnings)
    say("reading the window of interest", 1, 3)
    window = _read(source, config.host, columns, after, before, "window of interest", warnings)
    say(f"training {len(specs)} models on {len(reference.values)} rows", 2, 3)
    state = train_models(specs, columns, reference.values, config, warnings.append)
    if not state.bank.models:
        raise LookBackError("no model could be trained on the reference window (constant or too short): "
                            + "; ".join(warnings[-3:]))
    models = _replay(specs, state, config, reference, window, say)
    detector = ChangePointDetector()
    changes = detector.find(window.values, np.nanstd(reference.values, axis=0))
    return LookBack(config.host, columns, (train_after, train_before, len(reference.values)), window,
                    state.band, models, changes, warnings)


def _read(source: NetdataSource, host: str, columns: Sequence[Column], after: int, before: int, what: str,
          warnings: List[str]) -> Window:
    try:
        window = read_window(source, host, columns, after, before, warnings.append)
    except Exception as error:  # noqa: BLE001
        raise LookBackError(f"cannot read the {what} from '{host}': {describe_error(error)}") from error
    if len(window.values) == 0:
        raise LookBackError(f"the {what} ({after} to {before}) holds no data on '{host}'")
    return window


def _replay(specs: Sequence[ModelSpec], state, config: Config, reference: Window, window: Window,
            say: Progress) -> List[ModelOutcome]:
    """Score every row of the window as the collector's cycles would, continuing from the reference window
    when the two meet (otherwise the first rows only fill the feature window)."""
    spec = FeatureSpec.from_config(config)
    bank = state.bank
    feature_window = FeatureWindow(spec, reference.values[-spec.window:])
    # The rows are a second apart; one the reference window holds too (they may share their edge) is not
    # scored twice, and a second missing from the history is filled in, as the collector's cycles do.
    clock = CollectionClock(1)
    if len(reference.timestamps):
        clock.advance(int(reference.timestamps[-1]))
    flagger = flagger_for(config)
    note_training(flagger, state.rows * config.update_every)
    rows, n_models, n_columns = len(window.values), len(bank.models), len(state.columns)
    # float32: a day at 1 s over 200 models is 70 MB per array
    probability = np.full((rows, n_models), np.nan, dtype=np.float32)
    flags = np.zeros((rows, n_models), dtype=bool)
    score = np.full((rows, n_models), np.nan, dtype=np.float32)
    driven = [np.zeros(len(m.column_index)) for m in bank.models]
    for i, row in enumerate(window.values):
        if i % 600 == 0:
            say("scoring", i, rows)
        samples = clock.advance(int(window.timestamps[i]))
        if samples == 0:  # the second before again
            flagger.update(bank.names, np.full(n_models, np.nan))
            continue
        if samples is None:  # before the reference window's end: nothing to continue from
            feature_window.restart()
        feature_row = feature_window.push(row, missed=(samples or 1) - 1)
        if feature_row is None:
            flagger.update(bank.names, np.full(n_models, np.nan))
            continue
        cycle = score_cycle(bank, flagger, feature_row, np.isfinite(row))
        probability[i], flags[i], score[i] = cycle.probabilities, cycle.flags, cycle.normalized
        for m in np.flatnonzero(cycle.flags):
            driven[m] += offline_shares(bank.models[m], feature_row, n_columns)
    say("scoring", rows, rows)
    outcomes = []
    for m, model in enumerate(bank.models):
        flagged = max(1, int(flags[:, m].sum()))
        outcomes.append(ModelOutcome(model.name, model.column_index, probability[:, m], flags[:, m],
                                     score[:, m], driven[m] / flagged))
    return outcomes
