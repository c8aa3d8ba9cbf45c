# SPDX-License-Identifier: GPL-3.0-or-later
"""Labelled series from directories in the documented formats (see ../shared/eval/README.md).

- Multivariate (SMD, ASD and alike): `<dir>/<series>/train.csv.gz` (unlabelled) and `test.csv.gz` with a
  `label` column; an optional `interpretation_label.txt` is not needed here.
- NAB: `<dir>/data/<family>/<name>.csv` (`timestamp,value`) and `<dir>/labels.json` with inclusive windows;
  the first 15% of each file is the (unscored) probationary period and serves as training data.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from anomalies.config import DEFAULTS

NAB_PROBATIONARY = 0.15


@dataclass
class Series:
    """One labelled series: training rows (never scored) followed in time by labelled test rows."""

    dataset: str
    name: str
    metrics: List[str]
    train: np.ndarray  # rows × metrics
    test: np.ndarray  # rows × metrics
    labels: np.ndarray  # 0/1 per test row (-1: not judged)
    interval_s: float  # seconds between rows

    @property
    def update_every(self) -> int:
        """The collector job's `update_every` at this series' interval."""
        return max(1, round(self.interval_s))

    def truncated(self, train_rows: int, test_rows: int) -> "Series":
        """The last `train_rows` training rows and the first `test_rows` test rows (for --quick)."""
        return Series(self.dataset, self.name, self.metrics, self.train[-train_rows:], self.test[:test_rows],
                      self.labels[:test_rows], self.interval_s)

    @property
    def is_recording(self) -> bool:
        """Whether the metrics are a Netdata recording's 'chart|dim' (bench/record), which a job's
        `charts_regex` picks from."""
        return all("|" in metric for metric in self.metrics)

    def charts_picked(self, charts: "re.Pattern[str]") -> "Series":
        """The metrics of the charts whose id `charts` matches whole, as a job's `charts_regex` picks its
        charts (`system.cpu` does not pick `system.cpu_pressure`); a series that is not a recording as it is."""
        if not self.is_recording:
            return self
        kept = [i for i, metric in enumerate(self.metrics) if charts.fullmatch(metric.partition("|")[0])]
        if not kept:
            raise ValueError(f"{self.dataset}/{self.name}: no chart matches {charts.pattern!r}")
        return Series(self.dataset, self.name, [self.metrics[i] for i in kept], self.train[:, kept],
                      self.test[:, kept], self.labels, self.interval_s)


def load_dir(path: str, interval_s: Optional[float] = None) -> List[Series]:
    """Every series under `path`, which is either a NAB-style or a train/test-style directory."""
    dataset = os.path.basename(os.path.normpath(path))
    if os.path.exists(os.path.join(path, "labels.json")):
        return load_nab(path, dataset)
    return load_train_test(path, dataset, interval_s or _KNOWN_INTERVALS.get(dataset, 60.0))


# charts a recording holds that the collectors leave out by default (`charts_to_exclude`)
COLLECTOR_EXCLUDED = frozenset(DEFAULTS["charts_to_exclude"].split(","))
_KNOWN_INTERVALS = {"smd": 60.0, "asd": 300.0}  # the formats carry no timestamps; README states them


def load_train_test(path: str, dataset: str, interval_s: float) -> List[Series]:
    import pandas as pd

    series = []
    for name in sorted(os.listdir(path)):
        folder = os.path.join(path, name)
        test_path = os.path.join(folder, "test.csv.gz")
        if not os.path.isfile(test_path):
            continue
        test = pd.read_csv(test_path)
        labels = test.pop("label").to_numpy(dtype=np.int8)
        test = test[[c for c in test.columns if c.partition("|")[0] not in COLLECTOR_EXCLUDED]]
        train = pd.read_csv(os.path.join(folder, "train.csv.gz"))[list(test.columns)]
        series.append(Series(dataset, name, list(test.columns), train.to_numpy(np.float64),
                             test.to_numpy(np.float64), labels, _recorded_interval(folder) or interval_s))
    return series


def _recorded_interval(folder: str) -> Optional[float]:
    """Seconds between rows from a `timestamps.csv.gz` beside the data (bench/record writes one)."""
    import pandas as pd

    path = os.path.join(folder, "timestamps.csv.gz")
    if not os.path.isfile(path):
        return None
    return float(pd.read_csv(path)["timestamp"].diff().median())


def load_nab(path: str, dataset: str) -> List[Series]:
    import pandas as pd

    with open(os.path.join(path, "labels.json")) as stream:
        windows = json.load(stream)
    series = []
    for key in sorted(windows):
        frame = pd.read_csv(os.path.join(path, "data", key), parse_dates=["timestamp"])
        labels = np.zeros(len(frame), dtype=np.int8)
        for start, end in windows[key]:
            labels[frame.timestamp.between(pd.Timestamp(start), pd.Timestamp(end)).to_numpy()] = 1
        interval = float(frame.timestamp.diff().dt.total_seconds().median())
        values = frame[["value"]].to_numpy(np.float64)
        split = int(NAB_PROBATIONARY * len(frame))
        name = key.rsplit(".", 1)[0]
        series.append(Series(dataset, name, ["value"], values[:split], values[split:], labels[split:],
                             interval))
    return series


SPLIT_PARTS = ("selection", "confirmation")


def split(series: List[Series], path: str, part: str) -> Tuple[List[Series], List[Series]]:
    """(the series the split file at `path` puts in `part`, the series it names in no part)."""
    with open(path) as stream:
        parts = json.load(stream)
    named = {(dataset, name): which for dataset, groups in parts.items() if isinstance(groups, dict)
             for which, names in groups.items() for name in names}
    chosen = [s for s in series if named.get((s.dataset, s.name)) == part]
    return chosen, [s for s in series if (s.dataset, s.name) not in named]
