# SPDX-License-Identifier: GPL-3.0-or-later
"""Scaling on a Netdata parent: per-cycle time and memory of both modules as children are added.

Usage:  .venv/bin/python bench/parent.py [--children 1,2,4] [--seconds 120] [--skip 30] [--lead-seconds 90]

A parent agent and up to max(--children) child agents (tests/agent.py) run on loopback; every child streams
all its charts to the parent. For each count N, the first N children are streamed, and each module runs in
its own `python.d.plugin <module> debug trace nolock` against the parent with one job per child
(`host: <parent>/host/<child>`, `charts_regex: '.*'`, defaults otherwise) for --seconds. Per module and N:
models and dimensions modelled, the median run_time of the jobs (each job is a thread of the plugin; after
the first --skip cycles), their sum (the plugin's work per second), the cycles each job completed (of
--seconds), where a job's time goes (its own health chart: the read from the parent, and the rest of its
update, i.e. features, scoring and charts, both timed inside the job), and the peak RSS of the plugin with
its children. Prints a markdown table and writes it to bench/out/parent-<date>.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Dict, List, Tuple

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import cycle  # noqa: E402  (helpers of the offline bench: agent, venv, /proc sampling)
from online_cycle import Run, run_for  # noqa: E402  (python.d.plugin processes, their RSS)

MODULES = ("anomalies", "anomalies_online")


def jobs(parent_host: str, children: List[str]) -> str:
    return "".join(f"{child}:\n  name: '{child}'\n  host: '{parent_host}/host/{child}'\n  update_every: 1\n"
                   f"  charts_regex: '.*'\n  charts_to_exclude: ''\n  save_state: no\n" for child in children)


def per_job(run: Run, skip: int) -> Dict[str, dict]:
    """Per job: the median of its run_times after the first `skip` cycles, and how many there were."""
    runtimes: Dict[str, List[int]] = {}
    for _, job, ms in cycle.run_times(run.lines):
        runtimes.setdefault(job, []).append(ms)
    return {name: {"median": statistics.median(values[skip:]) if values[skip:] else None,
                   "cycles": len(values[skip:])} for name, values in runtimes.items()}


def health_medians(run: Run, skip: int) -> Dict[str, float]:
    """Over all jobs, the medians (ms, after each job's first `skip` values) of the read latency and of the
    update less the read, from the jobs' own `health_times` charts."""
    values: Dict[Tuple[str, str], List[int]] = {}
    job = None
    for line in run.lines:
        if line.startswith("BEGIN "):
            chart = line.split()[1].strip("'")
            job = chart.rsplit(".", 1)[0] if chart.endswith(".health_times") else None
        elif job and line.startswith("SET "):
            fields = line.split()
            values.setdefault((job, fields[1].strip("'")), []).append(int(fields[3]))
    read, own = [], []
    for (name, dim), series in values.items():
        if dim == "read_latency":
            update = values.get((name, "update_time"), [])
            pairs = list(zip(series, update))[skip:]
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
    parser.add_argument("--children", default="1,2,4")
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--skip", type=int, default=30)
    parser.add_argument("--lead-seconds", type=int, default=90, help="history of a child before it is modelled")
    parser.add_argument("--out-dir", default=str(BENCH / "out"))
    args = parser.parse_args()
    counts = sorted(int(n) for n in args.children.split(","))

    cycle.ensure_our_venv()
    agent_module = cycle.load_agent_module()
    workdir = Path(tempfile.mkdtemp(prefix="parent-"))
    api_key = str(uuid.uuid4())
    parent = agent_module.NetdataAgent(workdir / "parent", hostname="parent").accept_streams(api_key).start()
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
                parent.wait_for_history(args.lead_seconds, host_path=f"/host/{name}")
            dims = sum(dimensions_of(parent, name) for name in names)
            for module in MODULES:
                run = Run(f"{module} {count} children", module, jobs(parent.host, names), workdir)
                run_for([run], args.seconds)
                job_figures = per_job(run, args.skip)
                medians = [f["median"] for f in job_figures.values() if f["median"] is not None]
                models = models_of(run)
                inside = health_medians(run, args.skip)
                cycles = [f["cycles"] + args.skip for f in job_figures.values()]
                rows.append(dict(module=module, children=count, dims=dims, models=models,
                                 jobs=len(job_figures), median=statistics.median(medians) if medians else None,
                                 worst=max(medians) if medians else None, total=sum(medians) if medians else None,
                                 fewest=min(cycles) if cycles else None, read=inside["read"], own=inside["own"],
                                 peak_mib=run.peak_kib / 1024))
                cycle.log(f"{module}, {count} children: {rows[-1]}")
    finally:
        for child in children:
            child.stop()
        parent.stop()

    lines = [f"# Both modules on a Netdata parent, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             f"One parent and its streaming children on loopback; one job per child over all its charts; "
             f"{args.seconds} s per run, medians after the first {args.skip} cycles; load average "
             f"{os.getloadavg()[0]:.2f} at the end; {cycle.repo_revision()}.", "",
             "| module | children | dimensions streamed | models | median ms per job | slowest job ms | "
             "sum of job medians ms per cycle | fewest cycles of a job (of the run's seconds) | median read ms | "
             "median own work ms (update less read) | peak RSS MiB (plugin + children) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda value: "n/a" if value is None else f"{value:.1f}"  # noqa: E731
    for r in rows:
        lines.append(f"| {r['module']} | {r['children']} | {r['dims']} | {r['models']} | {fmt(r['median'])} | "
                     f"{fmt(r['worst'])} | {fmt(r['total'])} | {r['fewest']} of {args.seconds} | {fmt(r['read'])} | "
                     f"{fmt(r['own'])} | {fmt(r['peak_mib'])} |")
    cycle.publish(lines, args.out_dir, "parent", workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
