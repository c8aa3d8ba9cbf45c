# SPDX-License-Identifier: GPL-3.0-or-later
"""What drives a flag: expected bands, each dimension's share of a score, the log line of a rising flag."""
import re

import numpy as np

from anomalies.attribution import (ExpectedBand, RisingFlags, describe_flag, leave_one_out_shares,
                                   offline_shares, pca_feature_shares)
from anomalies.columns import Column
from anomalies.config import parse_config
from anomalies.features import FeatureSpec
from anomalies.planning import ModelSpec
from anomalies.training import train_models
from anomalies_online.job import OnlineJob
from fake_netdata import FakeNetdata, wave
from test_job import RecordingLog, scoring_job
from test_online_job import settled

COLUMNS = [Column("h", "system.ram", dim) for dim in ("used", "free", "cached")]


CONFIG = parse_config({"include_levels": True, "model": "pca"})
SPEC = FeatureSpec.from_config(CONFIG)


def _trained(seed, n=2000):
    """(training values, trained state) of one PCA model over a RAM-like chart."""
    rng = np.random.default_rng(seed)
    values = np.column_stack([2300 + 40 * rng.standard_normal(n), 2000 + 40 * rng.standard_normal(n),
                              900 + 5 * rng.standard_normal(n)])
    return values, train_models([ModelSpec("system.ram", tuple(COLUMNS))], COLUMNS, values, CONFIG, lambda _: None)


def test_the_band_is_the_middle_95_percent_of_the_training_values():
    values = np.column_stack([np.arange(1001.0), np.full(1001, 7.0), np.full(1001, np.nan)])
    band = ExpectedBand.from_values(values)
    assert band.expected[:2].tolist() == [500.0, 7.0] and band.low[0] == 25.0 and band.high[0] == 975.0
    assert np.isnan([band.expected[2], band.low[2], band.high[2]]).all()
    running = ExpectedBand.from_running(np.array([10.0]), np.array([4.0]))
    assert (running.expected[0], running.low[0], running.high[0]) == (10.0, 6.0, 14.0)


def test_the_pca_parts_of_the_features_add_up_to_the_score():
    values, state = _trained(0)
    model = state.bank.models[0]
    feature_row = SPEC.matrix(values[-20:])[-1]
    parts = pca_feature_shares(model.scorer, model.features(feature_row)[0])
    assert np.isclose(parts.sum(), model.scorer.score(model.features(feature_row))[0])


def test_the_dimension_that_moved_has_the_largest_share_and_is_named_first():
    values, state = _trained(1)
    model = state.bank.models[0]
    shifted = values[-20:].copy()
    shifted[-5:, 0] += 1800  # used up by 1.8 GB, free down by as much
    shifted[-5:, 1] -= 1800
    feature_row = SPEC.matrix(shifted)[-1]
    shares = offline_shares(model, feature_row, len(COLUMNS))
    assert np.isclose(shares.sum(), 1.0) and shares[2] < min(shares[0], shares[1])
    line = describe_flag("system.ram", COLUMNS, shares, shifted[-1], state.band, model.column_index)
    assert line.startswith("system.ram flagged: ")
    first, second = line[len("system.ram flagged: "):].split("; ")[:2]
    assert {first.split()[0], second.split()[0]} == {"used", "free"}
    assert ("above" in first) == first.startswith("used") and ("below" in second) == second.startswith("free")
    assert re.search(r"used 41\d\d \(\d+% of the score\), expected 2[23]\d\d \(2\d{3} to 2\d{3}\), above", line), line
    assert "cached" not in line  # under MIN_SHARE of the score: not named


def test_leave_one_dimension_out_credits_the_dimension_that_moved():
    score = lambda x: float(np.sum(x ** 2))  # noqa: E731
    features = np.array([0.1, 5.0, 0.2, 4.0])  # two dimensions, two features each
    drops = leave_one_out_shares(score, features, np.zeros(4), [np.array([0, 2]), np.array([1, 3])])
    assert drops[1] > 100 * drops[0] > 0


def test_a_flag_is_explained_once_when_it_rises():
    rising = RisingFlags()
    names = ["a", "b"]
    assert rising.update(names, np.array([True, False])) == [0]
    assert rising.update(names, np.array([True, True])) == [1]
    assert rising.update(names, np.array([True, True])) == []
    assert rising.update(names, np.array([False, True])) == []
    assert rising.update(names, np.array([True, True])) == [0]


