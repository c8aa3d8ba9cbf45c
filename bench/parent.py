# SPDX-License-Identifier: GPL-3.0-or-later
"""Scaling on a Netdata parent: per-cycle time, CPU and memory of both modules as children are added.

Usage:  .venv/bin/python bench/parent.py [--children 1,4,16] [--seconds 120] [--lead-seconds 120]

A parent agent and up to max(--children) child agents (tests/agent.py) run on loopback; every child streams
all its charts to the parent. For each count N, the first N children are streamed, and both modules run at
once, each in its own `python.d.plugin <module> debug trace nolock` against the parent with one job per child
(`host: <parent>/host/<child>`, `charts_regex: '.*'`, defaults otherwise). The children have --lead-seconds
of history when a run starts, so the offline jobs get `min_train_secs` and the streaming ones `warmup_n` of
that much (with the defaults, 900 s and 1,000 samples, no model would show a value within the run): their
models are trained on that short window, which changes nothing in a cycle's work but keeps the training's own
memory small. The plugins' children run one at a time, so the last job of 16 is ready minutes after the
first: the measurement starts once every job of both modules is trained or warm, and lasts --seconds.

Per module and N: models and dimensions modelled, when every job was ready, the median run_time of the jobs
(each job is a thread of the plugin, so a job's time includes waiting for the others' hold of the
interpreter lock), the cycles each job completed, where a job's time goes (its own health chart: the read
from the parent, and the rest of its update), the CPU the plugin and its children used (100% = one core)
and per dimension against one child's, the plugin's RSS against one child's, and the peak RSS of the plugin
with its children. Prints a markdown table and writes it to bench/out/parent-<date>.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Tuple

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import cycle  # noqa: E402  (helpers of the offline bench: agent, venv, /proc sampling)
from online_cycle import Run, check_agent_alive  # noqa: E402  (python.d.plugin processes, their RSS)

MODULES = ("anomalies", "anomalies_online")


def jobs(parent_host: str, children: List[str], extra: str = "") -> str:
    return "".join(f"{child}:\n  name: '{child}'\n  host: '{parent_host}/host/{child}'\n  update_every: 1\n"
                   f"  charts_regex: '.*'\n  charts_to_exclude: ''\n  save_state: no\n{extra}" for child in children)


def cpu_seconds(run: Run) -> Tuple[float, float]:
    """CPU seconds (user + system) the plugin of `run` used so far: (its own threads, its children: those it
    has waited for and those still running)."""
    own = children = 0.0
    for i, pid in enumerate([run.proc.pid] + cycle.descendants(run.proc.pid)):
        try:
            itself, waited = cycle.cpu_seconds_of(pid)
        except OSError:
            continue
        if i == 0:
            own, children = own + itself, children + waited
        else:
            children += itself
    return own, children


READY = {"anomalies": "] : trained ", "anomalies_online": "] : warm start: "}  # a job's log line once it has models


def ready_jobs(run: Run) -> int:
    """How many of the run's jobs have said they are trained (offline) or warm (streaming)."""
    try:
        text = (run.dir / "stderr").read_text(errors="replace")
    except OSError:
        return 0
    marker = READY[run.module]
    return len({line.split("[", 1)[1].split("]", 1)[0] for line in text.splitlines() if marker in line})


@dataclass
class Measured:
    """What one plugin did once every job of both was ready: its stdout lines from then, the CPU share of
    one core it used from then (its own threads and its children), and when that was."""

    lines: List[str]
    cpu: float
    cpu_children: float  # of it, the children's (trainings, warm starts)
    ready_after_s: float
    plugin_mib: float  # the plugin process's own RSS at the end (its children gone)


def sample_while(runs: List[Run], going: Callable[[], bool]) -> None:
    """Sample the runs' RSS every 2 s while `going()`."""
    while going():
        for run in runs:
            run.sample()
        time.sleep(2)


