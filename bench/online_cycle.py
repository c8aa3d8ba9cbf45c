# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-cycle cost and memory of the `anomalies_online` python.d collector, beside the old prototype's setup.

Usage:  .venv/bin/python bench/online_cycle.py [--seconds 180] [--models rrcf,xstream,...] [--soak-seconds 3600]

Against ONE private Netdata agent (tests/agent.py), each run its own `python.d.plugin <module> debug trace
nolock` process on the charts of the module's default `charts_regex` and `charts_to_exclude` (`system.*`,
`mem.*`, every per-disk chart; the prototype: `system.*`):

1. side by side for --seconds: ours at defaults (model zscore, warm start from the agent's history) and the
   old prototype's setup, rebuilt for this bench in bench/prototype/anomalies_prototype.chart.py (rrcf 10
   trees of 256, shingle 4, PySAD's Gaussian-tail calibrator over 1000 scores, running average of 15,
   flag at 0.9);
2. ours alone with each model of --models for --model-seconds;
3. with --soak-seconds: ours at defaults alone for that long, its RSS sampled every 10 s: the growth from
   the 10th minute to the end says whether memory stays flat.

Per run: median and p90 of run_time (the netdata.runtime_* chart, after the first --skip cycles), the same
per modelled chart, peak RSS of the plugin and its children, the share of model-cycles flagged. Prints a
markdown table and writes it to bench/out/online-cycle-<date>.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import cycle  # noqa: E402  (helpers of the offline bench: agent, venv, /proc sampling, percentiles)

REPO = BENCH.parent
sys.path.insert(0, str(REPO))
from anomalies_online.config import DEFAULTS  # noqa: E402

MODULES = {"anomalies": REPO / "collectors" / "anomalies.chart.py",
           "anomalies_online": REPO / "collectors" / "anomalies_online.chart.py",
           "anomalies_prototype": BENCH / "prototype" / "anomalies_prototype.chart.py"}
ALL_MODELS = "rrcf,xstream,hst,rshash,loda"
FLAG_SET = re.compile(r"^SET '?(\S+?)_anomaly'? = (\d+)")


class Run:
    """One python.d.plugin process running one module with one job."""

    def __init__(self, label: str, module: str, job: str, workdir: Path):
        self.label, self.module = label, module
        self.dir = workdir / re.sub(r"\W+", "_", label)
        etc, lib, plugins = self.dir / "etc", self.dir / "lib", self.dir / "plugins" / "python.d"
        for directory in (etc / "python.d", lib, plugins):
            directory.mkdir(parents=True, exist_ok=True)
        (etc / "python.d.conf").write_text(f"{module}: yes\n")
        (etc / "python.d" / f"{module}.conf").write_text(job)
        (plugins / f"{module}.chart.py").symlink_to(MODULES[module])
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self.env.update(NETDATA_USER_CONFIG_DIR=str(etc), NETDATA_STOCK_CONFIG_DIR=cycle.STOCK_CONFIG_DIR,
                        NETDATA_LIB_DIR=str(lib), NETDATA_USER_PLUGINS_DIRS=str(self.dir / "plugins"),
                        NETDATA_ANOMALIES_VENV=str(cycle.OUR_VENV), PYTHONUNBUFFERED="1")
        self.lines: List[str] = []
        self.peak_kib, self.rss_timeline = 0, []  # (seconds since start, KiB of the plugin and its children)

    def start(self) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen([cycle.SYSTEM_PYTHON, cycle.PLUGIN, self.module, "debug", "trace", "nolock"],
                                     env=self.env, stdout=subprocess.PIPE, stderr=open(self.dir / "stderr", "wb"),
                                     stdin=subprocess.DEVNULL, cwd=self.dir, start_new_session=True)
        threading.Thread(target=lambda: self.lines.extend(
            raw.decode(errors="replace").rstrip("\n") for raw in iter(self.proc.stdout.readline, b"")),
            daemon=True).start()

    def sample(self) -> None:
        if self.proc.poll() is None:
            kib = sum(cycle.proc_status(pid).get("VmRSS", 0) for pid in [self.proc.pid] + cycle.descendants(self.proc.pid))
            self.peak_kib = max(self.peak_kib, kib)
            self.rss_timeline.append((time.monotonic() - self.started, kib))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        time.sleep(0.3)

    def summary(self, skip: int) -> dict:
        runtimes = [ms for _, _, ms in cycle.run_times(self.lines)]
        flags = [int(match.group(2)) for match in map(FLAG_SET.match, self.lines) if match]
        models = len({line.split()[1].strip("'") for line in self.lines
                      if line.startswith("DIMENSION ") and line.split()[1].strip("'").endswith("_anomaly")})
        steady = runtimes[skip:]
        median = statistics.median(steady) if steady else None
        late = [kib for when, kib in self.rss_timeline if when >= 600]
        return dict(label=self.label, cycles=len(runtimes), steady=len(steady), models=models, median=median,
                    p90=cycle.percentile(steady, 0.9), per_chart=median / models if median is not None and models else None,
                    peak_mib=self.peak_kib / 1024, flagged=100.0 * sum(flags) / len(flags) if flags else None,
                    growth_mib=(late[-1] - late[0]) / 1024 if len(late) > 1 else None,
                    span_min=(self.rss_timeline[-1][0] - 600) / 60 if len(late) > 1 else None)