def test_the_job_logs_what_drives_a_rising_flag():
    charts = {"system.cpu": {"user": wave(60, 10, 20), "system": wave(45, 2, 5)},
              "system.load": {"load1": wave(90, 0.5, 1)}}
    with FakeNetdata(charts) as fake:
        log = RecordingLog()
        job, _ = scoring_job(fake, log)
        charts["system.cpu"]["user"] = lambda t: 95.0
        for _ in range(10):
            job.collect()
        said = log.said("info", "system.cpu flagged: user 95")
        assert len(said) == 1 and "above" in said[0], log.lines
        assert not log.said("warning", "cannot say what drives")


def test_the_streaming_job_logs_what_drives_a_rising_flag():
    charts = {"system.cpu": {"user": wave(60, 10, 20), "system": wave(45, 2, 5)},
              "system.load": {"load1": wave(90, 0.5, 1)}}
    with FakeNetdata(charts) as fake:
        log = RecordingLog()
        job = OnlineJob({"host": fake.host, "warm_start_secs": 600, "warmup_n": 200,  # flags: as in the
                         "flags_threshold": 99, "flags_min_n": 3, "flags_window_n": 5}, log)  # offline test
        settled(job, log)
        charts["system.cpu"]["user"] = lambda t: 95.0
        for _ in range(12):
            job.collect()
        said = log.said("info", "system.cpu flagged: user 95")
        assert len(said) == 1 and re.search(r"expected \d+(\.\d+)? \([\d.]+ to [\d.]+\), above", said[0]), log.lines
        assert not log.said("warning", "cannot say what drives")


def test_a_custom_model_over_several_charts_names_the_chart_that_moved():
    charts = {"system.cpu": {"user": wave(60, 10, 20), "system": wave(45, 2, 5)},
              "system.load": {"load1": wave(90, 0.5, 1)}, "system.ram": {"used": wave(40, 50, 2000)}}
    with FakeNetdata(charts) as fake:  # every wave's range is in the 120 s of training, whatever its phase
        log = RecordingLog()
        job, _ = scoring_job(fake, log, charts_regex="none", custom_models=[
            {"name": "box", "dimensions": "system.cpu|user,system.cpu|system,system.load|load1,system.ram|used"}])
        charts["system.load"]["load1"] = lambda t: 12.0
        for _ in range(10):
            job.collect()
        said = log.said("info", "box flagged: ")
        assert len(said) == 1 and said[0].startswith("box flagged: system.load|load1 12 ("), log.lines


def test_a_zmax_model_credits_the_dimension_with_the_largest_z():
    config = parse_config({"include_levels": True, "model": "zmax"})
    values, _ = _trained(2)
    state = train_models([ModelSpec("system.ram", tuple(COLUMNS))], COLUMNS, values, config, lambda _: None)
    model = state.bank.models[0]
    shifted = values[-20:].copy()
    shifted[-5:, 2] += 60  # cached up by 12 sd, the others as usual
    shares = offline_shares(model, SPEC.matrix(shifted)[-1], len(COLUMNS))
    assert np.isclose(shares.sum(), 1.0) and shares[2] > 2 * max(shares[0], shares[1])


def test_a_zscore_models_shares_are_its_squared_z_scores():
    """zscore's score is the mean of its features' squared z-scores: each dimension's share is the sum of
    its own, exactly, and the dimension that moved is credited first."""
    config = parse_config({"include_levels": True, "model": "zscore"})
    values, _ = _trained(2)
    state = train_models([ModelSpec("system.ram", tuple(COLUMNS))], COLUMNS, values, config, lambda _: None)
    model = state.bank.models[0]
    shifted = values[-20:].copy()
    shifted[-5:, 2] += 60
    row = SPEC.matrix(shifted)[-1]
    shares = offline_shares(model, row, len(COLUMNS))
    squared = model.scorer.z(model.features(row))[0] ** 2
    per_column = np.array([squared[model.feature_index % len(COLUMNS) == c].sum() for c in model.column_index])
    np.testing.assert_allclose(shares, per_column / per_column.sum())
    assert shares[2] > 2 * max(shares[0], shares[1])
