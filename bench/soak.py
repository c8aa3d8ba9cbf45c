# SPDX-License-Identifier: GPL-3.0-or-later
"""Soak: both modules on every chart of a live agent at update_every 1, for --minutes, side by side.

Usage:  .venv/bin/python bench/soak.py [--minutes 30] [--warmup-minutes 10] [--lead-seconds 120]
                                       [--train-secs 600]

One private Netdata agent (tests/agent.py) collects for --lead-seconds, then `anomalies` and
`anomalies_online` each run in their own `python.d.plugin <module> debug trace nolock` process at their
defaults except `charts_regex: '.*'` (every chart the agent has) and, for `anomalies`, `train_n_secs`
--train-secs (600): the bench's agent is young, and with the default 4-hour window the training window
would keep growing (and the models with it) for the whole run, a phase a user's agent with days of history
never has; with 600 s it is full within the warm-up. Every 10 s the RSS of each plugin is
sampled (alone, and with its children: the offline module trains in a child process); every cycle's
run_time comes from the netdata.runtime_* chart.

After the warm-up (the first --warmup-minutes: imports, first trainings, windows filling), it reports per
module: the plugin's RSS at the end of the warm-up and at the end (median of the last minute's samples),
their growth (target: under 5%), and the median run_time of each 5-minute slice (target: no growth; the
last slice's median within 20% + 1 ms of the first's). Prints a markdown table and writes it to
bench/out/soak-<date>.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import cycle  # noqa: E402  (helpers of the offline bench: agent, venv, /proc sampling)
from online_cycle import Run, run_for  # noqa: E402  (python.d.plugin processes, their RSS and run_times)

SLICE_S = 300
RSS_GROWTH_TARGET = 0.05


class SoakRun(Run):
    """A Run that also keeps the time of every cycle and the RSS of the plugin process alone."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.own_rss: List[tuple] = []  # (seconds since start, KiB of the plugin process alone)
        self.cycle_times: List[tuple] = []  # (seconds since start, run_time ms), appended as lines arrive
        self.lines_seen = 0

    def sample(self) -> None:
        super().sample()
        if self.proc.poll() is None:
            self.own_rss.append((time.monotonic() - self.started, cycle.proc_status(self.proc.pid).get("VmRSS", 0)))
        self._collect_run_times()

    def _collect_run_times(self) -> None:
        """run_times of the lines that arrived since the last sample, stamped with the sampling time (to
        within the 10 s between samples, which is all the 5-minute slices need)."""
        now = time.monotonic() - self.started
        lines, self.lines_seen = self.lines[self.lines_seen:], len(self.lines)
        self.cycle_times += [(now, ms) for _, _, ms in cycle.run_times(lines)]


def median_between(samples: List[tuple], start: float, end: float) -> Optional[float]:
    values = [value for when, value in samples if start <= when < end]
    return statistics.median(values) if values else None


def report(run: SoakRun, warmup_s: float, total_s: float) -> Dict[str, object]:
    """Figures of one module after its warm-up."""
    rss_start = median_between(run.own_rss, warmup_s - 60, warmup_s + 1)
    rss_end = median_between(run.own_rss, total_s - 60, total_s + 1)
    slices, rss_slices = [], []
    start = warmup_s
    while start + SLICE_S <= total_s + 1:
        slices.append(median_between(run.cycle_times, start, start + SLICE_S))
        rss_slices.append(median_between(run.own_rss, start, start + SLICE_S))
        start += SLICE_S
    slices = [s for s in slices if s is not None]
    rss_slices = [kib / 1024 for kib in rss_slices if kib is not None]
    growth = (rss_end - rss_start) / rss_start if rss_start and rss_end else None
    steady = [ms for when, ms in run.cycle_times if when >= warmup_s]
    flat_time = bool(slices) and slices[-1] <= 1.2 * slices[0] + 1
    return dict(label=run.label, cycles=len(steady), median=statistics.median(steady) if steady else None,
                p90=cycle.percentile(steady, 0.9), rss_start=rss_start and rss_start / 1024,
                rss_end=rss_end and rss_end / 1024, growth=growth, peak=run.peak_kib / 1024, slices=slices,
                rss_slices=rss_slices,
                rss_ok=growth is not None and growth < RSS_GROWTH_TARGET, time_ok=flat_time)


def fmt(value, digits=1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--warmup-minutes", type=float, default=10)
    parser.add_argument("--lead-seconds", type=int, default=120, help="agent history before the plugins start")
    parser.add_argument("--train-secs", type=int, default=600, help="train_n_secs of the anomalies job")
    parser.add_argument("--out-dir", default=str(BENCH / "out"))
    args = parser.parse_args()
    if args.warmup_minutes + 5 > args.minutes:
        parser.error("--minutes must be at least --warmup-minutes + 5 (one slice to compare)")

    cycle.ensure_our_venv()
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    agent = cycle.load_agent_module().NetdataAgent(workdir / "agent", history=7200).start()
    try:
        cycle.log(f"agent on {agent.host}; waiting for {args.lead_seconds}s of history")
        cycle.wait_for_history(agent, args.lead_seconds)
        charts = len(agent.charts())
        jobs = "local:\n  name: 'local'\n  host: '{host}'\n  update_every: 1\n  charts_regex: '.*'\n" \
               "  charts_to_exclude: ''\n"
        offline = jobs.format(host=agent.host) + f"  train_n_secs: {args.train_secs}\n"
        runs = [SoakRun(f"anomalies (pca, defaults, train_n_secs {args.train_secs})", "anomalies", offline, workdir),
                SoakRun("anomalies_online (zscore, defaults)", "anomalies_online", jobs.format(host=agent.host),
                        workdir)]
        total_s = args.minutes * 60
        run_for(runs, total_s)
        for run in runs:
            run.sample()  # the lines that arrived after the last sample
    finally:
        agent.stop()
    warmup_s = args.warmup_minutes * 60
    rows = [report(run, warmup_s, total_s) for run in runs]
    lines = [f"# Soak: both modules on every chart, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             f"One private agent with {charts} charts, update_every 1, {args.minutes:g} min; figures after a "
             f"{args.warmup_minutes:g}-minute warm-up; load average {os.getloadavg()[0]:.2f} at the end; "
             f"{cycle.repo_revision()}.", "",
             "| module | cycles | median ms | p90 ms | RSS MiB after warm-up | RSS MiB at end | RSS growth | "
             "peak RSS MiB incl. children | median ms per 5-min slice | RSS MiB per 5-min slice |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['cycles']} | {fmt(r['median'])} | {fmt(r['p90'])} | "
                     f"{fmt(r['rss_start'])} | {fmt(r['rss_end'])} | "
                     f"{fmt(100 * r['growth'] if r['growth'] is not None else None, 2)}% | {fmt(r['peak'])} | "
                     f"{', '.join(fmt(s) for s in r['slices'])} | {', '.join(fmt(s) for s in r['rss_slices'])} |")
    lines.append("")
    for r in rows:
        lines.append(f"- {r['label']}: RSS growth under 5%: {'met' if r['rss_ok'] else 'NOT met'}; "
                     f"per-cycle time flat (last slice within 20% + 1 ms of the first): "
                     f"{'met' if r['time_ok'] else 'NOT met'}.")
    cycle.publish(lines, args.out_dir, "soak", workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
