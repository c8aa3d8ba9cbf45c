# SPDX-License-Identifier: GPL-3.0-or-later
"""install.sh restarts the agent the way it was started, without NETDATA_RESTART_CMD: a private agent
started by hand (no pid file) is found by its port, stopped with its plugins and started again the same way;
never two agents for one port and config, and no other netdata process touched."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterable, List, Optional, Set, Tuple

import pytest

try:
    from agent import NETDATA_BIN, PLUGINS_DIR, NetdataAgent
    from test_install import BOTH_MODULES, FAST_CONF, FAST_ONLINE_CONF, _anomaly_contexts, _run
except ImportError:  # tests/ imported as a package
    from tests.agent import NETDATA_BIN, PLUGINS_DIR, NetdataAgent
    from tests.test_install import BOTH_MODULES, FAST_CONF, FAST_ONLINE_CONF, _anomaly_contexts, _run

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="install.sh must run as root"),
    pytest.mark.skipif(not (Path(NETDATA_BIN).exists() and (PLUGINS_DIR / "python.d.plugin").exists()),
                       reason="netdata with python.d.plugin is not installed"),
]

ProcessId = Tuple[int, int]  # (pid, start time): a process, even after its pid is reused


def _stat(pid: int) -> Optional[Tuple[int, int, int]]:
    """(parent pid, session id, start time) of a running process, None if it is gone (or a zombie)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # state ppid pgrp session ... starttime
    return None if fields[0] == "Z" else (int(fields[1]), int(fields[3]), int(fields[19]))


