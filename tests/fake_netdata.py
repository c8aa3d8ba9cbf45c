# SPDX-License-Identifier: GPL-3.0-or-later
"""A tiny stand-in for Netdata's REST API (charts, allmetrics, data), over HTTP or HTTPS with basic auth,
whose values the test controls: for fault cases a real agent cannot be made to produce."""
from __future__ import annotations

import base64
import json
import math
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, Optional
from urllib.parse import parse_qs, urlparse

Series = Callable[[float], Optional[float]]


def wave(period: float, amplitude: float = 1.0, offset: float = 10.0) -> Series:
    """A smooth deterministic series of time."""
    return lambda t: offset + amplitude * math.sin(2 * math.pi * t / period) + 0.1 * math.sin(7.3 * t)


def self_signed_certificate(directory: Path) -> Path:
    """A certificate + key (one PEM file) for 127.0.0.1."""
    pem = directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(pem),
                    "-out", str(pem)], check=True, capture_output=True)
    return pem


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up on a slow answer is expected here, not an error worth a traceback."""

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FakeNetdata:
    """charts: {chart id: {dim name: series}}; a series may return None, NaN or Inf. Set `delay_s` to
    answer that late, `garbage` to answer 200 with something that is not JSON, `drop_next` to close that
    many connections without an answer (as an agent does with a kept-alive connection it has let go).

Without a `clock`, every /api/v1/allmetrics answer is a new collection (its `last_updated` one second after
the last answer's), however fast a test reads; with one (`time.time`, or a test's own), the values and the
collections are those of its whole seconds, as an agent's."""

    def __init__(self, charts: Dict[str, Dict[str, Series]], auth: Optional[tuple] = None,
                 certificate: Optional[Path] = None):
        self.charts = charts
        self.requests: list = []
        self.delay_s = 0.0
        self.garbage = False
        self.drop_next = 0
        self.clock: Optional[Callable[[], float]] = None
        self.collections_ = int(time.time())
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.requests.append(self.path)
                if fake.drop_next:
                    fake.drop_next -= 1
                    self.close_connection = True
                    return
                if auth:
                    expected = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        self.send_response(401)
                        self.end_headers()
                        return
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                if fake.garbage:
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"<html><body>502 Bad Gateway</body></html>")
                    return
                url = urlparse(self.path)
                body = fake.answer(url.path, {k: v[0] for k, v in parse_qs(url.query).items()})
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                if body is not None:
                    self.wfile.write(json.dumps(body).encode())

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.protocol = "http"
        if certificate:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.protocol = "https"
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeNetdata":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _json_value(value: Optional[float]):
        return None if value is None or not math.isfinite(value) else value

    def answer(self, path: str, query: Dict[str, str]):
        now = int(self.clock() if self.clock else time.time())
        if path == "/api/v1/charts":
            now = int(self.clock() if self.clock else time.time())  # the series are functions of time: as if collected for a day
            return {"charts": {chart: {"id": chart, "dimensions": {f"id_{d}": {"name": d} for d in dims},
                                       "first_entry": now - 86400, "last_entry": now}
                               for chart, dims in self.charts.items()}}
        if path == "/api/v1/allmetrics":
            # Netdata's JSON writer prints NaN/Inf as null; keep them raw here to prove we cope either way.
            self.collections_ += 1
            collected = now if self.clock else self.collections_
            return {chart: {"name": chart, "last_updated": collected,
                            "dimensions": {f"id_{d}": {"name": d, "value": series(now)} for d, series in dims.items()}}
                    for chart, dims in self.charts.items()}
        if path == "/api/v1/data" and query.get("chart") in self.charts:
            dims = self.charts[query["chart"]]
            after, before = int(query.get("after", -60)), int(query.get("before", 0))
            after, before = (now + after if after <= 0 else after), (now + before if before <= 0 else before)
            rows = [[t] + [self._json_value(s(t)) for s in dims.values()] for t in range(before, after, -1)]
            return {"labels": ["time"] + list(dims), "data": rows}
        return None
