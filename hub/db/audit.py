"""The tamper-evident audit chain.

Each row's ``row_hash`` is the SHA-256 of its canonical JSON content, which includes the
previous row's hash, so changing or deleting any row breaks every hash after it.
:func:`verify_chain` recomputes the chain and names the first row that no longer fits.
What a chain alone cannot reveal is the removal of its newest rows; :func:`chain_head`
returns the values to record elsewhere (a report, a ticket) to detect that as well.
Rows are appended under a lock (PostgreSQL advisory lock; SQLite's single writer) so two
writers can never chain onto the same parent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from collections.abc import Mapping

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hub.db.models.audit import AuditLog

GENESIS_HASH = "0" * 64
# An arbitrary constant that names the audit chain's PostgreSQL advisory lock.
_PG_LOCK_KEY = 0x5741524C_41554454


def to_jsonable(value: Any) -> Any:
    """Return ``value`` with dates, decimals and sets turned into JSON-safe forms."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def canonical_json(value: Any) -> str:
    """Return the one canonical JSON text of ``value`` (sorted keys, no spaces)."""
    return json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def row_digest(row: AuditLog) -> str:
    """Return the SHA-256 that ``row`` must carry, computed from its content and parent hash."""
    content = {
        "seq": row.seq,
        "at": row.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": row.actor_id,
        "actor": row.actor,
        "action": row.action,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "before": row.before_json,
        "after": row.after_json,
        "source_ip": row.source_ip,
        "prev_hash": row.prev_hash,
    }
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def append(session: Session, *, at: datetime, actor: str, actor_id: int | None, action: str,
           entity: str, entity_id: str, before: Any = None, after: Any = None,
           source_ip: str | None = None) -> AuditLog:
    """Append one row to the chain in the session's transaction and return it."""
    _lock_chain(session)
    last = session.execute(
        select(AuditLog.seq, AuditLog.row_hash).order_by(AuditLog.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last.seq + 1, last.row_hash) if last else (1, GENESIS_HASH)
    # Round to microseconds now: both stores keep that precision, so the hash survives a reload.
    row = AuditLog(
        seq=seq, at=at.astimezone(UTC), actor=actor[:100], actor_id=actor_id, action=action,
        entity=entity, entity_id=str(entity_id)[:128],
        before_json=None if before is None else canonical_json(before),
        after_json=None if after is None else canonical_json(after),
        source_ip=source_ip, prev_hash=prev_hash,
    )
    row.row_hash = row_digest(row)
    session.add(row)
    session.flush()
    return row


def verify_chain(session: Session) -> int | None:
    """Return the id of the first row that was changed, inserted out of order or follows a
    deleted row; None when the whole chain is intact."""
    expected_seq, expected_prev = 1, GENESIS_HASH
    rows = session.execute(select(AuditLog).order_by(AuditLog.seq).execution_options(yield_per=500))
    for row in rows.scalars():
        if row.seq != expected_seq or row.prev_hash != expected_prev or row_digest(row) != row.row_hash:
            return row.id
        expected_seq, expected_prev = row.seq + 1, row.row_hash
    return None


@dataclass(frozen=True)
class ChainHead:
    """The newest link of the chain: record it elsewhere to detect truncation later."""

    seq: int
    row_hash: str
    at: datetime | None


def chain_head(session: Session) -> ChainHead:
    """Return the newest row's sequence number and hash (0 and the genesis hash when empty)."""
    last = session.execute(
        select(AuditLog.seq, AuditLog.row_hash, AuditLog.at).order_by(AuditLog.seq.desc()).limit(1)
    ).first()
    return ChainHead(last.seq, last.row_hash, last.at) if last else ChainHead(0, GENESIS_HASH, None)
