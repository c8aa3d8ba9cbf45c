# SPDX-License-Identifier: GPL-3.0-or-later
"""The real python.d.plugin running this module against a private Netdata agent."""
import re
import secrets
import stat
import subprocess
import time

import pytest

from agent import NetdataAgent
from plugin import run_plugin

pytestmark = pytest.mark.integration
TRAIN_SECS = 60


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    node = NetdataAgent(tmp_path_factory.mktemp("agent")).start()
    node.wait_for_history(TRAIN_SECS)
    yield node
    node.stop()


def job(name, host, extra=""):
    return (f"{name}:\n  name: '{name}'\n  host: '{host}'\n  train_n_secs: {TRAIN_SECS}\n"
            f"  train_no_prediction_n: 2\n{extra}")


@pytest.fixture(scope="module")
def run(agent, tmp_path_factory):
    config = job("local", agent.host, "  charts_regex: 'system\\.(cpu|load|ram|net|io)'\n"
                                      "  train_every_n: 25\n"
                                      "  band_charts: 'system\\.ram'\n"
                                      "  custom_models:\n"
                                      "    - name: 'cpu_load'\n"
                                      "      dimensions: 'system.cpu|user,system.cpu|system,system.load|load1'\n")
    config += job("broken", agent.host, "  charts_regex: 'system\\.(cpu'\n  model: 'nope'\n  lags_n: -1\n"
                                        "  custom_models:\n"
                                        "    - name: 'half'\n"
                                        "      dimensions: 'system.cpu|user,system.cpu|no_such_dim'\n")
    return run_plugin(tmp_path_factory.mktemp("plugin"), "anomalies", config, seconds=45)


def test_stdout_carries_only_the_plugin_protocol(run):
    assert run.non_protocol_lines() == []


def test_three_charts_with_upstream_contexts_and_dimension_names(run):
    for chart, context in (("probability", "anomalies.probability"), ("anomaly", "anomalies.anomaly"),
                           ("score", "anomalies.score")):
        assert run.charts[f"anomalies_local.{chart}"]["context"] == context
    probability = run.dimensions["anomalies_local.probability"]
    assert {"average_prob", "system.cpu_prob", "system.load_prob", "system.ram_prob",
            "cpu_load_prob"} <= set(probability)
    # the regex matches whole chart ids: system.cpu does not drag in system.cpu_some_pressure
    assert not [d for d in probability if "pressure" in d]
    assert "system.cpu_anomaly" in run.dimensions["anomalies_local.anomaly"]
    assert "cpu_load_score" in run.dimensions["anomalies_local.score"]
    # the job's own chart comes first: the share of models flagged, and of models still warming up
    assert run.charts["anomalies_local.anomaly_rate"]["context"] == "anomalies.anomaly_rate"
    assert set(run.dimensions["anomalies_local.anomaly_rate"]) == {"anomaly_rate", "warming_up"}
    rate = run.values["anomalies_local.anomaly_rate"]
    assert all(0 <= v <= 10000 for values in rate.values() for v in values)
    assert rate["warming_up"][0] == 10000 and rate["warming_up"][-1] == 0 and len(rate["anomaly_rate"]) >= 20


def test_a_band_chart_for_the_chart_band_charts_names(run):
    chart = "anomalies_local.band_system_ram"
    assert run.charts[chart]["context"] == "anomalies.band"
    assert {"system.ram|used|expected", "system.ram|used|low", "system.ram|used|high"} <= set(run.dimensions[chart])
    values = run.values[chart]
    assert len(values["system.ram|used|expected"]) >= 10
    low, expected, high = (values[f"system.ram|used|{part}"][-1] for part in ("low", "expected", "high"))
    assert 0 < low <= expected <= high  # MiB x100
    assert not [c for c in run.charts if c.startswith("anomalies_local.band_") and c != chart]


def test_values_are_in_range_every_cycle(run):
    probability = run.values["anomalies_local.probability"]
    assert len(probability["system.cpu_prob"]) >= 20
    for dim, values in probability.items():
        assert all(0 <= v <= 20000 for v in values), dim  # anomaly levels, x100
    for dim, values in run.values["anomalies_local.anomaly"].items():
        assert set(values) <= {0, 1}, dim
    for dim, values in run.values["anomalies_local.score"].items():
        assert all(v >= 0 for v in values), dim
    assert len(run.values["anomalies_local.probability"]["cpu_load_prob"]) >= 20


