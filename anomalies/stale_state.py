# SPDX-License-Identifier: GPL-3.0-or-later
"""State files of jobs that no longer exist: one python.d.plugin process runs every job of both modules, so
once its jobs have started, a state file that none of them owns belongs to a job deleted from the conf (or
to a module turned off). Such a file is removed once it has not been written for `STALE_AFTER_S`, with one
log line; never from a debug run, which may run only some of the jobs."""
from __future__ import annotations

import glob
import os
import sys
import threading
import time
from typing import Set

from .cycle import Logger

STALE_AFTER_S = 7 * 86400
_RUNNING: Set[str] = set()  # state names of the jobs of this plugin process
_LOCK = threading.Lock()
_CHECKED: Set[str] = set()  # directories already looked at


def is_debug_run() -> bool:
    """Is this plugin `python.d.plugin <module> debug ...` run by hand?"""
    return "debug" in sys.argv[1:]


def register(name: str) -> None:
    """A job of this plugin process keeps its state as `name` (called when the job is created)."""
    with _LOCK:
        _RUNNING.add(name)


def remove_stale(directory: str, log: Logger) -> None:
    """Remove the stale state files in `directory` (the first call per directory; later ones do nothing)."""
    with _LOCK:
        if directory in _CHECKED or is_debug_run():
            return
        _CHECKED.add(directory)
        running = set(_RUNNING)
    for path in glob.glob(os.path.join(glob.escape(directory), "*.state")):
        name = os.path.basename(path)[:-len(".state")]
        try:
            age = time.time() - os.stat(path).st_mtime
            if name in running or age < STALE_AFTER_S:
                continue
            os.unlink(path)
        except OSError:
            continue
        log.info(f"removed {path}: the saved models of job '{name}', which this plugin no longer runs "
                 f"(not written for {age / 86400:.0f} days)")
