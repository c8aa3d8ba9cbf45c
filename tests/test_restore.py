# SPDX-License-Identifier: GPL-3.0-or-later
"""Both jobs keep their models across a restart (a new job object, as a restarted plugin makes), against a
fake Netdata API, and start fresh when the saved models no longer fit."""
import numpy as np
import pytest

from anomalies.job import AnomaliesJob
from anomalies_online.job import OnlineJob
from fake_netdata import FakeNetdata, wave
from test_job import RecordingLog, wait_trained
from test_online_job import settled

CHARTS = {"system.cpu": {"user": wave(60), "system": wave(45, 2)},
          "system.load": {"load1": wave(90, 0.5, 1)}}


@pytest.fixture
def lib_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDATA_LIB_DIR", str(tmp_path))
    return tmp_path


def added_dimensions(result):
    return {dim for _, (dim, *_) in result.added}


def saved_streaming_job(fake):
    """A streaming job's config and the job, cycled until every model is past its warm-up and saved after
    that (returns once the file is written)."""
    config = {"host": fake.host, "warm_start_secs": 0, "warmup_n": 20, "save_state_every_n": 5}
    log = RecordingLog()
    job = OnlineJob(config, log, job_name="anomalies_online_local")
    settled(job, log)
    while not job.bank.warm().all():
        job.collect()
    previous = job._saver
    while job._saver is previous:
        job.collect()
    job._saver.join()
    return config, job


def test_offline_models_come_back_without_a_training_and_score_the_same(lib_dir):
    with FakeNetdata({c: dict(d) for c, d in CHARTS.items()}) as fake:
        config = {"host": fake.host, "train_n_secs": 120, "train_no_prediction_n": 0, "update_every": 1}
        log = RecordingLog()
        job = AnomaliesJob(config, log, job_name="anomalies_local")
        wait_trained(job, log)
        assert (lib_dir / "netdata-anomalies" / "anomalies_local.state").exists()

        restarted_log = RecordingLog()
        restarted = AnomaliesJob(config, restarted_log, job_name="anomalies_local")
        first = restarted.collect()
        assert restarted_log.said("info", "restored 2 models trained 0 min ago")
        assert restarted._trainer is None  # not due: it was trained a moment ago
        assert {"system.cpu_prob", "system.load_score"} <= added_dimensions(first)
        width = max(model.feature_index.max() for model in job.state.bank.models) + 1
        row = np.random.default_rng(0).normal(size=width)
        assert np.allclose(restarted.state.bank.raw_scores(row), job.state.bank.raw_scores(row))
        for _ in range(restarted.feature_spec.window):  # an empty feature window fills from live rows
            data = restarted.collect().data
        assert {"system.cpu_prob", "system.load_prob"} <= set(data)


def test_offline_models_are_retrained_when_the_config_or_the_charts_changed(lib_dir):
    charts = {c: dict(d) for c, d in CHARTS.items()}
    with FakeNetdata(charts) as fake:
        config = {"host": fake.host, "train_n_secs": 120, "train_no_prediction_n": 0}
        log = RecordingLog()
        wait_trained(AnomaliesJob(config, log, job_name="anomalies_local"), log)

        other_log = RecordingLog()
        other = AnomaliesJob({**config, "lags_n": 4}, other_log, job_name="anomalies_local")
        other.collect()
        assert other_log.said("info", "made under another configuration") and other._trainer is not None

        del charts["system.load"]
        gone_log = RecordingLog()
        gone = AnomaliesJob(config, gone_log, job_name="anomalies_local")
        gone.collect()
        assert gone_log.said("info", "do not fit the charts there are now (system.load)")
        assert gone._trainer is not None and gone.state is None


def test_offline_state_is_not_saved_when_save_state_is_off(lib_dir):
    with FakeNetdata({c: dict(d) for c, d in CHARTS.items()}) as fake:
        log = RecordingLog()
        wait_trained(AnomaliesJob({"host": fake.host, "train_n_secs": 120, "save_state": "no"}, log,
                                  job_name="anomalies_local"), log)
        assert not (lib_dir / "netdata-anomalies").exists()


def test_streaming_models_are_saved_and_continue_with_the_history_since(lib_dir):
    with FakeNetdata({c: dict(d) for c, d in CHARTS.items()}) as fake:
        config, job = saved_streaming_job(fake)
        seen = {m.spec.name: m.standardizer.n_seen_ for m in job.bank.models}

        restarted_log = RecordingLog()
        restarted = OnlineJob({**config, "warm_start_secs": 600}, restarted_log,
                              job_name="anomalies_online_local")
        first = restarted.collect()
        assert restarted_log.said("info", "restored 2 streaming models saved 0 min ago")
        assert {"system.cpu_prob", "system.load_anomaly"} <= added_dimensions(first)
        restarted._warm_starter.join()
        # only the seconds since the save were learned from history, not the 600 s of warm_start_secs
        for model in restarted.bank.models:
            assert seen[model.spec.name] <= model.standardizer.n_seen_ <= seen[model.spec.name] + 30
        assert restarted.bank.warm().all()  # warm at once: no new warm-up after a restart
        data = settled(restarted, restarted_log)
        assert {"system.cpu_anomaly", "system.load_anomaly"} <= set(data)


def test_streaming_models_of_vanished_charts_are_dropped_and_new_charts_start_cold(lib_dir):
    charts = {c: dict(d) for c, d in CHARTS.items()}
    with FakeNetdata(charts) as fake:
        config, job = saved_streaming_job(fake)

        del charts["system.load"]
        charts["system.io"] = {"in": wave(30)}
        restarted = OnlineJob(config, RecordingLog(), job_name="anomalies_online_local")
        restarted.collect()
        assert restarted.bank.names == ["system.cpu", "system.io"]
        assert list(restarted.bank.warm()) == [True, False]


def test_streaming_state_from_another_model_is_not_used(lib_dir):
    with FakeNetdata({c: dict(d) for c, d in CHARTS.items()}) as fake:
        config, job = saved_streaming_job(fake)
        other_log = RecordingLog()
        other = OnlineJob({**config, "model": "loda"}, other_log, job_name="anomalies_online_local")
        other.collect()
        assert other_log.said("info", "made under another configuration")
        assert not other.bank.warm().any()
