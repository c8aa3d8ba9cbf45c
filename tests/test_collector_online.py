# SPDX-License-Identifier: GPL-3.0-or-later
"""The real python.d.plugin running the streaming module against a private Netdata agent."""
import re

import pytest

from agent import NetdataAgent
from plugin import run_plugin

pytestmark = pytest.mark.integration
HISTORY_SECS = 40


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    node = NetdataAgent(tmp_path_factory.mktemp("agent")).start()
    node.wait_for_history(HISTORY_SECS)
    yield node
    node.stop()


def job(name, host, extra=""):
    return f"{name}:\n  name: '{name}'\n  host: '{host}'\n  warmup_n: 20\n  window_n: 300\n{extra}"


@pytest.fixture(scope="module")
def run(agent, tmp_path_factory):
    config = job("local", agent.host, f"  warm_start_secs: {HISTORY_SECS}\n"
                                      "  charts_regex: 'system\\.(cpu|load|ram|net|io)'\n"
                                      "  custom_models:\n"
                                      "    - name: 'cpu_load'\n"
                                      "      dimensions: 'system.cpu|user,system.cpu|system,system.load|load1'\n")
    config += job("broken", agent.host, "  warm_start_secs: 0\n  charts_regex: 'system\\.(cpu'\n"
                                        "  model: 'nope'\n  window_n: -1\n"
                                        "  custom_models:\n"
                                        "    - name: 'half'\n"
                                        "      dimensions: 'system.cpu|user,system.cpu|no_such_dim'\n")
    return run_plugin(tmp_path_factory.mktemp("plugin"), "anomalies_online", config, seconds=35)


def test_stdout_carries_only_the_plugin_protocol(run):
    assert run.non_protocol_lines() == []
    assert "Traceback" not in run.stderr


def test_three_charts_with_the_same_names_as_the_offline_module(run):
    for chart in ("probability", "anomaly", "score"):
        assert run.charts[f"anomalies_online_local.{chart}"]["context"] == f"anomalies_online.{chart}"
    probability = run.dimensions["anomalies_online_local.probability"]
    assert {"average_prob", "system.cpu_prob", "system.load_prob", "system.ram_prob",
            "cpu_load_prob"} <= set(probability)
    assert not [d for d in probability if "pressure" in d]
    assert "system.cpu_anomaly" in run.dimensions["anomalies_online_local.anomaly"]
    assert "cpu_load_score" in run.dimensions["anomalies_online_local.score"]
    # the job's own chart comes first: the share of models flagged, and of models still warming up
    assert run.charts["anomalies_online_local.anomaly_rate"]["context"] == "anomalies_online.anomaly_rate"
    assert set(run.dimensions["anomalies_online_local.anomaly_rate"]) == {"anomaly_rate", "warming_up"}
    rate = run.values["anomalies_online_local.anomaly_rate"]
    assert all(0 <= v <= 10000 for values in rate.values() for v in values)
    assert rate["warming_up"][0] == 10000 and rate["warming_up"][-1] == 0 and len(rate["anomaly_rate"]) >= 20


def test_warm_start_learns_the_history_then_every_cycle_is_scored(run):
    warm = run.log_lines("local", "warm start")
    assert warm and re.search(r"learned (\d+) samples", warm[0]), run.stderr[-3000:]
    assert int(re.search(r"learned (\d+) samples", warm[0]).group(1)) >= HISTORY_SECS - 15
    probability = run.values["anomalies_online_local.probability"]
    assert len(probability["system.cpu_prob"]) >= 20 and len(probability["cpu_load_prob"]) >= 20
    for dim, values in probability.items():
        assert all(0 <= v <= 20000 for v in values), dim  # anomaly levels, x100
    for dim, values in run.values["anomalies_online_local.anomaly"].items():
        assert set(values) <= {0, 1}, dim
    for dim, values in run.values["anomalies_online_local.score"].items():
        assert all(v >= 0 for v in values), dim
    runtimes = [int(v) for v in re.findall(
        r"BEGIN netdata\.runtime_anomalies_online_local \d+\nSET run_time = (\d+)", run.stdout)]
    assert len(runtimes) >= 25 and sorted(runtimes)[len(runtimes) // 2] < 100


def test_broken_config_logs_each_problem_and_still_runs_what_is_valid(run):
    errors = "\n".join(run.log_lines("broken", "ERROR"))
    for key in ("charts_regex", "model", "window_n"):
        assert f"{key}: invalid value" in errors
    assert "system.cpu|no_such_dim" in "\n".join(run.log_lines("broken", "WARNING"))
    # it starts cold (warm_start_secs: 0), so its models show values once they have learned warmup_n samples
    probability = run.values["anomalies_online_broken.probability"]
    assert len(probability["system.cpu_prob"]) >= 5 and len(probability["half_prob"]) >= 5
    warming = run.values["anomalies_online_broken.anomaly_rate"]["warming_up"]
    assert warming[0] == 10000 and warming[-1] == 0


def test_a_restarted_plugin_continues_with_the_saved_streaming_models(agent, tmp_path_factory):
    root = tmp_path_factory.mktemp("saved")
    config = job("saved", agent.host, "  charts_regex: 'system\\.(cpu|load)'\n  save_state_every_n: 25\n"
                                      "  warm_start_secs: 0\n")
    run_plugin(root, "anomalies_online", config, seconds=35)
    assert (root / "lib" / "netdata-anomalies" / "anomalies_online_saved.state").exists()

    # warm_start_secs only changes how a job starts: the saved models still fit
    second = run_plugin(root, "anomalies_online", config.replace("warm_start_secs: 0", "warm_start_secs: 600"),
                        seconds=25)
    assert second.log_lines("saved", "restored 2 streaming models"), second.stderr[-3000:]
    # only the seconds since the save, not the 600 s of warm_start_secs
    warm = second.log_lines("saved", "warm start")
    assert warm and int(re.search(r"learned (\d+) samples", warm[0]).group(1)) < 60, warm
    assert len(second.values["anomalies_online_saved.anomaly"]["system.cpu_anomaly"]) >= 5
    assert second.non_protocol_lines() == [] and "Traceback" not in second.stderr
