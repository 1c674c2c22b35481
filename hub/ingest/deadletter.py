"""Dead letters: invalid messages kept for inspection instead of crashing or looping.

Every :class:`wardlink.protocol.ProtocolError` (its ``reason`` is the code stored here) and
every message a store refused (``store_rejected``: the telemetry store refused its points, or
the relational store its rows) becomes a dead letter. The message is then acknowledged: the
broker would otherwise re-deliver it forever. Identical
messages (same topic and payload) share one row whose ``count`` grows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy.orm import Session

from wardlink.hub.db.models.ingest import dead_letters
from wardlink.hub.ingest.dialect import InsertFunction
from wardlink.protocol import UNSTORABLE_RE

#: Bytes of each invalid payload that are kept (the size of the whole payload is kept too).
DEFAULT_PAYLOAD_LIMIT = 64 * 1024
#: Reason code for a message whose points the telemetry store refused.
STORE_REJECTED = "store_rejected"
#: Reason code for a message the worker could not handle because of a bug (see the log).
INTERNAL_ERROR = "internal_error"
_DETAIL_LIMIT = 2000
#: Reason code for a message a listener (the rules engine) refused, while its rows were stored.
LISTENER_REJECTED = "listener_rejected"


def storable(text: str) -> str:
    """Return ``text`` with what no database keeps (NUL, lone surrogates) written as escapes."""
    if UNSTORABLE_RE.search(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One invalid message as it will be stored."""

    topic: str
    gateway: str | None
    reason: str
    detail: str
    payload: bytes
    payload_size: int
    received_ms: int
    digest: str

    @classmethod
    def of(cls, topic: str, payload: bytes, *, reason: str, detail: str, received_ms: int,
           gateway: str | None = None, limit: int = DEFAULT_PAYLOAD_LIMIT) -> DeadLetter:
        """Build a dead letter, keeping at most ``limit`` bytes of ``payload``."""
        digest = hashlib.sha256(topic.encode("utf-8", "replace") + b"\0" + payload).hexdigest()
        # The payload is kept as bytes (a binary column takes anything); the text fields are made
        # storable, so a dead letter can always be written, whatever the message held.
        return cls(storable(topic), gateway if gateway is None else storable(gateway), reason,
                   storable(detail[:_DETAIL_LIMIT]), bytes(payload[:limit]), len(payload), received_ms, digest)


def upsert_rows(letters: Iterable[DeadLetter]) -> list[dict]:
    """Return one row per distinct message, counting repeats within the batch."""
    rows: dict[str, dict] = {}
    for d in letters:
        row = rows.get(d.digest)
        if row is None:
            rows[d.digest] = {
                "digest": d.digest, "topic": d.topic, "gateway": d.gateway, "reason": d.reason,
                "detail": d.detail, "payload": d.payload, "payload_size": d.payload_size,
                "first_received_ms": d.received_ms, "last_received_ms": d.received_ms, "count": 1,
            }
        else:
            row["count"] += 1
            row["last_received_ms"] = max(row["last_received_ms"], d.received_ms)
    return list(rows.values())


def store(session: Session, insert: InsertFunction, letters: Sequence[DeadLetter]) -> None:
    """Insert ``letters`` or bump the count of rows already there (``insert`` is the dialect's)."""
    rows = upsert_rows(letters)
    if not rows:
        return
    stmt = insert(dead_letters)
    stmt = stmt.on_conflict_do_update(
        index_elements=[dead_letters.c.digest],
        set_={"count": dead_letters.c.count + stmt.excluded.count,
              "last_received_ms": stmt.excluded.last_received_ms,
              "reason": stmt.excluded.reason,
              "detail": stmt.excluded.detail},
    )
    session.execute(stmt, rows)
