# SPDX-License-Identifier: GPL-3.0-or-later
"""Saved models: written atomically and privately, read back only when this installation wrote them for
this version and this configuration; anything else is set aside with one log line."""
import os
from pathlib import Path
import stat

import numpy as np
import pytest

from anomalies import state_store
from anomalies.state_store import StateStore
from test_job import RecordingLog


def store_in(directory, name="anomalies_local"):
    log = RecordingLog()
    return StateStore(str(directory), name, log), log


def test_saved_payload_comes_back_and_only_the_agent_user_can_read_it(tmp_path):
    store, log = store_in(tmp_path / "state")
    payload = {"weights": np.arange(5.0), "names": ["system.cpu"]}
    assert store.save("fp", payload)
    loaded = store.load("fp")
    assert loaded.payload["names"] == ["system.cpu"] and np.array_equal(loaded.payload["weights"], np.arange(5.0))
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    for name in ("anomalies_local.state", "state.key"):
        assert stat.S_IMODE(os.stat(tmp_path / "state" / name).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path / "state")) == ["anomalies_local.state", "state.key"]  # no temp files
    assert log.lines == []


def test_no_file_is_a_silent_fresh_start(tmp_path):
    store, log = store_in(tmp_path)
    assert store.load("fp") is None and log.lines == []


def test_another_configuration_starts_fresh_and_keeps_the_file(tmp_path):
    store, log = store_in(tmp_path)
    store.save("fp-old", [1, 2, 3])
    assert store.load("fp-new") is None
    assert log.said("info", "another configuration")
    assert (tmp_path / "anomalies_local.state").exists()


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "not ours"])
def test_a_corrupt_or_foreign_file_is_set_aside_with_one_log_line(tmp_path, damage):
    store, log = store_in(tmp_path / "state")
    store.save("fp", {"a": 1})
    path = tmp_path / "state" / "anomalies_local.state"
    blob = bytearray(path.read_bytes())
    if damage == "flip a byte":
        blob[len(blob) // 2] ^= 0xFF
    elif damage == "truncate":
        blob = blob[:40]
    else:  # a well-formed file from another installation (another key)
        other, _ = store_in(tmp_path / "other")
        other.save("fp", {"a": 1})
        blob = Path(other.path).read_bytes()
    path.write_bytes(bytes(blob))
    assert store.load("fp") is None
    assert len(log.said("warning", "not using saved models")) == 1
    assert not path.exists() and (tmp_path / "state" / "anomalies_local.rejected").exists()
    assert store.save("fp", {"a": 2}) and store.load("fp").payload == {"a": 2}  # and it starts over


def test_another_version_is_outdated(tmp_path, monkeypatch):
    store, log = store_in(tmp_path)
    store.save("fp", {"a": 1})
    monkeypatch.setattr(state_store, "package_version", lambda: "99.0")
    assert store.load("fp") is None
    assert log.said("warning", "written by netdata-anomalies") and log.said("warning", "this is 99.0")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_correctly_signed_file_still_cannot_name_arbitrary_callables(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store, log = store_in(tmp_path / "state")
    assert store.save("fp", _Exploit())  # signed with this installation's key
    assert store.load("fp") is None
    assert not (tmp_path / "pwned").exists()
    assert log.said("warning", "is not allowed in a state file")


def test_a_directory_others_can_write_disables_saving(tmp_path):
    (tmp_path / "state").mkdir()
    os.chmod(tmp_path / "state", 0o777)
    store, log = store_in(tmp_path / "state")
    assert not store.save("fp", {"a": 1})
    assert store.load("fp") is None
    assert len(log.said("warning", "will not be saved across restarts")) == 1
    assert not (tmp_path / "state" / "anomalies_local.state").exists()


def test_a_state_file_others_can_read_is_not_trusted(tmp_path):
    store, log = store_in(tmp_path)
    store.save("fp", {"a": 1})
    os.chmod(tmp_path / "anomalies_local.state", 0o644)
    assert store.load("fp") is None
    assert log.said("warning", "open to other users")


def test_a_payload_that_cannot_be_pickled_is_logged_not_raised(tmp_path):
    store, log = store_in(tmp_path)
    assert not store.save("fp", {"f": lambda: 0})
    assert log.said("warning", "cannot save models")
    assert sorted(os.listdir(tmp_path)) == ["state.key"]  # no half-written file left behind



def test_a_write_cut_short_is_cleaned_up_and_never_read(tmp_path):
    store, log = store_in(tmp_path)
    store.save("fp", {"a": 1})
    (tmp_path / ".anomalies_local.abc123.tmp").write_bytes(b"half a file")
    restarted, _ = store_in(tmp_path)
    assert restarted.load("fp").payload == {"a": 1}
    assert not (tmp_path / ".anomalies_local.abc123.tmp").exists()
