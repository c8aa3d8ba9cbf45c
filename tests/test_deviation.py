# SPDX-License-Identifier: GPL-3.0-or-later
"""detection_direction and min_dev_from_expected: which flags stand, in the rule, the config and both jobs."""
import numpy as np
import pytest

from anomalies.config import parse_config
from anomalies.deviation import HELD_BACK_LEVEL, DeviationGate, DeviationRule, parse_direction, parse_min_dev
from anomalies_online.job import OnlineJob
from fake_netdata import FakeNetdata, wave
from test_job import RecordingLog, scoring_job
from test_online_job import settled

SHARES = np.array([0.97, 0.03])  # the first dimension drives the score, the second under MIN_SHARE


def test_the_direction_and_the_minimum_are_judged_on_the_driving_dimensions():
    values, expected = np.array([120.0, 5.0]), np.array([100.0, 10.0])  # the driver is up, the other down
    assert DeviationRule().is_open and DeviationRule().allows(values, expected, SHARES)
    assert DeviationRule("above").allows(values, expected, SHARES)
    assert not DeviationRule("below").allows(values, expected, SHARES)
    assert DeviationRule("below").allows(values, expected, np.array([0.5, 0.5]))  # both drive it
    assert DeviationRule("both", 19.0).allows(values, expected, SHARES)
    assert not DeviationRule("both", 21.0).allows(values, expected, SHARES)
    assert DeviationRule("above", 0.19, relative=True).allows(values, expected, SHARES)
    assert not DeviationRule("above", 0.21, relative=True).allows(values, expected, SHARES)
    assert DeviationRule("below", 5.0).allows(values, np.array([np.nan, 10.0]), SHARES)  # no expected value


def test_the_keys_parse_or_name_the_problem():
    assert parse_direction(" Above ") == "above" and parse_min_dev(2) == (2.0, False)
    assert parse_min_dev("5%") == (0.05, True) and parse_min_dev(" 0 ") == (0.0, False)
    for bad in ("-1", "x%", "nan"):
        with pytest.raises(ValueError):
            parse_min_dev(bad)
    with pytest.raises(ValueError):
        parse_direction("up")
    config = parse_config({"detection_direction": "up", "min_dev_from_expected": "-3",
                           "custom_models": [{"name": "m", "dimensions": "system.cpu|user",
                                              "min_dev_from_expected": "10%"}]})
    assert sorted(p.split(":")[0] for p in config.problems) == ["detection_direction", "min_dev_from_expected"]
    assert config.deviation_rules(["system.cpu", "m"]) == [DeviationRule(), DeviationRule("both", 0.1, True)]


def test_held_back_flags_leave_their_level_under_the_flag_line():
    asked = []
    rules = [DeviationRule(), DeviationRule("above"), DeviationRule("below")]
    flags, levels = DeviationGate().apply(["a", "b", "c"], np.array([True, True, True]),
                                          np.array([150.0, 180.0, 130.0]), rules, lambda i: asked.append(i) or i == 1)
    assert flags.tolist() == [True, True, False] and levels.tolist() == [150.0, 180.0, HELD_BACK_LEVEL]
    assert asked == [1, 2]  # an open rule is never asked


def test_a_flag_is_judged_when_it_rises_and_stands_while_the_model_stays_flagged():
    gate, rules = DeviationGate(), [DeviationRule("above")]
    verdicts = iter([True, False, False])  # allowed at its rise, then its driver wobbles below expected
    asked = []

    def allowed(i):
        asked.append(i)
        return next(verdicts)

    up = [gate.apply(["m"], np.array([True]), np.array([150.0]), rules, allowed)[0][0] for _ in range(3)]
    assert up == [True, True, True] and asked == [0]  # one alert, not three
    gate.apply(["m"], np.array([False]), np.array([50.0]), rules, allowed)  # the model's flag falls
    assert not gate.apply(["m"], np.array([True]), np.array([150.0]), rules, allowed)[0][0]  # judged anew
    assert asked == [0, 0]


CHARTS = {"system.cpu": {"user": wave(60, 10, 20), "system": wave(45, 2, 5)},
          "system.load": {"load1": wave(90, 0.5, 1)}}


def _flags_after_a_jump(job, charts, cycles):
    charts["system.cpu"]["user"] = lambda t: 95.0
    flagged = []
    for _ in range(cycles):
        data = job.collect().data
        flagged.append(data.get("system.cpu_anomaly", 0))
        assert data.get("system.cpu_prob", 0) < 10000 or data["system.cpu_anomaly"] == 1
    return flagged


@pytest.mark.parametrize("direction, flagged", [("above", True), ("below", False)])
def test_the_offline_job_holds_back_a_flag_in_the_wrong_direction(direction, flagged):
    charts = {chart: dict(dims) for chart, dims in CHARTS.items()}
    with FakeNetdata(charts) as fake:
        log = RecordingLog()
        job, _ = scoring_job(fake, log, detection_direction=direction)
        assert any(_flags_after_a_jump(job, charts, 10)) == flagged
        assert bool(log.said("info", "system.cpu flagged: user 95")) == flagged


@pytest.mark.parametrize("direction, flagged", [("both", True), ("below", False)])
def test_the_streaming_job_holds_back_a_flag_in_the_wrong_direction(direction, flagged):
    charts = {chart: dict(dims) for chart, dims in CHARTS.items()}
    with FakeNetdata(charts) as fake:
        log = RecordingLog()
        job = OnlineJob({"host": fake.host, "warm_start_secs": 600, "warmup_n": 200, "flags_threshold": 99,
                         "flags_min_n": 3, "flags_window_n": 5, "detection_direction": direction}, log)
        settled(job, log)
        assert any(_flags_after_a_jump(job, charts, 12)) == flagged
