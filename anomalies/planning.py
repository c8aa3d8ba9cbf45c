# SPDX-License-Identifier: GPL-3.0-or-later
"""Which models a job runs: one per chart matching the regex, one per usable custom model."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

from . import charts
from .columns import Column
from .config import CommonConfig
from .netdata_source import NetdataSource, describe_error

Log = Callable[[str], None]

# The charts of this project's jobs (and of upstream's `anomalies` module): `anomalies[_<job>].<chart>` and
# `anomalies_online[_<job>].<chart>`. A chart model never watches them, whatever `charts_regex` says: with
# `.*` a job would otherwise model its own output (and its flags would feed back into its scores).
OWN_CHART = re.compile(r"anomalies(_[^.]*)?\.(" + "|".join(charts.ORDER) + ")")


@dataclass(frozen=True)
class ModelSpec:
    """What one model watches: a chart of the job's host, or a custom model."""

    name: str
    columns: Tuple[Column, ...]
    normalize: bool = False


def list_charts(source: NetdataSource, hosts: Sequence[str], warn: Log) -> Dict[str, Dict[str, List[str]]]:
    """{host: {chart: [dimension names]}} of every host that answers; each one that does not is warned."""
    charts_by_host = {}
    for host in hosts:
        try:
            charts_by_host[host] = source.chart_dimensions(host)
        except Exception as error:  # noqa: BLE001 - an unreachable host must not stop the others
            warn(f"cannot list the charts of '{host}': {describe_error(error)}")
    return charts_by_host


def plan_models(config: CommonConfig, charts_by_host: Dict[str, Dict[str, List[str]]], warn: Log,
                normalize_custom: bool = False) -> List[ModelSpec]:
    """Chart models (charts of the job's host matching `charts_regex`, minus excludes and anomaly charts)
    and custom models (dimensions that exist; each missing one is named in a warning), min-max scaled if
    `normalize_custom`."""
    specs = []
    for chart_id, dims in sorted(charts_by_host.get(config.host, {}).items()):
        if (config.charts_regex.fullmatch(chart_id) and chart_id not in config.charts_to_exclude and dims
                and not OWN_CHART.fullmatch(chart_id)):
            specs.append(ModelSpec(chart_id, tuple(Column(config.host, chart_id, d) for d in dims)))
    for custom in config.custom_models:
        present = []
        for column in custom.columns:
            if column.host not in charts_by_host:
                warn(f"custom_models[{custom.name}]: host '{column.host}' is not reachable; "
                     f"skipping '{column.key()}'")
            elif column.dim not in charts_by_host[column.host].get(column.chart, ()):
                warn(f"custom_models[{custom.name}]: dimension '{column.chart}|{column.dim}' does not exist "
                     f"on '{column.host}'; skipping it")
            else:
                present.append(column)
        if present:
            specs.append(ModelSpec(custom.name, tuple(present), normalize_custom))
        else:
            warn(f"custom_models[{custom.name}]: none of its dimensions exist; the model is not trained")
    return specs
