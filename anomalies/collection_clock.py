# SPDX-License-Identifier: GPL-3.0-or-later
"""Which collection of the agent a read brings: the next one, the same one again, or one after a few it
missed.

python.d wakes a job on its own second boundaries (of the monotonic clock), the agent collects on those
of the wall clock, and a busy machine delays either. So a read now and then finds no new collection (the
row of the second before again) or comes after one it never saw. Taken as the next sample, either turns a
difference into 0 or into two seconds' worth, which training (per-second history) never shows: a false
flag on any chart that moves smoothly. The agent says when it collected each chart (`last_updated` of
/api/v1/allmetrics); this tells the jobs what a read stands for.
"""
from __future__ import annotations

from typing import Optional

MAX_FILL_N = 5  # missed collections filled in (linearly) before a read; more make a gap


class CollectionClock:
    """The time of the newest collection read so far, in steps of `step_s` (the job's update_every)."""

    def __init__(self, step_s: int = 1):
        self.step_s = max(1, int(step_s))
        self.last_: Optional[int] = None

    def advance(self, collected_at: Optional[int]) -> Optional[int]:
        """How many collections a read with this time stands for: 0 when the agent has not collected since
        the last read, 1 for the next one, k for the next after k - 1 missed ones; None when that is unknown
        (no time given, the first read, or a clock that went back: an agent restarted, a child replaced)."""
        if collected_at is None:
            return None
        last, self.last_ = self.last_, int(collected_at)
        if last is None or collected_at < last:
            return None
        return int(round((collected_at - last) / self.step_s))
