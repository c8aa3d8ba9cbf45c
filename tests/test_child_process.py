# SPDX-License-Identifier: GPL-3.0-or-later
"""The child process runner: results come back whole, failures and timeouts say what happened, and nothing
the child prints reaches the plugin's stdout (the protocol channel)."""
import os
import threading
import time

import numpy as np
import pytest

from anomalies.child_process import call_in_child


def echo_arrays(n: int, *extra):
    print("a child that prints")  # must go to the child's stderr, not to the result channel
    return {"values": np.arange(n, dtype=np.float64), "extra": extra, "pid": os.getpid()}


def fail(message: str):
    raise ValueError(message)


def exit_with_garbage():
    os.write(1, b"not a pickle")  # fd 1 is the result pipe
    os._exit(0)


def sleep(seconds: float):
    time.sleep(seconds)


def test_a_result_of_several_megabytes_comes_back_whole(capfd):
    result = call_in_child("test_child_process:echo_arrays", 1_000_000, "a", {"b": 1})
    assert np.array_equal(result["values"], np.arange(1_000_000, dtype=np.float64))
    assert result["extra"] == ("a", {"b": 1}) and result["pid"] != os.getpid()
    assert "a child that prints" not in capfd.readouterr().out


def test_a_failing_child_reports_its_exit_code_and_last_lines():
    with pytest.raises(RuntimeError, match=r"exited with 1: .*ValueError: no such chart"):
        call_in_child("test_child_process:fail", "no such chart")


def test_a_child_that_exits_cleanly_without_a_result_is_an_error_not_none():
    with pytest.raises(RuntimeError, match="exited without a readable result"):
        call_in_child("test_child_process:exit_with_garbage")


def test_a_child_past_its_timeout_is_stopped_and_says_so():
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="did not finish within 1s"):
        call_in_child("test_child_process:sleep", 30, timeout=1)
    assert time.monotonic() - started < 10


def sleep_and_time(seconds: float):
    started = time.time()
    time.sleep(seconds)
    return started, time.time()


def test_the_children_of_a_plugins_jobs_run_one_at_a_time():
    """Jobs are threads of one plugin: their trainings and warm starts must not all hold a child at once."""
    spans = []
    threads = [threading.Thread(target=lambda: spans.append(call_in_child("test_child_process:sleep_and_time", 1)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans.sort()
    assert len(spans) == 3 and all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:])), spans
