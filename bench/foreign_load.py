# SPDX-License-Identifier: GPL-3.0-or-later
"""Watch for CPU use on the recording machine that is neither the recording nor its agent.

bench/record labels what it injects; anything else that runs meanwhile (a build, a test run, a benchmark)
is real load that is neither a planned fault nor normal. This samples every process's CPU time once a
second, leaves out the recorder's own process tree, the agent's (with its plugins) and kernel threads, and
keeps the seconds in which the rest used more than `threshold` of a core, merged into windows. The
recording marks those windows "not judged" (bench/unjudged), so a detector that flags them is neither
rewarded nor charged.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Dict, List, Tuple

TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> Dict[int, Tuple[int, float]]:
    """{pid: (ppid, cpu seconds)} of every process readable now."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS)
    return table


def _descendants(table: Dict[int, Tuple[int, float]], roots: set) -> set:
    children: Dict[int, List[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, ()))
    return seen


class ForeignLoadMonitor(threading.Thread):
    """Background sampler; `windows()` returns [(start, end, cpu seconds)] of foreign activity."""

    def __init__(self, own_roots: set, threshold: float = 0.10, merge_gap_s: float = 5.0):
        super().__init__(daemon=True)
        self.own_roots = set(own_roots)
        self.threshold = threshold
        self.merge_gap_s = merge_gap_s
        self._busy: List[Tuple[float, float]] = []  # (second, cores used by others)
        self._halt = threading.Event()

    def run(self) -> None:
        previous = _processes()
        while not self._halt.wait(1.0):
            now_ts, table = time.time(), _processes()
            own = _descendants(table, self.own_roots | {os.getpid()})
            used = 0.0
            for pid, (ppid, cpu) in table.items():
                if pid in own or pid == 2 or ppid == 2 or pid not in previous:
                    continue
                used += max(0.0, cpu - previous[pid][1])
            if used > self.threshold:
                self._busy.append((now_ts, used))
            previous = table

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def windows(self) -> List[Tuple[float, float, float]]:
        merged: List[List[float]] = []
        for second, used in self._busy:
            if merged and second - merged[-1][1] <= self.merge_gap_s:
                merged[-1][1] = second
                merged[-1][2] += used
            else:
                merged.append([second - 1.0, second, used])
        return [(start, end, cpu) for start, end, cpu in merged]
