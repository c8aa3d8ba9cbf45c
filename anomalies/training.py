# SPDX-License-Identifier: GPL-3.0-or-later
"""From configuration and a training window to trained models: which models, on which columns, fitted."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .attribution import ExpectedBand
from .calibration import EmpiricalCalibrator
from .columns import Column
from .config import DEFAULTS, Config, parse_config
from .features import FeatureSpec
from .history import fetch_history
from .models import IMPORT_FREE_MODELS, PcaScorer, detector_class, fit_scorer
from .netdata_source import NetdataSource, import_netdata_pandas
from .planning import ModelSpec, list_charts, plan_models
from .scoring import ModelBank, TrainedModel
from .user_models import is_reference

Log = Callable[[str], None]
MIN_TRAINING_ROWS = 10
YOUNG_SHARE = 0.9  # of min_train_secs' rows a model's chart must have: a fetched window can be a few rows short
FALLBACK_MODEL = DEFAULTS["model"]  # what a model that fails to fit is trained as
RETRY_TRAINING_EVERY_N = 30  # cycles between attempts while no model could be trained


def cycles_to_next_training(config: Config, rows: int) -> int:
    """Cycles a job waits after a training on `rows` rows before the next one (0: never): while the window
    is young, about as many as it held, so that each training has about twice the rows; once it is full,
    `train_every_n`."""
    if rows < 0.9 * min(config.train_n_secs, config.train_max_n):
        return max(RETRY_TRAINING_EVERY_N, rows)
    return config.train_every_n


@dataclass
class TrainedState:
    """Everything the per-cycle path needs, swapped in whole after each training (and what a restart
    restores): the columns, the models, the last raw rows of the training window, how many rows it had, and
    each column's expected value and band (None in states saved before they existed)."""

    columns: List[Column]
    bank: ModelBank
    recent_values: np.ndarray
    rows: int
    band: Optional[ExpectedBand] = None
    planned: Optional[int] = None  # models planned, trained or not


def min_training_rows(config: Config, window_rows: int, feature_window: int) -> int:
    """Complete feature rows a model needs: about the history the job waits for before its first training
    (`Config.history_needed_secs`, in cycles; none with a fixed first window), or the training window's rows
    if it holds fewer (a young agent's), so that a chart younger than the rest (a new disk, a mount) waits as
    a young agent does instead of being trained on its first minutes. Never fewer than `MIN_TRAINING_ROWS`."""
    rows = config.history_needed_secs() // config.update_every
    return max(MIN_TRAINING_ROWS, int(YOUNG_SHARE * min(rows, window_rows)) - feature_window)


def train_models(specs: Sequence[ModelSpec], columns: List[Column], values: np.ndarray, config: Config,
                 warn: Log) -> TrainedState:
    """Fit one model per spec on the features of its columns; skip (and say why) what cannot be fitted."""
    feature_spec = FeatureSpec.from_config(config)
    index = {column: i for i, column in enumerate(columns)}
    least = min_training_rows(config, len(values), feature_spec.window)
    young = len(values) * config.update_every < config.levels_after_secs
    models, constant = [], []
    for spec in specs:
        column_index = np.array([index[c] for c in spec.columns])
        features = feature_spec.matrix(values[:, column_index])
        features = features[np.isfinite(features).all(axis=1)]
        if len(features) < least:
            warn(f"model '{spec.name}': only {len(features)} complete training rows of the {least} it needs "
                 "(its charts are younger than min_train_secs); not trained yet")
            continue
        usable = np.ptp(features, axis=0) > 0  # not std: one value held has a std of ~1e-15 from its mean's rounding
        if young:  # differences only: the window has not seen the range of the chart's level
            usable &= ~feature_spec.level_features(len(column_index))
        varying = np.flatnonzero(usable)
        if len(varying) == 0:
            constant.append(spec.name)
            continue
        feature_index = feature_spec.feature_index(column_index, len(columns))[varying]
        groups = feature_spec.feature_groups(feature_index, len(columns))
        model = _fit_one(spec, column_index, feature_index, features[:, varying], groups, config, warn)
        if model is not None:
            models.append(model)
    if constant:
        warn(f"{len(constant)} models are constant during the training window and not trained: "
             + ", ".join(constant))
    return TrainedState(columns, ModelBank(models), values[-feature_spec.window:], len(values),
                        ExpectedBand.from_values(values), len(specs))


def _fit_one(spec: ModelSpec, column_index: np.ndarray, feature_index: np.ndarray, features: np.ndarray,
             groups: np.ndarray, config: Config, warn: Log) -> Optional[TrainedModel]:
    feature_min = feature_span = None
    if spec.normalize:
        feature_min = features.min(axis=0)
        feature_span = np.where(features.max(axis=0) > feature_min, features.max(axis=0) - feature_min, 1.0)
        features = (features - feature_min) / feature_span
    try:
        scorer, train_scores = fit_scorer(config.model, features, config.contamination, config.model_args,
                                          config.model_path, groups)
    except Exception as error:  # noqa: BLE001 - e.g. CBLOF cannot separate clusters on this data
        if config.model == FALLBACK_MODEL:
            warn(f"model '{spec.name}': {config.model} failed to fit ({error}); not trained")
            return None
        warn(f"model '{spec.name}': {config.model} failed to fit ({error}); using {FALLBACK_MODEL} instead")
        scorer, train_scores = fit_scorer(FALLBACK_MODEL, features, config.contamination, groups=groups)
    try:
        calibrator = EmpiricalCalibrator(config.contamination).fit(train_scores)
    except ValueError as error:
        warn(f"model '{spec.name}': {error}; not trained")
        return None
    feature_mean = None if isinstance(scorer, PcaScorer) else features.mean(axis=0)  # PCA keeps its own
    return TrainedModel(spec.name, column_index, feature_index, scorer, calibrator, feature_min, feature_span,
                        feature_mean)


@dataclass
class TrainingOutcome:
    """What one training produced: the new state (None if nothing could be trained) and what to say."""

    state: Optional[TrainedState]
    warnings: List[str] = field(default_factory=list)
    import_seconds: float = 0.0
    seconds: float = 0.0


def train(config: Config, after: int, before: int) -> TrainingOutcome:
    """One whole training: import the model, list the charts, read the window, fit every model."""
    outcome = TrainingOutcome(None)
    started = time.monotonic()
    import_netdata_pandas()
    if config.model not in IMPORT_FREE_MODELS and not is_reference(config.model):  # a user's class was imported by the config
        detector_class(config.model)
    outcome.import_seconds = time.monotonic() - started
    started = time.monotonic()
    source = NetdataSource.for_config(config)
    charts_by_host = list_charts(source, config.hosts(), outcome.warnings.append)
    if not charts_by_host:
        return outcome  # no host answered: the warnings say so, and nothing else is wrong
    specs = plan_models(config, charts_by_host, outcome.warnings.append, config.custom_models_normalize)
    if not specs:
        outcome.warnings.append("no chart matches charts_regex and no custom model is usable: nothing to train")
        return outcome
    columns = list(dict.fromkeys(c for spec in specs for c in spec.columns))
    values = fetch_history(source, columns, after, before, config.train_max_n, outcome.warnings.append,
                           config.update_every)
    outcome.state = train_models(specs, columns, values, config, outcome.warnings.append)
    outcome.seconds = time.monotonic() - started
    return outcome


def train_from_settings(configuration: Dict[str, Any], after: int, before: int) -> TrainingOutcome:
    """`train` for a raw job configuration (what the training child process receives)."""
    return train(parse_config(configuration), after, before)
