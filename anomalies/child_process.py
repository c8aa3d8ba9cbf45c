# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one function of this project in a fresh interpreter, so the python.d plugin never holds what it
imports (PyOD ~200 MB, pandas, netdata-pandas) or the data it reads.

The parent sends the pickled call on the child's stdin and reads the pickled result on its stdout: a
private pipe between two processes of this project, never a file. The child gives its memory back to the
system when it exits.
"""
from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from typing import Any

import anomalies

CHILD_TIMEOUT_S = 1800
# One child at a time in a plugin: its jobs are threads of one process, and a child holds pandas,
# netdata-pandas and its window (~100-300 MiB); on a parent with a job per child they would all train or
# warm start at once (16 streaming warm starts at once peaked at 2.2 GiB). The others keep serving what
# they have while they wait; a call's timeout runs from its child's start.
_CHILD_SLOT = threading.Semaphore(1)


def call_in_child(target: str, *args: Any, timeout: float = CHILD_TIMEOUT_S) -> Any:
    """`module:function(*args)` run in a child interpreter (the one running us, seeing the same packages),
    after the plugin's other child calls. The result is unpickled as it arrives on the pipe: never a copy
    of the whole pickle in memory."""
    with _CHILD_SLOT:
        return _call(target, args, timeout)


def _call(target: str, args: tuple, timeout: float) -> Any:
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(anomalies.__file__)))
    # One BLAS thread: small matrices are faster that way (a 60x60 eigh: 0.3 ms against 1.3 ms with two
    # OpenBLAS threads), and the child never takes every core from the machine it watches.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_parent] + [p for p in sys.path if p]),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    timed_out = threading.Event()

    def kill(child: subprocess.Popen) -> None:
        timed_out.set()
        child.kill()

    with tempfile.TemporaryFile() as errors, subprocess.Popen(
            [sys.executable, "-m", "anomalies.child_process"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=errors, env=env) as child:
        deadline = threading.Timer(timeout, kill, args=(child,))
        deadline.start()
        unreadable = None
        try:
            pickle.dump((target, args), child.stdin)
            child.stdin.close()
            result = pickle.load(child.stdout)
        except (EOFError, pickle.UnpicklingError, BrokenPipeError) as error:
            unreadable = error  # a child that failed: its exit code and last lines say why
        finally:
            deadline.cancel()
        returncode = child.wait()
        if timed_out.is_set():
            raise RuntimeError(f"{target} did not finish within {timeout:g}s and was stopped")
        if returncode != 0:
            errors.seek(0)
            last_lines = " | ".join(errors.read().decode(errors="replace").strip().splitlines()[-3:])
            raise RuntimeError(f"{target} exited with {returncode}: {last_lines}")
        if unreadable is not None:
            raise RuntimeError(f"{target} exited without a readable result: {unreadable!r}")
    return result


def main() -> None:
    """Child side: anything printed goes to stderr; stdout carries only the result."""
    result = sys.stdout.buffer
    sys.stdout = sys.stderr
    target, args = pickle.load(sys.stdin.buffer)
    module_name, function_name = target.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    pickle.dump(function(*args), result)
    result.flush()


if __name__ == "__main__":
    main()
