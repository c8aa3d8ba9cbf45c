# SPDX-License-Identifier: GPL-3.0-or-later
"""A window of history for a set of columns on one or more hosts, as one numpy array."""
from __future__ import annotations

from typing import Any, Callable, List, Sequence, Tuple

import numpy as np

from .columns import Column
from .netdata_source import NetdataSource, describe_error

Log = Callable[[str], None]


def fetch_history(source: NetdataSource, columns: Sequence[Column], after: int, before: int,
                  max_rows: int, warn: Log, update_every: int = 1) -> np.ndarray:
    """The history of `columns` between two timestamps (at most the last `max_rows` rows), outer-joined on
    time and forward-filled, through netdata-pandas (imported here, on first use). At the charts' resolution
    for a job of `update_every` 1; a slower job reads it averaged to one row a cycle, so the differences and
    lags it learns are a cycle apart, as those it scores."""
    import pandas as pd

    points = (before - after) // update_every if update_every > 1 else 0

    hosts = list(dict.fromkeys(c.host for c in columns))
    frames = []
    for host in hosts:
        charts = list(dict.fromkeys(c.chart for c in columns if c.host == host))
        try:
            frame = source.training_window(host, charts, after, before, warn, points=points)
        except Exception as error:  # noqa: BLE001 - any failure of one host must not stop the others
            warn(f"cannot read the training window from '{host}': {describe_error(error)}")
            continue
        frames.append(frame.rename(columns=lambda name, h=host: f"{h}::{name}"))
    if not frames:
        return np.empty((0, len(columns)))
    # netdata-pandas sorted and forward-filled each host's frame; several hosts are joined on time here.
    data = frames[0] if len(frames) == 1 else pd.concat(frames, axis=1, join="outer").sort_index().ffill()
    values = data.reindex(columns=[c.key() for c in columns]).to_numpy(dtype=np.float64)
    # A young agent answers for the whole window with empty rows before its first sample: drop those, so
    # the row count says how much history there really is.
    values = values[~np.isnan(values).all(axis=1)]
    return values[-max_rows:]


def fetch_history_in_child(settings: Tuple[Any, ...], columns: Sequence[Column], after: int, before: int,
                           max_rows: int, update_every: int = 1) -> Tuple[np.ndarray, List[str]]:
    """`fetch_history` from `NetdataSource.settings`, for a child process: (values, warnings)."""
    warnings: List[str] = []
    values = fetch_history(NetdataSource(*settings), columns, after, before, max_rows, warnings.append,
                           update_every)
    return values, warnings
