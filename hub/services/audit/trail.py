"""Recording, reading and checking the audit trail.

Reading follows the same department rules as the objects themselves: a user limited to a
department (see :func:`wardlink.hub.services.people.permissions.department_scope`) sees only the rows of
entities in that department — its assets, work orders, alerts, gateways and channels,
maintenance plans, users and their API tokens — plus the rows of shared reference data
(sites, departments, rules, checklist templates, locations without a department). Rows of
any other entity, or of an entity that no longer resolves, are left out. Administrators
see everything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, or_, select
from sqlalchemy.orm import Session

from wardlink.hub.db import audit as chain
from wardlink.hub.db.models import (Alert, ApiToken, Asset, AuditLog, Channel, Gateway, Location, PmPlan, User,
                           WorkOrder)
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import department_scope, require
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


ChainCheck = chain.ChainCheck


def verify(session: Session, *, actor: Actor | None) -> ChainCheck:
    """Check the keyed chain and its append-only triggers on behalf of ``actor`` (who needs
    ``audit.verify``)."""
    require(resolve_actor(actor), "audit.verify")
    return chain.check_chain(session)


def head(session: Session, *, actor: Actor | None) -> ChainHead:
    """Return the newest link of the chain, to be recorded outside the database."""
    require(resolve_actor(actor), "audit.view")
    return chain.chain_head(session)


#: Entities that are shared reference data, not any one department's: every reader sees them.
SHARED_ENTITIES = frozenset({"site", "department", "rule", "checklist_template"})


def _as_text(column) -> ColumnElement:
    return cast(column, String)


def _in_department(department_id: int) -> ColumnElement:
    """Return the condition that an audit row's entity lies in ``department_id`` (or is shared)."""
    asset_ids = select(Asset.id).where(Asset.department_id == department_id)
    gateway = Gateway.department_id == department_id
    owned = {
        "asset": select(Asset.tag).where(Asset.department_id == department_id),
        "work_order": select(_as_text(WorkOrder.id)).where(WorkOrder.department_id == department_id),
        "alert": select(_as_text(Alert.id)).where(Alert.asset_id.in_(asset_ids)),
        "gateway": select(Gateway.gateway_id).where(gateway),
        "channel": select(Gateway.gateway_id + "/" + Channel.channel_id).select_from(Channel).join(
            Gateway, Channel.gateway_pk == Gateway.id).where(gateway),
        "pm_plan": select(_as_text(PmPlan.id)).where(PmPlan.asset_id.in_(asset_ids)),
        "user": select(User.username).where(User.department_id == department_id),
        "api_token": select(_as_text(ApiToken.id)).select_from(ApiToken).join(User, ApiToken.user_id == User.id).where(
            User.department_id == department_id),
        "location": select(_as_text(Location.id)).where(
            or_(Location.department_id == department_id, Location.department_id.is_(None))),
    }
    return or_(AuditLog.entity.in_(sorted(SHARED_ENTITIES)),
               *(and_(AuditLog.entity == entity, AuditLog.entity_id.in_(ids)) for entity, ids in owned.items()))


def scoped(stmt, who: Actor):
    """Limit an audit-row query to the rows ``who`` may read (see the module docstring)."""
    scope = department_scope(who)
    return stmt if scope is None else stmt.where(_in_department(scope))


def list_entries(session: Session, *, actor: Actor | None, entity: str | None = None,
                 entity_id: str | None = None, page: int = 1, per_page: int = 50) -> Page[AuditLog]:
    """Return the audit rows ``actor`` may read, newest first, optionally for one entity."""
    who = resolve_actor(actor)
    require(who, "audit.view")
    stmt = scoped(select(AuditLog).order_by(AuditLog.seq.desc()), who)
    if entity:
        stmt = stmt.where(AuditLog.entity == entity)
    if entity_id:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    return paginate(session, stmt, page, per_page)
