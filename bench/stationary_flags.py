#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Flags per chart on a stationary day, per streaming flag rule: the promise behind the streaming defaults.

Streams one synthetic day (AR(1) noise, two charts Gaussian, one with t(3) shocks; the data of
tests/test_online.py) through the streaming module with its defaults (or `--set key=value`), then re-applies
each flag rule of the grid to the probabilities and prints how many flags each chart raised.

    .venv/bin/python bench/stationary_flags.py [--set include_levels=false]
"""
from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "bench"), os.path.join(REPO, "tests")]

import numpy as np  # noqa: E402

from anomalies_online.config import parse_config  # noqa: E402
from evaluation.metrics import runs  # noqa: E402
from evaluation.sweep import persistent_flags  # noqa: E402
from test_online import _ar1, _stream  # noqa: E402

GRID = [(t, m, w) for t in (99.5, 99.9, 99.95, 99.97, 99.98, 99.99, 99.995, 99.999)
        for m, w in ((2, 3), (3, 5), (4, 8), (6, 8), (5, 10), (7, 10))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], help="a streaming setting key=value")
    args = parser.parse_args()
    settings = {}
    for pair in args.set:
        key, _, value = pair.partition("=")
        settings[key] = {"true": True, "false": False}.get(value.lower(), value)
    rng = np.random.default_rng(2)
    day = 86400
    values = np.hstack([_ar1(rng, day, 6), _ar1(rng, day, 3, heavy=True)])
    config = parse_config(settings)
    _, probabilities = _stream(config, values)
    print(f"settings {settings or 'defaults'}; flags per chart in one stationary day (charts: 2 Gaussian, 1 t(3))")
    print("| flags_threshold | min_n of window_n | flags per chart |\n|---:|---:|---|")
    own = (config.flags_threshold, config.flags_min_n, config.flags_window_n)
    for threshold, min_n, window_n in GRID + ([own] if own not in GRID else []):
        counts = [len(runs(persistent_flags(column / 100.0, threshold, min_n, window_n))) for column in probabilities.T]
        print(f"| {threshold:g} | {min_n} of {window_n} | {', '.join(map(str, counts))} |")
    if config.flags_spike_threshold is not None:
        spike = (config.flags_spike_threshold, config.flags_spike_min_n, config.flags_spike_window_n)
        counts = [len(runs(persistent_flags(column / 100.0, *own) | persistent_flags(column / 100.0, *spike)))
                  for column in probabilities.T]
        print(f"| {own[0]:g}, or {spike[0]:g} | {own[1]} of {own[2]}, or {spike[1]} of {spike[2]} | "
              f"{', '.join(map(str, counts))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
