# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-cycle cost of this project's `anomalies` python.d collector against Netdata's old upstream one.

Usage:  .venv/bin/python bench/cycle.py [--seconds N] [--all-charts] [--models pca,hbos,...]

Against ONE private Netdata agent (tests/agent.py) it runs, each as its own
`python.d.plugin anomalies debug trace nolock` process reading from that agent:

1. side by side, for --seconds (default 180): upstream (Debian's stock
   /usr/lib/netdata/python.d/anomalies.chart.py, with bench/.venv-upstream on PYTHONPATH)
   and ours (collectors/anomalies.chart.py found as a user module, NETDATA_ANOMALIES_VENV=<repo>/.venv),
   both on `system\\..*` minus system.uptime,system.entropy, model pca, the same train_n_secs;
2. with --all-charts: ours alone with charts_regex '.*' (every chart of the agent);
3. for each model of --models (default pca,hbos,iforest,cblof,loda,copod,ecod; '' skips): ours alone,
   for --model-seconds (default 90).

Per run it reads, from the plugin's stdout, the `BEGIN netdata.runtime_<job>` / `SET run_time = <ms>` lines
(the netdata.runtime_* chart: one per successful cycle), samples VmHWM of the plugin process from
/proc/<pid>/status every 0.1 s until just before stopping it (and, since ours trains in a child process, the
VmRSS sum over the plugin and its descendants plus wait4()'s ru_maxrss), and takes the training time from ours'
log line `trained <n> models in <s>s` (upstream trains inside its first cycle, so its first cycle's run_time
is used).
Median/p90 are over steady-state cycles: those after training is done and after the next
train_no_prediction_n cycles (upstream only repeats its last prediction during those, at ~0 ms).

Prints a markdown table and a verdict against the targets, and writes them to bench/out/cycle-<date>.md.
The upstream venv is built from bench/upstream-requirements.txt when missing; <repo>/.venv likewise.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SYSTEM_PYTHON = "/usr/bin/python3"
PLUGIN = "/usr/lib/netdata/plugins.d/python.d.plugin"
STOCK_CONFIG_DIR = "/usr/lib/netdata/conf.d"
UPSTREAM_MODULE = Path("/usr/lib/netdata/python.d/anomalies.chart.py")
UPSTREAM_VENV = BENCH / ".venv-upstream"
UPSTREAM_REQS = BENCH / "upstream-requirements.txt"
OUR_VENV = REPO / ".venv"
OUR_MODULE = REPO / "collectors" / "anomalies.chart.py"
ALL_MODELS = "pca,hbos,iforest,cblof,loda,copod,ecod"
SYSTEM_REGEX = r"system\..*"
SYSTEM_EXCLUDE = "system.uptime,system.entropy"

RUNTIME_BEGIN = re.compile(r"^BEGIN netdata\.runtime_(\S+)")
RUNTIME_SET = re.compile(r"^SET run_time = (\d+)")
OUR_TRAINED = re.compile(r"trained (\d+) models? in ([0-9.]+)\s*s")
OUR_IMPORT = re.compile(r"([0-9.]+)\s*s more to import")
UPSTREAM_TRAINED = re.compile(r"training complete in ([0-9.]+) seconds")


def run_times(lines: Sequence[str]) -> Iterator[Tuple[int, str, int]]:
    """(index of the SET line, job, run_time ms) of every update of a netdata.runtime_<job> chart in
    python.d.plugin output: python.d ends each update cycle of a job with one."""
    job = None
    for index, line in enumerate(lines):
        begin = RUNTIME_BEGIN.match(line)
        if begin:
            job = begin.group(1)
            continue
        match = RUNTIME_SET.match(line) if job else None
        if match:
            yield index, job, int(match.group(1))
        job = None


def log(msg: str) -> None:
    print(f"[cycle {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_agent_module():
    spec = importlib.util.spec_from_file_location("bench_agent", REPO / "tests" / "agent.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages under {venv}")
    return found[0]


def ensure_upstream_venv() -> Path:
    """Build bench/.venv-upstream from the pinned requirements if it is missing or the pins changed."""
    digest = hashlib.sha256(UPSTREAM_REQS.read_bytes()).hexdigest()
    stamp = UPSTREAM_VENV / ".requirements.sha256"
    if not (UPSTREAM_VENV / "bin" / "python").exists():
        log(f"creating {UPSTREAM_VENV}")
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(UPSTREAM_VENV)], check=True)
    if not stamp.exists() or stamp.read_text().strip() != digest:
        log(f"installing {UPSTREAM_REQS.name} into {UPSTREAM_VENV} (a few minutes)")
        subprocess.run([str(UPSTREAM_VENV / "bin" / "pip"), "install", "-q", "-r", str(UPSTREAM_REQS)], check=True)
        stamp.write_text(digest + "\n")
    return site_packages(UPSTREAM_VENV)


