"""A small HTTP listener for a process's ``/metrics`` and ``/health``, on a thread of its own.

The hub's ingest workers and scheduler are not web servers, and the web server's own port
faces users through the reverse proxy; so each process that wants to be watched starts a
:class:`MonitorServer` (standard library ``http.server``, daemon threads) on a port of its
own, bound to 127.0.0.1 unless configured otherwise:

- ``GET /metrics``: the Prometheus text format (:mod:`wardlink.metrics`) of what the process
  counts, built when asked;
- ``GET /health``: 200 with ``{"status": "ok", ...}`` while the process can do its work, 503
  with ``{"status": "unhealthy", "reasons": [...]}`` when it cannot, each reason one sentence.

A port another process holds is refused at start with :class:`MonitorError`, one line naming
the address. Nothing here changes what the process does: the listener only reads.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from wardlink.errors import WardlinkError
from wardlink.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)


class MonitorError(WardlinkError):
    """The monitoring listener cannot start (the port is taken, the address is not ours...)."""


@dataclass(frozen=True)
class HealthReport:
    """Whether a process can do its work, why not, and what else its ``/health`` tells."""

    reasons: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        """Return True when nothing is wrong."""
        return not self.reasons

    def to_json(self) -> dict[str, Any]:
        """Return the body of ``/health``."""
        return {"status": "ok" if self.healthy else "unhealthy", "reasons": list(self.reasons), **self.details}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restarted process may bind again at once (TIME_WAIT); a listener still refuses

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 monitor: MonitorServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.monitor = monitor
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "wardlink-monitor"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        monitor = self.server.monitor
        path = self.path.split("?", 1)[0]
        try:
            if path == "/metrics":
                status, ctype, data = 200, CONTENT_TYPE, monitor.metrics().encode()
            elif path == "/health":
                report = monitor.health()
                status, ctype = (200 if report.healthy else 503), "application/json"
                data = json.dumps(report.to_json(), sort_keys=True).encode()
            else:
                status, ctype, data = 404, "text/plain; charset=utf-8", b"not found: try /metrics or /health\n"
        except Exception:  # a bug in a figure: say so, keep serving
            log.exception("%s: cannot answer %s", monitor.name, path)
            status, ctype, data = 500, "text/plain; charset=utf-8", b"internal error; see the process's log\n"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: %s", self.server.monitor.name, format % args)


class MonitorServer:
    """Serve ``/metrics`` and ``/health`` of one process from the callables given."""

    def __init__(self, name: str, *, metrics: Callable[[], str], health: Callable[[], HealthReport]) -> None:
        self.name = name
        self.metrics = metrics
        self.health = health
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str, port: int) -> MonitorServer:
        """Listen on ``host:port`` (0: a free port) and serve on a daemon thread; raise MonitorError."""
        if not 0 <= port < 65536:
            raise MonitorError(f"{self.name}: metrics port must be 0..65535, got {port}")
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            server = _Server((host, port), _Handler, self)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise MonitorError(f"{self.name}: cannot listen for /metrics and /health on {where}: {reason}") from None
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name=f"monitor[{self.name}]", daemon=True)
        self._thread.start()
        log.info("%s: /metrics and /health on http://%s", self.name, self.address)
        return self

    @property
    def port(self) -> int:
        """Return the port listened on."""
        if self._server is None:
            raise MonitorError(f"{self.name}: not started")
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        """Return ``host:port`` listened on."""
        if self._server is None:
            raise MonitorError(f"{self.name}: not started")
        host = str(self._server.server_address[0])
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def close(self) -> None:
        """Stop listening; idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
