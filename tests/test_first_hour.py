# SPDX-License-Identifier: GPL-3.0-or-later
"""The first hour of a freshly started agent with the shipped confs and health file, its warm-up scaled
down by settings (`min_train_secs`, `warmup_n`): while the models warm up there is no flag and no value
that looks like one (the anomaly-rate charts say "warming up"), no alert leaves CLEAR, and once warm both
modules serve their models."""
import shutil
import time
from pathlib import Path

import pytest

from agent import NetdataAgent
from plugin import enable_modules, raised_alerts, shipped_conf, venv_dir

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
WARM_S = 150  # the warm-up of both modules here (shipped: 900 s of history, 1000 samples)
MODULES = ("anomalies", "anomalies_online")


def values(node, chart: str, dimension: str = "") -> list:
    """Every value of one dimension (or every value of every dimension) since the agent started, newest
    first (None where it had none)."""
    try:
        data = node.api(f"/api/v1/data?chart={chart}&dimensions={dimension}&after=-3600&format=json")
    except OSError:  # no such chart (yet)
        return []
    return [value for row in data.get("data", []) for value in (row[1:] if not dimension else row[1:2])]


def test_a_young_agent_stays_quiet_while_the_models_warm_up(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDATA_ANOMALIES_VENV", str(venv_dir()))
    node = NetdataAgent(tmp_path, python_d=True, health=True)
    enable_modules(node, {module: shipped_conf(module, node.host, WARM_S) for module in MODULES})
    shutil.copy(REPO / "health.d" / "anomalies.conf", node.config_dir / "health.d" / "anomalies.conf")
    node.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < WARM_S - 30:
            assert raised_alerts(node) == []
            time.sleep(10)
        for module in MODULES:
            job = f"{module}_local"
            warming = [v for v in values(node, f"{job}.anomaly_rate", "warming_up") if v is not None]
            assert len(warming) >= 60 and set(warming) == {100}, (module, warming[-10:])
            assert [v for v in values(node, f"{job}.anomaly_rate", "anomaly_rate") if v is not None] == []
            assert [v for v in values(node, f"{job}.anomaly") if v is not None] == [], module
            assert [v for v in values(node, f"{job}.probability") if v is not None] == [], module

        # once warm, both serve their models (and say so on the same chart)
        deadline = time.monotonic() + 120
        ready = set()
        while ready != set(MODULES) and time.monotonic() < deadline:
            time.sleep(5)
            ready = {module for module in MODULES
                     if (values(node, f"{module}_local.anomaly_rate", "warming_up") or [None])[0] == 0
                     and any(v is not None for v in values(node, f"{module}_local.anomaly_rate", "anomaly_rate"))}
        assert ready == set(MODULES), node.root
        assert raised_alerts(node) == []
    finally:
        node.stop()
