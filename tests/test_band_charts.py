# SPDX-License-Identifier: GPL-3.0-or-later
"""Charts of the expected value and band of the charts `band_charts` names (anomalies/band_charts.py)."""
from __future__ import annotations

import time

import numpy as np

from anomalies.attribution import ExpectedBand
from anomalies.band_charts import BandCharts
from anomalies.columns import Column
from anomalies.job import AnomaliesJob
from anomalies_online.job import OnlineJob
from fake_netdata import FakeNetdata, wave
from test_job import RecordingLog, wait_trained

CHARTS = {"system.cpu": {"user": wave(60, 2, 30), "system": wave(45, 1, 10)},
          "system.load": {"load1": wave(90, 0.5, 1)}}


def test_one_chart_per_named_chart_once_with_three_dimensions_per_dimension():
    columns = [Column("h", "system.cpu", "user"), Column("h", "system.cpu", "system"),
               Column("h", "system.load", "load1"), Column("other", "system.cpu", "user")]
    bands = BandCharts(__import__("re").compile(r"system\.cpu"), "h", "anomalies")
    new = bands.plan(columns)
    assert [chart for chart, _ in new] == ["band_system_cpu"]
    definition = new[0][1]
    assert definition["options"][4] == "anomalies.band"
    assert [line[1] for line in definition["lines"]] == ["user expected", "user low", "user high",
                                                        "system expected", "system low", "system high"]
    assert bands.plan(columns) == []  # drawn once, even after the next training
    band = ExpectedBand(np.array([30.0, np.nan, 1, 30]), np.array([28.0, np.nan, 0.5, 28]),
                        np.array([32.0, np.nan, 1.5, 32]))
    assert bands.values(band) == {"system.cpu|user|expected": 3000, "system.cpu|user|low": 2800,
                                  "system.cpu|user|high": 3200}  # system has no band: no value, a gap
    assert BandCharts(None, "h", "anomalies").plan(columns) == []  # off by default


def test_the_offline_job_draws_the_training_band_of_a_named_chart():
    with FakeNetdata({c: dict(d) for c, d in CHARTS.items()}) as fake:
        log = RecordingLog()
        job = AnomaliesJob({"host": fake.host, "train_n_secs": 120, "train_no_prediction_n": 0,
                            "charts_regex": r"system\..*", "band_charts": r"system\.cpu"}, log)
        first = wait_trained(job, log)
        assert [chart for chart, _ in first.new_charts] == ["band_system_cpu"]
        for _ in range(job.feature_spec.window + 1):
            data = job.collect().data
        low, expected, high = (data[f"system.cpu|user|{p}"] / 100 for p in ("low", "expected", "high"))
        assert 27.5 < low < expected < high < 32.5 and abs(expected - 30) < 1
        assert not [k for k in data if k.startswith("system.load|")]


def test_the_streaming_job_draws_the_running_band_of_a_named_chart():
    with FakeNetdata({c: dict(d) for c, d in CHARTS.items()}) as fake:
        log = RecordingLog()
        job = OnlineJob({"host": fake.host, "warm_start_secs": 300, "warmup_n": 100,
                         "band_charts": r"system\.load"}, log)
        first = job.collect()
        assert [chart for chart, _ in first.new_charts] == ["band_system_load"]
        deadline = time.monotonic() + 60
        data = {}
        while "system.load|load1|expected" not in data and time.monotonic() < deadline:
            data = job.collect().data
            time.sleep(0.05)
        low, expected, high = (data[f"system.load|load1|{p}"] / 100 for p in ("low", "expected", "high"))
        assert 0.2 < low < expected < high < 1.8 and abs(expected - 1) < 0.3
