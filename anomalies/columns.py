# SPDX-License-Identifier: GPL-3.0-or-later
"""Naming of one Netdata dimension on one host: `host::chart|dim`, matched exactly, never by prefix."""
from __future__ import annotations

from typing import NamedTuple


class Column(NamedTuple):
    """One dimension of one chart on one host."""

    host: str
    chart: str
    dim: str

    def key(self) -> str:
        return f"{self.host}::{self.chart}|{self.dim}"


def parse_column(text: str, default_host: str) -> Column:
    """Parse `chart|dim` or `host::chart|dim`; raise ValueError naming what is wrong."""
    text = text.strip()
    host, sep, rest = text.rpartition("::")
    host = host.strip() if sep else default_host
    chart, bar, dim = rest.partition("|")
    if not bar or not chart.strip() or not dim.strip() or not host:
        raise ValueError(f"{text!r} is not 'chart|dim' or 'host::chart|dim'")
    return Column(host, chart.strip(), dim.strip())
