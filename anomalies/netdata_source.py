# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading Netdata's REST API: chart lists and latest values (requests), training windows (netdata-pandas).

All calls honour `protocol`, basic auth and `tls_verify`. netdata-pandas `print()`s its errors; those are
routed to the job's log, because stdout is the python.d plugin's protocol channel.
"""
from __future__ import annotations

import ssl
import threading
import types
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import requests

from .columns import Column

_NETDATA_PANDAS_LOCK = threading.Lock()


class NetdataSource:
    """One job's connection settings and HTTP session."""

    def __init__(self, protocol: str = "http", username: Optional[str] = None, password: Optional[str] = None,
                 tls_verify: Any = True, timeout: float = 5.0):
        self.protocol = protocol
        self.auth = (username, password) if username and password else None
        self.tls_verify = tls_verify
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = self.auth
        self.session.verify = tls_verify

    def _get_json(self, host: str, path: str) -> Any:
        response = self.session.get(f"{self.protocol}://{host}{path}", timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def chart_dimensions(self, host: str) -> Dict[str, List[str]]:
        """Every chart of `host` with its dimension names, from /api/v1/charts."""
        charts = self._get_json(host, "/api/v1/charts")["charts"]
        return {chart_id: [dim["name"] for dim in chart.get("dimensions", {}).values()]
                for chart_id, chart in charts.items()}

    def latest(self, host: str) -> Dict[str, Dict[str, Any]]:
        """The latest collected value of every dimension: {chart: {dim name: value or None}}."""
        metrics = self._get_json(host, "/api/v1/allmetrics?format=json")
        return {chart_id: {dim["name"]: dim["value"] for dim in chart["dimensions"].values()}
                for chart_id, chart in metrics.items()}

    def training_window(self, host: str, charts: Sequence[str], after: int, before: int,
                        log: Callable[[str], None]) -> "pandas.DataFrame":  # noqa: F821
        """Per-second history of `charts` on `host` between two timestamps, forward-filled,
        with columns named `chart|dim`, through netdata-pandas."""
        import netdata_pandas.data as netdata_pandas

        user, password = self.auth or (None, None)
        with _bound_netdata_pandas(netdata_pandas, self._ssl_context(), log):
            return netdata_pandas.get_data(hosts=[host], charts=list(charts), after=after, before=before,
                                           user=user, pwd=password, protocol=self.protocol,
                                           verify=self.tls_verify, timeout=max(60, int(self.timeout)),
                                           sort_cols=False)

    def _ssl_context(self) -> Optional[ssl.SSLContext]:
        if self.protocol != "https":
            return None
        if self.tls_verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        if isinstance(self.tls_verify, str):
            return ssl.create_default_context(cafile=self.tls_verify)
        return ssl.create_default_context()


@contextmanager
def _bound_netdata_pandas(module: types.ModuleType, ssl_context: Optional[ssl.SSLContext],
                          log: Callable[[str], None]) -> Iterator[None]:
    """Make netdata-pandas' async requests use our TLS settings and its print() go to our log.

    netdata-pandas offers neither, so its module globals `asks` and `print` are swapped for the duration
    of one call, under a lock (jobs of this module share the process).
    """
    import asks

    def get(url: str, **kwargs: Any):
        return asks.get(url, ssl_context=ssl_context, **kwargs)

    def log_print(*args: Any, **_: Any) -> None:
        log("netdata-pandas: " + " ".join(str(a) for a in args))

    with _NETDATA_PANDAS_LOCK:
        original_asks = module.asks
        module.asks = types.SimpleNamespace(get=get)
        module.print = log_print
        try:
            yield
        finally:
            module.asks = original_asks
            del module.print


def gather_row(latest_by_host: Dict[str, Dict[str, Dict[str, Any]]], columns: Sequence[Column]) -> np.ndarray:
    """The values of `columns` from `latest()` answers per host; NaN where a host, chart or dim is missing."""
    row = np.full(len(columns), np.nan)
    for i, column in enumerate(columns):
        value = latest_by_host.get(column.host, {}).get(column.chart, {}).get(column.dim)
        if value is not None:
            row[i] = value
    return row
