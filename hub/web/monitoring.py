"""The web server's health checks, shared by ``/api/v1/health`` and its monitoring listener,
its ``/metrics``, and the counting of responses by status class.

``/api/v1/health`` (public, through the reverse proxy) and the listener's ``/health``
(``web_metrics_port``, never behind the proxy) judge the same checks: the relational store
answers, the telemetry store (when there is one) answers, and what the ingest workers last
published (:mod:`wardlink.hub.services.gateways.ingest_status`). A stalled ingest worker does
not make the web server unhealthy (it still serves), but both say so.
"""

from __future__ import annotations

from dataclasses import dataclass

from wardlink.hub.db.engine import make_session, responds
from wardlink.hub.db.types import to_ms, utc_now
from wardlink.hub.errors import StoreError
from wardlink.hub.services.gateways import ingest_status
from wardlink.hub.web.state import StatusCounts, WebState
from wardlink.metrics import Family, gauge
from wardlink.monitor import HealthReport


class CountResponses:
    """WSGI middleware: count every response by its status class (an exception counts as 5xx)."""

    def __init__(self, app, counts: StatusCounts) -> None:
        self.app = app
        self.counts = counts

    def __call__(self, environ, start_response):
        counted = False

        def counting(status: str, headers, exc_info=None):
            nonlocal counted
            if not counted:
                counted = True
                self.counts.count(int(status[:3]) if status[:3].isdigit() else 500)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, counting)
        except Exception:
            if not counted:
                self.counts.count(500)
            raise


@dataclass(frozen=True)
class WebChecks:
    """What the web server's health checks found."""

    database: str  # ok | unavailable
    telemetry: str  # ok | unavailable | not configured
    ingest: str  # ok | stalled | not running | unknown (the database is down)
    ingest_report: ingest_status.IngestHealth | None

    @property
    def healthy(self) -> bool:
        """Return True when this web server can serve: its stores answer."""
        return self.database == "ok" and self.telemetry != "unavailable"

    def api_body(self) -> dict:
        """Return the body of ``/api/v1/health``."""
        body = {"status": "ok" if self.healthy else "degraded", "database": self.database,
                "telemetry": self.telemetry, "ingest": self.ingest}
        if self.ingest == "stalled" and self.ingest_report is not None:
            body["status"] = "degraded"  # still 200: this web server serves; ingest needs attention
            body["reasons"] = [f"an ingest worker is stalled: {r}" for r in self.ingest_report.reasons]
        return body


def run_checks(web: WebState) -> WebChecks:
    """Check the relational store, the telemetry store and ingest's published state."""
    session = make_session(web.engine, readonly=True)
    try:
        database = "ok" if responds(session) else "unavailable"
    finally:
        session.close()
    store = web.telemetry
    if store is None:
        telemetry = "not configured"
    else:
        try:
            telemetry = "ok" if store.ping() else "unavailable"
        except Exception:
            telemetry = "unavailable"
    report = None
    ingest = "unknown"
    if database == "ok":
        try:
            report = ingest_status.ingest_health(web.engine, to_ms(utc_now(web.clock)),
                                                 stall_after_s=web.config.ingest_stall_s)
            ingest = report.status
        except StoreError:
            ingest = "unknown"
    return WebChecks(database, telemetry, ingest, report)


def web_health(web: WebState) -> HealthReport:
    """Return the monitoring listener's ``/health``: unhealthy when a store this server needs is down."""
    checks = run_checks(web)
    reasons = []
    if checks.database != "ok":
        reasons.append("the relational database does not answer")
    if checks.telemetry == "unavailable":
        reasons.append("the telemetry store does not answer")
    return HealthReport(tuple(reasons), {k: v for k, v in checks.api_body().items() if k != "status"})


def web_families(web: WebState) -> list[Family]:
    """Return the web server's metrics: responses by status class and what its health checks know."""
    checks = run_checks(web)
    requests = Family("wardlink_web_requests_total", "counter", "Requests answered, by status class (2xx, 4xx...).")
    for status_class, count in web.responses.snapshot().items():
        requests.add(count, {"class": status_class})
    workers = Family("wardlink_ingest_workers", "gauge",
                     "Ingest workers by state, from what each last published (running, stalled, stopped, offline).")
    report = checks.ingest_report
    if report is not None:
        for state in ("running", "stalled", "stopped", "offline"):
            workers.add(sum(1 for w in report.workers if w.state == state), {"state": state})
    return [
        requests,
        gauge("wardlink_web_database_up", "1 while the relational database answers.", checks.database == "ok"),
        gauge("wardlink_web_telemetry_up", "1 while the telemetry store answers (absent when there is none).",
              None if checks.telemetry == "not configured" else checks.telemetry == "ok"),
        workers,
        gauge("wardlink_dead_letters", "Distinct messages ingest refused and keeps (invalid, or refused by a store).",
              report.dead_letters if report is not None else None),
        gauge("wardlink_dead_letter_messages", "Messages the kept dead letters stand for, repeats included.",
              report.dead_letter_messages if report is not None else None),
        gauge("wardlink_web_healthy", "1 while /health answers 200.", checks.healthy),
    ]
