# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading Netdata's REST API: chart lists and latest values (urllib3), training windows (netdata-pandas).

All calls honour `protocol`, basic auth and `tls_verify`. netdata-pandas `print()`s its errors; those are
routed to the job's log, because stdout is the python.d plugin's protocol channel.
"""
from __future__ import annotations

import functools
import json
import re
import ssl
import threading
import types
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence
from urllib.parse import quote

import numpy as np
import urllib3

from .columns import Column

if TYPE_CHECKING:
    import pandas

    from .config import Config

_NETDATA_PANDAS_LOCK = threading.Lock()
MAX_FILTER_LENGTH = 4000  # characters of allmetrics' chart filter; beyond it, read all charts


def describe_error(error: BaseException) -> str:
    """A failed request in a few words ("Connection refused", "timed out", "HTTP 500 from ..."),
    without the pools and objects urllib3 wraps its reasons in."""
    if isinstance(error, json.JSONDecodeError):
        return f"its answer is not JSON ({error})"
    text = str(getattr(error, "reason", None) or error)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errno:
        return errno.group(1).strip()
    if "timed out" in text:
        return "timed out"
    return text or type(error).__name__


class NetdataSource:
    """One job's connection settings and HTTP session."""

    def __init__(self, protocol: str = "http", username: Optional[str] = None, password: Optional[str] = None,
                 tls_verify: Any = True, timeout: float = 5.0):
        self.settings = (protocol, username, password, tls_verify, timeout)  # picklable: rebuilds this source
        self.protocol = protocol
        self.auth = (username, password) if username and password else None
        self.tls_verify = tls_verify
        self.timeout = timeout
        self.headers = urllib3.make_headers(basic_auth=f"{username}:{password}") if self.auth else {}
        self.ssl_context = self._ssl_context()  # one TLS policy for urllib3 here and asks in netdata-pandas
        self.pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=timeout),
                                        ssl_context=self.ssl_context)

    @classmethod
    def for_config(cls, config: "Config") -> "NetdataSource":
        """The connection settings of a job's configuration."""
        return cls(config.protocol, config.username, config.password, config.tls_verify)

    def _get_json(self, host: str, path: str) -> Any:
        url = f"{self.protocol}://{host}{path}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            try:
                response = self.pool.request("GET", url, headers=self.headers)
            except urllib3.exceptions.ProtocolError:
                # Closed without an answer: an agent lets kept-alive connections go (seen on 1.37.1 minutes
                # after a restart), which is not an agent that is down. One more try, on a new connection.
                response = self.pool.request("GET", url, headers=self.headers)
        if response.status != 200:
            raise OSError(f"HTTP {response.status} from {host}{path}")
        return json.loads(response.data)

    def chart_dimensions(self, host: str) -> Dict[str, List[str]]:
        """Every chart of `host` with its dimension names, from /api/v1/charts."""
        charts = self._get_json(host, "/api/v1/charts")["charts"]
        return {chart_id: [dim["name"] for dim in chart.get("dimensions", {}).values()]
                for chart_id, chart in charts.items()}

    def history_seconds(self, host: str) -> int:
        """How many seconds of history `host` holds: the longest span from a chart's first to its last
        entry, from /api/v1/charts."""
        charts = self._get_json(host, "/api/v1/charts")["charts"].values()
        return max((int(c.get("last_entry") or 0) - int(c.get("first_entry") or 0) for c in charts), default=0)

    def latest(self, host: str, charts: Sequence[str] = ()) -> Dict[str, dict]:
        """The latest collected values of `charts` (or of every chart), as /api/v1/allmetrics?format=json
        gives them: {chart: {"dimensions": {id: {"name": ..., "value": ...}}, ...}}. The agent filters
        the charts itself (a simple pattern of the ids), unless the list is too long for a URL."""
        return self._get_json(host, _allmetrics_path(" ".join(charts), bool(charts)))

    def training_window(self, host: str, charts: Sequence[str], after: int, before: int,
                        log: Callable[[str], None], keep_time: bool = False,
                        points: int = 0) -> "pandas.DataFrame":
        """The history of `charts` on `host` between two timestamps at the charts' own resolution (or
        averaged to `points` rows), forward-filled, with columns named `chart|dim`, through netdata-pandas;
        indexed by unix time if `keep_time`."""
        netdata_pandas = import_netdata_pandas()
        user, password = self.auth or (None, None)
        # host_prefix=True names columns 'host:chart|dim' and joins on time alone: 40% faster than the
        # (host, time) index netdata-pandas builds otherwise (the prefix is taken off again here), but for
        # one host it then drops the time index too: `keep_time` takes the slower way that keeps it.
        # numeric_only=False skips a per-chart dtype pass: Netdata's values are numbers or null anyway.
        with _bound_netdata_pandas(netdata_pandas, self.ssl_context, log):
            frame = netdata_pandas.get_data(hosts=[host], charts=list(charts), after=after, before=before,
                                            points=points,
                                            user=user, pwd=password, protocol=self.protocol,
                                            verify=self.tls_verify, timeout=max(60, int(self.timeout)),
                                            sort_cols=False, numeric_only=False, host_prefix=not keep_time,
                                            host_sep=":")
        prefix = f"{host}:"
        return frame.rename(columns=lambda name: name[len(prefix):] if name.startswith(prefix) else name)

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


@functools.lru_cache(maxsize=256)
def _allmetrics_path(joined_charts: str, filtered: bool) -> str:
    """The allmetrics path for a space-separated list of chart ids, remembered: a job asks for the same
    charts every cycle, and quoting some 200 of them costs more than the rest of the request's making."""
    pattern = quote(joined_charts)
    if filtered and len(pattern) <= MAX_FILTER_LENGTH:
        return f"/api/v1/allmetrics?format=json&filter={pattern}"
    return "/api/v1/allmetrics?format=json"


def import_netdata_pandas() -> types.ModuleType:
    """netdata_pandas.data (with pandas and trio), imported on first use: only training needs it."""
    with warnings.catch_warnings():  # trio 0.23 warns about itself on import, into the agent's log
        warnings.simplefilter("ignore")
        import netdata_pandas.data
    return netdata_pandas.data


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


class RowGatherer:
    """Picks the values of a fixed list of columns out of `latest()` answers, into one row."""

    def __init__(self, columns: Sequence[Column]):
        self.index: Dict[str, Dict[str, Dict[str, int]]] = {}
        for i, column in enumerate(columns):
            self.index.setdefault(column.host, {}).setdefault(column.chart, {})[column.dim] = i
        self.size = len(columns)

    def charts(self) -> Dict[str, List[str]]:
        """The charts to read, per host."""
        return {host: list(charts) for host, charts in self.index.items()}

    def row(self, latest_by_host: Dict[str, Dict[str, dict]]) -> np.ndarray:
        """The row of values; NaN where a host, chart or dimension is missing or has no value."""
        row = np.full(self.size, np.nan)
        for host, charts in self.index.items():
            metrics = latest_by_host.get(host)
            if metrics is None:
                continue
            for chart_id, dims in charts.items():
                chart = metrics.get(chart_id)
                if chart is None:
                    continue
                for dim in chart["dimensions"].values():
                    i = dims.get(dim["name"])
                    if i is not None and dim["value"] is not None:
                        row[i] = dim["value"]
        return row
