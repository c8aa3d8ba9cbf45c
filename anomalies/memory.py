# SPDX-License-Identifier: GPL-3.0-or-later
"""The plugin's memory goes back to the system once it is freed.

python.d runs every job as a thread of one process, so glibc gives each job its own heap ("arena"). glibc
also raises its mmap threshold each time a large block is freed, up to 32 MiB: after a job's first warm
start or training frees its history (tens of MiB), later blocks of that size come from the heaps instead
of from mmap, and a heap gives memory back only from its top. At 16 children on one parent that kept
~2.5x the memory the models need (bench: 16 jobs of 223 streaming models, one warm start each: 915 MiB
resident, 248 MiB with the threshold fixed). Fixing the threshold at glibc's own default (128 KiB) keeps
large blocks in mmap, which frees them at once.
"""
from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's default; setting it stops the dynamic raise

_done = False


def keep_large_blocks_in_mmap() -> bool:
    """Fix glibc's mmap threshold for this process (once; later calls do nothing). False where the C
    library is not glibc (musl in Alpine images has no arenas to fill and no such parameter)."""
    global _done
    if _done:
        return True
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    return _done