def check_agent_alive(agent) -> None:
    """Stop with the agent's last log lines when it died during a run: the cycles after that read nothing,
    and their times are no figure."""
    if agent.process is None or agent.process.poll() is not None:
        raise SystemExit("the agent died during the run; no figures: " + agent.death_notice())


def job(host: str, extra: str = "") -> str:
    return (f"local:\n  name: 'local'\n  host: '{host}'\n  update_every: 1\n  autodetection_retry: 0\n"
            f"  charts_regex: '{DEFAULTS['charts_regex']}'\n  charts_to_exclude: '{DEFAULTS['charts_to_exclude']}'\n"
            f"{extra}")


def run_for(runs: List[Run], seconds: float) -> None:
    for run in runs:
        run.start()
        cycle.log(f"started {run.label} (dir {run.dir})")
    deadline, next_sample = time.monotonic() + seconds, 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_sample:
            for run in runs:
                run.sample()
            next_sample = time.monotonic() + 10
        time.sleep(0.5)
    for run in runs:
        run.stop()


def fmt(value, digits=1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--models", default=ALL_MODELS, help=f"per-model runs (default {ALL_MODELS}; '' skips)")
    parser.add_argument("--model-seconds", type=int, default=90)
    parser.add_argument("--soak-seconds", type=int, default=0, help="a long run of the defaults (RSS growth)")
    parser.add_argument("--history", type=int, default=120, help="seconds of agent history before starting")
    parser.add_argument("--skip", type=int, default=30, help="first cycles left out (warm start, warm-up)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a key of our job besides the defaults (e.g. warmup_n=0: models show values "
                             "without a long history; the per-cycle work of a model is the same)")
    parser.add_argument("--without-prototype", action="store_true",
                        help="ours alone (the prototype shows nothing before 1,000 samples of its own)")
    parser.add_argument("--out-dir", default=str(BENCH / "out"))
    args = parser.parse_args()

    cycle.ensure_our_venv()
    workdir = Path(tempfile.mkdtemp(prefix="online-cycle-"))
    agent = cycle.load_agent_module().NetdataAgent(workdir / "agent", history=7200).start()
    rows = []
    try:
        cycle.log(f"agent on {agent.host}; waiting for {args.history}s of history")
        cycle.wait_for_history(agent, args.history)
        ours_keys = "".join(f"  {key}: {value}\n" for key, _, value in (pair.partition("=") for pair in args.set))
        label = "ours zscore (defaults" + (", " + ", ".join(args.set) if args.set else "") + ")"
        together = [Run(label, "anomalies_online", job(agent.host, ours_keys), workdir)]
        if not args.without_prototype:
            together.append(Run("prototype: rrcf 10x256 shingle 4 + PySAD gaussian tail", "anomalies_prototype",
                                job(agent.host, "  charts_prefix: 'system.'\n"), workdir))
        run_for(together, args.seconds)
        check_agent_alive(agent)
        rows += [r.summary(args.skip) for r in together]
        for model in filter(None, args.models.split(",")):
            one = Run(f"ours {model}", "anomalies_online", job(agent.host, f"  model: '{model}'\n"), workdir)
            run_for([one], args.model_seconds)
            check_agent_alive(agent)
            rows.append(one.summary(args.skip))
        if args.soak_seconds:
            soak = Run(f"ours zscore, {args.soak_seconds // 60} min", "anomalies_online", job(agent.host), workdir)
            run_for([soak], args.soak_seconds)
            check_agent_alive(agent)
            rows.append(soak.summary(args.skip))
    finally:
        agent.stop()
    lines = [f"# anomalies_online per-cycle cost, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
             "", f"One private agent, the default charts (`{DEFAULTS['charts_regex']}`; the prototype `system.*`), "
             f"load average {os.getloadavg()[0]:.2f} at the end; "
             f"medians over cycles after the first {args.skip}; {cycle.repo_revision()}.", "",
             "| run | models | cycles | median ms | p90 ms | median ms per chart | peak RSS MiB (plugin + children) "
             "| RSS growth after 10 min, MiB | flagged % of model-cycles |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        growth = f"{fmt(r['growth_mib'])} over {fmt(r['span_min'], 0)} min" if r["growth_mib"] is not None else "n/a"
        lines.append(f"| {r['label']} | {r['models']} | {r['steady']} | {fmt(r['median'])} | {fmt(r['p90'])} | "
                     f"{fmt(r['per_chart'], 2)} | {fmt(r['peak_mib'])} | {growth} | {fmt(r['flagged'], 3)} |")
    ours, prototype = rows[0], (rows[1] if len(together) > 1 else None)
    if ours["median"] is not None and prototype and prototype["median"]:
        lines += ["", f"Per-cycle ratio ours/prototype: {ours['median'] / prototype['median']:.3f}; "
                  f"RSS ratio: {ours['peak_mib'] / prototype['peak_mib']:.2f}. Target: default median under 0.5 ms "
                  f"per chart: {'met' if ours['per_chart'] is not None and ours['per_chart'] < 0.5 else 'NOT met'}."]
    cycle.publish(lines, args.out_dir, "online-cycle", workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
