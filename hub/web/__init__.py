"""The hub's admin UI and JSON API (Flask), and serving them with waitress."""

from __future__ import annotations

import gc
import http.client
import logging
import signal
import threading
from typing import Callable

from wardlink.hub.config import HubConfig
from wardlink.hub.web.app import create_app
from wardlink.clock import Clock

log = logging.getLogger("wardlink.web")

__all__ = ["YOUNG_THRESHOLD", "WebServer", "create_app", "fit_collector", "make_server", "serve"]

#: Young-generation threshold of a web server process (Python's default is 700 allocations).
YOUNG_THRESHOLD = 20_000


class WebServer:
    """A waitress server around the app; ``run()`` blocks until ``close()``."""

    def __init__(self, app, server, owned_store=None) -> None:
        self.app = app
        self._server = server
        self._owned_store = owned_store
        self._closed = False
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """Return the port actually listened on."""
        return self._server.effective_port

    @property
    def host(self) -> str:
        """Return the address actually listened on."""
        return self._server.effective_host

    def problem(self, timeout: float = 10.0) -> str | None:
        """Return why the server does not serve, or None when it answered a request just now.

        The request (a static file: no database, no session) goes through the listening
        socket, waitress's loop and a worker thread, the way users' requests go; the systemd
        watchdog is petted only while it is answered.
        """
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        conn = http.client.HTTPConnection(host, self.port, timeout=timeout)
        try:
            conn.request("GET", "/static/favicon.svg")
            conn.getresponse().read()
        except (OSError, http.client.HTTPException) as exc:
            return f"the web server did not answer a request on {host}:{self.port}: {exc}"
        finally:
            conn.close()
        return None

    def run(self) -> None:
        """Serve requests until :meth:`close` is called."""
        try:
            self._server.run()
        except OSError:
            if not self._closed:  # closing the listening socket ends the loop with EBADF
                raise

    def close(self) -> None:
        """Stop serving and release the database and telemetry store; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._server.close()
        self.app.extensions["wardlink"].close()
        if self._owned_store is not None:
            self._owned_store.close()


def make_server(config: HubConfig, *, threads: int = 8, telemetry=None, clock: Clock | None = None,
                port: int | None = None) -> WebServer:
    """Build the app and a waitress server for it on ``web_host:web_port`` (or ``port``)."""
    from waitress import create_server

    from wardlink.hub.web.files import MAX_UPLOAD_REQUEST

    owned = None
    if telemetry is None:
        from wardlink.hub.telemetry import open_store

        telemetry = owned = open_store(config)
    try:
        app = create_app(config, telemetry=telemetry, clock=clock)
        server = create_server(app, host=config.web_host,
                               port=config.web_port if port is None else port,
                               threads=threads, ident="wardlink",
                               # Refuse a body larger than the largest upload from its
                               # Content-Length, before reading it (the app's limits are lower).
                               max_request_body_size=MAX_UPLOAD_REQUEST,
                               # The app decides which forwarded headers to believe
                               # (trusted_proxies, wardlink.hub.web.proxy); waitress must pass them on.
                               clear_untrusted_proxy_headers=False)
    except BaseException:
        if owned is not None:
            owned.close()
        raise
    return WebServer(app, server, owned)


def fit_collector() -> None:
    """Fit the cyclic garbage collector to a web server process, once the app is built.

    Some pages build tens of thousands of small objects per request (a year of the PM
    calendar is some 50,000 services, each a tuple and, in the JSON, two dicts). With the
    default thresholds the young generation is collected every 700 allocations, and each
    full collection walks the whole start-up heap (Flask, SQLAlchemy, the app: about 190,000
    objects): on the calendar's year that took longer than building it. So the objects alive
    after start-up are frozen (exempt from collection, still freed by reference counting) and
    the young generation is collected every :data:`YOUNG_THRESHOLD` allocations (never
    lowered; 0, collection switched off, is left alone). The ingest worker does the same.
    """
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if young and young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def serve(config: HubConfig, *, threads: int = 8, telemetry=None, clock: Clock | None = None,
          started: Callable[[WebServer], Callable[[], None]] | None = None) -> None:
    """Serve the admin UI and API until SIGTERM or SIGINT (see :func:`fit_collector`).

    ``started`` is called with the server once it listens, before it serves; what it returns
    is called when serving ends (the command line starts and stops its monitoring there).
    """
    server = make_server(config, threads=threads, telemetry=telemetry, clock=clock)
    fit_collector()
    if threading.current_thread() is threading.main_thread():
        def _stop(signum, _frame):
            log.info("received %s, stopping the web server", signal.Signals(signum).name)
            threading.Thread(target=server.close, name="web-stop").start()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    log.info("web UI on http://%s:%s", server.host, server.port)
    stopped: Callable[[], None] = lambda: None  # noqa: E731
    try:
        if started is not None:
            stopped = started(server)
        server.run()
    finally:
        try:
            stopped()
        finally:
            server.close()
