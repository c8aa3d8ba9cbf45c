# SPDX-License-Identifier: GPL-3.0-or-later
"""What every update cycle of either module does around its models: read the latest row from each host
(an agent that is down is a gap, said once), say once when a model pauses or resumes, and turn one cycle's
probabilities, flags and scores into chart values."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional, Protocol, Sequence, Set, Tuple

import numpy as np

from . import charts
from .config import CommonConfig
from .health import JobHealth
from .netdata_source import NetdataSource, RowGatherer, describe_error

MAX_SCORE = 5.0  # on the score chart's scale: 1 + log10 of 10,000 times the threshold
OUTAGE_AFTER_N = 2  # failed reads in a row that make a host "down" (one warning); fewer are skipped samples


class Logger(Protocol):
    def info(self, *msg: Any) -> None: ...
    def warning(self, *msg: Any) -> None: ...
    def error(self, *msg: Any) -> None: ...
    def debug(self, *msg: Any) -> None: ...


@dataclass
class CycleResult:
    """What one cycle produced: values by dimension id, dimensions to add or remove, and charts to add."""

    data: Dict[str, int]
    added: List[Tuple[str, list]] = field(default_factory=list)
    removed: List[Tuple[str, str]] = field(default_factory=list)
    new_charts: List[Tuple[str, dict]] = field(default_factory=list)  # (chart id, python.d definition)


def report_config_problems(config: CommonConfig, log: Logger) -> bool:
    """A job's check(): every configuration problem once (the job runs with defaults in their place)."""
    for problem in config.problems:
        log.error(problem)
    if config.tls_verify is False and config.protocol == "https":
        log.warning("tls_verify is false: TLS certificates of the Netdata API are not verified")
    return True


class RepeatFilter:
    """Logs the warnings of a recurring step (a training, a look for charts), except those the previous
    run of that step already said."""

    def __init__(self, log: Logger):
        self.log = log
        self.said: Set[str] = set()

    def log_new(self, warnings: Sequence[str]) -> None:
        for warning in warnings:
            if warning not in self.said:
                self.log.warning(warning)
        self.said = set(warnings)


class Reading(NamedTuple):
    """What one read brought: the raw row, and when the agent collected the newest of its charts (unix
    seconds; None if it did not say)."""

    row: np.ndarray
    collected_at: Optional[int]


def newest_collection(latest_by_host: Dict[str, Dict[str, dict]]) -> Optional[int]:
    """The newest `last_updated` of the charts in /api/v1/allmetrics answers, or None if none has one."""
    times = [chart.get("last_updated") for charts in latest_by_host.values() for chart in charts.values()
             if isinstance(chart, dict)]
    times = [int(t) for t in times if isinstance(t, (int, float)) and math.isfinite(t)]
    return max(times) if times else None


class LatestReader:
    """The newest value of every gathered column, one `allmetrics` request per host.

    A host that fails OUTAGE_AFTER_N reads in a row is down: one warning, and one line when it answers again.
    A single failed read (an agent that drops one connection while it settles after a restart) is a skipped
    sample, counted in the job's health chart but not logged."""

    def __init__(self, source: NetdataSource, log: Logger, health: JobHealth):
        self.source = source
        self.log = log
        self.health = health
        self.failures: Dict[str, int] = {}  # consecutive failed reads per host
        self.unreachable: Set[str] = set()  # hosts said to be down

    def read(self, gatherer: RowGatherer) -> Optional[Reading]:
        """One raw row (NaN where a host or dimension gave nothing) with the time of its newest collection,
        or None when no host answered; its latency, and whether a host failed, go to the job's health."""
        started = time.monotonic()
        latest, failed = {}, False
        for host, chart_ids in gatherer.charts().items():
            try:
                latest[host] = self.source.latest(host, chart_ids)
            except Exception as error:  # noqa: BLE001 - agent down or restarting: a gap, not a crash
                failed = True
                self.failures[host] = self.failures.get(host, 0) + 1
                if self.failures[host] >= OUTAGE_AFTER_N and host not in self.unreachable:
                    self.log.warning(f"cannot read latest values from '{host}': {describe_error(error)}; "
                                     "its models pause until it answers")
                    self.unreachable.add(host)
                continue
            self.failures.pop(host, None)
            if host in self.unreachable:
                self.log.info(f"'{host}' answers again")
                self.unreachable.discard(host)
        self.health.read(time.monotonic() - started, failed)
        if not latest:
            return None
        return Reading(gatherer.row(latest), newest_collection(latest))


class PauseReporter:
    """Logs once when a model loses a value (NaN, Inf, dimension gone) and once when it is back."""

    def __init__(self, log: Logger):
        self.log = log
        self.paused: Set[str] = set()

    def update(self, names: Sequence[str], complete: np.ndarray) -> None:
        now_paused = {names[i] for i in np.flatnonzero(~complete)}
        for name in sorted(now_paused - self.paused):
            self.log.info(f"model '{name}': some of its dimensions have no finite value; paused")
        for name in sorted((self.paused - now_paused) & set(names)):
            self.log.info(f"model '{name}': all its dimensions have values again; resumed")
        self.paused = now_paused


def chart_values(dimension_ids: Dict[str, List[str]], shown: np.ndarray, levels: np.ndarray, flags: np.ndarray,
                 normalized: np.ndarray, include_average_prob: bool, warming_share: float = 0.0) -> Dict[str, int]:
    """python.d values of one cycle: level, flag and score of the models `shown` (the others, without
    complete input or still warming up, leave a gap), the share of them flagged, and the share of all
    models still warming up (`warming_share`, 0-1)."""
    data: Dict[str, int] = {charts.WARMING_UP: int(round(100 * warming_share * charts.VALUE_DIVISOR))}
    scored = np.flatnonzero(shown)
    if len(scored) == 0:
        return data
    values = {
        charts.PROBABILITY: np.rint(levels[scored] * charts.VALUE_DIVISOR),
        charts.ANOMALY: flags[scored],
        charts.SCORE: np.rint(np.minimum(charts.compressed_score(normalized[scored]), MAX_SCORE)
                              * charts.VALUE_DIVISOR),
    }
    for chart, chart_values_ in values.items():
        ids = dimension_ids[chart]
        data.update(zip([ids[i] for i in scored], chart_values_.astype(np.int64).tolist()))
    if include_average_prob:
        data[charts.AVERAGE_PROB] = int(round(levels[scored].mean() * charts.VALUE_DIVISOR))
    data[charts.ANOMALY_RATE] = int(round(100 * flags[scored].mean() * charts.VALUE_DIVISOR))
    return data


def warming_values() -> Dict[str, int]:
    """The values of a job that has no model ready yet: every model is warming up."""
    return {charts.WARMING_UP: 100 * charts.VALUE_DIVISOR}
