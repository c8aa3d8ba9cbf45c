# SPDX-License-Identifier: GPL-3.0-or-later
"""Replay one labelled series through a detector with the job's training schedule, in samples at the
series' interval (the job's `update_every`; `train_n_secs` seconds are `train_n_secs / interval` rows).

Mirrors `AnomaliesJob.collect` / `_training_due` with one sample = one cycle:
- initial training on the last `train_n_secs` (capped at `train_max_n`) rows of the training part; its
  hold falls in the training part, which is not scored;
- at step c a retraining is due when `c - last >= train_every_n` (or, while the last training had less
  than 90% of a full window, when `c - last >= max(30, rows trained on)`); it trains on the last
  `train_n_secs` rows before c (training + test rows so far, unlabelled, as the live job reads them);
- training takes one cycle (the job's minimum: started in cycle c, swapped in at c + 1), then
  `train_no_prediction_n` more cycles are held: outputs of steps c .. c + train_no_prediction_n repeat
  the last scored step's outputs, flags are not updated, but every row still enters the feature window.
A recording (bench/record) is modelled on the charts the configuration's `charts_regex` picks, as a job models
them; Netdata's ML on every chart. Netdata's ML is not held (the agent scores with its previous models while
it trains), and before its first training it trains on the earlier windows of the training part an agent
running since its first row would have trained on (`netdata_ml.pretraining_ends`): its ensemble of models is
complete from the start of the test part when the training part is long enough.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from anomalies.config import DEFAULTS, Config, parse_config
from anomalies.training import RETRY_TRAINING_EVERY_N, cycles_to_next_training

from .data import Series
from .detectors import CollectorDetector, Output
from .netdata_ml import KMEANS, KMEANS_NEWEST, NetdataKMeans, pretraining_ends
from .online import replay_online


def schedule(series: Series, settings: Optional[Dict] = None) -> Dict[str, int]:
    """The training schedule in rows: the window the job reads at the series' interval (`train_n_secs` of
    its settings over the interval, or the bench setting `window_rows` when set) capped at the training
    part, so the first training has a full window; retraining after 1/8 of the window, the defaults' ratio
    (train_every_n 1800 of 14400); train_no_prediction_n stays 10 cycles."""
    settings = settings or {}
    collector = {k: v for k, v in settings.items() if k not in BENCH_SETTINGS}
    config = parse_config({**collector, "update_every": series.update_every})
    rows = settings.get("window_rows") or config.train_n_secs // config.update_every
    window = max(1, min(rows, len(series.train)))
    every = int(round(window * DEFAULTS["train_every_n"] / DEFAULTS["train_n_secs"]))
    return {"train_n_secs": window, "train_every_n": max(RETRY_TRAINING_EVERY_N, every)}


# Settings of the replay itself, not of the collector: per-metric models besides the server model; a
# window of a fixed number of rows at every interval (0: the job's `train_n_secs` at the series' interval).
BENCH_SETTINGS = {"per_metric": True, "window_rows": 0}

# rule of a configuration -> kind of replay (the rules of one kind share a replay when their settings agree)
RULE_KINDS = {"ours": "collector", "upstream": "collector", KMEANS: "kmeans", KMEANS_NEWEST: "kmeans",
              "online": "online"}


@dataclass
class Task:
    """One replay: a series, the settings (parse_config keys, sample-scaled) and what to compute."""

    series: Series
    kind: str  # "collector", "kmeans" or "online"
    settings: Dict
    rules: Dict[str, str]  # configuration name -> a rule of RULE_KINDS

    def config(self) -> Config:
        settings = {k: v for k, v in self.settings.items() if k not in BENCH_SETTINGS}
        config = parse_config({**settings, "update_every": self.series.update_every,
                               **schedule(self.series, self.settings)})
        if config.problems:
            raise ValueError("; ".join(config.problems))
        return config

    def cost(self) -> float:
        """A rough guess of the relative run time, to start the longest replays first."""
        per_metric = self.settings.get("per_metric", True) and self.kind == "collector"
        if self.kind == "online":
            return len(self.series.test) * ONLINE_COST.get(self.settings.get("model", "zscore"), 1) * (
                1 + len(self.series.metrics) * self.settings.get("per_metric", False) / 4)
        return len(self.series.test) * (1 + len(self.series.train) / 5000) * (
            1 + len(self.series.metrics) * per_metric) * (
            4 if self.settings.get("model", "pca") in ("iforest", "copod", "ecod", "loda") else 1)


@dataclass
class Result:
    series: Series
    outputs: List[Output]
    probability: np.ndarray  # test rows × outputs, in [0, 1]
    flag: np.ndarray  # test rows × outputs
    seconds: float
    trainings: int
    training_seconds: float
    warnings: List[str] = field(default_factory=list)
    chart_names: List[str] = field(default_factory=list)  # per-chart models of the "ours" or streaming rule, if any
    chart_probability: Optional[np.ndarray] = None  # test rows × chart_names, in [0, 1] (NaN: no model)


# Relative cost per row of the streaming models (zscore 0.028 ms per row of a 4-metric model, measured).
ONLINE_COST = {"zscore": 1, "loda": 2.5, "hst": 7, "rshash": 10, "xstream": 36, "rrcf": 94}


def run(task: Task) -> Result:
    started = time.monotonic()
    series = task.series
    if task.kind == "online":
        outputs, probability, flag, seconds, charts, chart_probability = replay_online(
            series, list(task.rules), task.settings)
        return Result(series, outputs, probability.astype(np.float32), flag, seconds, 0, 0.0, [], charts,
                      None if chart_probability is None else chart_probability.astype(np.float32))
    config = task.config()
    if task.kind == "kmeans":  # Netdata's ML trains on every chart (less its own)
        detector = NetdataKMeans(task.rules, len(series.metrics), series.interval_s)
        hold_n = 0  # Netdata's ML keeps scoring with the previous models while training
    else:
        series = series.charts_picked(config.charts_regex)
        detector = CollectorDetector(config, series.name, series.metrics, task.rules,
                                     per_metric=task.settings.get("per_metric", BENCH_SETTINGS["per_metric"]))
        hold_n = 1 + config.train_no_prediction_n
    history = np.vstack([series.train, series.test])
    offset, steps = len(series.train), len(series.test)
    probability = np.zeros((steps, len(detector.outputs)))
    flag = np.zeros((steps, len(detector.outputs)), dtype=bool)
    chart_names = list(getattr(detector, "chart_names", []))
    chart_probability = np.full((steps, len(chart_names)), np.nan)
    training_seconds = 0.0

    def train(end: int) -> int:
        nonlocal training_seconds
        window = history[max(0, end - config.train_n_secs):end][-config.train_max_n:]
        began = time.monotonic()
        detector.train(window)
        training_seconds += time.monotonic() - began
        return len(window)

    if task.kind == "kmeans":  # the ensemble an agent running since the first training row has
        for end in pretraining_ends(offset, config.train_n_secs, config.train_every_n):
            train(end)
    trained_rows, last, t = train(offset), 0, 0
    while t < steps:
        wait = cycles_to_next_training(config, trained_rows)
        due = last + wait if wait > 0 else steps
        end = min(due, steps)
        if end > t:
            probability[t:end], flag[t:end] = detector.score(series.test[t:end])
            if chart_names:
                chart_probability[t:end] = detector.chart_probability
        t = end
        if t >= steps:
            break
        trained_rows, last = train(offset + t), t
        held = min(steps, t + hold_n)
        if held > t:
            detector.advance(series.test[t:held])
            if t > 0:
                probability[t:held], flag[t:held] = probability[t - 1], flag[t - 1]
                chart_probability[t:held] = chart_probability[t - 1]
            t = held
    return Result(task.series, detector.outputs, probability.astype(np.float32), flag, time.monotonic() - started,
                  detector.trainings, training_seconds, sorted(set(detector.warnings)), chart_names,
                  chart_probability.astype(np.float32) if chart_names else None)


def tasks_for(series: Series, configurations: List[Tuple[str, str, Dict]]) -> List[Task]:
    """Group the configurations into replays: collector configurations with the same settings ("ours"
    and "upstream" rules) share one replay, i.e. the same trained models."""
    grouped: Dict[Tuple[str, str], Task] = {}
    for name, rule, settings in configurations:
        kind = RULE_KINDS[rule]
        key = (kind, repr(sorted(settings.items())))
        task = grouped.setdefault(key, Task(series, kind, dict(settings), {}))
        task.rules[name] = rule
    return list(grouped.values())
