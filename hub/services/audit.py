"""Recording and checking the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db import audit as chain
from hub.db.models import AuditLog
from hub.db.types import utc_now
from hub.services.actor import Actor, resolve_actor, resolve_clock
from hub.services.pagination import Page, paginate
from hub.services.permissions import require
from wardlink.clock import Clock

ChainHead = chain.ChainHead


def record(session: Session, *, actor: Actor | None, action: str, entity: str, entity_id: Any,
           before: Any = None, after: Any = None, clock: Clock | None = None) -> AuditLog:
    """Append an audit row for a change made by ``actor``."""
    who = resolve_actor(actor)
    return chain.append(
        session, at=utc_now(resolve_clock(clock)), actor=who.username, actor_id=who.user_id,
        action=action, entity=entity, entity_id=str(entity_id), before=before, after=after,
        source_ip=who.source_ip,
    )


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    """Return only the keys whose values differ, as (before, after) dicts."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def verify_chain(session: Session) -> int | None:
    """Return the id of the first tampered audit row, or None when the trail is intact."""
    return chain.verify_chain(session)


def verify(session: Session, *, actor: Actor | None) -> int | None:
    """Check the chain on behalf of ``actor`` (who needs ``audit.verify``)."""
    require(resolve_actor(actor), "audit.verify")
    return chain.verify_chain(session)


def head(session: Session, *, actor: Actor | None) -> ChainHead:
    """Return the newest link of the chain, to be recorded outside the database."""
    require(resolve_actor(actor), "audit.view")
    return chain.chain_head(session)


def list_entries(session: Session, *, actor: Actor | None, entity: str | None = None,
                 entity_id: str | None = None, page: int = 1, per_page: int = 50) -> Page[AuditLog]:
    """Return audit rows, newest first, optionally for one entity."""
    require(resolve_actor(actor), "audit.view")
    stmt = select(AuditLog).order_by(AuditLog.seq.desc())
    if entity:
        stmt = stmt.where(AuditLog.entity == entity)
    if entity_id:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    return paginate(session, stmt, page, per_page)
