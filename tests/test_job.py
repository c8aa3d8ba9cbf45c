# SPDX-License-Identifier: GPL-3.0-or-later
"""The job and its reader against a fake Netdata API: TLS, basic auth, and bad data."""
import time
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import urllib3

from anomalies import health
from anomalies.columns import Column
from anomalies.cycle import OUTAGE_AFTER_N, LatestReader, warming_values
from anomalies.job import RETRY_TRAINING_EVERY_N, AnomaliesJob
from anomalies.netdata_source import NetdataSource
from anomalies.config import parse_config
from anomalies.history import fetch_history
from anomalies.training import train
from fake_netdata import FakeNetdata, self_signed_certificate, wave


def anomaly_values(data):
    """A cycle's values without those of the job's health charts."""
    return {key: value for key, value in data.items() if key not in health.dimension_ids()}


class RecordingLog:
    def __init__(self):
        self.lines = []

    def _record(self, level):
        return lambda *msg: self.lines.append((level, " ".join(str(m) for m in msg)))

    def __getattr__(self, level):
        return self._record(level)

    def said(self, level, text):
        return [line for lvl, line in self.lines if lvl == level and text in line]


CHARTS = {"system.cpu": {"user": wave(60), "system": wave(45, 2)},
          "system.cpu_some_pressure": {"some 10": wave(30)},
          "system.load": {"load1": wave(90, 0.5, 1)}}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def test_every_call_honours_https_basic_auth_and_tls_verify(certificate):
    with FakeNetdata(CHARTS, auth=("netdata", "s3cret"), certificate=certificate) as fake:
        for verify in (False, str(certificate)):
            source = NetdataSource("https", "netdata", "s3cret", tls_verify=verify)
            assert set(source.chart_dimensions(fake.host)) == set(CHARTS)
            assert source.latest(fake.host)["system.cpu"]["dimensions"]["id_user"]["name"] == "user"
            log = []
            frame = source.training_window(fake.host, ["system.cpu", "system.load"], -30, 0, log.append)
            assert sorted(frame.columns) == ["system.cpu|system", "system.cpu|user", "system.load|load1"]
            assert len(frame) >= 29 and log == []
        with pytest.raises(urllib3.exceptions.SSLError):
            NetdataSource("https", "netdata", "s3cret", tls_verify=True).chart_dimensions(fake.host)
        with pytest.raises(OSError, match="HTTP 401"):
            NetdataSource("https", "netdata", "wrong", tls_verify=False).chart_dimensions(fake.host)


def test_a_connection_closed_without_an_answer_is_tried_once_more_not_called_down():
    with FakeNetdata(CHARTS) as fake:
        source = NetdataSource()
        fake.drop_next = 1
        assert "system.cpu" in source.latest(fake.host)
        fake.drop_next = 2
        with pytest.raises(urllib3.exceptions.ProtocolError):
            source.latest(fake.host)


class ScriptedSource:
    """A source whose reads fail where the script says False."""

    def __init__(self, answers):
        self.answers = list(answers)

    def latest(self, host, charts=()):
        if not self.answers.pop(0):
            raise ConnectionRefusedError("Connection refused")
        return {}


class OneHostGatherer:
    def charts(self):
        return {"127.0.0.1:19999": ["system.cpu"]}

    def row(self, latest):
        return np.zeros(1)


def test_one_failed_read_is_a_skipped_sample_and_failures_in_a_row_are_one_outage():
    assert OUTAGE_AFTER_N == 2
    # a blip, an outage of 4 reads, back, a blip, a second outage of 2 reads, back
    script = [True, False, True, False, False, False, False, True, True, False, True, False, False, True]
    log, job_health = RecordingLog(), health.JobHealth()
    reader = LatestReader(ScriptedSource(script), log, job_health)
    rows = [reader.read(OneHostGatherer()) for _ in script]
    assert [row is not None for row in rows] == script  # every failed read is a gap
    assert len(log.said("warning", "cannot read latest values from '127.0.0.1:19999': Connection refused")) == 2
    assert len(log.said("info", "'127.0.0.1:19999' answers again")) == 2
    assert [level for level, _ in log.lines] == ["warning", "info", "warning", "info"]
    assert len(job_health.read_errors_) == script.count(False)  # the health chart counts them all


