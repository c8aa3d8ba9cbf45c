#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Screenshots of the agent's own dashboard, quiet and during a fault, for the README (docs/).

A private agent (tests/agent.py) with health on, this project's dashboard text, and both modules running
through its python.d.plugin with the shipped confs (their default charts), their warm-up scaled to
`--warm-minutes`. Once both have served their models for `--quiet-minutes`, headless Chromium photographs
both sections (docs/dashboard-quiet.png) and counts the alerts raised so far (with the defaults,
`--warm-minutes 15 --quiet-minutes 45` is an agent's first hour); then one core is kept busy for `--fault-seconds` (bench/record's
cpu fault) and the sections are photographed again near its end (docs/dashboard-fault.png). Printed: the
anomaly rate and the highest anomaly levels of each module, quiet and during the fault, and the load average
when each photograph is taken. The agent watches this machine's own charts: run it with nothing else
running, or other work shows as anomalies in the "quiet" photograph.

    .venv/bin/python bench/dashboard.py [--warm-minutes 15] [--quiet-minutes 5] [--fault-seconds 120]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from agent import NetdataAgent  # noqa: E402
from browser import Browser  # noqa: E402
from plugin import enable_modules, raised_alerts, shipped_conf, venv_dir  # noqa: E402

MODULES = ("anomalies", "anomalies_online")


def latest(node, chart: str, seconds: int = 10) -> Dict[str, float]:
    """Mean of the last `seconds` of each dimension of `chart` (dimensions without values left out)."""
    try:
        data = node.api(f"/api/v1/data?chart={chart}&after=-{seconds}&format=json")
    except OSError:  # not there (yet), or made obsolete while it had no data
        return {}
    rows = data.get("data", [])
    means = {}
    for i, label in enumerate(data.get("labels", [])[1:], start=1):
        values = [row[i] for row in rows if row[i] is not None]
        if values:
            means[label] = sum(values) / len(values)
    return means


def summary(node, seconds: int) -> List[Tuple[str, float, List[Tuple[str, float]]]]:
    """Per module: the mean anomaly rate of the last `seconds`, and its three highest anomaly levels."""
    out = []
    for module in MODULES:
        rate = latest(node, f"{module}_local.anomaly_rate", seconds).get("flagged", float("nan"))
        levels = latest(node, f"{module}_local.probability", seconds)
        levels.pop("average", None)
        out.append((module, rate, sorted(levels.items(), key=lambda item: -item[1])[:3]))
    return out


def ready(node) -> bool:
    """Do both modules serve models (most of them warm)?"""
    for module in MODULES:
        rate = latest(node, f"{module}_local.anomaly_rate", 5)
        if rate.get("warming up", 100) >= 50 or "flagged" not in rate:
            return False
    return True


def photograph(node, path: Path, window_s: int, profile: Path) -> None:
    print(f"photographing {path.name}, load {os.getloadavg()[0]:.1f}", flush=True)
    before_ms = int(time.time() * 1000)  # the window ends now: the browser's own start is not in the picture
    with Browser(width=1400, height=2600, profile=profile) as browser:
        browser.open(f"http://{node.host}/#menu_anomalies_local;after={before_ms - window_s * 1000};"
                     f"before={before_ms}")
        browser.wait_for("document.getElementById('chart_anomalies_online_local_score')", 90)
        browser.evaluate("document.getElementById('menu_anomalies_local').scrollIntoView()")
        time.sleep(15)  # every chart in view fetches its data and draws
        browser.screenshot(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm-minutes", type=float, default=15)
    parser.add_argument("--quiet-minutes", type=float, default=5)
    parser.add_argument("--fault-seconds", type=int, default=120)
    parser.add_argument("--out", default=str(REPO / "docs"))
    args = parser.parse_args()
    os.environ["NETDATA_ANOMALIES_VENV"] = str(venv_dir())
    root = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    node = NetdataAgent(root, python_d=True, health=True, dashboard_info=True)
    warm_s = int(args.warm_minutes * 60)
    enable_modules(node, {module: shipped_conf(module, node.host, warm_s) for module in MODULES})
    shutil.copy(REPO / "health.d" / "anomalies.conf", node.config_dir / "health.d" / "anomalies.conf")
    node.start()
    started = time.monotonic()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}: agent {node.host}, warm-up {args.warm_minutes:g} min, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    try:
        while not ready(node):
            if time.monotonic() - started > warm_s + 600:
                raise SystemExit(f"the modules did not finish warming up; see {root}/log")
            time.sleep(10)
        print(f"both modules ready after {(time.monotonic() - started) / 60:.1f} min", flush=True)
        time.sleep(args.quiet_minutes * 60)
        window = int(args.quiet_minutes * 60) + 60
        out = Path(args.out)
        photograph(node, out / "dashboard-quiet.png", window, root / "chromium")
        for module, rate, top in summary(node, int(args.quiet_minutes * 60)):
            print(f"quiet, last {args.quiet_minutes:g} min: {module} flagged {rate:.2f}%, highest levels "
                  + ", ".join(f"{name} {level:.0f}" for name, level in top), flush=True)
        print(f"alerts raised in the first {(time.monotonic() - started) / 60:.0f} minutes, before the fault: "
              f"{raised_alerts(node)}", flush=True)
        fault = subprocess.Popen([sys.executable, str(REPO / "bench" / "record"), "--workload", "cpu",
                                  "--workload-seconds", str(args.fault_seconds), "--workload-param", "1"],
                                 start_new_session=True)
        time.sleep(5)
        if fault.poll() is not None:  # no fault, no photograph of one
            raise SystemExit(f"the cpu fault ended at once (exit {fault.returncode})")
        time.sleep(args.fault_seconds - 25)
        photograph(node, out / "dashboard-fault.png", window, root / "chromium")
        for module, rate, top in summary(node, 30):
            print(f"fault (one busy core), last 30 s: {module} flagged {rate:.2f}%, highest levels "
                  + ", ".join(f"{name} {level:.0f}" for name, level in top), flush=True)
        fault.wait()
        print(f"alerts raised by the end of the fault: {raised_alerts(node)}")
    finally:
        node.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
