# SPDX-License-Identifier: GPL-3.0-or-later
"""Fault injection through the real python.d.plugin, for both modules: what the user sees (a log line, a
gap in a chart) is asserted for each fault, and the job serves every model again after each.

The faults a real agent cannot be made to produce on cue (NaN/Inf/constant dimensions, garbage and slow
answers, a chart that vanishes and comes back) come from a fake API the test scripts second by second; the
agent stopped for a minute is a real private agent."""
import re
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from agent import NetdataAgent
from fake_netdata import FakeNetdata, wave
from plugin import run_plugin

pytestmark = pytest.mark.integration

JOBS = {
    "anomalies": "  train_n_secs: 300\n  train_every_n: 0\n  train_no_prediction_n: 0\n",
    "anomalies_online": "  warm_start_secs: 600\n  warmup_n: 200\n  window_n: 600\n",
}


def job_config(module, host, extra=""):
    return (f"faults:\n  name: 'faults'\n  host: '{host}'\n  charts_regex: 'system\\..*'\n  save_state: no\n"
            f"{JOBS[module]}{extra}")


Cycle = Dict[str, Dict[str, int]]


def cycles(stdout: str, job: str) -> List[Cycle]:
    """Per update cycle of `job` (python.d ends each with its runtime chart): {chart: {dimension: value}}
    of the charts it updated; a cycle without data updates none."""
    per_cycle = re.split(rf"^BEGIN netdata\.runtime_{re.escape(job)} \d+\nSET run_time = \d+\nEND$", stdout,
                         flags=re.M)[:-1]
    result = []
    for text in per_cycle:
        charts = {}
        for match in re.finditer(r"^BEGIN (\S+) \d+\n((?:SET .*\n)*)END", text, re.M):
            values = re.findall(r"^SET '?([^'=\s]+)'? = (-?\d+)", match.group(2), re.M)
            charts[match.group(1)] = {dim: int(value) for dim, value in values}
        result.append(charts)
    return result


def gaps(series: List[Optional[dict]]) -> List[Tuple[int, int]]:
    """(first cycle, length) of every run of cycles without an update, after the first update."""
    runs, start = [], None
    first = next(i for i, values in enumerate(series) if values)
    for i in range(first, len(series)):
        if not series[i] and start is None:
            start = i
        elif series[i] and start is not None:
            runs.append((start, i - start))
            start = None
    return runs


class Script:
    """The faults of the test, each applied once at its second of the plugin run (a `during` callback)."""

    def __init__(self, fake: FakeNetdata):
        self.fake = fake
        self.charts = fake.charts
        self.io = dict(self.charts["system.io"])
        self.steps = [
            (12, self.load_nan), (14, self.load_inf), (16, self.load_none), (18, self.load_back),
            (20, self.io_constant), (28, self.io_back),
            (30, self.garbage_on), (35, self.garbage_off),  # + 9 cycles to fill the feature window again
            (48, self.slow_on), (56, self.slow_off),
            (72, self.io_gone), (80, self.io_returns),
        ]
        self.done = set()

    def __call__(self, elapsed: float) -> None:
        for second, step in self.steps:
            if elapsed >= second and step not in self.done:
                self.done.add(step)
                step()

    def load_nan(self):
        self.charts["system.load"]["load1"] = lambda t: float("nan")

    def load_inf(self):
        self.charts["system.load"]["load1"] = lambda t: float("inf")

    def load_none(self):
        self.charts["system.load"]["load1"] = lambda t: None

    def load_back(self):
        self.charts["system.load"]["load1"] = wave(90, 0.5, 1)

    def io_constant(self):
        self.charts["system.io"]["in"] = lambda t: 5.0

    def io_back(self):
        self.charts["system.io"]["in"] = self.io["in"]

    def garbage_on(self):
        self.fake.garbage = True

    def garbage_off(self):
        self.fake.garbage = False

    def slow_on(self):
        self.fake.delay_s = 6.0  # beyond the 5 s timeout of every request

    def slow_off(self):
        self.fake.delay_s = 0.0

    def io_gone(self):
        del self.charts["system.io"]

    def io_returns(self):
        self.charts["system.io"] = dict(self.io)


def side_by_side(root, configs: Dict[str, str], seconds: float, during) -> Dict[str, object]:
    """Both modules' plugins at once (each with its job config), `during` driven by the first; their
    outputs by module."""
    outputs = {}

    def run(module, callback=None):
        outputs[module] = run_plugin(root / module, module, configs[module], seconds=seconds, during=callback)

    modules = list(configs)
    others = [threading.Thread(target=run, args=(module,)) for module in modules[1:]]
    for thread in others:
        thread.start()
    try:
        run(modules[0], during)
    finally:
        for thread in others:
            thread.join()
    return outputs


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory):
    charts = {"system.cpu": {"user": wave(60), "system": wave(45, 2)},
              "system.load": {"load1": wave(90, 0.5, 1)},
              "system.io": {"in": wave(30, 3), "out": wave(20, 2)}}
    with FakeNetdata(charts) as fake:
        fake.clock = time.time  # collections at whole seconds, as an agent's: the plugin reads at its own
        return side_by_side(tmp_path_factory.mktemp("faults"),
                            {module: job_config(module, fake.host) for module in JOBS}, 100, Script(fake))


