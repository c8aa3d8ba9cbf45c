# SPDX-License-Identifier: GPL-3.0-or-later
"""`netdata-anomalies report` against a real private agent with an injected fault, and its HTML in
headless Chromium."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent import NetdataAgent
from browser import CHROMIUM, Browser
from test_dashboard import ARTIFACTS

pytestmark = pytest.mark.integration

MODULE = Path(__file__).resolve().parent / "modules" / "demo_fault.chart.py"
FAULT_CHART = "demo_fault_local.level"
REFERENCE_S, BEFORE_FAULT_S, FAULT_S, AFTER_FAULT_S = 240, 30, 60, 20

PLOTS_DRAWN = """(() => {
    const lines = document.querySelectorAll('svg.plot polyline');
    return lines.length > 0 && [...lines].every(l => l.getBBox().width > 100);
})()"""


def history_s(node, chart: str) -> int:
    try:
        data = node.api(f"/api/v1/data?chart={chart}&after=-{REFERENCE_S + 30}&format=json")
    except OSError:
        return 0
    return sum(1 for row in data.get("data", []) if row[1] is not None)


def report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anomalies.report", "report", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (tests/run installs it)")
def test_the_injected_fault_ranks_in_the_top_3_and_the_html_draws_its_plots(tmp_path):
    fault = tmp_path / "fault-on"
    node = NetdataAgent(tmp_path / "agent", python_d=True)
    (node.config_dir / "python.d.conf").write_text("enabled: yes\ndefault_run: no\ndemo_fault: yes\n")
    (node.config_dir / "python.d" / "demo_fault.conf").write_text(
        f"local:\n  update_every: 1\n  fault_file: '{fault}'\n")
    (node.user_modules_dir / MODULE.name).symlink_to(MODULE)
    node.start()
    try:
        deadline = time.monotonic() + REFERENCE_S + 120
        while history_s(node, FAULT_CHART) < REFERENCE_S and time.monotonic() < deadline:
            time.sleep(5)
        assert history_s(node, FAULT_CHART) >= REFERENCE_S, "the demo module's chart collects nothing"
        window_start = int(time.time())
        time.sleep(BEFORE_FAULT_S)
        fault.touch()
        fault_start = time.time()
        time.sleep(FAULT_S)
        fault.unlink()
        time.sleep(AFTER_FAULT_S)

        out = tmp_path / "report.html"
        done = report("--host", node.host, "--after", str(window_start), "--before", "0",
                      "--train-after", str(window_start - REFERENCE_S), "--charts", r"demo_fault_local\..*|system\..*",
                      "--out", str(out))
        assert done.returncode == 0, done.stderr
        ranking = [line.split()[-1] if ":" not in line else line.split(":")[0].split()[-1]
                   for line in done.stdout.splitlines()[2:]]
        assert FAULT_CHART in ranking[:3], done.stdout
        line = [row for row in done.stdout.splitlines() if FAULT_CHART in row][0]
        rate = float(re.search(r"([\d.]+)%", line).group(1))
        assert 30 < rate < 80, line  # about the 60 s of the fault in a window of 110 s
        assert "scoring" in done.stderr  # progress goes to stderr, and only the table to stdout
        page = out.read_text()
        assert FAULT_CHART in page and "class='flagged'" in page and "class='change'" in page

        ARTIFACTS.mkdir(exist_ok=True)
        with Browser(width=1100, height=1500, profile=tmp_path / "chromium") as browser:
            browser.open(out.as_uri())
            drawn = browser.wait_for(PLOTS_DRAWN, 30)
            browser.screenshot(ARTIFACTS / "report.png")
            assert drawn
            text = browser.evaluate("document.body.innerText")
            assert FAULT_CHART in text and "anomaly rate" in text
            flagged = browser.evaluate("document.querySelectorAll('svg.plot rect.flagged').length")
            assert flagged >= 1
        # the flagged stretch starts at the fault
        first = re.search(r"1, first at (\d\d\d\d-\d\d-\d\d \d\d:\d\d:\d\d)", page.split(FAULT_CHART)[1])
        assert first and abs(time.mktime(time.strptime(first.group(1), "%Y-%m-%d %H:%M:%S")) - fault_start) < 15

        # bad input against the real agent: one line, status 2
        for args, message in ((["--host", f"{node.host}/host/nosuch"], "cannot list the charts"),
                              (["--charts", r"nosuch\..*"], "matches"),
                              (["--after", str(window_start - 10 * 86400), "--before", str(window_start - 9 * 86400)],
                               "holds no data")):
            failed = report("--host", node.host, *args) if args[0] != "--host" else report(*args)
            assert failed.returncode == 2 and failed.stdout == "" and message in failed.stderr, failed.stderr
    finally:
        node.stop()