def wait_trained(job, log, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = job.collect()
        if job.state is not None:
            return result
        time.sleep(0.2)
    raise AssertionError(f"no training: {log.lines}")


def scoring_job(fake, log, **settings):
    """An offline job on `fake`'s system.* charts, trained on 2 minutes, its feature window full: (job, the
    values of its last cycle)."""
    job = AnomaliesJob({"host": fake.host, "train_n_secs": 120, "train_no_prediction_n": 0,
                        "charts_regex": r"system\..*", **settings}, log)
    wait_trained(job, log)
    for _ in range(job.feature_spec.window + 1):
        data = job.collect().data
    return job, data


def test_bad_values_pause_only_the_models_they_touch_and_nothing_crashes():
    charts = {chart: dict(dims) for chart, dims in CHARTS.items()}
    with FakeNetdata(charts) as fake:
        log = RecordingLog()
        job = AnomaliesJob({"host": fake.host, "train_n_secs": 120, "train_no_prediction_n": 0,
                            "charts_regex": r"system\..*",
                            "custom_models": [{"name": "mix", "dimensions": "system.cpu|user,system.load|load1"}]},
                           log)
        first = wait_trained(job, log)
        assert {dim for _, (dim, *_) in first.added} >= {"system.cpu_prob", "system.load_anomaly", "mix_score"}
        for _ in range(job.feature_spec.window + 1):
            data = job.collect().data
        assert {"system.cpu_prob", "system.cpu_some_pressure_prob", "system.load_prob", "mix_prob"} <= set(data)

        for bad in (float("nan"), float("inf"), None):
            charts["system.load"]["load1"] = lambda t, bad=bad: bad
            data = job.collect().data
            assert "system.load_prob" not in data and "mix_prob" not in data
            assert {"system.cpu_prob", "system.cpu_some_pressure_prob"} <= set(data)
            assert all(isinstance(v, int) for v in data.values())
        assert len(log.said("info", "model 'system.load': some of its dimensions have no finite value")) == 1

        del charts["system.load"]  # the chart disappears
        assert "mix_prob" not in job.collect().data
        charts["system.load"] = dict(CHARTS["system.load"])
        data = job.collect().data
        assert "system.load_prob" in data and "mix_prob" in data
        assert log.said("info", "model 'mix': all its dimensions have values again; resumed")
        assert all(0 <= data[k] <= 10000 for k in data if k.endswith("_prob"))
        assert not log.said("error", "")


def test_agent_down_at_start_is_retried_and_logged_once():
    log = RecordingLog()
    job = AnomaliesJob({"host": "127.0.0.1:9", "train_n_secs": 60}, log)  # nothing listens on port 9
    for _ in range(RETRY_TRAINING_EVERY_N + 2):
        assert anomaly_values(job.collect().data) == warming_values()
    # one clear line naming the reason, and nothing misleading about charts_regex
    assert log.lines == [("warning", "cannot reach the agent at '127.0.0.1:9': Connection refused; the first "
                                     "training waits until it answers")]
    assert job.state is None and job.last_training_cycle is None  # it asked again, and will again


def test_the_first_training_waits_for_min_train_secs_of_history_and_says_so_once():
    log = RecordingLog()
    with FakeNetdata({"system.cpu": {"user": wave(60)}}) as fake:
        job = AnomaliesJob({"host": fake.host, "min_train_secs": 2 * 86400, "train_n_secs": 3 * 86400}, log)
        for _ in range(2 * RETRY_TRAINING_EVERY_N + 1):
            assert anomaly_values(job.collect().data) == warming_values()
        assert job.last_training_cycle is None
        assert [level for level, line in log.lines] == ["info"]
        assert "has 1440 of the 2880 minutes of history" in log.lines[0][1]
        # a window shorter than min_train_secs needs only itself
        assert AnomaliesJob({"host": fake.host, "train_n_secs": 60}, log).config.history_needed_secs() == 60


def test_a_young_agent_reports_only_the_rows_it_really_has():
    born = time.time() - 20
    young = {"system.cpu": {"user": lambda t: None if t < born else 1.0 + t % 7}}
    with FakeNetdata(young) as fake:
        now = int(time.time())
        values = fetch_history(NetdataSource(), [Column(fake.host, "system.cpu", "user")], now - 300, now,
                               100000, print)
    assert 18 <= len(values) <= 22 and np.isfinite(values).all()


def test_a_job_slower_than_its_charts_trains_at_its_own_pace():
    """At update_every 60 over per-second charts, the training window is read averaged to one row a minute,
    so the differences and lags it learns are a cycle apart, as the ones it scores."""
    with FakeNetdata({c: dict(d) for c, d in CHARTS.items()}) as fake:
        now = int(time.time())
        config = parse_config({"host": fake.host, "update_every": 60, "charts_regex": r"system\.cpu"})
        outcome = train(config, now - 3600, now)
        queries = [parse_qs(urlparse(path).query) for path in fake.requests if path.startswith("/api/v1/data")]
        assert outcome.state is not None and {q["points"][0] for q in queries} == {"60"}, queries
        fake.requests.clear()
        train(parse_config({"host": fake.host, "charts_regex": r"system\.cpu"}), now - 3600, now)
        assert {q["points"][0] for q in (parse_qs(urlparse(path).query) for path in fake.requests
                                         if path.startswith("/api/v1/data"))} == {"0"}


def test_the_job_tells_its_flag_rule_how_much_history_its_models_were_trained_on():
    """The long hold counts from `flags_long_after_secs` of training history: the job passes each training's
    window span (rows × update_every) to its flag rule when it swaps the models in."""
    with FakeNetdata({"system.cpu": {"user": wave(60)}}) as fake:
        log = RecordingLog()
        job = AnomaliesJob({"host": fake.host, "train_n_secs": 120, "charts_regex": r"system\.cpu",
                            "flags_long_threshold": 98, "flags_long_after_secs": 60}, log)
        wait_trained(job, log)
        assert job.state.rows >= 60 and job.flagger.trained_secs_ == job.state.rows * job.config.update_every
        assert job.flagger.counts_
