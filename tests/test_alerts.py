# SPDX-License-Identifier: GPL-3.0-or-later
"""The shipped health templates in a real agent that runs the module through its own python.d.plugin: the
alarms load, stay clear on ordinary data, and one is raised when an anomaly is injected into what the model
watches. The watched chart comes from a fake API (the job's `host`), so the anomaly is exact and on time."""
import re
import shutil
import time

import pytest

from agent import NetdataAgent
from fake_netdata import FakeNetdata, wave
from plugin import REPO, enable_modules, venv_dir

pytestmark = pytest.mark.integration
CHART = "anomalies_local.anomaly"

JOB = """\
local:
  name: 'local'
  host: '{host}'
  update_every: 1
  charts_regex: 'app\\.requests'
  train_n_secs: 300
  train_every_n: 0
  train_no_prediction_n: 0
  save_state: no
"""


def alarm(node, template, chart):
    """The agent's alarm of `template` on `chart` ({name, status, value, ...}), or None while there is none
    (a `foreach` template names its alarms after the dimension)."""
    for entry in node.api("/api/v1/alarms?all").get("alarms", {}).values():
        if entry["name"].startswith(template) and entry["chart"] == chart:
            return entry
    return None


def wait_for(node, what, predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    alarms = {a["name"]: a["status"] for a in node.api("/api/v1/alarms?all").get("alarms", {}).values()
              if a["name"].startswith("anomalies")}
    charts = [c for c in node.charts() if c.startswith("anomalies")]
    log = (node.root / "log" / "error.log")
    tail = log.read_text()[-3000:] if log.exists() else "(no error.log)"
    raise AssertionError(f"no {what} within {seconds}s; alarms {alarms}; charts {charts}; log:\n{tail}")


def test_an_injected_anomaly_raises_the_model_flagged_alarm(tmp_path, monkeypatch):
    charts = {"app.requests": {"rate": wave(60, 5, 100)}}
    with FakeNetdata(charts) as fake:
        monkeypatch.setenv("NETDATA_ANOMALIES_VENV", str(venv_dir()))
        node = NetdataAgent(tmp_path, python_d=True, health=True)
        enable_modules(node, {"anomalies": JOB.format(host=fake.host)})
        shutil.copy(REPO / "health.d" / "anomalies.conf", node.config_dir / "health.d" / "anomalies.conf")
        node.start()
        try:
            flagged = lambda: alarm(node, "anomalies_model_flagged", CHART) or {}  # noqa: E731
            # the agent evaluates an alarm once its chart holds the whole lookup window (2 minutes here)
            assert wait_for(node, "clear alarm", lambda: flagged().get("status") == "CLEAR", 240)
            time.sleep(20)  # ordinary data: it stays clear
            assert flagged()["status"] == "CLEAR"

            charts["app.requests"]["rate"] = lambda t: 100 + 400 * (int(t) % 2)  # wild swings every second
            injected = time.monotonic()
            assert wait_for(node, "warning", lambda: flagged()["status"] == "WARNING", 150)
            assert time.monotonic() - injected > 20  # a run of flags, not one odd sample
            assert alarm(node, "anomalies_anomaly_rate", "anomalies_local.anomaly_rate") is not None
            # and the plugin's log says what drives the flag: the one dimension, its value, expected and band
            log = (node.root / "log" / "error.log").read_text()
            said = re.search(r"app\.requests flagged: rate [\d.]+ \(100% of the score\), expected ([\d.]+) "
                             r"\([\d.]+ to [\d.]+\), (above|below)", log)
            assert said, log[-3000:]
            assert 90 <= float(said.group(1)) <= 110, said.group(0)  # the wave's level, 100 +- 5
        finally:
            node.stop()
