# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end: install.sh against a private Netdata agent, then a second (idempotent) run, then --uninstall."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:
    from agent import NETDATA_BIN, PLUGINS_DIR, NetdataAgent
except ImportError:  # tests/ imported as a package
    from tests.agent import NETDATA_BIN, PLUGINS_DIR, NetdataAgent

REPO = Path(__file__).resolve().parents[1]
INSTALL_SH = REPO / "install.sh"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="install.sh must run as root"),
    pytest.mark.skipif(not (Path(NETDATA_BIN).exists() and (PLUGINS_DIR / "python.d.plugin").exists()),
                       reason="netdata with python.d.plugin is not installed"),
]

# Small windows so that the first model is trained about a minute after the agent starts.
FAST_CONF = """\
local:
  name: 'local'
  host: '{host}'
  charts_regex: 'system\\.(cpu|load|ram)$'
  train_n_secs: 60
  train_every_n: 600
  train_no_prediction_n: 2
  update_every: 1
"""
FAST_ONLINE_CONF = """\
local:
  name: 'local'
  host: '{host}'
  charts_regex: 'system\\.(cpu|load|ram)$'
  warmup_n: 60
"""

# (Re)starts the private agent in its own session; its pid (= process group) goes to a pid file.
RESTART_SH = """\
#!/bin/bash
pidfile='{pidfile}'
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    pid="$(cat "$pidfile")"
    kill -TERM -- "-$pid" 2>/dev/null
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null
fi
setsid '{netdata}' -c '{conf}' -D >>'{log}' 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 120); do
    '{python}' -c 'import sys, urllib.request as u; sys.exit(b"system.cpu" not in u.urlopen(sys.argv[1], timeout=2).read())' \
        'http://{host}/api/v1/charts' 2>/dev/null && exit 0
    kill -0 "$(cat "$pidfile")" 2>/dev/null || {{ echo "netdata exited, see {log}" >&2; exit 1; }}
    sleep 0.5
done
echo "netdata on {host} did not answer" >&2
exit 1
"""


def _stop(pidfile: Path) -> None:
    """Stop the agent started by RESTART_SH and every plugin in its process group."""
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.3)


