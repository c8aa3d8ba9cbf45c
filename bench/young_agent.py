#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""How long must a young agent's history be before the first models are trained? Evidence for
`min_train_secs`.

On the fault-free part of a Netdata recording (`bench/data/netdata/<name>/train.csv.gz`, 1 s rows), for each
candidate first-training age M: one model per chart as a job with the defaults plans them (its
`charts_regex`, less the uptime charts), first trained on the first M minutes, retrained as a young job is
(each time it has about twice the rows), and scored on every later fault-free row. Printed per M: flag
events (runs of flags of one model) per hour, alarm raises per hour of the shipped health rule
`anomalies_model_flagged` (one model flagged for more than half of the last 2 minutes, checked every 10 s,
cleared at 25%), and the share of model-seconds flagged, over all the rows after the first training and over
the rows every M scores (after the largest M). Every flag here is a false alarm.

    .venv/bin/python bench/young_agent.py [--data bench/data/netdata/netdata-vm] [--minutes 2 5 10 15 20]
    .venv/bin/python bench/young_agent.py --set flags_threshold=99.9 --set flags_min_n=3 --set flags_window_n=5
"""
from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from typing import Dict, List

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from anomalies.columns import Column  # noqa: E402
from anomalies.config import Config, parse_config  # noqa: E402
from anomalies.features import FeatureSpec, FeatureWindow  # noqa: E402
from anomalies.flags import flagger_for, note_training  # noqa: E402
from anomalies.planning import plan_models  # noqa: E402
from anomalies.scoring import score_cycle  # noqa: E402
from anomalies.training import cycles_to_next_training, train_models  # noqa: E402

# health.d/anomalies.conf, anomalies_model_flagged: every 10 s, the flagged share of the last 2 minutes warns
# above 50% and, once warning, stays so while above 25%
ALARM_WINDOW_S, ALARM_EVERY_S, ALARM_RAISE, ALARM_HOLD = 120, 10, 0.5, 0.25


def load_fault_free(path: str) -> tuple:
    """(columns `chart|dim`, rows) of a recording's fault-free part."""
    with gzip.open(os.path.join(path, "train.csv.gz"), "rt") as handle:
        header = handle.readline().strip().split(",")
        rows = np.loadtxt(handle, delimiter=",", ndmin=2)
    return header, rows


def chart_specs(header: List[str], config: Config) -> tuple:
    """(columns, models) as a job with `config` plans them: the charts `charts_regex` picks, less
    `charts_to_exclude` (the uptime charts)."""
    columns = [Column(config.host, *name.split("|", 1)) for name in header]
    dims: Dict[str, List[str]] = {}
    for column in columns:
        dims.setdefault(column.chart, []).append(column.dim)
    return columns, plan_models(config, {config.host: dims}, print)


def replay(columns, specs, rows: np.ndarray, first_s: int, config: Config) -> Dict[str, np.ndarray]:
    """Train at `first_s`, retrain as a young job does, score every later row: each model's flags."""
    spec = FeatureSpec.from_config(config)
    flagger = flagger_for(config)
    warnings: List[str] = []
    flags: Dict[str, np.ndarray] = {}  # per model, per row of `rows`: flagged?
    t, last_training, state, window = first_s, None, None, None
    hold = 0
    while t < len(rows):
        due = last_training is None or t - last_training >= (cycles_to_next_training(config, state.rows)
                                                             or len(rows))
        if due:
            state = train_models(specs, columns, rows[:t], config, warnings.append)
            last_training, hold = t, 1 + config.train_no_prediction_n
            window = FeatureWindow(spec, rows[t - spec.window:t])
            flagger.forget(set(flags) - set(state.bank.names))
            note_training(flagger, state.rows * config.update_every)
        feature_row = window.push(rows[t])
        if hold > 0:
            hold -= 1
        elif feature_row is not None:
            cycle = score_cycle(state.bank, flagger, feature_row, np.isfinite(rows[t]))
            for name, flag in zip(state.bank.names, cycle.flags):
                flags.setdefault(name, np.zeros(len(rows), dtype=bool))[t] = flag
        t += 1
    return flags


def counts(flags: Dict[str, np.ndarray], start: int) -> Dict[str, float]:
    """Flag events, alarm raises (per hour) and flagged share over each model's flags from row `start` on."""
    events = alarms = flagged = total = 0
    for series in flags.values():
        f = series[start:]
        events += int(np.sum(f[1:] & ~f[:-1]) + f[0])
        flagged, total = flagged + int(f.sum()), total + len(f)
        raised = False
        for end in range(ALARM_WINDOW_S, len(f) + 1, ALARM_EVERY_S):
            share = f[end - ALARM_WINDOW_S:end].mean()
            now = share > (ALARM_HOLD if raised else ALARM_RAISE)
            alarms += int(now and not raised)
            raised = now
    hours = (len(next(iter(flags.values()))) - start) / 3600
    return {"hours": hours, "events_per_h": events / hours, "alarms_per_h": alarms / hours,
            "flagged_share": flagged / max(total, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                                                       "netdata", "netdata-vm"))
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 2, 5, 10, 15, 20, 25])
    parser.add_argument("--set", action="append", default=[], help="a setting key=value (default: the defaults)")
    args = parser.parse_args()
    settings = dict(pair.partition("=")[::2] for pair in args.set)
    config = parse_config(settings)
    if config.problems:
        parser.error("; ".join(config.problems))
    header, rows = load_fault_free(args.data)
    columns, specs = chart_specs(header, config)
    print(f"{args.data}: {len(rows)} fault-free rows at 1 s, {len(specs)} charts; settings {settings or 'defaults'}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.1f}")
    common = int(max(args.minutes) * 60)
    print(f"| first training after | models | flag events / h | alarm raises / h | model-seconds flagged | "
          f"the same from minute {max(args.minutes):g} on: flag events / h | alarm raises / h |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for minutes in args.minutes:
        first = int(minutes * 60)
        flags = replay(columns, specs, rows, first, config)
        every, late = counts(flags, first), counts(flags, common)
        print(f"| {minutes:g} min | {len(flags)} | {every['events_per_h']:.1f} | {every['alarms_per_h']:.1f} | "
              f"{100 * every['flagged_share']:.2f}% | {late['events_per_h']:.1f} | {late['alarms_per_h']:.1f} |")

if __name__ == "__main__":
    main()
