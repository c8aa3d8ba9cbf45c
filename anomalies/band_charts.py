# SPDX-License-Identifier: GPL-3.0-or-later
"""Optional charts of the expected value and band of every dimension of the charts `band_charts` names (a
regex of whole chart ids; off by default, as each one triples the dimensions): `band_<chart>`, with
`<dim> expected`, `<dim> low` and `<dim> high` in the chart's own units. Offline the band is the training
window's (median, middle 95%); streaming, the running mean +- 2 running standard deviations of the
dimension's level (with `include_levels`). The flag log line and `netdata-anomalies report` use the same
bands."""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .attribution import ExpectedBand, running_band
from .charts import FAMILY, VALUE_DIVISOR
from .columns import Column

PARTS = (("expected", "expected"), ("low", "low"), ("high", "high"))


def chart_id(chart: str) -> str:
    """The job's chart of a source chart's band: `band_system_cpu` for `system.cpu`."""
    return "band_" + re.sub(r"[^A-Za-z0-9_]", "_", chart)


def dimension_id(chart: str, dim: str, part: str) -> str:
    return f"{chart}|{dim}|{part}"


class BandCharts:
    """Which band charts a job draws, their definitions, and their values."""

    def __init__(self, pattern: Optional["re.Pattern[str]"], host: str, context_prefix: str):
        self.pattern = pattern
        self.host = host
        self.context_prefix = context_prefix
        self.announced_: set = set()
        self.columns_: Dict[str, List[Tuple[int, str]]] = {}  # source chart -> (column position, dim)

    def plan(self, columns: Sequence[Column]) -> List[Tuple[str, dict]]:
        """Bind to the job's current columns; return the definitions of band charts not drawn before."""
        self.columns_ = {}
        if self.pattern is None:
            return []
        for j, column in enumerate(columns):
            if column.host == self.host and self.pattern.fullmatch(column.chart):
                self.columns_.setdefault(column.chart, []).append((j, column.dim))
        new = []
        for chart, dims in self.columns_.items():
            if chart not in self.announced_:
                self.announced_.add(chart)
                new.append((chart_id(chart), self._definition(chart, [d for _, d in dims])))
        return new

    def _definition(self, chart: str, dims: Sequence[str]) -> dict:
        return {"options": [None, f"Expected value and band of {chart} (its usual values)",
                            "units of " + chart, FAMILY, f"{self.context_prefix}.band", "line"],
                "lines": [[dimension_id(chart, dim, part), f"{dim} {name}", "absolute", 1, VALUE_DIVISOR]
                          for dim in dims for part, name in PARTS]}

    def values(self, band: Optional[ExpectedBand]) -> Dict[str, int]:
        """Chart values of a band over the job's columns (none where it is not finite)."""
        data: Dict[str, int] = {}
        if band is None:
            return data
        for chart, dims in self.columns_.items():
            for j, dim in dims:
                for part, _ in PARTS:
                    value = getattr(band, part)[j]
                    if np.isfinite(value):
                        data[dimension_id(chart, dim, part)] = int(round(value * VALUE_DIVISOR))
        return data

    @property
    def charts(self) -> List[str]:
        """The source charts with a band chart now."""
        return list(self.columns_)


def streaming_band(models: Sequence, charts: Sequence[str], n_columns: int) -> ExpectedBand:
    """The running band of the models named `charts` (streaming models with level features), over all
    `n_columns` columns of the job (NaN elsewhere)."""
    expected, low, high = (np.full(n_columns, np.nan) for _ in range(3))
    wanted = set(charts)
    for model in models:
        if model.spec.name not in wanted:
            continue
        own = running_band(model)
        expected[model.column_index], low[model.column_index], high[model.column_index] = \
            own.expected, own.low, own.high
    return ExpectedBand(expected, low, high)
