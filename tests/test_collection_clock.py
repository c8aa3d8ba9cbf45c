# SPDX-License-Identifier: GPL-3.0-or-later
"""A read that finds no new collection, or comes after missed ones, is not taken as the next sample."""
import numpy as np

from anomalies.collection_clock import MAX_FILL_N, CollectionClock
from anomalies.cycle import newest_collection
from anomalies.features import FeatureSpec, FeatureWindow
from anomalies_online.job import OnlineJob
from fake_netdata import FakeNetdata, wave
from test_job import RecordingLog, anomaly_values


def test_the_clock_counts_the_collections_a_read_stands_for():
    clock = CollectionClock()
    assert [clock.advance(t) for t in (100, 101, 101, 104, None, 105, 90, 91)] == [None, 1, 0, 3, None, 1, None, 1]
    every_5 = CollectionClock(5)
    assert [every_5.advance(t) for t in (100, 105, 105, 115)] == [None, 1, 0, 2]


def test_the_newest_collection_is_the_newest_chart_of_every_host():
    latest = {"a": {"system.cpu": {"last_updated": 100}, "disk_space._": {"last_updated": 91}},
              "b": {"system.load": {"last_updated": 101}, "broken": {"last_updated": float("nan")}}}
    assert newest_collection(latest) == 101
    assert newest_collection({"a": {"system.cpu": {"dimensions": {}}}}) is None


def test_missed_rows_are_filled_in_so_the_features_are_those_of_an_unbroken_read():
    spec = FeatureSpec(diffs_n=1, smooth_n=3, lags_n=5)
    ramp = np.column_stack([np.arange(30.0) ** 1.5, np.arange(30.0)])
    every = FeatureWindow(spec, ramp[:12])
    for row in ramp[12:20]:
        expected = every.push(row)
    gapped = FeatureWindow(spec, ramp[:12])
    for row in ramp[12:16]:
        gapped.push(row)
    got = gapped.push(ramp[19], missed=3)  # rows 16-18 never read
    newest = slice(0, 2)  # the first block: the newest smoothed differences of both columns
    assert got[1] == expected[1] == 1.0  # the straight line, filled in exactly
    np.testing.assert_allclose(got[newest], expected[newest], rtol=0.02)  # the curve, nearly
    # without filling in, the newest difference spans four seconds: twice the ramp's, smoothed over three
    unfilled = FeatureWindow(spec, ramp[:16]).push(ramp[19])
    assert unfilled[1] == 2 * expected[1]
    # more than MAX_FILL_N missed: a gap, the window starts again
    assert FeatureWindow(spec, ramp[:12]).push(ramp[13 + MAX_FILL_N + 1], missed=MAX_FILL_N + 1) is None


def test_a_read_without_a_new_collection_is_neither_learned_nor_counted():
    charts = {"system.cpu": {"user": wave(60), "system": wave(45, 2)}, "system.load": {"load1": wave(90, 0.5, 1)}}
    with FakeNetdata(charts) as fake:
        now = [1_800_000_000.5]
        fake.clock = lambda: now[0]
        log = RecordingLog()
        job = OnlineJob({"host": fake.host, "charts_regex": r"system\..*", "warmup_n": 20, "warm_start_secs": 0,
                         "save_state": False}, log)
        data = {}
        for _ in range(40):
            data = job.collect().data
            now[0] += 1
        seen = [m.standardizer.n_seen_ for m in job.bank.models]
        assert anomaly_values(data) and min(seen) > 20
        now[0] -= 1  # the agent has not collected since: the same row again
        again = job.collect().data
        assert [m.standardizer.n_seen_ for m in job.bank.models] == seen
        assert anomaly_values(again) == anomaly_values(data)
        now[0] += 2
        job.collect()
        assert [m.standardizer.n_seen_ for m in job.bank.models] == [n + 1 for n in seen]
