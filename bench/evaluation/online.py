# SPDX-License-Identifier: GPL-3.0-or-later
"""Replay one labelled series through the streaming module's own pipeline, as `OnlineJob.collect` runs it.

One row = one cycle, and the job's `update_every` is the series' interval (unless set); a recording is
modelled on the charts the job's `charts_regex` picks. The warm start
learns the rows of the training part the job would read at start (`warm_start_span_secs` over the
interval) with `StreamingBank.learn_history`; then every test row goes
through `FeatureWindow.push` and `stream_cycle`, scoring and learning in time order. Views: the server
model (every metric of the series in one custom model) and, with the bench setting `per_metric`, the
per-metric models beside it (probability = max over metrics, flag = any), as for the offline module.
"""
from __future__ import annotations

import time
from typing import Dict

import numpy as np

from anomalies.deviation import DeviationGate, streaming_judge
from anomalies.features import FeatureSpec, FeatureWindow
from anomalies_online.config import OnlineConfig, parse_config
from anomalies_online.stream import StreamingBank, stream_cycle

from .data import Series
from .detectors import PER_CHART, ViewFlaggers, columns_and_specs, view_names


def online_config(settings: Dict) -> OnlineConfig:
    """The streaming module's defaults with `settings` over them; a bad key is an error, not a fallback."""
    config = parse_config(settings)
    if config.problems:
        raise ValueError("; ".join(config.problems))
    return config


def replay_online(series: Series, names: list, settings: Dict):
    """(outputs, probability in [0, 1] per test row and output, flags likewise, seconds, the per-chart
    models' names and their probabilities per test row) for one series; `settings` are the module's keys
    and the bench setting `per_metric` (default off). Each view is flagged apart, as a job holds one."""
    started = time.monotonic()
    per_metric = settings.get("per_metric", False)
    config = online_config({"update_every": series.update_every,
                            **{k: v for k, v in settings.items() if k != "per_metric"}})
    series = series.charts_picked(config.charts_regex)
    columns, specs = columns_and_specs(series.name, series.metrics, per_metric=per_metric)
    feature_spec = FeatureSpec.from_config(config)
    bank = StreamingBank(config, feature_spec)
    bank.replan(specs)
    views = view_names(specs, per_metric)
    flagger = ViewFlaggers(config, views)
    history_rows = config.warm_start_span_secs() // config.update_every
    history = series.train[-history_rows:] if history_rows else series.train[:0]
    bank.learn_history(history)
    window = FeatureWindow(feature_spec, history[-feature_spec.window:])
    probability = np.zeros((len(series.test), len(bank.names)))
    flag = np.zeros((len(series.test), len(bank.names)), dtype=bool)
    rules = config.deviation_rules(bank.names)
    gate = DeviationGate()
    for t, row in enumerate(series.test):
        feature_row = window.push(row)
        if feature_row is None:
            continue
        cycle = stream_cycle(bank, flagger, feature_row, np.isfinite(row))
        flags, _ = gate.apply(bank.names, cycle.flags, cycle.levels, rules, streaming_judge(
            bank.models, rules, len(bank.columns), feature_spec.levels, row))
        scored = np.array(cycle.complete) & np.isfinite(cycle.probabilities)
        probability[t, scored] = cycle.probabilities[scored] / 100.0
        flag[t, scored] = flags[scored]
    positions = {view: [bank.names.index(name) for name in model_names] for view, model_names in views.items()}
    outputs = [(name, view) for name in names for view in positions]
    out_probability = np.stack([probability[:, positions[view]].max(axis=1) for _, view in outputs], axis=1)
    out_flag = np.stack([flag[:, positions[view]].any(axis=1) for _, view in outputs], axis=1)
    charts = views.get(PER_CHART, [])
    return (outputs, out_probability, out_flag, time.monotonic() - started, charts,
            probability[:, positions[PER_CHART]] if charts else None)