def test_the_job_draws_its_own_health(run):
    for chart in ("health_models", "health_times", "health_errors", "health_rows"):
        assert run.charts[f"anomalies_local.{chart}"]["context"] == f"anomalies.{chart}"
    models = run.values["anomalies_local.health_models"]
    assert models["models_active"][-1] >= 4 and models["models_paused"][-1] == 0  # 3 charts and a custom model
    times = run.values["anomalies_local.health_times"]
    assert 0 < times["last_training"][-1] < 30_000 and 0 < times["read_latency"][-1] < 1_000  # ms
    assert times["read_latency"][-1] <= times["update_time"][-1] < 1_000  # the update holds the read
    assert run.values["anomalies_local.health_rows"]["training_rows"][-1] > 0
    assert set(run.values["anomalies_local.health_errors"]["read_errors"]) == {0}


def test_training_runs_in_the_background_and_retrains(run):
    trained = run.log_lines("local", "trained")
    assert len(trained) >= 2, run.stderr[-3000:]
    runtimes = [int(v) for v in re.findall(r"BEGIN netdata\.runtime_anomalies_local \d+\nSET run_time = (\d+)",
                                           run.stdout)]
    assert len(runtimes) >= 35  # one per second: training never held a cycle back
    assert sorted(runtimes)[len(runtimes) // 2] < 200


def test_broken_config_logs_each_problem_and_still_runs_what_is_valid(run):
    errors = "\n".join(run.log_lines("broken", "ERROR"))
    for key in ("charts_regex", "model", "lags_n"):
        assert f"{key}: invalid value" in errors
    warnings = "\n".join(run.log_lines("broken", "WARNING"))
    assert "system.cpu|no_such_dim" in warnings
    assert "Traceback" not in run.stderr
    probability = run.values["anomalies_broken.probability"]
    assert len(probability["system.cpu_prob"]) >= 10 and len(probability["half_prob"]) >= 10


def test_agent_restart_pauses_the_job_and_it_recovers(agent, tmp_path_factory):
    events = {}

    def restart_agent(elapsed):
        if elapsed > 20 and "stopped" not in events:
            agent.stop()
            events["stopped"] = time.monotonic()
        elif "stopped" in events and "started" not in events and time.monotonic() - events["stopped"] > 8:
            agent.start()
            events["started"] = time.monotonic()

    config = job("restart", agent.host, "  charts_regex: 'system\\.(cpu|ram)'\n  train_every_n: 0\n")
    run = run_plugin(tmp_path_factory.mktemp("restart"), "anomalies", config, seconds=50, during=restart_agent)
    assert "started" in events
    assert run.non_protocol_lines() == []
    assert "Traceback" not in run.stderr
    assert any("cannot read latest values" in line for line in run.log_lines("restart", "WARNING"))
    assert any("answers again" in line for line in run.log_lines("restart", "INFO"))
    sets = run.stdout.split("BEGIN anomalies_restart.probability")
    assert "system.cpu_prob" in sets[-1] and len(sets) > 25


def test_a_restarted_plugin_serves_the_saved_models_without_training(agent, tmp_path_factory):
    root = tmp_path_factory.mktemp("saved")
    agent.wait_for_history(130)
    # a window the agent's history fills (a young agent's models are retrained sooner, which this is not about)
    config = (f"saved:\n  name: 'saved'\n  host: '{agent.host}'\n  train_n_secs: 120\n  train_no_prediction_n: 2\n"
              "  charts_regex: 'system\\.(cpu|ram)'\n")
    first = run_plugin(root, "anomalies", config, seconds=15)
    assert first.log_lines("saved", "trained 2 models"), first.stderr[-3000:]
    state = root / "lib" / "netdata-anomalies" / "anomalies_saved.state"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700

    second = run_plugin(root, "anomalies", config, seconds=20)
    assert second.log_lines("saved", "restored 2 models trained 0 min ago"), second.stderr[-3000:]
    assert not second.log_lines("saved", "trained 2 models")
    assert len(second.values["anomalies_saved.probability"]["system.cpu_prob"]) >= 5
    assert second.non_protocol_lines() == [] and "Traceback" not in second.stderr


def test_credentials_stay_out_of_logs_and_the_process_list(agent, tmp_path_factory):
    """The agent ignores basic auth it does not ask for, so training really sends them; a second job
    whose agent is down makes the error paths log too."""
    secret = "pw-" + secrets.token_hex(8)
    credentials = f"  username: 'netdata'\n  password: '{secret}'\n  charts_regex: 'system\\.cpu'\n"
    config = job("creds", agent.host, credentials) + job("creds_down", "127.0.0.1:9", credentials)
    in_process_list = []

    def look_at_processes(elapsed):
        listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        if secret in listing:
            in_process_list.append(elapsed)

    run = run_plugin(tmp_path_factory.mktemp("creds"), "anomalies", config, seconds=15, during=look_at_processes)
    assert run.log_lines("creds", "trained 1 models"), run.stderr[-3000:]
    assert run.log_lines("creds_down", "WARNING")
    assert secret not in run.stderr and secret not in run.stdout and in_process_list == []
