# SPDX-License-Identifier: GPL-3.0-or-later
"""The shipped health templates in a real agent that runs the module through its own python.d.plugin: the
alarms load, stay clear on ordinary data, and one is raised when an anomaly is injected into what the model
watches. The watched chart comes from a fake API (the job's `host`), so the anomaly is exact and on time."""
import shutil
import time

import pytest

from agent import NetdataAgent
from fake_netdata import FakeNetdata, wave
from plugin import REPO, venv_dir

pytestmark = pytest.mark.integration
ALARM = "anomalies_model_flagged_app.requests_anomaly"

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


def alarm(node, name):
    """The agent's alarm `name` ({status, value, ...}), or None while it does not exist."""
    for entry in node.api("/api/v1/alarms?all").get("alarms", {}).values():
        if entry["name"] == name:
            return entry
    return None


def wait_for(what, predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"no {what} within {seconds}s")


def test_an_injected_anomaly_raises_the_model_flagged_alarm(tmp_path, monkeypatch):
    charts = {"app.requests": {"rate": wave(60, 5, 100)}}
    with FakeNetdata(charts) as fake:
        monkeypatch.setenv("NETDATA_ANOMALIES_VENV", str(venv_dir()))
        node = NetdataAgent(tmp_path, python_d=True, health=True)
        (node.config_dir / "python.d.conf").write_text("enabled: yes\ndefault_run: no\nanomalies: yes\n")
        (node.config_dir / "python.d" / "anomalies.conf").write_text(JOB.format(host=fake.host))
        shutil.copy(REPO / "health.d" / "anomalies.conf", node.config_dir / "health.d" / "anomalies.conf")
        for module in (REPO / "collectors").glob("*.py"):
            (node.user_modules_dir / module.name).symlink_to(module)
        node.start()
        try:
            clear = wait_for(ALARM, lambda: (alarm(node, ALARM) or {}).get("status") == "CLEAR", 120)
            assert clear
            time.sleep(20)  # ordinary data: it stays clear
            assert alarm(node, ALARM)["status"] == "CLEAR"

            charts["app.requests"]["rate"] = lambda t: 100 + 400 * (int(t) % 2)  # wild swings every second
            injected = time.monotonic()
            raised = wait_for("warning", lambda: alarm(node, ALARM)["status"] == "WARNING", 150)
            assert raised and time.monotonic() - injected > 20  # a run of flags, not one odd sample
            assert alarm(node, "anomalies_anomaly_rate") is not None
        finally:
            node.stop()
