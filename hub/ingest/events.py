"""Gateway events (door open/close, alarms, buffer overflow...) as stored rows and UI queries."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Sequence

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models.ingest import events
from wardlink.hub.ingest.dialect import InsertFunction
from wardlink.protocol import EventBatch


@dataclass(frozen=True, slots=True)
class EventRow:
    """One stored event; ``idx`` < 0 marks a note the hub wrote itself (restart, sequence gap)."""

    id: int
    gateway: str
    boot: str
    seq: int
    idx: int
    ts_ms: int
    type: str
    severity: str
    channel: str | None
    asset: str | None
    data: dict[str, Any]
    received_ms: int


def rows_for_batch(batch: EventBatch, received_ms: int, assets: Sequence[str | None]) -> list[dict]:
    """Return insert rows for an event batch; ``assets[i]`` is event i's bound asset or None."""
    return [
        {"gateway": batch.gateway, "boot": batch.boot, "seq": batch.seq, "idx": i, "ts_ms": e.ts_ms,
         "type": e.type, "severity": e.severity, "channel": e.channel, "asset": assets[i],
         "data": dict(e.data), "received_ms": received_ms}
        for i, e in enumerate(batch.events)
    ]


def store(session: Session, insert: InsertFunction, rows: Sequence[dict]) -> None:
    """Insert event rows; a re-delivered batch hits the unique key and is skipped."""
    unique = {(r["gateway"], r["boot"], r["seq"], r["idx"]): r for r in rows}
    if not unique:
        return
    stmt = insert(events).on_conflict_do_nothing(
        index_elements=[events.c.gateway, events.c.boot, events.c.seq, events.c.idx])
    session.execute(stmt, list(unique.values()))


def list_events(engine: Engine, *, gateway: str | None = None, asset: str | None = None,
                types: Sequence[str] | None = None, start_ms: int | None = None, end_ms: int | None = None,
                limit: int = 200) -> list[EventRow]:
    """Return events in ``[start_ms, end_ms)`` matching the filters, newest first."""
    names = [f.name for f in fields(EventRow)]
    stmt = select(*(events.c[n] for n in names))
    if gateway is not None:
        stmt = stmt.where(events.c.gateway == gateway)
    if asset is not None:
        stmt = stmt.where(events.c.asset == asset)
    if types is not None:
        stmt = stmt.where(events.c.type.in_(list(types)))
    if start_ms is not None:
        stmt = stmt.where(events.c.ts_ms >= start_ms)
    if end_ms is not None:
        stmt = stmt.where(events.c.ts_ms < end_ms)
    stmt = stmt.order_by(events.c.ts_ms.desc(), events.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [EventRow(*row) for row in conn.execute(stmt)]
