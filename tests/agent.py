# SPDX-License-Identifier: GPL-3.0-or-later
"""A private Netdata agent on a free loopback port, with its own directories, for tests and benchmarks."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Optional

NETDATA_BIN = shutil.which("netdata") or "/usr/sbin/netdata"
PLUGINS_DIR = Path("/usr/lib/netdata/plugins.d")
STOCK_CONFIG_DIR = Path("/usr/lib/netdata/conf.d")
STOCK_WEB_DIR = Path("/usr/share/netdata/web")
DASHBOARD_INFO = Path(__file__).resolve().parents[1] / "web" / "netdata-anomalies.js"

_CONF = """\
[global]
    run as user = {user}
    hostname = {hostname}
    memory mode = {memory_mode}
    history = {history}
    update every = 1
[directories]
    config = {root}/etc
    stock config = {stock}
    cache = {root}/cache
    lib = {root}/lib
    log = {root}/log
    lock = {root}/lib/lock
    plugins = "{plugins}" "{root}/custom-plugins.d"
{web_dir}[web]
    bind to = 127.0.0.1:{port}
{dashboard_info}[plugins]
    python.d = {python_d}
    go.d = no
    charts.d = no
    apps = {apps}
    ebpf = no
    perf = no
    slabinfo = no
    fping = no
    ioping = no
    cups = no
    nfacct = no
    statsd = no
[health]
    enabled = {health}
[ml]
    enabled = no
[registry]
    enabled = no
[cloud]
    enabled = no
"""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NetdataAgent:
    """Start and stop one private agent rooted at `root`."""

    def __init__(self, root: Path, python_d: bool = False, health: bool = False,
                 hostname: str = "testnode", history: int = 3600, port: Optional[int] = None,
                 dashboard_info: bool = False, apps: bool = False, memory_mode: str = "ram"):
        self.root = Path(root)
        self.memory_mode = memory_mode  # "ram", or "dbengine" (Debian's default)
        self.port = port or free_port()
        self.python_d = python_d
        self.health = health
        self.hostname = hostname
        self.apps = apps
        self.history = history
        self.dashboard_info = dashboard_info  # serve a copy of the dashboard with this project's text
        self.process: Optional[subprocess.Popen] = None
        for sub in ("etc/python.d", "etc/health.d", "cache", "lib/lock", "log", "custom-plugins.d/python.d"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def user_modules_dir(self) -> Path:
        return self.root / "custom-plugins.d" / "python.d"

    def write_config(self) -> Path:
        path = self.config_dir / "netdata.conf"
        web_dir = dashboard_info = ""
        if self.dashboard_info:  # as install.sh sets it up, in a private copy of the web files
            web = self.root / "web"
            if not web.exists():
                shutil.copytree(STOCK_WEB_DIR, web, symlinks=True)
            shutil.copy(DASHBOARD_INFO, web / DASHBOARD_INFO.name)
            web_dir = f"    web = {web}\n"
            dashboard_info = f"    custom dashboard_info.js = {DASHBOARD_INFO.name}\n"
        path.write_text(_CONF.format(web_dir=web_dir, dashboard_info=dashboard_info,
            user="root" if os.geteuid() == 0 else os.environ.get("USER", "root"),
            hostname=self.hostname, history=self.history, memory_mode=self.memory_mode, root=self.root,
            stock=STOCK_CONFIG_DIR,
            plugins=PLUGINS_DIR, port=self.port, python_d="yes" if self.python_d else "no",
            health="yes" if self.health else "no", apps="yes" if self.apps else "no"))
        return path

    def start(self, wait_s: float = 30.0) -> "NetdataAgent":
        """Start the agent in the foreground of a child process and wait until its API answers."""
        conf = self.write_config()
        log = open(self.root / "log" / "stdout.log", "ab")
        self.process = subprocess.Popen([NETDATA_BIN, "-c", str(conf), "-D"], stdout=log, stderr=log,
                                        cwd=self.root, start_new_session=True)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"netdata exited with {self.process.returncode}; see {self.root}/log")
            try:
                if "system.cpu" in self.charts():
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"netdata on {self.host} did not answer within {wait_s}s")

    def stop(self) -> None:
        """Stop the agent and everything it started."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.process = None

    def death_notice(self) -> str:
        """'' while the agent runs; once it has exited, its exit code and the end of its error log (for a test
        to tell an agent that crashed from a collector that failed)."""
        if self.process is None or self.process.poll() is None:
            return ""
        try:
            tail = (self.root / "log" / "error.log").read_text(errors="replace").splitlines()[-40:]
        except OSError:
            tail = []
        return f"netdata {self.hostname} on {self.host} exited with {self.process.returncode}:\n" + "\n".join(tail)

    def restart(self) -> None:
        self.stop()
        self.start()

    def api(self, path: str, timeout: float = 5.0):
        """GET `path` (e.g. '/api/v1/info') and decode the JSON answer."""
        with urllib.request.urlopen(f"http://{self.host}{path}", timeout=timeout) as response:
            return json.loads(response.read().decode())

    def charts(self) -> dict:
        return self.api("/api/v1/charts")["charts"]

    def wait_for_history(self, seconds: int, host_path: str = "", grace_s: float = 30) -> None:
        """Block until the agent has at least `seconds` of system.cpu history (of the child streaming to
        it as `host_path` '/host/<hostname>', if given), for at most `grace_s` more than that."""
        deadline = time.monotonic() + seconds + grace_s
        while time.monotonic() < deadline:
            try:
                data = self.api(f"{host_path}/api/v1/data?chart=system.cpu&after=-{seconds + 5}&points=0&format=json")
            except OSError:  # a child that has not connected yet
                time.sleep(1)
                continue
            if sum(1 for row in data.get("data", []) if row[1] is not None) >= seconds:
                return
            time.sleep(1)
        raise TimeoutError(f"no {seconds}s of history on {self.host}")

    def stream_to(self, parent: "NetdataAgent", api_key: str) -> "NetdataAgent":
        """Make this agent a child that streams its charts to `parent` (before `start`)."""
        (self.config_dir / "stream.conf").write_text(
            f"[stream]\n    enabled = yes\n    destination = {parent.host}\n    api key = {api_key}\n"
            "    reconnect delay seconds = 2\n")
        return self

    def accept_streams(self, api_key: str) -> "NetdataAgent":
        """Make this agent a parent that keeps the charts of the children streaming with `api_key` (in its own
        memory mode), served under /host/<child hostname>/ (before `start`)."""
        (self.config_dir / "stream.conf").write_text(
            f"[{api_key}]\n    enabled = yes\n    allow from = *\n    default memory mode = {self.memory_mode}\n"
            f"    default history = {self.history}\n    health enabled by default = no\n")
        return self

    def __enter__(self) -> "NetdataAgent":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
