"""What the ingest workers recorded in the relational store, as the services read it.

Ingest writes these rows on its hot path (:mod:`wardlink.hub.ingest.records`); the web UI, the rules
engine and the health check read them through the functions here, so nothing below ingest
imports it. The row types are the ones ingest fills in.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import Engine, or_, select

from wardlink.hub.db.models.gateways import GatewayLink
from wardlink.hub.db.models.ingest import dead_letters, workers

#: The link table as a Core table: ingest reads and writes its columns without the ORM.
gateway_links = GatewayLink.__table__


@dataclass
class GatewayRecord:
    """Ingest's columns of a ``gateway_links`` row (:class:`~wardlink.hub.db.models.gateways.GatewayLink`)."""

    gateway: str
    state: str | None = None
    state_ts_ms: int | None = None
    state_received_ms: int | None = None
    status_boot: str | None = None
    version: str | None = None
    uptime_s: float | None = None
    buffer_depth: int | None = None
    oldest_unsent_ms: int | None = None
    dropped: int | None = None
    config_version: int | None = None
    boot: str | None = None
    telemetry_seq: int | None = None
    events_seq: int | None = None
    restarts: int = 0
    gaps: int = 0
    missing_batches: int = 0
    duplicate_batches: int = 0
    batches: int = 0
    readings: int = 0
    last_reading_ts_ms: int | None = None
    last_seen_ms: int | None = None


def list_gateways(engine: Engine, gateway: str | None = None) -> list[GatewayRecord]:
    """Return the records of the gateways ingest heard, by id (one, when ``gateway`` is given)."""
    names = [f.name for f in fields(GatewayRecord)]
    c = gateway_links.c
    heard = or_(c.state.is_not(None), c.boot.is_not(None), c.last_seen_ms.is_not(None))  # not the engine's alone
    stmt = select(*(c[n] for n in names)).where(heard).order_by(c.gateway)
    if gateway is not None:
        stmt = stmt.where(c.gateway == gateway)
    with engine.connect() as conn:
        return [GatewayRecord(**dict(zip(names, row))) for row in conn.execute(stmt)]


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """A stored dead letter, as the UI lists it."""

    id: int
    topic: str
    gateway: str | None
    reason: str
    detail: str
    payload: bytes
    payload_size: int
    first_received_ms: int
    last_received_ms: int
    count: int

    @property
    def truncated(self) -> bool:
        """Return True when only the start of the payload was kept."""
        return len(self.payload) < self.payload_size


def list_dead_letters(engine: Engine, *, reason: str | None = None, gateway: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[DeadLetterRow]:
    """Return dead letters, most recently received first."""
    stmt = select(*(dead_letters.c[f.name] for f in fields(DeadLetterRow)))
    if reason is not None:
        stmt = stmt.where(dead_letters.c.reason == reason)
    if gateway is not None:
        stmt = stmt.where(dead_letters.c.gateway == gateway)
    stmt = stmt.order_by(dead_letters.c.last_received_ms.desc(), dead_letters.c.id.desc()).limit(limit).offset(offset)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [DeadLetterRow(*row[:5], bytes(row[5]), *row[6:]) for row in rows]


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """The last counters an ingest worker published."""

    client_id: str
    hostname: str
    pid: int
    started_ms: int
    updated_ms: int
    connected: bool
    received: int
    points_written: int
    dead_lettered: int
    acked: int
    store_errors: int
    pending: int
    last_error: str | None
    last_error_ms: int | None
    oldest_pending_ms: int | None = None  # receipt of its oldest unacknowledged message
    retrying_since_ms: int | None = None  # since when a store or listener write is being retried
    share_group: str | None = None  # its shared-subscription group: while its session lives, it takes a share


def list_workers(engine: Engine) -> list[WorkerRow]:
    """Return the counters every ingest worker last published, by client id."""
    names = list(WorkerRow.__dataclass_fields__)
    with engine.connect() as conn:
        rows = conn.execute(select(*(workers.c[n] for n in names)).order_by(workers.c.client_id))
        return [WorkerRow(**dict(zip(names, row))) for row in rows]
