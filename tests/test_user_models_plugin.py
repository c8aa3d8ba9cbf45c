# SPDX-License-Identifier: GPL-3.0-or-later
"""The real python.d.plugin running both modules with model classes named in the conf, against a private
agent: a PyOD detector by class name, the README's example classes from a root-only model_path, and a
class that cannot be used (one log line, the job serves the default)."""
from __future__ import annotations

import os
import pytest

from agent import NetdataAgent
from anomalies.config import DEFAULTS
from plugin import run_plugin

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="a model_path must belong to root")]
HISTORY_S = 60


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    node = NetdataAgent(tmp_path_factory.mktemp("agent")).start()
    node.wait_for_history(HISTORY_S)
    yield node
    node.stop()


def job(name, host, model, extra=""):
    return (f"{name}:\n  name: '{name}'\n  host: '{host}'\n  charts_regex: 'system\\.(cpu|load|ram)'\n"
            f"  model: '{model}'\n{extra}")


def test_offline_jobs_with_a_pyod_class_and_a_class_of_ones_own(agent, model_path, tmp_path):
    timing = f"  train_n_secs: {HISTORY_S}\n  min_train_secs: 30\n  train_no_prediction_n: 2\n"
    config = (job("knn", agent.host, "pyod.models.knn:KNN", timing + "  model_args: {n_neighbors: 5}\n")
              + job("mine", agent.host, "my_detectors:FarFromMedian", timing + f"  model_path: '{model_path}'\n")
              + job("bad", agent.host, "my_detectors:NoScore", timing + f"  model_path: '{model_path}'\n"))
    run = run_plugin(tmp_path, "anomalies", config, seconds=40)
    assert run.non_protocol_lines() == []
    for name in ("knn", "mine", "bad"):  # every job serves its models
        levels = run.values[f"anomalies_{name}.probability"]
        assert len(levels["system.cpu_prob"]) >= 10, (name, run.stderr[-2000:])
    bad = [line for line in run.log_lines("bad") if "my_detectors:NoScore" in line]
    fallback = f"using default '{DEFAULTS['model']}'"
    assert len(bad) == 1 and "lacks decision_function" in bad[0] and fallback in bad[0], bad
    assert not [line for line in run.log_lines("knn") + run.log_lines("mine") if "ERROR" in line]


def test_a_streaming_job_with_a_river_style_class_of_ones_own(agent, model_path, tmp_path):
    config = job("mine", agent.host, "my_detectors:RunningDistance",
                 f"  model_path: '{model_path}'\n  model_args: {{alpha: 0.02}}\n  warmup_n: 20\n  window_n: 300\n"
                 f"  warm_start_secs: {HISTORY_S}\n")
    run = run_plugin(tmp_path, "anomalies_online", config, seconds=25)
    assert run.non_protocol_lines() == []
    levels = run.values["anomalies_online_mine.probability"]
    assert len(levels["system.cpu_prob"]) >= 10, run.stderr[-2000:]
    assert not [line for line in run.log_lines("mine") if "ERROR" in line or "WARNING" in line]
