# SPDX-License-Identifier: GPL-3.0-or-later
"""Replay one labelled series through the streaming module's own pipeline, as `OnlineJob.collect` runs it.

One row = one cycle. The warm start learns the last `warm_start_secs` rows (in samples) of the training part
with `StreamingBank.learn_history`, as the job learns the agent's history at start; then every test row goes
through `FeatureWindow.push` and `stream_cycle`, scoring and learning in time order. The one view is the
server model (every metric of the series in one custom model): per-metric streaming models would multiply
the replay time by the number of metrics.
"""
from __future__ import annotations

import time
from typing import Dict

import numpy as np

from anomalies.features import FeatureSpec, FeatureWindow
from anomalies.flags import PersistenceFlagger
from anomalies_online.config import OnlineConfig, parse_config
from anomalies_online.stream import StreamingBank, stream_cycle

from .data import Series
from .detectors import SERVER, columns_and_specs


def online_config(settings: Dict) -> OnlineConfig:
    """The streaming module's defaults with `settings` over them; a bad key is an error, not a fallback."""
    config = parse_config(settings)
    if config.problems:
        raise ValueError("; ".join(config.problems))
    return config


def replay_online(series: Series, names: list, settings: Dict):
    """(outputs, probability in [0, 1] per test row, flags per test row, seconds) for one series."""
    started = time.monotonic()
    config = online_config(settings)
    columns, specs = columns_and_specs(series.name, series.metrics, per_metric=False)
    feature_spec = FeatureSpec(config.diffs_n, config.smooth_n, config.lags_n)
    bank = StreamingBank(config, feature_spec)
    bank.replan(specs[:1])
    flagger = PersistenceFlagger(config.flags_threshold, config.flags_min_n, config.flags_window_n)
    history = series.train[-config.warm_start_secs:] if config.warm_start_secs else series.train[:0]
    bank.learn_history(history)
    window = FeatureWindow(feature_spec, history[-feature_spec.window:])
    probability = np.zeros((len(series.test), 1))
    flag = np.zeros((len(series.test), 1), dtype=bool)
    for t, row in enumerate(series.test):
        feature_row = window.push(row)
        if feature_row is None:
            continue
        cycle = stream_cycle(bank, flagger, feature_row, np.isfinite(row))
        if cycle.complete[0] and np.isfinite(cycle.probabilities[0]):
            probability[t, 0], flag[t, 0] = cycle.probabilities[0] / 100.0, cycle.flags[0]
    outputs = [(name, SERVER) for name in names]
    return outputs, np.repeat(probability, len(names), axis=1), np.repeat(flag, len(names), axis=1), \
        time.monotonic() - started