def run_both(runs: List[Run], jobs_n: int, seconds: int, ready_timeout: int) -> List[Measured]:
    """Run the plugins at once, sampling RSS; once every one of their `jobs_n` jobs is trained or warm (or
    `ready_timeout` seconds have passed), measure for `seconds`."""
    for run in runs:
        run.start()
        cycle.log(f"started {run.label} (dir {run.dir})")
    started = time.monotonic()
    sample_while(runs, lambda: time.monotonic() - started < ready_timeout
                 and any(ready_jobs(run) < jobs_n for run in runs))
    ready_after = time.monotonic() - started
    cycle.log(f"ready after {ready_after:.0f} s: " + ", ".join(f"{run.module} {ready_jobs(run)} of {jobs_n}"
                                                              for run in runs))
    time.sleep(2)  # the last one's first cycles with models
    marks = [(time.monotonic(), cpu_seconds(run), len(run.lines)) for run in runs]
    sample_while(runs, lambda: time.monotonic() - marks[0][0] < seconds)
    measured = []
    for run, (when, (own, children), lines) in zip(runs, marks):
        own_now, children_now = cpu_seconds(run)
        seconds_measured = time.monotonic() - when
        measured.append(Measured(run.lines[lines:], 100.0 * (own_now - own + children_now - children) / seconds_measured,
                                 100.0 * (children_now - children) / seconds_measured, ready_after,
                                 cycle.proc_status(run.proc.pid).get("VmRSS", 0) / 1024))
    for run in runs:
        run.stop()
    return measured


def per_job(lines: List[str]) -> Dict[str, dict]:
    """Per job: the median of its run_times in `lines`, and how many there were."""
    runtimes: Dict[str, List[int]] = {}
    for _, job, ms in cycle.run_times(lines):
        runtimes.setdefault(job, []).append(ms)
    return {name: {"median": statistics.median(values), "cycles": len(values)} for name, values in runtimes.items()}


def health_medians(lines: List[str]) -> Dict[str, float]:
    """Over all jobs, the medians (ms) in `lines` of the read latency and of the update less the read, from
    the jobs' own `health_times` charts."""
    values: Dict[Tuple[str, str], List[int]] = {}
    job = None
    for line in lines:
        if line.startswith("BEGIN "):
            chart = line.split()[1].strip("'")
            job = chart.rsplit(".", 1)[0] if chart.endswith(".health_times") else None
        elif job and line.startswith("SET "):
            fields = line.split()
            values.setdefault((job, fields[1].strip("'")), []).append(int(fields[3]))
    read, own = [], []
    for (name, dim), series in values.items():
        if dim == "read_latency":
            pairs = list(zip(series, values.get((name, "update_time"), [])))
            read += [r for r, _ in pairs]
            own += [u - r for r, u in pairs]
    return {"read": statistics.median(read) if read else None, "own": statistics.median(own) if own else None}


def models_of(run: Run) -> int:
    """How many models all jobs of the run charted: the *_anomaly dimensions of their anomaly charts (the
    same chart name in two jobs is two models)."""
    models, chart = set(), None
    for line in run.lines:
        if line.startswith("CHART "):
            chart = line.split()[1].strip("'")
        elif line.startswith("DIMENSION ") and line.split()[1].strip("'").endswith("_anomaly"):
            models.add((chart, line.split()[1].strip("'")))
    return len(models)


