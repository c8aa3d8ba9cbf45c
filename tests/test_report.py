# SPDX-License-Identifier: GPL-3.0-or-later
"""`netdata-anomalies report` (anomalies/report.py, lookback.py, report_html.py) against a stand-in agent whose
values the test sets: what it ranks, what it prints where, and how it refuses bad input."""
from __future__ import annotations

import io
import math
import re
import time
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

from anomalies.config import parse_config
from anomalies.lookback import LookBackError, look_back
from anomalies.report import main, parse_time
from anomalies.report_html import render
from fake_netdata import FakeNetdata, wave

NOW = int(time.time())
FAULT_START = NOW - 200  # the disk chart's write rate jumps for 60 s inside the window of interest


def disk_writes(t):
    return 80 + 8 * math.sin(t / 9) + (900 if FAULT_START <= t < FAULT_START + 60 else 0)


def charts():
    return {
        "system.cpu": {"user": wave(40, 3, 20), "system": wave(33, 1, 5)},
        "system.disk": {"reads": wave(50, 10, 100),
                        "writes": disk_writes},
        "system.net": {"received": wave(25, 2, 40)},
    }


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["report", *args])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def fake():
    with FakeNetdata(charts()) as server:
        yield server


def test_the_chart_with_the_fault_ranks_first_with_its_driving_dimension(fake):
    config = parse_config({"host": fake.host, "save_state": False})
    result = look_back(config, NOW - 400, NOW, NOW - 2200, NOW - 400)
    ranked = result.ranked_models()
    assert ranked[0].name == "system.disk"
    assert 0.1 < ranked[0].anomaly_rate < 0.3  # the 60 s of the fault (and a few seconds of its edges) of 400
    assert all(m.anomaly_rate < 0.05 for m in ranked[1:])
    disk = ranked[0]
    writes = [i for i, j in enumerate(disk.column_index) if result.columns[j].dim == "writes"][0]
    assert disk.driven[writes] > 0.9
    stretch = disk.stretches()[0]
    assert abs(result.window.timestamps[stretch[0]] - FAULT_START) <= 10
    dims = result.ranked_dimensions()
    assert result.columns[dims[0]].dim == "writes"
    # the jump up and back down are change points of writes, and only writes changes
    changed = {(result.columns[c.column].dim, c.kind) for c in result.changes}
    assert changed == {("writes", "level")}
    rows = sorted(c.row for c in result.changes)
    near = [abs(result.window.timestamps[r] - t) <= 5 for r, t in zip(rows, (FAULT_START, FAULT_START + 60))]
    assert near == [True, True]


def test_the_command_prints_the_ranking_on_stdout_and_writes_one_self_contained_html(fake, tmp_path):
    out = tmp_path / "report.html"
    status, stdout, stderr = run("--host", fake.host, "--after", str(NOW - 400), "--before", str(NOW),
                                 "--train-after", str(NOW - 2200), "--out", str(out))
    assert status == 0, stderr
    lines = stdout.splitlines()
    assert re.match(r"\s+1\s+1\d\.\d%\s+100\s+2\s+system\.disk: writes \d+%", lines[2]), stdout
    assert len(lines) == 2 + 3  # a header of two lines, one line per model
    assert "reading the reference window" in stderr and f"wrote {out}" in stderr
    page = out.read_text()
    assert page.count("<svg") == 3 and "<script" not in page and "http" not in page.replace(
        "http://www.w3.org/2000/svg", "")
    assert page.count("class='flagged'") >= 1 and page.count("class='change'") == 2
    assert "system.disk" in page.split("<h2")[1]  # the first plot is the first chart of the ranking


def test_the_reference_window_defaults_to_the_four_hours_before_the_window(fake, tmp_path, monkeypatch):
    seen = {}

    def fake_look_back(config, after, before, train_after, train_before, progress):
        seen.update(after=after, before=before, train_after=train_after, train_before=train_before)
        raise LookBackError("stop here")

    monkeypatch.setattr("anomalies.report.look_back", fake_look_back)
    status, _, stderr = run("--host", fake.host, "--after", "-600")
    assert status == 2 and "stop here" in stderr
    assert seen["before"] - seen["after"] == 600 and abs(seen["before"] - time.time()) < 5
    assert seen["train_before"] == seen["after"] and seen["after"] - seen["train_after"] == 4 * 3600


@pytest.mark.parametrize("args, message", [
    (["--charts", r"nothing\..*"], r"no chart of '.*' matches 'nothing\\\.\.\*'"),
    (["--charts", "system.(cpu"], r"charts_regex: invalid value"),
    (["--model", "nosuch"], r"model: invalid value"),
    (["--after", "yesterday"], r"'yesterday' is not a timestamp"),
    (["--after", "-60", "--before", "-120"], r"the window of interest is empty"),
    (["--host", "127.0.0.1:1"], r"cannot list the charts of '127.0.0.1:1': Connection refused"),
])
def test_bad_input_gets_one_clear_line_and_status_2(fake, args, message):
    if "--host" not in args:
        args = ["--host", fake.host, *args]
    status, stdout, stderr = run(*args, "--out", "/nonexistent/never-written.html")
    assert status == 2 and stdout == ""
    assert len(stderr.strip().splitlines()) == 1 and re.search(message, stderr), stderr


def test_a_window_without_data_is_refused(fake, monkeypatch):
    def empty_after(self, host, charts, after, before, log, keep_time=False):
        import pandas as pd
        return pd.DataFrame(columns=[f"{c}|x" for c in charts])

    monkeypatch.setattr("anomalies.netdata_source.NetdataSource.training_window", empty_after)
    status, _, stderr = run("--host", fake.host)
    assert status == 2 and "the reference window" in stderr and "holds no data" in stderr


def test_times_follow_netdatas_conventions():
    assert parse_time("-3600", 10_000) == 6400
    assert parse_time("0", 10_000) == 10_000
    assert parse_time("1796000000", 10_000) == 1796000000
    assert parse_time("2026-12-02 10:00", 0) == int(time.mktime((2026, 12, 2, 10, 0, 0, 0, 0, -1)))


def test_render_survives_a_flat_chart_and_no_flags(fake):
    config = parse_config({"host": fake.host, "charts_regex": r"system\.(cpu|net)", "save_state": False})
    result = look_back(config, NOW - 1000, NOW - 400, NOW - 2200, NOW - 1000)
    assert all(m.anomaly_rate == 0 for m in result.models)
    result.window.values[:, 0] = 5.0  # one dimension flat: the plot's scale must not divide by zero
    page = render(result)
    assert page.count("<svg") == 2 and "nan" not in page.lower().replace("n/a", "")
    assert np.isfinite(result.band_excess()).all()
