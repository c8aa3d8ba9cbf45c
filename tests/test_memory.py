# SPDX-License-Identifier: GPL-3.0-or-later
"""Memory a job frees goes back to the system, though python.d runs every job as a thread of one process."""
import subprocess
import sys
from pathlib import Path

import pytest

from anomalies.memory import keep_large_blocks_in_mmap

REPO = Path(__file__).resolve().parent.parent

# Eight jobs, one after the other, each reading a history four times (24 MB freed at once) and keeping a
# model's window allocated after each: what a warm start or a training leaves in the plugin.
JOBS_IN_THREADS = """
import sys, threading
sys.path.insert(0, {repo!r})
import numpy as np
from anomalies.memory import keep_large_blocks_in_mmap
if {fixed}:
    keep_large_blocks_in_mmap()
def rss_mib():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
lock, kept = threading.Lock(), []
def job():
    with lock:
        for _ in range(4):
            history = np.ones(3_000_000)
            kept.append(np.ones(4000))
            del history
before = rss_mib()
threads = [threading.Thread(target=job) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(rss_mib() - before)
"""


def growth_mib(fixed: bool) -> float:
    out = subprocess.run([sys.executable, "-c", JOBS_IN_THREADS.format(repo=str(REPO), fixed=fixed)],
                         capture_output=True, text=True, check=True).stdout
    return float(out)


@pytest.mark.skipif(not keep_large_blocks_in_mmap(), reason="not glibc: no mmap threshold to fix")
def test_what_jobs_free_in_their_threads_is_given_back():
    kept_anyway = 8 * 4 * 4000 * 8 / 2**20  # the windows: 1 MiB
    assert growth_mib(fixed=False) > 50  # glibc's dynamic threshold keeps the histories in the threads' heaps
    assert growth_mib(fixed=True) < kept_anyway + 10
