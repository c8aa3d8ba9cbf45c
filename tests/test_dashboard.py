# SPDX-License-Identifier: GPL-3.0-or-later
"""The anomaly charts in the agent's own dashboard: a private agent runs both modules through its
python.d.plugin and serves this project's dashboard text (web/netdata-anomalies.js, as install.sh sets it
up); headless Chromium opens the dashboard at them, waits until the dashboard's scripts have drawn both
modules' anomaly-rate and level charts, checks the sections describe this project (not the old upstream
collector), and keeps a screenshot (tests/artifacts/dashboard.png)."""
import time
from pathlib import Path

import pytest

from agent import NetdataAgent
from browser import CHROMIUM, Browser
from plugin import enable_modules, venv_dir

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CONFIGS = {
    "anomalies": "local:\n  name: 'local'\n  host: '{host}'\n  charts_regex: 'system\\.(cpu|load|ram|net|io)'\n"
                 "  train_n_secs: 60\n  train_no_prediction_n: 0\n  save_state: no\n",
    "anomalies_online": "local:\n  name: 'local'\n  host: '{host}'\n"
                        "  charts_regex: 'system\\.(cpu|load|ram|net|io)'\n  warm_start_secs: 60\n  warmup_n: 30\n"
                        "  save_state: no\n",
}


WINDOW_S = 60  # the dashboard's time window: charts with less history get an overlay ("extend your history")

# JavaScript: how many pixels of a chart's plot canvas are coloured (a line of a dimension; the grid is grey)
COLOURED_PIXELS = """(() => {
    const chart = document.getElementById('chart_%s');
    const canvas = chart && chart.querySelector('canvas');
    if (!canvas || !canvas.width) return 0;
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let coloured = 0;
    for (let i = 0; i < pixels.length; i += 4)
        if (pixels[i + 3] > 200 && Math.max(pixels[i], pixels[i + 1], pixels[i + 2])
                                   - Math.min(pixels[i], pixels[i + 1], pixels[i + 2]) > 80) coloured++;
    return coloured;
})()"""


def seconds_of_data(node, chart) -> int:
    """How many of the last WINDOW_S + 5 seconds of `chart` have a value."""
    try:
        data = node.api(f"/api/v1/data?chart={chart}&after=-{WINDOW_S + 5}&format=json")
    except OSError:
        return 0
    return sum(1 for row in data.get("data", []) if any(value is not None for value in row[1:]))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (tests/run installs it)")
def test_the_dashboard_shows_the_anomaly_charts_of_both_modules(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDATA_ANOMALIES_VENV", str(venv_dir()))
    node = NetdataAgent(tmp_path, python_d=True, dashboard_info=True)
    enable_modules(node, {module: config.format(host=node.host) for module, config in CONFIGS.items()})
    node.start()  # a young agent: the offline module trains on what history there is, then again later
    try:
        charts = ["anomalies_local.anomaly_rate", "anomalies_local.probability",
                  "anomalies_online_local.anomaly_rate", "anomalies_online_local.probability"]
        deadline = time.monotonic() + 240
        while min(seconds_of_data(node, chart) for chart in charts) < WINDOW_S and time.monotonic() < deadline:
            time.sleep(2)
        assert min(seconds_of_data(node, chart) for chart in charts) >= WINDOW_S

        ARTIFACTS.mkdir(exist_ok=True)
        # both sections, each with its four anomaly charts and four health charts, in one view
        with Browser(height=6400, profile=tmp_path / "chromium") as browser:
            browser.open(f"http://{node.host}/#menu_anomalies_local;after=-{WINDOW_S};before=0")
            containers = [f"chart_{chart.replace('.', '_')}" for chart in charts]
            assert browser.wait_for(" && ".join(f"document.getElementById('{c}')" for c in containers), 90), \
                "the dashboard has no container for the anomaly charts"
            browser.evaluate("document.getElementById('menu_anomalies_local').scrollIntoView()")
            # the dashboard draws a chart once it is in view and its data has arrived: wait for lines
            levels = [c for c in containers if c.endswith("probability")]  # the rate lines may lie on the axis
            drawn = browser.wait_for(" && ".join(f"{COLOURED_PIXELS % c[len('chart_'):]} > 200" for c in levels), 60)
            time.sleep(2)  # the legends and axes of the last chart drawn
            browser.screenshot(ARTIFACTS / "dashboard.png")
            (ARTIFACTS / "dashboard.html").write_text(browser.evaluate("document.documentElement.outerHTML"))
            assert drawn, {c: browser.evaluate(COLOURED_PIXELS % c[len("chart_"):]) for c in levels}
            text = browser.evaluate("document.body.innerText")
            assert "netdata-anomalies" in text and "prediction from the trained models" not in text
            assert "100 is the flag line" in text  # the level chart's own description
    finally:
        node.stop()
