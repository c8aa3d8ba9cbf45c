# SPDX-License-Identifier: GPL-3.0-or-later
"""A Netdata parent: a child agent streams to a parent agent on loopback, and both modules, run against the
parent, model the child's charts (`host: <parent>/host/<child>`, custom models with `<...>::chart|dim`)
beside the parent's own, each host in its own job and charts."""
import uuid

import pytest

from agent import NetdataAgent
from plugin import run_plugin

pytestmark = pytest.mark.integration
HISTORY_SECS = 60


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    api_key = str(uuid.uuid4())
    root = tmp_path_factory.mktemp("streaming")
    parent = NetdataAgent(root / "parent", hostname="parent").accept_streams(api_key).start()
    child = NetdataAgent(root / "child", hostname="child1").stream_to(parent, api_key).start()
    try:
        parent.wait_for_history(HISTORY_SECS, host_path="/host/child1")
        yield parent
    finally:
        child.stop()
        parent.stop()


def jobs(parent: NetdataAgent, extra: str) -> str:
    child = f"{parent.host}/host/child1"
    common = "  charts_regex: 'system\\.(cpu|ram)'\n  save_state: no\n" + extra
    return (f"parent:\n  name: 'parent'\n  host: '{parent.host}'\n{common}"
            f"child1:\n  name: 'child1'\n  host: '{child}'\n{common}"
            f"  custom_models:\n    - name: 'cpu_parent_and_child'\n"
            f"      dimensions: 'system.cpu|user,{parent.host}::system.cpu|user,{child}::system.load|load1'\n")


@pytest.mark.parametrize("module, extra", [
    ("anomalies", f"  train_n_secs: {HISTORY_SECS}\n  train_no_prediction_n: 2\n"),
    ("anomalies_online", f"  warm_start_secs: {HISTORY_SECS}\n  warmup_n: 20\n")],
    ids=["anomalies", "anomalies_online"])
def test_the_collector_on_the_parent_models_each_host_in_its_own_charts(parent, tmp_path, module, extra):
    run = run_plugin(tmp_path, module, jobs(parent, extra), seconds=35)
    assert not parent.death_notice(), parent.death_notice()
    assert "Traceback" not in run.stderr and run.non_protocol_lines() == []
    assert not [line for line in run.log_lines("child1", "WARNING") if "cannot" in line], run.stderr[-3000:]
    for job in ("parent", "child1"):
        probability = run.values[f"{module}_{job}.probability"]
        for chart in ("system.cpu", "system.ram"):
            assert len(probability[f"{chart}_prob"]) >= 10, (job, chart, run.stderr[-3000:])
    # one model across both hosts, in the child's job
    assert len(run.values[f"{module}_child1.probability"]["cpu_parent_and_child_prob"]) >= 10
    assert run.charts[f"{module}_child1.probability"]["context"] == f"{module}.probability"