def _pids() -> List[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _is_netdata(pid: int) -> bool:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")) == "netdata"
    except OSError:
        return False


def _agents(conf: Path) -> List[int]:
    """The netdata main processes (not a spawn server, not a plugin) running with `conf`."""
    found = []
    for pid in _pids():
        stat = _stat(pid)
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if stat and _is_netdata(pid) and not _is_netdata(stat[0]) and os.fsencode(conf) in args:
            found.append(pid)
    return sorted(found)


def _identity(pid: int) -> Optional[ProcessId]:
    stat = _stat(pid)
    return (pid, stat[2]) if stat else None


def _descendants(pid: int) -> Set[ProcessId]:
    """Every process below `pid` (its plugins and their children), with their start times."""
    stats = {p: s for p in _pids() if (s := _stat(p))}
    below = set()
    for p, (parent, _, start) in stats.items():
        while parent > 1:
            if parent == pid:
                below.add((p, start))
                break
            parent = stats[parent][0] if parent in stats else 0
    return below


def _alive(ids: Iterable[ProcessId]) -> Set[ProcessId]:
    return {i for i in ids if _identity(i[0]) == i}


def _mapping(path: Path) -> List[int]:
    """Processes with a file below `path` mapped (a python.d.plugin that imported our venv's numpy)."""
    found = []
    for pid in _pids():
        try:
            if str(path) in Path(f"/proc/{pid}/maps").read_text(errors="replace"):
                found.append(pid)
        except OSError:
            continue
    return found


def _stop_everything(*confs: Path) -> None:
    """Stop every agent running with one of `confs`, each process it started and each of its session."""
    for _ in range(3):
        mains = [pid for conf in confs for pid in _agents(conf)]
        if not mains:
            return
        sessions = {stat[1] for pid in mains if (stat := _stat(pid))}
        ids = {i for pid in mains for i in ({_identity(pid)} | _descendants(pid)) if i}
        ids |= {i for p in _pids() if (s := _stat(p)) and s[1] in sessions and (i := _identity(p))}
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid, _ in _alive(ids):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 15
            while _alive(ids) and time.monotonic() < deadline:
                time.sleep(0.3)


def _env(agent: NetdataAgent, prefix: Path, wait_s: int) -> dict:
    """install.sh's overrides for the private agent; no NETDATA_RESTART_CMD: install.sh finds the agent."""
    env = dict(os.environ,
               NETDATA_ANOMALIES_PREFIX=str(prefix),
               NETDATA_CONFIG_DIR=str(agent.config_dir),
               NETDATA_USER_PLUGINS_DIR=str(agent.root / "custom-plugins.d"),
               NETDATA_URL=f"http://{agent.host}",
               NETDATA_ANOMALIES_WAIT=str(wait_s),
               NETDATA_WEB_DIR=str(prefix.parent / "web"))  # not the system's web files
    (prefix.parent / "web").mkdir(exist_ok=True)
    env.pop("NETDATA_RESTART_CMD", None)
    return env


def _fresh_charts(agent: NetdataAgent, within_s: float = 30.0) -> Set[str]:
    """Contexts of the anomaly charts that have data from the last `within_s` seconds."""
    now = time.time()
    return {c["context"] for c in agent.charts().values()
            if c["context"].startswith("anomalies") and c.get("dimensions")
            and (c.get("last_entry") or 0) >= now - within_s}


def _serving(agent: NetdataAgent, wait_s: float = 30.0) -> bool:
    """Does the agent serve its system charts (within `wait_s`: a new agent collects its first sample)?"""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if "system.cpu" in agent.charts():
                return True
        except OSError:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def _one_agent(conf: Path) -> int:
    agents = _agents(conf)
    assert len(agents) == 1, agents
    return agents[0]


def test_install_restarts_an_agent_started_by_hand(tmp_path, request):
    agent = NetdataAgent(tmp_path / "agent", python_d=True)
    bystander = NetdataAgent(tmp_path / "bystander")  # another private agent: install.sh must not touch it
    conf, bystander_conf = agent.config_dir / "netdata.conf", bystander.config_dir / "netdata.conf"
    request.addfinalizer(lambda: (_stop_everything(conf, bystander_conf), agent.stop(), bystander.stop()))
    agent.start()  # `netdata -c <conf> -D` in a session of its own: no pid file, no service
    bystander.start()
    (agent.config_dir / "python.d" / "anomalies.conf").write_text(FAST_CONF.format(host=agent.host))
    (agent.config_dir / "python.d" / "anomalies_online.conf").write_text(FAST_ONLINE_CONF.format(host=agent.host))
    by_hand = agent.process.pid
    by_hand_tree = {_identity(by_hand)} | _descendants(by_hand)
    bystander_tree = {_identity(bystander.process.pid)} | _descendants(bystander.process.pid)
    prefix = tmp_path / "prefix"
    env = _env(agent, prefix, wait_s=420)

    # 1. Install: the agent is found on its port and started again with its own command line, detached.
    install = _run([], env, timeout=1800)
    assert install.returncode == 0, install.stdout
    assert f"Found netdata pid {by_hand} started by hand: {NETDATA_BIN} -c {conf} -D" in install.stdout
    restarted = _one_agent(conf)
    assert restarted != by_hand and agent.process.poll() is not None
    assert not _alive(by_hand_tree), "a process of the agent started by hand outlived it"
    assert f"netdata pid {restarted} answers on http://{agent.host}" in install.stdout
    assert Path(f"/proc/{restarted}/cmdline").read_bytes().split(b"\0")[1:4] == [b"-c", os.fsencode(conf), b"-D"]
    assert BOTH_MODULES <= _anomaly_contexts(agent)
    assert BOTH_MODULES <= _fresh_charts(agent), _fresh_charts(agent)
    restarted_tree = {_identity(restarted)} | _descendants(restarted)
    assert {pid for pid, _ in restarted_tree} & set(_mapping(prefix)), "no plugin of the agent runs our venv"

    # 2. Uninstall: the agent restarts again; no process of the previous one is left, nothing maps the removed
    # venv, and the new agent's python.d runs neither module.
    uninstall = _run(["--uninstall"], env, timeout=300)
    assert uninstall.returncode == 0, uninstall.stdout
    assert f"Found netdata pid {restarted} started by hand" in uninstall.stdout
    last = _one_agent(conf)
    assert last != restarted
    assert not _alive(restarted_tree), "a plugin of the agent outlived the uninstall"
    assert not prefix.exists() and not _mapping(prefix)
    time.sleep(20)  # python.d starts its modules within seconds: long enough for a module left enabled
    assert not {c for c in agent.charts().values() if c["context"].startswith("anomalies")}
    assert _one_agent(conf) == last and _serving(agent)

    # The other agent on this machine ran on, untouched.
    assert _alive(bystander_tree) == bystander_tree
    assert "system.cpu" in bystander.charts()


def test_uninstall_restarts_a_daemon_and_starts_one_if_none(tmp_path, request):
    """An agent that forked into the background (netdata -c <conf>, no -D), then two agents on one config
    (one too many: both stop, one starts), then none (one starts); --uninstall needs no venv."""
    agent = NetdataAgent(tmp_path / "agent")
    conf = agent.write_config()
    children: List[subprocess.Popen] = []
    request.addfinalizer(lambda: (_stop_everything(conf), [child.wait(15) for child in children]))
    env = _env(agent, tmp_path / "prefix", wait_s=0)

    subprocess.run([NETDATA_BIN, "-c", str(conf)], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    assert _serving(agent)
    daemon = _one_agent(conf)
    first = _run(["--uninstall"], env, timeout=300)
    assert first.returncode == 0, first.stdout
    assert f"Found netdata pid {daemon} started by hand: {NETDATA_BIN} -c {conf} (in " in first.stdout
    restarted = _one_agent(conf)
    assert restarted != daemon and b"-D" not in Path(f"/proc/{restarted}/cmdline").read_bytes().split(b"\0")

    # A second agent with the same config (what `service netdata restart` used to start): both stop, one starts.
    second = subprocess.Popen([NETDATA_BIN, "-c", str(conf), "-D"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    children.append(second)
    deadline = time.monotonic() + 30
    while len(_agents(conf)) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert len(_agents(conf)) == 2
    healed = _run(["--uninstall"], env, timeout=300)
    assert healed.returncode == 0, healed.stdout
    assert "2 netdata agents serve port" in healed.stdout
    assert _one_agent(conf) not in (restarted, second.pid) and second.poll() is not None

    _stop_everything(conf)
    started = _run(["--uninstall"], env, timeout=300)
    assert started.returncode == 0, started.stdout
    assert f"No netdata agent listens on port {agent.port}" in started.stdout
    assert _one_agent(conf) and _serving(agent)
