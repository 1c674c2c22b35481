"""Helpers for the rules, alert and notification tests: points as ingest stores them, rule
set-up on the seeded database, and queries of what the engine did."""

from __future__ import annotations

from typing import Any, Iterable

from relational_support import GATEWAY
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Alert
from wardlink.hub.db.models.rules import AlertLifecycle, NotificationOutbox
from wardlink.hub.rules import RulesEngine, parse_rules, sync_rules
from wardlink.hub.telemetry import Point

#: channel -> (measurement, asset tag) as bound in the seeded demo site (ward ICU, site RGH).
BINDINGS = {
    "fridge1.temp": ("temperature", "VF-0001"),
    "fridge1.door": ("door", "VF-0001"),
    "dock1.current": ("current", "IPD-0001"),
    "room.temp": ("temperature", "ENV-ICU-1"),
}


def point(channel: str, ts_ms: int, value: float | None, *, late: bool = False, quality: str = "good",
          gateway: str = GATEWAY) -> Point:
    """Return a point tagged the way ingest tags a reading of ``channel`` on the seeded site."""
    measurement, asset = BINDINGS.get(channel, ("unbound", None))
    tags = {"gateway": gateway, "channel": channel}
    if asset:
        tags.update(asset=asset, ward="ICU", site="RGH")
    return Point.of(measurement, tags, ts_ms, value, quality if value is not None else "bad", late)


def series(channel: str, start_ms: int, step_s: float, values: Iterable[float | None], *,
           late: bool = False) -> list[Point]:
    """Return points of ``channel`` every ``step_s`` seconds from ``start_ms``."""
    return [point(channel, start_ms + round(i * step_s * 1000), v, late=late) for i, v in enumerate(values)]


def install_rules(db, clock, rules: list[dict[str, Any]], notifiers: dict | None = None) -> None:
    """Validate ``rules`` and store them in the rules table."""
    ruleset = parse_rules({"rules": rules, "notifiers": notifiers or {}})
    with session_scope(db) as session:
        sync_rules(session, ruleset.rules, clock=clock)


def make_engine(db, clock, rules: list[dict[str, Any]] | None = None, *, dispatcher=None,
                notifiers: dict | None = None, **kwargs) -> RulesEngine:
    """Store ``rules`` (if given) and return an engine on ``db`` with ``clock``."""
    if rules is not None:
        install_rules(db, clock, rules, notifiers)
    return RulesEngine(db, clock=clock, dispatcher=dispatcher, **kwargs)


def alerts(db, rule: str | None = None) -> list[tuple[Alert, AlertLifecycle | None]]:
    """Return every alert (of ``rule``) with its lifecycle row, oldest first."""
    with session_scope(db, readonly=True) as session:
        stmt = (select(Alert, AlertLifecycle).outerjoin(AlertLifecycle, AlertLifecycle.alert_id == Alert.id)
                .options(selectinload(Alert.asset), selectinload(Alert.gateway)).order_by(Alert.id))
        if rule is not None:
            stmt = stmt.where(Alert.rule == rule)
        return [(a, lc) for a, lc in session.execute(stmt)]


def outbox(db) -> list[NotificationOutbox]:
    """Return every outbox row, oldest first."""
    with session_scope(db, readonly=True) as session:
        return list(session.scalars(select(NotificationOutbox).order_by(NotificationOutbox.id)))


class HookServer:
    """A local HTTP receiver for webhook tests: answers ``fail_first`` requests with ``fail_status``
    (and ``headers``), then 200; keeps every request's body and headers."""

    def __init__(self, fail_first: int = 0, fail_status: int = 503, headers: dict | None = None,
                 on_request=None) -> None:
        import http.server
        import threading

        self.fail_first, self.fail_status, self.fail_headers = fail_first, fail_status, headers or {}
        self.on_request = on_request  # called with the request's number (1, 2, ...) before answering
        self.requests: list[tuple[dict, bytes]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner._lock:
                    owner.requests.append((dict(self.headers), body))
                    failing = len(owner.requests) <= owner.fail_first
                    number = len(owner.requests)
                if owner.on_request is not None:
                    owner.on_request(number)
                self.send_response(owner.fail_status if failing else 200)
                for key, value in (owner.fail_headers.items() if failing else ()):
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # keep test output quiet
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def bodies(self) -> list[bytes]:
        """Return the request bodies received so far."""
        with self._lock:
            return [body for _, body in self.requests]

    def close(self) -> None:
        """Stop serving; idempotent."""
        if self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread = None
