# SPDX-License-Identifier: GPL-3.0-or-later
"""The collector's own health charts: what each job says about its models, trainings, reads and errors."""
from anomalies.health import HEALTH_CHARTS, TIME_DIVISOR, JobHealth
from anomalies.job import AnomaliesJob
from anomalies.planning import OWN_CHART
from anomalies_online.job import OnlineJob
from fake_netdata import FakeNetdata, wave
from test_job import RecordingLog, scoring_job
from test_online_job import settled

CHARTS = {"system.cpu": {"user": wave(60), "system": wave(45, 2)}, "system.load": {"load1": wave(90, 0.5, 1)}}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_values_are_gaps_until_known_and_errors_count_over_the_last_minute():
    clock = Clock()
    health = JobHealth(clock)
    assert health.values(None) == {"read_errors": 0, "training_errors": 0, "training_overdue": 0}
    health.training_due()
    clock.now += 30
    health.read(0.004, failed=True)
    health.training_failed()
    health.training_due()  # the retry: overdue still counts from the first attempt
    assert health.values((0, 0, 0, 0)) == {"models_active": 0, "models_paused": 0, "models_warming_up": 0,
                                           "models_untrained": 0, "read_errors": 1, "training_errors": 1,
                                           "training_overdue": 30 * TIME_DIVISOR, "read_latency": 4}
    health.trained(2.5, 3600)
    clock.now += 61
    values = health.values((3, 1, 0, 2))
    assert values["read_errors"] == values["training_errors"] == values["training_overdue"] == 0
    assert (values["last_training"], values["since_training"], values["training_rows"]) == (2500, 61000, 3600)
    health.trained(None, 100, ago=600)  # restored from disk: the duration is not known
    assert "last_training" not in health.values(None) and health.values(None)["since_training"] == 600000


def test_the_health_charts_are_drawn_and_never_modelled():
    job = AnomaliesJob({"host": "127.0.0.1:9"}, RecordingLog())
    order, definitions = job.chart_definitions()
    assert order[-len(HEALTH_CHARTS):] == HEALTH_CHARTS
    assert definitions["health_models"]["options"][4] == "anomalies.health_models"
    assert all(OWN_CHART.fullmatch(f"anomalies_local.{chart}") for chart in HEALTH_CHARTS)


def test_the_offline_job_counts_its_models_trainings_and_failed_reads():
    charts = {chart: dict(dims) for chart, dims in CHARTS.items()}
    with FakeNetdata(charts) as fake:
        log = RecordingLog()
        job, data = scoring_job(fake, log)
        assert (data["models_active"], data["models_paused"], data["models_untrained"]) == (2, 0, 0)
        assert data["training_rows"] >= 100 and data["last_training"] > 0 and data["read_latency"] > 0
        assert data["update_time"] >= data["read_latency"]  # the update holds the read
        charts["system.load"]["load1"] = lambda t: None
        data = job.collect().data
        assert (data["models_active"], data["models_paused"]) == (1, 1)
    data = job.collect().data  # the agent is gone
    assert data["read_errors"] == 1


def test_the_streaming_job_counts_models_warming_up_then_active():
    with FakeNetdata({chart: dict(dims) for chart, dims in CHARTS.items()}) as fake:
        log = RecordingLog()
        job = OnlineJob({"host": fake.host, "warm_start_secs": 0, "warmup_n": 30}, log)
        warming = None
        for _ in range(10):
            data = job.collect().data
            warming = warming or data.get("models_warming_up")
        assert warming == 2
        data = settled(job, log)
        assert (data["models_active"], data["models_warming_up"], data["models_paused"]) == (2, 0, 0)


def test_a_chart_the_training_cannot_fit_counts_as_untrained():
    charts = {"system.cpu": {"user": wave(60)}, "system.idle": {"flat": lambda t: 5.0}}  # constant: not fitted
    with FakeNetdata(charts) as fake:
        log = RecordingLog()
        _, data = scoring_job(fake, log)
        assert (data["models_active"], data["models_untrained"]) == (1, 1)
        assert log.said("warning", "1 models are constant during the training window and not trained")
