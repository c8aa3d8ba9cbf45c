# SPDX-License-Identifier: GPL-3.0-or-later
"""The anomaly charts in the agent's own dashboard: a private agent runs both modules through its
python.d.plugin, and headless Chromium opens the dashboard, runs its scripts and gives the page it built:
it holds the charts of both modules."""
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from agent import NetdataAgent
from plugin import enable_modules, venv_dir

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--hide-scrollbars", "--window-size=1400,1800", "--virtual-time-budget=30000"]

CONFIGS = {
    "anomalies": "local:\n  name: 'local'\n  host: '{host}'\n  charts_regex: 'system\\.(cpu|load|ram|net|io)'\n"
                 "  train_n_secs: 60\n  train_no_prediction_n: 0\n  save_state: no\n",
    "anomalies_online": "local:\n  name: 'local'\n  host: '{host}'\n"
                        "  charts_regex: 'system\\.(cpu|load|ram|net|io)'\n  warm_start_secs: 60\n  warmup_n: 30\n"
                        "  save_state: no\n",
}


def has_data(node, chart):
    try:
        data = node.api(f"/api/v1/data?chart={chart}&after=-10&format=json")
    except OSError:
        return False
    return any(value is not None for row in data.get("data", []) for value in row[1:])


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (tests/run installs it)")
def test_the_dashboard_shows_the_anomaly_charts_of_both_modules(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDATA_ANOMALIES_VENV", str(venv_dir()))
    node = NetdataAgent(tmp_path, python_d=True)
    enable_modules(node, {module: config.format(host=node.host) for module, config in CONFIGS.items()})
    node.start()  # a young agent: the offline module trains on what history there is, then again later
    try:
        charts = ["anomalies_local.probability", "anomalies_online_local.probability"]
        deadline = time.monotonic() + 180
        while not all(has_data(node, chart) for chart in charts) and time.monotonic() < deadline:
            time.sleep(2)
        assert all(has_data(node, chart) for chart in charts)

        url = f"http://{node.host}/#menu_anomalies_local"
        dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, "--dump-dom", url], capture_output=True, text=True,
                             timeout=180).stdout
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "dashboard.html").write_text(dom)
        for chart in charts:
            # the dashboard names each chart's container after the chart: chart_<id, dots as underscores>
            assert f'id="chart_{chart.replace(".", "_")}"' in dom, f"{chart} not on the page"
    finally:
        node.stop()