def _run(args, env, timeout):
    result = subprocess.run(["bash", str(INSTALL_SH), *args], env=env, cwd="/", stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    print(f"--- install.sh {' '.join(args)} (exit {result.returncode}) ---\n{result.stdout}")
    return result


BOTH_MODULES = {"anomalies.probability", "anomalies.anomaly", "anomalies_online.probability",
                "anomalies_online.anomaly"}


def _anomaly_contexts(agent, wait_s=300.0):
    """Contexts of the agent's anomalies.* and anomalies_online.* charts, waiting for the models' charts (install.sh
    is done when the anomaly-rate charts say "warming up"; FAST_CONF's models need a minute of history first)."""
    deadline = time.monotonic() + wait_s
    while True:
        contexts = {c["context"] for c in agent.charts().values() if c["context"].startswith("anomalies")}
        if BOTH_MODULES <= contexts or time.monotonic() > deadline:
            return contexts
        time.sleep(1)


def _alarm_names(agent, wanted, wanted_prefix, wait_s=120.0):
    """Names of the agent's alarms (templates instantiated on charts), waiting a little for all of `wanted` and
    one name starting with `wanted_prefix` (the per-model alarms come with the models' charts, after training)."""
    deadline = time.monotonic() + wait_s
    while True:
        alarms = agent.api("/api/v1/alarms?all").get("alarms", {})
        names = {alarm["name"] for alarm in alarms.values()}
        if wanted <= names and any(name.startswith(wanted_prefix) for name in names) or time.monotonic() > deadline:
            return names
        time.sleep(2)


def test_install_reinstall_uninstall(tmp_path, request):
    agent = NetdataAgent(tmp_path / "agent", python_d=True, health=True)
    netdata_conf = agent.write_config()
    pidfile = tmp_path / "netdata.pid"
    restart = tmp_path / "restart-agent.sh"
    restart.write_text(RESTART_SH.format(pidfile=pidfile, netdata=NETDATA_BIN, conf=netdata_conf,
                                         log=agent.root / "log" / "stdout.log", host=agent.host,
                                         python=sys.executable))
    restart.chmod(0o755)
    request.addfinalizer(lambda: _stop(pidfile))

    # The user's own job config exists before the install: install.sh must leave it alone.
    user_conf = agent.config_dir / "python.d" / "anomalies.conf"
    user_conf.write_text(FAST_CONF.format(host=agent.host))
    (agent.config_dir / "python.d" / "anomalies_online.conf").write_text(FAST_ONLINE_CONF.format(host=agent.host))
    user_conf_before = user_conf.read_text()

    prefix = tmp_path / "prefix"
    user_plugins = agent.root / "custom-plugins.d"
    web = tmp_path / "web"  # stands in for the agent's web files (the system's stay untouched)
    web.mkdir()
    env = dict(os.environ,
               NETDATA_ANOMALIES_PREFIX=str(prefix),
               NETDATA_CONFIG_DIR=str(agent.config_dir),
               NETDATA_USER_PLUGINS_DIR=str(user_plugins),
               NETDATA_URL=f"http://{agent.host}",
               NETDATA_RESTART_CMD=str(restart),
               NETDATA_ANOMALIES_WAIT="420",
               NETDATA_WEB_DIR=str(web),
               NETDATA_ANOMALIES_BIN_DIR=str(tmp_path / "bin"))

    # 1. Install: builds the venv, links the module, restarts the agent, waits for the charts.
    first = _run([], env, timeout=1800)
    assert first.returncode == 0, first.stdout
    assert f"http://{agent.host}/" in first.stdout
    assert BOTH_MODULES <= _anomaly_contexts(agent)  # both modules run side by side from one install
    # the anomaly sections' dashboard text, named in netdata.conf and read by the restarted agent
    assert (web / "netdata-anomalies.js").read_bytes() == (REPO / "web" / "netdata-anomalies.js").read_bytes()
    assert agent.api("/api/v1/charts").get("custom_info") == "netdata-anomalies.js"
    # Our health templates replace the stock ones of the old collector (which would warn all the time on
    # calibrated probabilities) and are attached to the charts of both modules.
    alarms = _alarm_names(agent, {"anomalies_anomaly_rate", "anomalies_online_anomaly_rate"}, "anomalies_model_flagged")
    assert {"anomalies_anomaly_rate", "anomalies_online_anomaly_rate"} <= alarms, alarms
    assert any(name.startswith("anomalies_model_flagged") for name in alarms), alarms
    assert "anomalies_anomaly_probabilities" not in alarms and (agent.config_dir / "health.d" / "anomalies.conf").exists()

    link = agent.user_modules_dir / "anomalies.chart.py"
    assert link.is_symlink()
    assert link.resolve() == (prefix / "collectors" / "anomalies.chart.py").resolve()
    assert re.search(r"^anomalies: yes$", (agent.config_dir / "python.d.conf").read_text(), re.M)
    assert re.search(r"^anomalies_online: yes$", (agent.config_dir / "python.d.conf").read_text(), re.M)
    assert user_conf.read_text() == user_conf_before
    if (REPO / "conf.d" / "anomalies.conf").exists():
        assert f"Keeping your {user_conf}" in first.stdout
    # The venv is built with the interpreter python.d.plugin runs, and holds a real (non-editable) copy.
    shebang = (PLUGINS_DIR / "python.d.plugin").read_text().splitlines()[0]
    interpreter = Path(shebang[2:].strip() if re.fullmatch(r"#!\s*/\S*python[\d.]*\s*", shebang)
                       else "/usr/bin/python3")
    assert f"home = {interpreter.parent}" in (prefix / "venv" / "pyvenv.cfg").read_text()
    assert list(prefix.glob("venv/lib/python3*/site-packages/anomalies/job.py"))
    # The look-back command is on the PATH it was linked into, and runs.
    command = tmp_path / "bin" / "netdata-anomalies"
    assert command.is_symlink() and command.resolve() == (prefix / "venv" / "bin" / "netdata-anomalies").resolve()
    shown = subprocess.run([str(command), "report", "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "--train-after" in shown.stdout, shown.stderr
    # The offline module saved its trained models in the agent's lib dir, privately.
    state = agent.root / "lib" / "netdata-anomalies" / "anomalies_local.state"
    deadline = time.monotonic() + 120
    while not state.exists() and time.monotonic() < deadline:
        time.sleep(2)
    assert state.exists() and state.stat().st_mode & 0o077 == 0

    # 2. Again, now finding the user plugins dir in netdata.conf: reuses the venv, changes nothing.
    env2 = {k: v for k, v in env.items() if k != "NETDATA_USER_PLUGINS_DIR"}
    env2["NETDATA_ANOMALIES_WAIT"] = "0"
    second = _run([], env2, timeout=600)
    assert second.returncode == 0, second.stdout
    assert "Reusing the venv" in second.stdout
    assert f"Linked {link} -> " in second.stdout  # the user plugins dir came from netdata.conf
    assert link.is_symlink()
    assert len(re.findall(r"^\s*#?\s*anomalies\s*:", (agent.config_dir / "python.d.conf").read_text(), re.M)) == 1
    assert user_conf.read_text() == user_conf_before
    assert "system.cpu" in agent.charts()

    # 3. Uninstall: links and prefix gone, module disabled, the user's conf kept.
    third = _run(["--uninstall"], env, timeout=300)
    assert third.returncode == 0, third.stdout
    assert not link.is_symlink() and not link.exists()
    assert not prefix.exists()
    assert not command.is_symlink()
    assert not state.parent.exists()
    assert not (agent.config_dir / "health.d" / "anomalies.conf").exists()
    assert not (web / "netdata-anomalies.js").exists()
    assert "custom dashboard_info.js" not in (agent.config_dir / "netdata.conf").read_text()
    assert re.search(r"^anomalies: no$", (agent.config_dir / "python.d.conf").read_text(), re.M)
    assert user_conf.read_text() == user_conf_before
    assert str(agent.config_dir / "python.d") in third.stdout
