# SPDX-License-Identifier: GPL-3.0-or-later
"""State files of deleted jobs are removed once stale; those of running jobs, young ones and anything in a
debug run stay."""
import os
import sys
import time

from anomalies import stale_state
from test_job import RecordingLog


def write(directory, name, age_days):
    path = directory / f"{name}.state"
    path.write_bytes(b"x")
    then = time.time() - age_days * 86400
    os.utime(path, (then, then))
    return path


def test_only_old_files_of_jobs_this_plugin_does_not_run_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python.d.plugin", "1"])
    monkeypatch.setattr(stale_state, "_RUNNING", set())
    monkeypatch.setattr(stale_state, "_CHECKED", set())
    running_old = write(tmp_path, "anomalies_local", 30)
    deleted_old = write(tmp_path, "anomalies_gone", 8)
    deleted_young = write(tmp_path, "anomalies_online_paused", 1)
    key = tmp_path / "state.key"
    key.write_bytes(b"k" * 32)
    stale_state.register("anomalies_local")
    log = RecordingLog()
    stale_state.remove_stale(str(tmp_path), log)
    assert running_old.exists() and deleted_young.exists() and key.exists()
    assert not deleted_old.exists()
    assert len(log.lines) == 1 and "anomalies_gone" in log.lines[0][1] and "8 days" in log.lines[0][1]
    write(tmp_path, "anomalies_gone", 8)
    stale_state.remove_stale(str(tmp_path), log)  # once per plugin process
    assert (tmp_path / "anomalies_gone.state").exists()


def test_a_debug_run_removes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python.d.plugin", "anomalies", "debug", "trace", "nolock"])
    monkeypatch.setattr(stale_state, "_CHECKED", set())
    old = write(tmp_path, "anomalies_other", 30)
    stale_state.remove_stale(str(tmp_path), RecordingLog())
    assert old.exists()
