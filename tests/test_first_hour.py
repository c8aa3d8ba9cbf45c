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
from plugin import enable_modules, venv_dir

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
WARM_S = 150  # the warm-up of both modules here (shipped: 900 s of history, 1000 samples)
MODULES = ("anomalies", "anomalies_online")


def shipped_conf(module: str, host: str) -> str:
    """The shipped conf of `module` for this agent, with the warm-up scaled down to WARM_S."""
    text = (REPO / "conf.d" / f"{module}.conf").read_text()
    scaled = (text.replace("host: '127.0.0.1:19999'", f"host: '{host}'")
              .replace("min_train_secs: 900", f"min_train_secs: {WARM_S}")
              .replace("warmup_n: 1000", f"warmup_n: {WARM_S}"))
    assert scaled.count(str(WARM_S)) == 1 and host in scaled, f"the shipped {module}.conf changed its keys"
    return scaled


def values(node, chart: str, dimension: str = "") -> list:
    """Every value of one dimension (or every value of every dimension) since the agent started, newest
    first (None where it had none)."""
    try:
        data = node.api(f"/api/v1/data?chart={chart}&dimensions={dimension}&after=-3600&format=json")
    except OSError:  # no such chart (yet)
        return []
    return [value for row in data.get("data", []) for value in (row[1:] if not dimension else row[1:2])]


def raised(node) -> list:
    """Every transition of one of this project's alerts to WARNING or CRITICAL so far."""
    log = node.api("/api/v1/alarm_log?after=0")
    return [(entry["name"], entry["status"]) for entry in log
            if entry["name"].startswith("anomalies") and entry["status"] in ("WARNING", "CRITICAL")]


def test_a_young_agent_stays_quiet_while_the_models_warm_up(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDATA_ANOMALIES_VENV", str(venv_dir()))
    node = NetdataAgent(tmp_path, python_d=True, health=True)
    enable_modules(node, {module: shipped_conf(module, node.host) for module in MODULES})
    shutil.copy(REPO / "health.d" / "anomalies.conf", node.config_dir / "health.d" / "anomalies.conf")
    node.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < WARM_S - 30:
            assert raised(node) == []
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
        assert raised(node) == []
    finally:
        node.stop()
