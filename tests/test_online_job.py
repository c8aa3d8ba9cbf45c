# SPDX-License-Identifier: GPL-3.0-or-later
"""The streaming job against a fake Netdata API: warm start, new and vanished charts, bad data, agent down."""
import time
from urllib.parse import parse_qs, urlparse

from anomalies_online import job as online_job
from anomalies.cycle import warming_values
from anomalies_online.job import OnlineJob
from fake_netdata import FakeNetdata, wave
from test_job import RecordingLog, anomaly_values

CHARTS = {"system.cpu": {"user": wave(60), "system": wave(45, 2)},
          "system.load": {"load1": wave(90, 0.5, 1)}}


def settled(job, log, seconds=60):
    """Cycles until the warm start is over and every model gives values."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = job.collect().data
        if data and all(f"{name}_prob" in data for name in job.bank.names):
            return data
        time.sleep(0.05)
    raise AssertionError(f"no values: {log.lines}")


def test_warm_start_primes_every_model_with_history():
    with FakeNetdata({c: dict(d) for c, d in CHARTS.items()}) as fake:
        log = RecordingLog()
        job = OnlineJob({"host": fake.host, "warm_start_secs": 300, "warmup_n": 100,
                         "custom_models": [{"name": "mix", "dimensions": "system.cpu|user,system.load|load1"}]},
                        log)
        assert job.check()
        first = job.collect()
        assert {dim for _, (dim, *_) in first.added} >= {"system.cpu_prob", "system.load_anomaly", "mix_score"}
        data = settled(job, log)
        assert log.said("info", "warm start: 3 models learned")
        assert all(m.standardizer.n_seen_ >= 280 for m in job.bank.models)  # the history, not just live rows
        assert all(0 <= data[k] <= 10000 for k in data if k.endswith("_prob"))
        assert not log.said("warning", "") and not log.said("error", "")


def test_a_slow_job_warm_starts_over_its_whole_warm_up():
    """At one sample a minute, an hour of history is 60 samples: the warm start reads warmup_n samples, at
    the job's pace."""
    with FakeNetdata({c: dict(d) for c, d in CHARTS.items()}) as fake:
        log = RecordingLog()
        job = OnlineJob({"host": fake.host, "update_every": 60, "warm_start_secs": 300, "warmup_n": 20}, log)
        assert job.check()
        deadline = time.monotonic() + 30
        while not log.said("info", "warm start: 2 models learned") and time.monotonic() < deadline:
            job.collect()
            time.sleep(0.05)
        queries = [parse_qs(urlparse(path).query) for path in fake.requests if path.startswith("/api/v1/data")]
        spans = [int(q["before"][0]) - int(q["after"][0]) for q in queries]
        assert spans and min(spans) >= 20 * 60 - 1, spans
        # one row a cycle: the charts' history averaged to the job's pace, not 1,200 rows a second apart
        assert {q["points"][0] for q in queries} == {"20"}, queries


def test_charts_that_come_and_go_add_and_remove_models(monkeypatch):
    monkeypatch.setattr(online_job, "REPLAN_EVERY_N", 3)
    charts = {c: dict(d) for c, d in CHARTS.items()}
    with FakeNetdata(charts) as fake:
        log = RecordingLog()
        job = OnlineJob({"host": fake.host, "warm_start_secs": 0, "warmup_n": 20}, log)
        settled(job, log)
        charts["system.io"] = {"in": wave(30), "out": wave(20)}
        del charts["system.load"]
        added, removed = [], []
        for _ in range(4):
            result = job.collect()
            added += [dim for _, (dim, *_) in result.added]
            removed += [dim for _, dim in result.removed]
        assert "system.io_prob" in added and "system.load_prob" in removed
        assert job.bank.names == ["system.cpu", "system.io"]


def test_bad_values_pause_only_the_models_they_touch():
    charts = {c: dict(d) for c, d in CHARTS.items()}
    with FakeNetdata(charts) as fake:
        log = RecordingLog()
        job = OnlineJob({"host": fake.host, "warm_start_secs": 0, "warmup_n": 20}, log)
        settled(job, log)
        for bad in (float("nan"), float("inf"), None):
            charts["system.load"]["load1"] = lambda t, bad=bad: bad
            data = job.collect().data
            assert "system.load_prob" not in data and "system.cpu_prob" in data
        assert len(log.said("info", "model 'system.load': some of its dimensions have no finite value")) == 1
        charts["system.load"]["load1"] = wave(90, 0.5, 1)
        assert "system.load_prob" in job.collect().data
        assert log.said("info", "model 'system.load': all its dimensions have values again; resumed")


def test_agent_down_is_logged_once_and_retried():
    log = RecordingLog()
    job = OnlineJob({"host": "127.0.0.1:9"}, log)  # nothing listens on port 9
    for _ in range(5):
        assert anomaly_values(job.collect().data) == warming_values()
    assert log.said("warning", "") == ["cannot list the charts of '127.0.0.1:9': Connection refused"]
    assert job.last_plan_cycle == 1  # the next look waits RETRY_PLAN_EVERY_N cycles