def dimensions_of(agent, child: str) -> int:
    charts = agent.api(f"/host/{child}/api/v1/charts")["charts"]
    return sum(len(chart.get("dimensions", {})) for chart in charts.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", default="1,4,16")
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--ready-timeout", type=int, default=900,
                        help="seconds to wait for every job to be trained or warm before measuring")
    parser.add_argument("--lead-seconds", type=int, default=120, help="history of a child before it is modelled "
                        "(the offline jobs' min_train_secs, the streaming ones' warmup_n)")
    parser.add_argument("--parent-memory-mode", default="ram", choices=("ram", "dbengine"),
                        help="how the parent keeps its and its children's metrics (Netdata 1.37.1's web server "
                             "segfaulted twice in three ram-mode runs as 16 children connected)")
    parser.add_argument("--out-dir", default=str(BENCH / "out"))
    args = parser.parse_args()
    counts = sorted(int(n) for n in args.children.split(","))

    cycle.ensure_our_venv()
    agent_module = cycle.load_agent_module()
    workdir = Path(tempfile.mkdtemp(prefix="parent-"))
    api_key = str(uuid.uuid4())
    parent = agent_module.NetdataAgent(workdir / "parent", hostname="parent", memory_mode=args.parent_memory_mode)
    parent.accept_streams(api_key).start()
    children = []
    rows = []
    try:
        for count in counts:
            while len(children) < count:
                name = f"child{len(children) + 1}"
                children.append(agent_module.NetdataAgent(workdir / name, hostname=name)
                                .stream_to(parent, api_key).start())
                cycle.log(f"{name} on {children[-1].host} streams to the parent on {parent.host}")
            names = [child.hostname for child in children]
            for name in names:
                try:
                    parent.wait_for_history(args.lead_seconds, host_path=f"/host/{name}", grace_s=300)
                except TimeoutError:
                    check_agent_alive(parent)  # Netdata 1.37.1 has segfaulted here as 16 children connected
                    raise
            dims = sum(dimensions_of(parent, name) for name in names)
            extra = {"anomalies": f"  min_train_secs: {args.lead_seconds}\n",
                     "anomalies_online": f"  warmup_n: {args.lead_seconds}\n"}
            runs = [Run(f"{module} {count} children", module, jobs(parent.host, names, extra[module]), workdir)
                    for module in MODULES]
            measured = run_both(runs, count, args.seconds, args.ready_timeout)
            for module, run, m in zip(MODULES, runs, measured):
                job_figures = per_job(m.lines)
                medians = [f["median"] for f in job_figures.values()]
                inside = health_medians(m.lines)
                cycles = [f["cycles"] for f in job_figures.values()]
                rows.append(dict(module=module, children=count, dims=dims, models=models_of(run),
                                 jobs=len(job_figures), median=statistics.median(medians) if medians else None,
                                 worst=max(medians) if medians else None,
                                 fewest=min(cycles) if cycles else None, read=inside["read"], own=inside["own"],
                                 cpu=m.cpu, cpu_children=m.cpu_children,
                                 ready=m.ready_after_s, cpu_per_dim=m.cpu * 1e4 / dims,
                                 scoring_per_dim=(m.cpu - m.cpu_children) * 1e4 / dims, plugin_mib=m.plugin_mib,
                                 peak_mib=run.peak_kib / 1024))
                cycle.log(f"{module}, {count} children: {rows[-1]}")
    finally:
        for child in children:
            child.stop()
        parent.stop()

    lines = [f"# Both modules on a Netdata parent, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             f"One parent (memory mode {args.parent_memory_mode}) and its streaming children on loopback; both modules at once, one job per child over "
             f"all its charts; measured for {args.seconds} s from the moment every job of both modules was "
             f"trained or warm; the children had {args.lead_seconds} s of history (the offline jobs' "
             f"min_train_secs, the streaming ones' warmup_n); load average {os.getloadavg()[0]:.2f} at the end; "
             f"{cycle.repo_revision()}. CPU: the plugin's threads and children (in brackets: the children alone, "
             f"i.e. trainings, whose schedule on a young agent retrains as the history doubles, and warm "
             f"starts), 100% = one core; per dimension, µs of CPU per dimension per 1-s cycle. Peak RSS: the plugin with its children (a training or "
             f"warm start's child holds pandas and its window), from the start; plugin RSS: its own at the end.", "",
             "| module | children | dimensions streamed | models | ready after s | median ms per job | "
             "slowest job ms | fewest cycles of a job (of the measured seconds) | median read ms | median own "
             "work ms (update less read) | CPU % of a core (of it, children) | CPU µs per dimension (x of 1 child) | "
             "CPU µs per dimension without children (x of 1 child) | "
             "plugin RSS MiB (x of 1 child) | peak RSS MiB, plugin + children |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda value: "n/a" if value is None else f"{value:.1f}"  # noqa: E731
    first = {r["module"]: r for r in rows if r["children"] == counts[0]}
    times = lambda value, base: "" if value is None or not base else f" ({value / base:.2f}x)"  # noqa: E731
    for r in rows:
        base = first[r["module"]]
        lines.append(f"| {r['module']} | {r['children']} | {r['dims']} | {r['models']} | {r['ready']:.0f} | "
                     f"{fmt(r['median'])} | {fmt(r['worst'])} | {r['fewest']} of {args.seconds} | {fmt(r['read'])} | "
                     f"{fmt(r['own'])} | {fmt(r['cpu'])} ({fmt(r['cpu_children'])}) | "
                     f"{r['cpu_per_dim']:.2f}{times(r['cpu_per_dim'], base['cpu_per_dim'])} | "
                     f"{r['scoring_per_dim']:.2f}{times(r['scoring_per_dim'], base['scoring_per_dim'])} | "
                     f"{fmt(r['plugin_mib'])}{times(r['plugin_mib'], base['plugin_mib'])} | {fmt(r['peak_mib'])} |")
    for count in counts:
        both = [r for r in rows if r["children"] == count]
        lines.append(f"| both | {count} | | | | | | | | | {fmt(sum(r['cpu'] for r in both))} "
                     f"({fmt(sum(r['cpu_children'] for r in both))}) | | | "
                     f"{fmt(sum(r['plugin_mib'] for r in both))} | {fmt(sum(r['peak_mib'] for r in both))} |")
    cycle.publish(lines, args.out_dir, "parent", workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
