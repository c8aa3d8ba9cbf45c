# SPDX-License-Identifier: GPL-3.0-or-later
"""The collector's own health, drawn per job beside its anomaly charts (both modules):

- `health_models`: models active (scored this cycle), paused (an input has no value), warming up (not
  ready yet), untrained (planned, but their training window could not fit them);
- `health_times`: the last training's duration, seconds since it, seconds a training has been due without
  succeeding (0 when none is due; trainings that keep failing make it grow), the latency of the latest
  read from the agent, and how long the job's whole update took (read, features, scoring, flags, charts:
  the update less the read is the job's own work);
- `health_errors`: failed reads and failed trainings, per minute;
- `health_rows`: the rows of the last training window.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Deque, Dict, List, Optional, Tuple

HEALTH_MODELS, HEALTH_TIMES, HEALTH_ERRORS, HEALTH_ROWS = "health_models", "health_times", "health_errors", "health_rows"
HEALTH_CHARTS = [HEALTH_MODELS, HEALTH_TIMES, HEALTH_ERRORS, HEALTH_ROWS]
MODEL_STATES = ("active", "paused", "warming_up", "untrained")
TIME_DIVISOR = 1000  # seconds sent in milliseconds: the read latency is a few of them
ERROR_WINDOW_S = 60.0


def definitions(context_prefix: str, family: str) -> Dict[str, dict]:
    """python.d definitions of the health charts of a job whose charts have contexts `<context_prefix>.*`."""
    def chart(name: str, title: str, units: str, kind: str, lines: List[list]) -> Tuple[str, dict]:
        return name, {"options": [None, title, units, family, f"{context_prefix}.{name}", kind], "lines": lines}

    return dict([
        chart(HEALTH_MODELS, "Collector health: models active, paused, warming up and untrained", "models",
              "stacked", [[f"models_{state}", state.replace("_", " "), "absolute"] for state in MODEL_STATES]),
        chart(HEALTH_TIMES, "Collector health: last training, time since it, training overdue, latency of the "
                            "latest read, duration of the update", "seconds", "line",
              [["last_training", "last training", "absolute", 1, TIME_DIVISOR],
               ["since_training", "since training", "absolute", 1, TIME_DIVISOR],
               ["training_overdue", "training overdue", "absolute", 1, TIME_DIVISOR],
               ["read_latency", "read latency", "absolute", 1, TIME_DIVISOR],
               ["update_time", "update", "absolute", 1, TIME_DIVISOR]]),
        chart(HEALTH_ERRORS, "Collector health: failed reads and trainings in the last minute", "errors/min",
              "line", [["read_errors", "read", "absolute"], ["training_errors", "training", "absolute"]]),
        chart(HEALTH_ROWS, "Collector health: rows of the last training window", "rows", "line",
              [["training_rows", "rows", "absolute"]]),
    ])


def dimension_ids() -> frozenset:
    """The ids of every dimension of the health charts."""
    return frozenset(line[0] for chart in definitions("x", "x").values() for line in chart["lines"])


class JobHealth:
    """What a job tells about itself: it records reads and trainings as they happen, and gives the
    health charts' values once per cycle."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.read_latency_s: Optional[float] = None
        self.update_s: Optional[float] = None
        self.training_s: Optional[float] = None
        self.training_rows: Optional[int] = None
        self.trained_at: Optional[float] = None
        self.due_since: Optional[float] = None
        self.read_errors_: Deque[float] = deque()
        self.training_errors_: Deque[float] = deque()

    def read(self, seconds: float, failed: bool) -> None:
        """A read from the agent took `seconds` (and failed, for at least one host)."""
        self.read_latency_s = seconds
        if failed:
            self.read_errors_.append(self.clock())

    def updated(self, seconds: float) -> None:
        """The job's update (this cycle) took `seconds`, its read included."""
        self.update_s = seconds

    def training_due(self) -> None:
        """A training is due and starts (overdue counts from the first such start until one succeeds)."""
        if self.due_since is None:
            self.due_since = self.clock()

    def trained(self, seconds: Optional[float], rows: Optional[int], ago: float = 0.0) -> None:
        """A training (or a streaming warm start) fitted models on `rows` rows in `seconds`, `ago` seconds
        ago (models restored from disk: their training's duration is not known)."""
        self.training_s, self.training_rows, self.trained_at = seconds, rows, self.clock() - ago
        self.due_since = None

    def training_failed(self) -> None:
        self.training_errors_.append(self.clock())

    def values(self, models: Optional[Tuple[int, int, int, int]]) -> Dict[str, int]:
        """This cycle's values of the health charts, with the models (active, paused, warming up,
        untrained) or None while they are not known; a value not known yet is left out (a gap)."""
        now = self.clock()
        for errors in (self.read_errors_, self.training_errors_):
            while errors and now - errors[0] > ERROR_WINDOW_S:
                errors.popleft()
        data = {} if models is None else {f"models_{state}": int(count) for state, count in zip(MODEL_STATES, models)}
        data.update(read_errors=len(self.read_errors_), training_errors=len(self.training_errors_))
        for key, seconds in (("last_training", self.training_s), ("read_latency", self.read_latency_s),
                             ("update_time", self.update_s),
                             ("since_training", None if self.trained_at is None else now - self.trained_at),
                             ("training_overdue", 0.0 if self.due_since is None else now - self.due_since)):
            if seconds is not None:
                data[key] = int(round(seconds * TIME_DIVISOR))
        if self.training_rows is not None:
            data["training_rows"] = int(self.training_rows)
        return data
