# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the real python.d.plugin with this project's modules and parse what it prints."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
PLUGIN = "/usr/lib/netdata/plugins.d/python.d.plugin"
PROTOCOL_WORDS = ("CHART", "CLABEL", "CLABEL_COMMIT", "DIMENSION", "BEGIN", "SET", "END", "VARIABLE", "DISABLE")
_QUOTED = re.compile(r"'([^']*)'|(\S+)")


def venv_dir() -> Path:
    """The venv the tests run in: the one holding this interpreter."""
    return Path(os.environ.get("NETDATA_ANOMALIES_VENV", sys.prefix))


def _fields(line: str) -> List[str]:
    return [quoted if quoted or plain == "" else plain for quoted, plain in _QUOTED.findall(line)]


@dataclass
class PluginOutput:
    """Charts, dimensions and values a plugin run printed, plus the raw streams."""

    stdout: str
    stderr: str
    charts: Dict[str, dict] = field(default_factory=dict)
    dimensions: Dict[str, List[str]] = field(default_factory=lambda: defaultdict(list))
    values: Dict[str, Dict[str, List[int]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))

    @classmethod
    def parse(cls, stdout: str, stderr: str) -> "PluginOutput":
        out = cls(stdout, stderr)
        chart: Optional[str] = None
        for line in stdout.splitlines():
            words = _fields(line)
            if not words:
                continue
            if words[0] == "CHART":
                chart = words[1]
                out.charts[chart] = {"title": words[3], "units": words[4], "family": words[5],
                                     "context": words[6], "type": words[7]}
            elif words[0] == "DIMENSION" and chart and words[1] not in out.dimensions[chart]:
                out.dimensions[chart].append(words[1])
            elif words[0] == "BEGIN":
                chart = words[1]
            elif words[0] == "SET" and chart:
                out.values[chart][words[1]].append(int(words[3]))
        return out

    def non_protocol_lines(self) -> List[str]:
        return [line for line in self.stdout.splitlines() if line.strip() and line.split()[0] not in PROTOCOL_WORDS]

    def log_lines(self, job: str, level: str = "") -> List[str]:
        return [line for line in self.stderr.splitlines() if f"[{job}]" in line and level in line]


def enable_modules(node, configs: Dict[str, str]) -> None:
    """Make a private agent's own python.d.plugin run these modules of this repo with these job configs
    (before `node.start()`; the plugin finds the venv through NETDATA_ANOMALIES_VENV in the environment)."""
    (node.config_dir / "python.d.conf").write_text(
        "enabled: yes\ndefault_run: no\n" + "".join(f"{module}: yes\n" for module in configs))
    for module, config in configs.items():
        (node.config_dir / "python.d" / f"{module}.conf").write_text(config)
    for path in (REPO / "collectors").glob("*.py"):
        (node.user_modules_dir / path.name).symlink_to(path)


def shipped_conf(module: str, host: str, warm_s: int) -> str:
    """The shipped conf of `module` for the agent at `host`, its warm-up (`min_train_secs`, `warmup_n`)
    scaled down to `warm_s`; an error if the shipped conf no longer holds the keys replaced."""
    text = (REPO / "conf.d" / f"{module}.conf").read_text()
    # the key as stated or as a commented-out default ('  # min_train_secs: 900'), set either way
    text, replaced = re.subn(r"^(\s*)(?:# )?(min_train_secs: 900|warmup_n: 1000)$",
                             lambda m: f"{m.group(1)}{m.group(2).split(':')[0]}: {warm_s}", text, flags=re.M)
    if replaced != 1 or "host: '127.0.0.1:19999'" not in text:
        raise ValueError(f"the shipped {module}.conf changed its keys")
    return text.replace("host: '127.0.0.1:19999'", f"host: '{host}'")


def raised_alerts(node) -> List[tuple]:
    """(name, status) of every transition of one of this project's alerts to WARNING or CRITICAL so far."""
    return [(entry["name"], entry["status"]) for entry in node.api("/api/v1/alarm_log?after=0")
            if entry["name"].startswith("anomalies") and entry["status"] in ("WARNING", "CRITICAL")]


def run_plugin(root: Path, module: str, job_config: str, seconds: float,
               during: Optional[Callable[[float], None]] = None) -> PluginOutput:
    """Run `python.d.plugin <module> debug trace nolock` for `seconds` with `job_config` as the module's
    conf, the module linked as a user module and this venv as the product's venv; `during(elapsed)` is
    called about once a second while it runs."""
    etc, plugins, lib = root / "etc", root / "plugins" / "python.d", root / "lib"
    for directory in (etc / "python.d", plugins, lib):
        directory.mkdir(parents=True, exist_ok=True)
    (etc / "python.d.conf").write_text(f"enabled: yes\ndefault_run: no\n{module}: yes\n")
    (etc / "python.d" / f"{module}.conf").write_text(job_config)
    link = plugins / f"{module}.chart.py"
    if not link.exists():
        link.symlink_to(REPO / "collectors" / f"{module}.chart.py")
    env = dict(os.environ, NETDATA_ANOMALIES_VENV=str(venv_dir()), NETDATA_USER_PLUGINS_DIRS=str(root / "plugins"),
               NETDATA_USER_CONFIG_DIR=str(etc), NETDATA_LIB_DIR=str(lib))
    out_path, err_path = root / "plugin.stdout", root / "plugin.stderr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(["/usr/bin/python3", PLUGIN, "1", module, "debug", "trace", "nolock"],
                                   stdout=out, stderr=err, env=env, start_new_session=True)
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if process.poll() is not None:
                break
            if during:
                during(time.monotonic() - started)
            time.sleep(1)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
    return PluginOutput.parse(out_path.read_text(), err_path.read_text())
