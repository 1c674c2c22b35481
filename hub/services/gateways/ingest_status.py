"""Ingest's own health, as the web UI and the JSON API show it: stalled workers and dead letters.

Every ingest worker publishes its counters to the relational store every few seconds (and while
it retries a failing write), including when it received its oldest message not yet
acknowledged and since when it has been retrying a store or rules-engine write. A worker is
**stalled** when either is older than ``ingest_stall_s``: nothing it holds is lost (the broker
keeps every unacknowledged message), but readings are not being stored or not alerted on, and
``/api/v1/health`` says ``degraded``. So is a worker that has not reported for that long (frozen
or killed: its persistent session keeps collecting messages). A worker that stopped cleanly
says so in its last row and is not judged.

Dead letters are the messages ingest refused (invalid, or refused by a store) and kept for
inspection with their payload; they do not make health degraded — one bad gateway must not
page anyone about the hub — but the UI and API list them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace

from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from wardlink.hub.db.models.ingest import dead_letters as dead_letter_table
from wardlink.hub.errors import InvalidInput, StoreError
from wardlink.hub.i18n import N_
from wardlink.hub.services.gateways.ingest_records import DeadLetterRow, WorkerRow, list_dead_letters, list_workers
from wardlink.hub.services.people.permissions import require

#: The default of ``ingest_stall_s``.
DEFAULT_STALL_S = 120
#: Dead letters shown per page.
MAX_PAGE = 200
#: The permission to see ingest's workers and dead letters (payloads come from gateways).
VIEW = "gateway.view"


@dataclass(frozen=True)
class WorkerState:
    """One ingest worker's last published counters and the hub's judgement of them."""

    row: WorkerRow
    state: str  # running | stalled | stopped | offline (stopped, but its session still takes a share)
    reason: str | None  # why it is stalled, e.g. "holding a message unacknowledged for 185 s"
    lag_ms: int = 0  # how long its oldest unacknowledged message has waited (0: none)

    def to_json(self) -> dict:
        """Return the JSON-ready form (``last_error`` is the worker's own, already storable text)."""
        r = self.row
        return {"client_id": r.client_id, "hostname": r.hostname, "pid": r.pid, "state": self.state,
                "reason": self.reason, "connected": r.connected, "started_ms": r.started_ms,
                "updated_ms": r.updated_ms, "received": r.received, "points_written": r.points_written,
                "dead_lettered": r.dead_lettered, "acked": r.acked, "store_errors": r.store_errors,
                "pending": r.pending, "oldest_pending_ms": r.oldest_pending_ms,
                "retrying_since_ms": r.retrying_since_ms, "last_error": r.last_error,
                "last_error_ms": r.last_error_ms, "share_group": r.share_group, "lag_ms": self.lag_ms}


@dataclass(frozen=True)
class IngestHealth:
    """Ingest as a whole: ``ok``, ``stalled`` (some worker is), or ``not running`` (no worker has reported)."""

    status: str
    reasons: tuple[str, ...]
    workers: tuple[WorkerState, ...]
    dead_letters: int  # distinct dead letters kept
    dead_letter_messages: int  # messages they stand for (repeats counted)
    last_dead_letter_ms: int | None


def judge_worker(row: WorkerRow, now_ms: int, stall_after_s: float) -> WorkerState:
    """Return whether a worker is running, stalled (and why) or stopped."""
    if not row.connected and not row.pending and row.oldest_pending_ms is None and row.retrying_since_ms is None:
        if row.share_group:
            # Stopped but not retired (wardlink.hub.ingest.retire): its persistent session stays in the
            # group, and the broker keeps routing a share of the readings into it, unread.
            return WorkerState(row, "offline", f"{row.client_id} is offline but still in group {row.share_group}: "
                                               "its share of the readings waits in its session (start it again, "
                                               "or retire it with wardlink hub ingest --retire)")
        return WorkerState(row, "stopped", None)
    limit = stall_after_s * 1000
    if row.retrying_since_ms is not None and now_ms - row.retrying_since_ms > limit:
        age = (now_ms - row.retrying_since_ms) / 1000
        return WorkerState(row, "stalled", f"retrying a store write for {age:.0f} s")
    if row.oldest_pending_ms is not None and now_ms - row.oldest_pending_ms > limit:
        age = (now_ms - row.oldest_pending_ms) / 1000
        return WorkerState(row, "stalled", f"holding a message unacknowledged for {age:.0f} s")
    if now_ms - row.updated_ms > limit:
        # A running worker reports every few seconds, even while it retries: this one froze or
        # was killed, and its persistent session keeps collecting its share of the messages.
        age = (now_ms - row.updated_ms) / 1000
        return WorkerState(row, "stalled", f"not reported for {age:.0f} s")
    return WorkerState(row, "running", None)


def ingest_health(engine: Engine, now_ms: int, *, stall_after_s: float = DEFAULT_STALL_S) -> IngestHealth:
    """Return ingest's health from what the workers last published; raise StoreError when unreadable."""
    if not _has_ingest_tables(engine):
        return IngestHealth("not running", (), (), 0, 0, None)
    try:
        rows = list_workers(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"relational store: read worker counters: {type(exc).__name__}: {exc}") from exc
    states = tuple(replace(judge_worker(row, now_ms, stall_after_s),
                           lag_ms=max(0, now_ms - row.oldest_pending_ms) if row.oldest_pending_ms is not None else 0)
                   for row in rows)
    reasons = tuple(s.reason for s in states if s.reason)
    try:
        with engine.connect() as conn:
            distinct, messages, last = conn.execute(select(
                func.count(), func.coalesce(func.sum(dead_letter_table.c.count), 0),
                func.max(dead_letter_table.c.last_received_ms))).one()
    except SQLAlchemyError as exc:
        raise StoreError(f"relational store: read dead letters: {type(exc).__name__}: {exc}") from exc
    status = "stalled" if reasons else ("ok" if states else "not running")
    return IngestHealth(status, reasons, states, int(distinct), int(messages), last)


def ingest_report(engine: Engine, now_ms: int, *, actor, stall_after_s: float = DEFAULT_STALL_S) -> IngestHealth:
    """Return :func:`ingest_health` for a user who may view gateways."""
    require(actor, VIEW)
    return ingest_health(engine, now_ms, stall_after_s=stall_after_s)


def dead_letter_page(engine: Engine, *, actor, reason: str | None = None, gateway: str | None = None,
                     page: int = 1, per_page: int = 50) -> list[DeadLetterRow]:
    """Return one page of dead letters, most recent first (empty when ingest never ran)."""
    require(actor, VIEW)
    if page < 1 or not 1 <= per_page <= MAX_PAGE:
        raise InvalidInput(N_("page must be >= 1 and per_page 1..%(max_page)s"), max_page=MAX_PAGE)
    if not _has_ingest_tables(engine):
        return []
    try:
        return list_dead_letters(engine, reason=reason or None, gateway=gateway or None, limit=per_page,
                                 offset=(page - 1) * per_page)
    except SQLAlchemyError as exc:
        raise StoreError(f"relational store: read dead letters: {type(exc).__name__}: {exc}") from exc


def dead_letter_json(row: DeadLetterRow) -> dict:
    """Return a dead letter for the API: the payload as base64 (exactly as received) and as text."""
    return {"id": row.id, "topic": row.topic, "gateway": row.gateway, "reason": row.reason,
            "detail": row.detail, "payload_base64": base64.b64encode(row.payload).decode("ascii"),
            "payload_text": payload_text(row.payload), "payload_size": row.payload_size,
            "truncated": row.truncated, "first_received_ms": row.first_received_ms,
            "last_received_ms": row.last_received_ms, "count": row.count}


def payload_text(payload: bytes, limit: int = 4000) -> str:
    """Return a payload as readable text: invalid UTF-8 and control characters escaped."""
    text = payload[:limit].decode("utf-8", "backslashreplace")
    out = "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)
    return out + ("…" if len(payload) > limit else "")


def _has_ingest_tables(engine: Engine) -> bool:
    try:
        names = set(inspect(engine).get_table_names())
    except SQLAlchemyError as exc:
        raise StoreError(f"relational store: {type(exc).__name__}: {exc}") from exc
    return {"ingest_workers", "ingest_dead_letters"} <= names
