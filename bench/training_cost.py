# SPDX-License-Identifier: GPL-3.0-or-later
"""What the offline module's trainings cost on a parent in steady state, where every child is older than the
training window.

Usage:  .venv/bin/python bench/training_cost.py [--windows 900,1800,3600,7200] [--repeats 3] [--children 16]

`bench/parent.py` measures children a few minutes old, whose jobs retrain each time their history doubles.
On agents older than `train_n_secs` (4 hours by default) a job trains once every `train_every_n` seconds
(30 minutes) on the whole window instead. This bench makes a parent (dbengine, Debian's default) and one
child streaming to it on loopback, waits until the parent holds the largest window of the child's history,
then runs the collector's own training (`anomalies.training:train_from_settings` in a child interpreter, as
the job does: list the charts, read the window through netdata-pandas, fit every model) on windows of
increasing length, each --repeats times, with the job's defaults over every chart (`charts_regex: '.*'`).

Per window it prints the training's wall time, its CPU (the training child's, and the parent agent's work
serving the reads), and the child's peak RSS (medians). A line fitted to the CPU against the window's
length gives the cost of one training on the default window; --children jobs that each train once every
`train_every_n` seconds then need that many trainings' CPU per period: the steady-state share of a core.
Prints a markdown table and writes it to bench/out/training-cost-<date>.md.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
import cycle  # noqa: E402  (helpers of the offline bench: agent, venv, /proc)
from online_cycle import check_agent_alive  # noqa: E402

from anomalies.child_process import call_in_child  # noqa: E402
from anomalies.config import DEFAULTS  # noqa: E402


def one_training(settings: Dict, window_s: int, agent_pid: int) -> Dict[str, float]:
    """Train once, as the job does, on the last `window_s` seconds; what it cost."""
    before = int(time.time()) - 1
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    agent_cpu = cycle.cpu_seconds_of(agent_pid)[0]
    started = time.monotonic()
    outcome = call_in_child("anomalies.training:train_from_settings", settings, before - window_s, before)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if outcome.state is None:
        raise RuntimeError(f"nothing trained on {window_s} s: {outcome.warnings}")
    return {"wall": wall, "cpu": after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime,
            "agent_cpu": cycle.cpu_seconds_of(agent_pid)[0] - agent_cpu, "peak_mib": after.ru_maxrss / 1024,
            "read_fit_s": outcome.seconds, "import_s": outcome.import_seconds,
            "models": len(outcome.state.bank.models), "rows": outcome.state.rows}


def fitted_line(xs: List[float], ys: List[float]) -> Tuple[float, float]:
    """Intercept and slope of the least-squares line through (xs, ys)."""
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(intercept), float(slope)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", default="900,1800,3600,7200", help="training windows to measure, in seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--children", type=int, default=16, help="children of the parent the share is given for")
    parser.add_argument("--out-dir", default=str(BENCH / "out"))
    args = parser.parse_args()
    windows = sorted(int(w) for w in args.windows.split(","))
    train_n_secs, train_every_n = DEFAULTS["train_n_secs"], DEFAULTS["train_every_n"]

    cycle.ensure_our_venv()
    agent_module = cycle.load_agent_module()
    workdir = Path(tempfile.mkdtemp(prefix="training-cost-"))
    api_key = str(uuid.uuid4())
    parent = agent_module.NetdataAgent(workdir / "parent", hostname="parent", memory_mode="dbengine")
    parent.accept_streams(api_key).start()
    child = agent_module.NetdataAgent(workdir / "child1", hostname="child1").stream_to(parent, api_key).start()
    rows = []
    try:
        cycle.log(f"waiting for {windows[-1]} s of child1's history on the parent {parent.host}")
        try:
            parent.wait_for_history(windows[-1] + 5, host_path="/host/child1", grace_s=600)
        except TimeoutError:
            check_agent_alive(parent)
            raise
        dims = sum(len(c.get("dimensions", {})) for c in parent.api("/host/child1/api/v1/charts")["charts"].values())
        settings = {**DEFAULTS, "name": "child1", "host": f"{parent.host}/host/child1", "charts_regex": ".*",
                    "charts_to_exclude": "", "save_state": False, "update_every": 1}
        agent_pid = parent.process.pid
        for window in windows:  # ascending: RUSAGE_CHILDREN's peak RSS is the largest child's so far
            runs = [one_training(settings, window, agent_pid) for _ in range(args.repeats)]
            row = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            row["window"] = window
            rows.append(row)
            cycle.log(f"{window} s: {row}")
    finally:
        child.stop()
        parent.stop()

    intercept, slope = fitted_line([r["window"] for r in rows], [r["cpu"] for r in rows])
    agent_intercept, agent_slope = fitted_line([r["window"] for r in rows], [r["agent_cpu"] for r in rows])
    per_training = intercept + slope * train_n_secs
    agent_per_training = agent_intercept + agent_slope * train_n_secs
    share = 100.0 * args.children * per_training / train_every_n
    agent_share = 100.0 * args.children * agent_per_training / train_every_n
    lines = [f"# The offline module's trainings on a parent, steady state, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC", "",
             f"One parent (dbengine) and one child streaming to it on loopback; the child's {dims} dimensions, every "
             f"chart, the job's defaults; each window trained {args.repeats} times in a child interpreter, as the "
             f"job does (medians); load average {os.getloadavg()[0]:.2f} at the end; {cycle.repo_revision()}.", "",
             "| window s | rows | models | wall s | training CPU s | of it, import s (wall) | agent CPU s (serving the reads) "
             "| training peak RSS MiB |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['window']} | {r['rows']:.0f} | {r['models']:.0f} | {r['wall']:.1f} | {r['cpu']:.1f} | "
                     f"{r['import_s']:.1f} | {r['agent_cpu']:.1f} | {r['peak_mib']:.0f} |")
    lines += ["", f"Training CPU ≈ {intercept:.2f} s + {slope * 1000:.2f} s per 1,000 s of window: one training on "
              f"the default window ({train_n_secs} s) ≈ **{per_training:.0f} s** of CPU (the agent serving it "
              f"≈ {agent_per_training:.0f} s). Every job trains once per {train_every_n} s, so {args.children} "
              f"children's jobs need **{share:.1f}% of a core** for their trainings in steady state (the parent "
              f"agent serving their reads: {agent_share:.1f}%). Extrapolated from windows up to {windows[-1]} s."]
    cycle.publish(lines, args.out_dir, "training-cost", workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