def ensure_our_venv() -> Path:
    if not (OUR_VENV / "bin" / "python").exists():
        log(f"creating {OUR_VENV}")
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(OUR_VENV)], check=True)
        subprocess.run([str(OUR_VENV / "bin" / "pip"), "install", "-q", "-e", f"{REPO}[test]"], check=True)
    return OUR_VENV


def module_can_import_package() -> bool:
    """Does collectors/anomalies.chart.py, loaded as python.d.plugin loads it, import `anomalies.job` from
    NETDATA_ANOMALIES_VENV by itself?"""
    code = ("import sys\n"
            "sys.path.append('/usr/lib/netdata/python.d/python_modules')\n"
            "from importlib.machinery import SourceFileLoader\n"
            f"module = SourceFileLoader('anomalies_probe', {str(OUR_MODULE)!r}).load_module()\n"
            "sys.exit(0 if module.Service.job_import_error is None else 1)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["NETDATA_ANOMALIES_VENV"] = str(OUR_VENV)
    probe = subprocess.run([SYSTEM_PYTHON, "-c", code], cwd="/", capture_output=True, text=True, timeout=120, env=env)
    return probe.returncode == 0


def versions(python: str, env: Optional[dict] = None) -> str:
    code = ("import importlib.metadata as m\n"
            "out=[]\n"
            "for p in ('numpy','pandas','scikit-learn','pyod','netdata-pandas'):\n"
            "    try: out.append(p+' '+m.version(p))\n"
            "    except Exception: pass\n"
            "print(', '.join(out))")
    try:
        return subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception as error:  # informational only
        return f"? ({error})"


def repo_revision() -> str:
    """HEAD of the repo, and whether the package or module had uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "anomalies", "collectors"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{head}{' + uncommitted changes' if dirty else ''}"
    except Exception:  # informational only
        return "?"


def job_config(host: str, charts_regex: str, exclude: str, model: Optional[str], args) -> str:
    """A job's conf: upstream's with `model` (lags_n 5, its default), or, with `model` None, ours with the
    collector's own default model and features."""
    def q(value) -> str:
        return "'" + str(value).replace("'", "''") + "'"
    model_lines = [] if model is None else [f"  model: {q(model)}", "  lags_n: 5"]
    return "\n".join([
        "anomalies:",
        "  name: 'anomalies'",
        f"  host: {q(host)}",
        "  protocol: 'http'",
        "  update_every: 1",
        "  autodetection_retry: 0",
        f"  charts_regex: {q(charts_regex)}",
        f"  charts_to_exclude: {q(exclude)}",
        *model_lines,
        f"  train_n_secs: {args.train_n_secs}",
        "  train_max_n: 100000",
        f"  train_every_n: {args.train_every_n}",
        f"  train_no_prediction_n: {args.train_no_prediction_n}",
        "  offset_n_secs: 0",
        "  smooth_n: 3",
        "  diffs_n: 1",
        "  contamination: 0.001",
        "  include_average_prob: true",
        "",
    ])


def publish(lines: List[str], out_dir: str, stem: str, workdir: Path) -> None:
    """Print a markdown report and write it to <out_dir>/<stem>-<date>.md."""
    text = "\n".join(lines)
    print(text)
    os.makedirs(out_dir, exist_ok=True)
    path = Path(out_dir) / f"{stem}-{dt.date.today():%Y-%m-%d}.md"
    path.write_text(text + "\n")
    log(f"written to {path}; runs in {workdir}")


def percentile(values: List[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def cpu_seconds_of(pid: int) -> Tuple[float, float]:
    """CPU seconds (user + system) of process `pid` so far: (its own, its waited-for children's). OSError
    once it is gone."""
    with open(f"/proc/{pid}/stat") as stat:
        # the stat fields 14-17 after the command name: utime, stime, cutime, cstime
        utime, stime, cutime, cstime = (int(value) for value in stat.read().rsplit(")", 1)[1].split()[11:15])
    ticks = os.sysconf("SC_CLK_TCK")
    return (utime + stime) / ticks, (cutime + cstime) / ticks


def proc_status(pid: int) -> Dict[str, int]:
    """VmHWM/VmRSS of `pid` in KiB (empty once it is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def children(pid: int) -> List[int]:
    """Direct children of every thread of `pid` (empty once it is gone)."""
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    out += [int(c) for c in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def descendants(pid: int) -> List[int]:
    found, todo = [], children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children(child)
    return found


class PluginRun:
    """One `python.d.plugin anomalies debug trace nolock` process with its own config and lib dirs."""

    def __init__(self, label: str, kind: str, workdir: Path, host: str, charts_regex: str, exclude: str,
                 model: Optional[str], args, upstream_site: Optional[Path] = None, repo_on_path: bool = False):
        self.label, self.kind, self.model = label, kind, model or "defaults"
        self.charts_regex, self.exclude = charts_regex, exclude
        self.args = args
        self.dir = workdir / label.replace(" ", "_").replace("/", "_")
        etc, lib = self.dir / "etc", self.dir / "lib"
        (etc / "python.d").mkdir(parents=True, exist_ok=True)
        lib.mkdir(parents=True, exist_ok=True)
        (etc / "python.d.conf").write_text("anomalies: yes\n")
        (etc / "python.d" / "anomalies.conf").write_text(job_config(host, charts_regex, exclude, model, args))
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "NETDATA_USER_PLUGINS_DIRS", "NETDATA_ANOMALIES_VENV", "PYTHONHOME",
                            "VIRTUAL_ENV", "NETDATA_INTERNALS_MONITORING")}
        env.update(NETDATA_USER_CONFIG_DIR=str(etc), NETDATA_STOCK_CONFIG_DIR=STOCK_CONFIG_DIR,
                   NETDATA_LIB_DIR=str(lib), NETDATA_LOCK_DIR=str(lib / "lock"), PYTHONUNBUFFERED="1")
        if kind == "upstream":
            env["PYTHONPATH"] = str(upstream_site)
        else:
            plugins = self.dir / "plugins" / "python.d"
            plugins.mkdir(parents=True, exist_ok=True)
            link = plugins / "anomalies.chart.py"
            if not link.exists():
                link.symlink_to(OUR_MODULE)
            env["NETDATA_USER_PLUGINS_DIRS"] = str(self.dir / "plugins")
            env["NETDATA_ANOMALIES_VENV"] = str(OUR_VENV)
            if repo_on_path:  # see module_can_import_package()
                env["PYTHONPATH"] = str(REPO)
        self.env = env
        self.proc: Optional[subprocess.Popen] = None
        self.out: List[tuple] = []   # (monotonic, line) of stdout
        self.err: List[tuple] = []   # (monotonic, line) of stderr
        self.hwm_kib = 0            # VmHWM of the plugin process itself
        self.rss_kib = 0
        self.tree_kib = 0           # largest sampled sum of VmRSS over the plugin and its descendants
        self.child_hwm_kib: Dict[int, int] = {}  # VmHWM of each descendant, as last seen
        self.wait4_kib = 0          # ru_maxrss from wait4(): largest single process of the reaped tree
        self.started = 0.0
        self.exited_early: Optional[int] = None
        self.load1: Optional[float] = None
        self.revision: Optional[str] = None

    def start(self) -> None:
        cmd = [SYSTEM_PYTHON, PLUGIN, "anomalies", "debug", "trace", "nolock"]
        (self.dir / "cmd").write_text(" ".join(cmd) + "\n" + json.dumps(
            {k: v for k, v in self.env.items() if k.startswith(("NETDATA", "PYTHON"))}, indent=1) + "\n")
        self.revision = repo_revision() if self.kind == "ours" else None
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=self.dir, start_new_session=True)
        for stream, sink, name in ((self.proc.stdout, self.out, "stdout"), (self.proc.stderr, self.err, "stderr")):
            threading.Thread(target=self._reader, args=(stream, sink, self.dir / name), daemon=True).start()

    @staticmethod
    def _reader(stream, sink: list, path: Path) -> None:
        with open(path, "wb") as copy:
            for raw in iter(stream.readline, b""):
                sink.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))
                copy.write(raw)

    def sample(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            if self.exited_early is None:
                self.exited_early = self.proc.returncode
            return
        status = proc_status(self.proc.pid)
        self.hwm_kib = max(self.hwm_kib, status.get("VmHWM", 0))
        self.rss_kib = status.get("VmRSS", self.rss_kib)
        tree = self.rss_kib
        for child in descendants(self.proc.pid):
            child_status = proc_status(child)
            tree += child_status.get("VmRSS", 0)
            if "VmHWM" in child_status:
                self.child_hwm_kib[child] = max(self.child_hwm_kib.get(child, 0), child_status["VmHWM"])
        self.tree_kib = max(self.tree_kib, tree)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.sample()  # last VmHWM before it exits
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self._reap(10) or self._kill_and_reap()
        time.sleep(0.3)  # let the reader threads drain

    def _reap(self, timeout: float) -> bool:
        """wait4() the plugin (not Popen.wait) to get its ru_maxrss, which covers its reaped children too."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            except ChildProcessError:
                return True
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                self.wait4_kib = usage.ru_maxrss
                return True
            time.sleep(0.05)
        return False

    def _kill_and_reap(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._reap(5)

    # ---- results -------------------------------------------------------------------------------
    def cycles(self) -> List[tuple]:
        """(monotonic time, run_time ms) of each netdata.runtime_* update, in order."""
        out = list(self.out)
        return [(out[index][0], ms) for index, _, ms in run_times([line for _, line in out])]

    def import_seconds(self) -> Optional[float]:
        """Ours: the model-import time its training log line states separately, if it does."""
        for _, line in list(self.err):
            if OUR_TRAINED.search(line):
                match = OUR_IMPORT.search(line)
                return float(match.group(1)) if match else None
        return None

    def trained(self) -> Optional[tuple]:
        """(monotonic time, n models or None, seconds) of the first training report in the log."""
        pattern = UPSTREAM_TRAINED if self.kind == "upstream" else OUR_TRAINED
        for when, line in list(self.err):
            match = pattern.search(line)
            if match:
                if self.kind == "upstream":
                    return when, None, float(match.group(1))
                return when, int(match.group(1)), float(match.group(2))
        return None

    def output_dims(self) -> int:
        """DIMENSION lines the plugin declared on its anomalies charts (not the netdata.* runtime chart)."""
        dims, in_chart = set(), None
        for _, line in list(self.out):
            if line.startswith("CHART "):
                chart = line.split()[1]
                in_chart = None if chart.startswith("netdata.") else chart
            elif line.startswith("DIMENSION ") and in_chart:
                dims.add((in_chart, line.split()[1]))
        return len(dims)

    def failed_updates(self) -> int:
        return sum(1 for _, line in list(self.err) if "update => [FAILED]" in line)

    def problems(self, limit: int = 10) -> List[str]:
        """ERROR/WARNING/Traceback lines of the log, timestamps dropped, quoted names folded, with counts."""
        counts: Dict[str, int] = {}
        examples: Dict[str, str] = {}
        for _, line in list(self.err):
            if not any(tag in line for tag in (" ERROR:", " WARNING:", "CRITICAL", "Traceback", "Error", "Exception",
                                               "Warning:")):
                continue
            text = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\s*", "", line).strip()
            if "jobs-statuses.json" in text:
                continue
            key = re.sub(r"'[^']*'", "'…'", text)
            counts[key] = counts.get(key, 0) + 1
            examples.setdefault(key, text)
        out = []
        for key, n in counts.items():
            out.append(f"{n}x {examples[key]}" + (" (and similar)" if n > 1 and key != examples[key] else ""))
        return out[:limit]

    def summary(self) -> dict:
        cycles = self.cycles()
        trained = self.trained()
        skip = self.args.train_no_prediction_n
        if self.kind == "upstream":
            # training blocks the first cycle; the next train_no_prediction_n cycles only repeat it
            train_s = cycles[0][1] / 1000.0 if cycles else None
            ready_s = cycles[0][0] - self.started if cycles else None
            steady = [ms for _, ms in cycles[1 + skip:]]
            n_models = None
        else:
            train_s = trained[2] if trained else None
            ready_s = trained[0] - self.started if trained else None
            n_models = trained[1] if trained else None
            if trained:
                after = [ms for when, ms in cycles if when > trained[0]]
                steady = after[skip:]
            else:
                steady = []
        return dict(
            label=self.label, kind=self.kind, model=self.model, cycles=len(cycles), steady=len(steady),
            median=statistics.median(steady) if steady else None, p90=percentile(steady, 0.9),
            train_s=train_s, log_train_s=trained[2] if trained else None, n_models=n_models,
            hwm_mib=self.hwm_kib / 1024.0 if self.hwm_kib else None, out_dims=self.output_dims(),
            tree_mib=max(self.hwm_kib, self.tree_kib, self.wait4_kib, *self.child_hwm_kib.values()) / 1024.0
            if self.hwm_kib else None,
            child_mib=max(self.child_hwm_kib.values()) / 1024.0 if self.child_hwm_kib else None,
            import_s=self.import_seconds() if self.kind == "ours" else None, ready_s=ready_s,
            revision=self.revision,
            failed=self.failed_updates(), exited=self.exited_early, problems=self.problems(), load1=self.load1,
        )


def run_together(runs: List[PluginRun], seconds: float) -> None:
    for run in runs:
        run.start()
        log(f"started {run.label} (pid {run.proc.pid}, dir {run.dir})")
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            for run in runs:
                run.sample()
            if all(run.exited_early is not None for run in runs):
                break
            time.sleep(0.1)
    finally:
        load = os.getloadavg()[0]
        for run in runs:
            run.load1 = load
            run.stop()
            if run.exited_early is not None:
                log(f"{run.label} exited early with {run.exited_early}; see {run.dir}/stderr")


def wait_for_history(agent, seconds: int) -> None:
    """Block until system.cpu has `seconds` rows that hold values.

    (The agent pads /api/v1/data with all-null rows for times before it started, so counting rows alone is not enough.)
    """
    deadline = time.monotonic() + seconds + 60
    while time.monotonic() < deadline:
        data = agent.api(f"/api/v1/data?chart=system.cpu&after=-{seconds + 5}&points=0&format=json")
        filled = sum(1 for row in data.get("data", []) if any(v is not None for v in row[1:]))
        if filled >= seconds:
            return
        time.sleep(2)
    raise TimeoutError(f"no {seconds}s of history on {agent.host}")


def scope(charts: dict, regex: str, exclude: str) -> tuple:
    pattern = re.compile(regex)
    excluded = set(c for c in exclude.split(",") if c)
    chosen = [c for c in charts if pattern.match(c) and c not in excluded]
    return len(chosen), sum(len(charts[c].get("dimensions", {})) for c in chosen)


def fmt(value, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def ratio(a, b) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=180, help="length of the side-by-side run (default 180)")
    parser.add_argument("--all-charts", action="store_true", help="also run ours with charts_regex '.*'")
    parser.add_argument("--all-charts-seconds", type=int, default=None, help="default: --seconds")
    parser.add_argument("--models", default=ALL_MODELS, help=f"per-model runs of ours (default {ALL_MODELS}; '' skips)")
    parser.add_argument("--model-seconds", type=int, default=90, help="length of each per-model run (default 90)")
    parser.add_argument("--train-n-secs", type=int, default=300, help="train_n_secs of every job (default 300)")
    parser.add_argument("--train-every-n", type=int, default=1800, help="train_every_n of every job (default 1800)")
    parser.add_argument("--train-no-prediction-n", type=int, default=10, help="train_no_prediction_n (default 10)")
    parser.add_argument("--no-upstream", action="store_true", help="skip the upstream run (ours only)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (agent, configs, logs)")
    parser.add_argument("--out-dir", default=str(BENCH / "out"))
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    for path in (PLUGIN, SYSTEM_PYTHON, UPSTREAM_MODULE, OUR_MODULE):
        if not Path(path).exists():
            print(f"missing {path}", file=sys.stderr)
            return 2
    upstream_site = None if args.no_upstream else ensure_upstream_venv()
    ensure_our_venv()
    repo_on_path = False
    if not module_can_import_package():
        repo_on_path = True
        log("collectors/anomalies.chart.py cannot import `anomalies` from NETDATA_ANOMALIES_VENV by itself: "
            "putting the repo on PYTHONPATH for our runs")

    agent_mod = load_agent_module()
    workdir = Path(tempfile.mkdtemp(prefix="anomalies-cycle-"))
    agent = agent_mod.NetdataAgent(workdir / "agent", history=max(3600, args.train_n_secs * 2))
    started_at = dt.datetime.now()
    rows: List[dict] = []
    model_rows: List[dict] = []
    all_row = None
    try:
        agent.start()
        log(f"private agent on {agent.host} ({workdir}); waiting for {args.train_n_secs}s of history")
        wait_for_history(agent, args.train_n_secs)
        charts = agent.charts()
        sys_scope = scope(charts, SYSTEM_REGEX, SYSTEM_EXCLUDE)
        all_scope = scope(charts, ".*", "")

        # 1. side by side
        main_runs = []
        if not args.no_upstream:
            main_runs.append(PluginRun("upstream", "upstream", workdir, agent.host, SYSTEM_REGEX, SYSTEM_EXCLUDE,
                                       "pca", args, upstream_site))
        main_runs.append(PluginRun("ours", "ours", workdir, agent.host, SYSTEM_REGEX, SYSTEM_EXCLUDE, None, args,
                                   repo_on_path=repo_on_path))
        log(f"side-by-side run for {args.seconds}s")
        run_together(main_runs, args.seconds)
        rows = [dict(run.summary(), scope=sys_scope) for run in main_runs]

        # 2. all charts, ours alone
        if args.all_charts:
            charts = agent.charts()
            all_scope = scope(charts, ".*", "")
            run = PluginRun("ours all charts", "ours", workdir, agent.host, ".*", "", None, args,
                            repo_on_path=repo_on_path)
            log(f"all-charts run for {args.all_charts_seconds or args.seconds}s")
            run_together([run], args.all_charts_seconds or args.seconds)
            all_row = dict(run.summary(), scope=all_scope)

        # 3. per model, ours alone
        for model in models:
            run = PluginRun(f"ours {model}", "ours", workdir, agent.host, SYSTEM_REGEX, SYSTEM_EXCLUDE, model, args,
                            repo_on_path=repo_on_path)
            log(f"model {model} for {args.model_seconds}s")
            run_together([run], args.model_seconds)
            model_rows.append(dict(run.summary(), scope=sys_scope))
    finally:
        agent.stop()

    report = render(args, rows, all_row, model_rows, started_at, upstream_site, repo_on_path)
    print(report)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_file = out_dir / f"cycle-{started_at:%Y%m%d-%H%M%S}.md"
    out_file.write_text(report)
    log(f"wrote {out_file}")
    if args.keep:
        log(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def render(args, rows, all_row, model_rows, started_at, upstream_site, repo_on_path=False) -> str:
    up = next((r for r in rows if r["kind"] == "upstream"), None)
    ours = next((r for r in rows if r["kind"] == "ours"), None)
    lines = [f"# anomalies collector cycle benchmark, {started_at:%Y-%m-%d %H:%M}", ""]
    lines.append(f"Private agent, python.d.plugin ({SYSTEM_PYTHON}), update_every 1, train_n_secs {args.train_n_secs}, "
                 f"train_every_n {args.train_every_n}, train_no_prediction_n {args.train_no_prediction_n}, "
                 f"smooth_n 3, diffs_n 1; upstream pca on lags_n 5, ours its default model and features; "
                 f"{os.cpu_count()} CPUs. Upstream and ours ran side by side for "
                 f"{args.seconds}s on `{SYSTEM_REGEX}` minus `{SYSTEM_EXCLUDE}`.")
    if upstream_site:
        lines.append(f"- upstream: {UPSTREAM_MODULE} with {versions(str(UPSTREAM_VENV / 'bin' / 'python'))}")
    revisions = list(dict.fromkeys(r["revision"] for r in rows + ([all_row] if all_row else []) + model_rows
                                   if r.get("revision")))
    lines.append(f"- ours: {OUR_MODULE.relative_to(REPO)} at {', '.join(revisions) or repo_revision()} with "
                 f"{versions(str(OUR_VENV / 'bin' / 'python'))}")
    if len(revisions) > 1:
        lines.append("- NOTE: the repo changed during the benchmark: each run used the revision it started with "
                     "(see the per-run revisions in the logs); compare rows with care.")
    if repo_on_path:
        lines.append("- NOTE: the module could not import `anomalies` from NETDATA_ANOMALIES_VENV by itself; "
                     "the bench put the repo on PYTHONPATH for our runs.")
    lines.append("")
    header = ("| run | model | charts / dims in scope | models trained | cycles (steady) | median ms | p90 ms "
              "| training s | models ready s after start | peak RSS MiB, plugin | peak RSS MiB, incl. training child "
              "| failed updates |")
    lines += [header, "|" + "---|" * (header.count("|") - 1)]

    def train_cell(r: dict) -> str:
        extra = f" (+{fmt(r['import_s'], 2)} import)" if r.get("import_s") is not None else ""
        return fmt(r["train_s"], 2) + extra

    def row(r: dict) -> str:
        charts, dims = r["scope"]
        return (f"| {r['label']} | {r['model']} | {charts} / {dims} | {fmt(r['n_models'])} | "
                f"{r['cycles']} ({r['steady']}) | {fmt(r['median'])} | {fmt(r['p90'])} | {train_cell(r)} | "
                f"{fmt(r['ready_s'], 2)} | {fmt(r['hwm_mib'])} | {fmt(r['tree_mib'])} | {r['failed']} |")

    for r in rows:
        lines.append(row(r))
    if up and ours:
        lines.append(f"| **ours / upstream** | | | | | {fmt(ratio(ours['median'], up['median']), 3)} | "
                     f"{fmt(ratio(ours['p90'], up['p90']), 3)} | {fmt(ratio(ours['train_s'], up['train_s']), 3)} | "
                     f"{fmt(ratio(ours['ready_s'], up['ready_s']), 3)} | {fmt(ratio(ours['hwm_mib'], up['hwm_mib']), 3)} | {fmt(ratio(ours['tree_mib'], up['tree_mib']), 3)} | |")
    if all_row:
        lines.append(row(all_row))
    lines.append("")
    lines.append("Median/p90: `SET run_time` of netdata.runtime_anomalies (integer ms, as python.d prints it) over "
                 f"steady-state cycles (after training and the {args.train_no_prediction_n} cycles after it, during "
                 "which upstream only repeats its last values). Training: ours = first `trained <n> models in <s>s` "
                 "log line (the import time of the model it states separately is in brackets, not in the ratio); "
                 "upstream = run_time of its first cycle, which its training blocks (imports happen at module load, "
                 "before it"
                 + (f"; its own log says {fmt(up['log_train_s'], 2)} s" if up and up.get("log_train_s") else "")
                 + "). Models ready: seconds from starting the plugin process to ours' `trained` log line / the end "
                 "of upstream's first cycle (includes interpreter start, imports, check(), and for ours the training "
                 "child's start and imports). Peak RSS, plugin: VmHWM of the python.d.plugin process, sampled every 0.1 s until just before "
                 "it was stopped. Incl. training child: the larger of the sampled sum of VmRSS over the plugin and "
                 "its descendants and any one process's VmHWM (ours trains in a child process).")
    if model_rows:
        lines += ["", f"## Ours per model (alone, {args.model_seconds}s each, `{SYSTEM_REGEX}`)", "",
                  "| model | models trained | cycles (steady) | median ms | p90 ms | training s | peak RSS MiB, plugin "
                  "| peak RSS MiB, incl. training child | failed updates |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in model_rows:
            lines.append(f"| {r['model']} | {fmt(r['n_models'])} | {r['cycles']} ({r['steady']}) | {fmt(r['median'])} | "
                         f"{fmt(r['p90'])} | {train_cell(r)} | {fmt(r['hwm_mib'])} | {fmt(r['tree_mib'])} | "
                         f"{r['failed']} |")

    loads = [(r["label"], r["load1"]) for r in rows + ([all_row] if all_row else []) + model_rows]
    lines += ["", f"1-minute load average at the end of each run ({os.cpu_count()} CPUs; the plugins and the agent "
              "mostly sleep and add little, so a high figure means other work competed with the runs): " + ", ".join(f"{label} {fmt(load, 2)}" for label, load in loads)]

    # verdict
    checks = []
    if up and ours:
        rm, rt = ratio(ours["median"], up["median"]), ratio(ours["train_s"], up["train_s"])
        rr, rtree = ratio(ours["hwm_mib"], up["hwm_mib"]), ratio(ours["tree_mib"], up["tree_mib"])
        checks.append(("median <= 1/8 upstream", rm is not None and rm <= 1 / 8, fmt(rm, 3)))
        checks.append(("training <= 1/2 upstream", rt is not None and rt <= 0.5, fmt(rt, 3)))
        checks.append(("RSS <= upstream (plugin)", rr is not None and rr <= 1.0, fmt(rr, 3)))
        checks.append(("RSS <= upstream (incl. training child)", rtree is not None and rtree <= 1.0, fmt(rtree, 3)))
    if all_row:
        checks.append(("all-charts median < 15 ms", all_row["median"] is not None and all_row["median"] < 15,
                       fmt(all_row["median"], 1, " ms")))
    else:
        checks.append(("all-charts median < 15 ms", None, "not run (--all-charts)"))
    verdict = "PASS" if all(ok for _, ok, _ in checks) else "FAIL"
    parts = [f"{name}: {'ok' if ok else ('n/a' if ok is None else 'NO')} ({value})" for name, ok, value in checks]
    lines += ["", f"**Verdict: {verdict}** — " + "; ".join(parts)]

    # problems seen in the logs
    notes = []
    for r in rows + ([all_row] if all_row else []) + model_rows:
        if r["exited"] is not None:
            notes.append(f"- {r['label']}: plugin exited early with code {r['exited']}")
        if r["kind"] == "ours" and r["problems"]:
            notes.append(f"- {r['label']} log:")
            notes += [f"  - `{p[:400]}`" for p in r["problems"]]
        if r["out_dims"] == 0:
            notes.append(f"- {r['label']}: declared no anomaly chart dimensions on stdout")
    if notes:
        lines += ["", "## Log problems", ""] + notes
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