@pytest.mark.parametrize("module", list(JOBS))
def test_each_fault_is_visible_and_the_job_recovers_from_all(module, fault_runs):
    run = fault_runs[module]
    job = f"{module}_faults"
    assert "Traceback" not in run.stderr and run.non_protocol_lines() == []
    info, warnings = "\n".join(run.log_lines("faults", "INFO")), "\n".join(run.log_lines("faults", "WARNING"))
    updates = [cycle.get(f"{job}.probability") for cycle in cycles(run.stdout, job)]

    # NaN, Inf, then no value in system.load: its model pauses (one line each way), the others go on
    assert info.count("model 'system.load': some of its dimensions have no finite value; paused") == 1
    assert "model 'system.load': all its dimensions have values again; resumed" in info
    without_load = [values for values in updates if values and "system.load_prob" not in values]
    assert len(without_load) >= 6 and all("system.cpu_prob" in values for values in without_load)

    # a constant dimension is just data: its model keeps giving values in range
    io_values = [values["system.io_prob"] for values in updates if values and "system.io_prob" in values]
    assert len(io_values) >= 30 and all(0 <= v <= 20000 for v in io_values)  # anomaly levels, x100

    # garbage and slow answers: one warning each time the agent stops answering, a gap, then it is back
    assert warnings.count("cannot read latest values from") == 2, warnings
    assert "its answer is not JSON" in warnings and re.search(r"timed out", warnings)
    assert info.count("answers again") == 2
    assert len([length for _, length in gaps(updates) if length >= 5]) >= 2  # gaps in the charts
    # After a gap the features start afresh instead of differencing across it, so the gap itself is not an
    # anomaly: system.cpu, a wave without faults of its own, is never flagged.
    cpu_flags = [flags.get("system.cpu_anomaly", 0) for flags in
                 (cycle.get(f"{job}.anomaly") for cycle in cycles(run.stdout, job)) if flags]
    assert len(cpu_flags) >= 50 and sum(cpu_flags) == 0, cpu_flags

    # a chart that vanishes pauses its model; when it is back, so is the model
    assert "model 'system.io': some of its dimensions have no finite value; paused" in info
    assert "model 'system.io': all its dimensions have values again; resumed" in info
    last = [values for values in updates if values][-1]
    assert {"system.cpu_prob", "system.load_prob", "system.io_prob"} <= set(last)


def agent_log_tail(node: NetdataAgent, lines: int = 30) -> List[str]:
    """The end of a test agent's error log (across its restarts)."""
    try:
        return (node.root / "log" / "error.log").read_text(errors="replace").splitlines()[-lines:]
    except OSError as error:
        return [repr(error)]


def agent_down_for_a_minute(root: Path) -> Tuple[Dict[str, object], NetdataAgent, str]:
    """Both modules' plugins for 150 s against a real agent that is stopped at 25 s and started again 60 s
    later: (their outputs, the agent, why the restarted agent died by itself if it did)."""
    node = NetdataAgent(root / "agent").start()
    node.wait_for_history(60)
    events: Dict[str, float] = {}

    def stop_then_start(elapsed):
        if elapsed > 25 and "stopped" not in events:
            node.stop()
            events["stopped"] = elapsed
        elif "stopped" in events and "started" not in events and elapsed - events["stopped"] >= 60:
            node.start()
            events["started"] = elapsed

    configs = {
        "anomalies": "down:\n  name: 'down'\n  host: '{host}'\n  charts_regex: 'system\\.(cpu|ram|load)'\n"
                     "  train_n_secs: 60\n  train_every_n: 0\n  train_no_prediction_n: 0\n  save_state: no\n",
        "anomalies_online": "down:\n  name: 'down'\n  host: '{host}'\n  charts_regex: 'system\\.(cpu|ram|load)'\n"
                            "  warm_start_secs: 60\n  warmup_n: 30\n  save_state: no\n",
    }
    try:
        runs = side_by_side(root, {module: config.format(host=node.host) for module, config in configs.items()},
                            150, stop_then_start)
        assert "started" in events
        return runs, node, node.death_notice()
    finally:
        node.stop()


def test_agent_down_for_a_minute_then_back_without_a_flood_of_flags(tmp_path):
    """Both modules against a real agent that is stopped for 60 s: each says so once, leaves a gap, and serves
    again after the restart without a plugin restart.

    Netdata 1.37.1 itself sometimes dies soon after such a restart ("malloc(): unaligned tcache chunk
    detected" in its log, seen locally and in CI); then both jobs rightly say a second time that it is down.
    Such a run tests the agent, not the jobs: it is run again, up to three runs in all (CI once saw two crashes
    in a row; 16 local restarts, 8 of them polled as the jobs poll, saw none), and a third crash fails the test."""
    for attempt in range(3):
        runs, node, agent_died = agent_down_for_a_minute(tmp_path / f"attempt{attempt}")
        if not agent_died:
            break
        print(f"attempt {attempt}: the restarted agent died by itself: {agent_died}")
    assert not agent_died, agent_died
    for module, output in runs.items():
        job = f"{module}_down"
        assert "Traceback" not in output.stderr and output.non_protocol_lines() == []
        warnings = "\n".join(output.log_lines("down", "WARNING"))
        why = (module, output.log_lines("down"), agent_log_tail(node))  # what a failure needs to be read
        assert warnings.count("cannot read latest values from") == 1, why
        assert len(output.log_lines("down", "answers again")) == 1, why
        per_cycle = cycles(output.stdout, job)
        probability = [cycle.get(f"{job}.probability") for cycle in per_cycle]
        start, length = max(gaps(probability), key=lambda gap: gap[1])
        assert length >= 50, (module, gaps(probability))  # the minute without data
        resumed = probability[start + length:]
        assert len(resumed) >= 15 and "system.cpu_prob" in resumed[-1], module
        # No assertion on flags here: after a real restart the agent's own start (a burst of CPU, its memory at
        # a new level) is real data a model trained on one minute may flag, more so on a busy machine. That a
        # gap by itself flags nothing is asserted on the fake agent's gaps above.
