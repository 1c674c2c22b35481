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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from wardlink.hub.db import audit as chain
from wardlink.hub.db.models import (Alert, ApiToken, Asset, AuditLog, Channel, Gateway, Location, PmPlan, User,
                           WorkOrder)
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit.fields import ENTITIES
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.people.site_time import day_range, zone_for
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
SHARED_ENTITIES = frozenset({"site", "department", "rule", "checklist_template", "part", "supplier",
                             "stock_location", "stock_bin", "part_kit"})


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


#: Longest actor, entity, entity id and action a filter accepts (the columns' own widths).
FILTER_LIMITS = {"actor": 100, "entity": 64, "entity_id": 128, "action": 64}


@dataclass(frozen=True)
class AuditFilter:
    """Which audit rows to read: by who, what and when (``since`` included, ``until`` not, UTC)."""

    actor: str | None = None
    entity: str | None = None
    entity_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: The local days asked for (for exports' notes).
    date_from: date | None = None
    date_to: date | None = None

    def apply(self, stmt):
        """Return ``stmt`` limited to the rows this filter selects."""
        for column, value in ((AuditLog.actor, self.actor), (AuditLog.entity, self.entity),
                              (AuditLog.entity_id, self.entity_id), (AuditLog.action, self.action)):
            if value:
                stmt = stmt.where(column == value)
        if self.since is not None:
            stmt = stmt.where(AuditLog.at >= self.since)
        if self.until is not None:
            stmt = stmt.where(AuditLog.at < self.until)
        return stmt

    def given(self) -> dict[str, Any]:
        """Return the criteria that were set, by their query names (for an export's notes)."""
        values = {"actor": self.actor, "entity": self.entity, "entity_id": self.entity_id, "action": self.action,
                  "date_from": self.date_from, "date_to": self.date_to}
        if self.since is not None and self.date_from is None:
            values["since"] = self.since.isoformat()
        if self.until is not None and self.date_to is None:
            values["until"] = self.until.isoformat()
        return {k: v for k, v in values.items() if v not in (None, "")}


def _instant(name: str, raw: Any) -> datetime | None:
    """Parse an ISO 8601 time that carries its UTC offset (``2026-03-29T00:00:00+01:00``)."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InvalidInput(N_("%(field)s: must be an ISO 8601 time with its UTC offset, got %(raw)r"),
                           field=name, raw=raw)
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(N_("%(field)s: must be an ISO 8601 time with its UTC offset, e.g. "
                              "2026-03-29T00:00:00+01:00, got %(raw)r"), field=name, raw=raw) from None
    if moment.tzinfo is None:
        raise InvalidInput(N_("%(field)s: must carry its UTC offset (e.g. +01:00 or Z), got %(raw)r"),
                           field=name, raw=raw)
    return moment.astimezone(UTC)


def _text(name: str, raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InvalidInput(N_("%(field)s: must be text, got %(raw)r"), field=name, raw=raw)
    value = raw.strip()
    if len(value) > FILTER_LIMITS[name]:
        raise InvalidInput(N_("%(field)s: at most %(filter_limits)s characters, got %(count)s"),
                           field=name, filter_limits=FILTER_LIMITS[name], count=len(value))
    return value or None


def audit_filter(session: Session, who: Actor, *, by: Any = None, entity: Any = None, entity_id: Any = None,
                 action: Any = None, date_from: Any = None, date_to: Any = None, since: Any = None,
                 until: Any = None) -> AuditFilter:
    """Check and return the criteria of an audit listing or export.

    ``by`` is a username (or a system actor such as ``scheduler``), ``entity`` an entity
    type (``work_order``), ``action`` an action (``workorder.assign``), each matched exactly.
    ``date_from``/``date_to`` are local days (YYYY-MM-DD) in the site's time zone, both
    included: a day on which the clocks change is 23 or 25 hours long. ``since``/``until``
    are instants with their UTC offset (``until`` excluded); given with days, the narrower
    bound wins. Bad values raise :class:`InvalidInput` naming the field.
    """
    values = {name: _text(name, raw) for name, raw in (("actor", by), ("entity", entity),
                                                         ("entity_id", entity_id), ("action", action))}
    days = day_range(date_from, date_to, zone_for(session, who))
    first, last = _instant("since", since), _instant("until", until)
    if first is not None and last is not None and last <= first:
        raise InvalidInput(N_("until: must be after since (%(first)s), got %(last)s"),
                           first=first.isoformat(), last=last.isoformat())
    lower = [t for t in (days.since, first) if t is not None]
    upper = [t for t in (days.until, last) if t is not None]
    return AuditFilter(**values, since=max(lower) if lower else None, until=min(upper) if upper else None,
                       date_from=days.start, date_to=days.end)


#: The query names of the filters, as pages, exports and the API take them.
QUERY_FILTERS = ("actor", "entity", "entity_id", "action", "date_from", "date_to", "since", "until")


def criteria_from(source: Mapping[str, Any], names: tuple[str, ...] = QUERY_FILTERS) -> dict[str, Any]:
    """Return the criteria of :func:`audit_filter` from a query string or form (``actor`` is ``by``)."""
    return {("by" if name == "actor" else name): source.get(name) or None for name in names}


def filtered(session: Session, who: Actor, criteria: AuditFilter | None = None):
    """Return the query of the audit rows ``who`` may read that match ``criteria``, newest first."""
    require(who, "audit.view")
    stmt = scoped(select(AuditLog), who)
    if criteria is not None:
        stmt = criteria.apply(stmt)
    return stmt.order_by(AuditLog.seq.desc())


def list_entries(session: Session, *, actor: Actor | None, page: int = 1, per_page: int = 50,
                 **criteria: Any) -> Page[AuditLog]:
    """Return the audit rows ``actor`` may read, newest first, that match ``criteria`` (see
    :func:`audit_filter`: by, entity, entity_id, action, date_from, date_to, since, until)."""
    who = resolve_actor(actor)
    require(who, "audit.view")
    return paginate(session, filtered(session, who, audit_filter(session, who, **criteria)), page, per_page)


#: How many actors and actions the audit page offers to pick from.
MAX_CHOICES = 500


def _distinct(session: Session, column, limit: int = MAX_CHOICES) -> list[str]:
    """Return the distinct values of an indexed audit column in order, one index probe per value
    (a recursive walk: the smallest value, then the smallest one above it...) instead of a
    scan of every row."""
    walk = select(func.min(column).label("value")).cte("walk", recursive=True)
    above = select(select(func.min(column)).where(column > walk.c.value).scalar_subquery()).where(
        walk.c.value.is_not(None))
    walk = walk.union_all(above)
    return list(session.scalars(select(walk.c.value).where(walk.c.value.is_not(None)).limit(limit)))


def filter_choices(session: Session, *, actor: Actor | None) -> dict[str, list[str]]:
    """Return what the audit page's filters offer: entity types, the actions recorded so far and
    who recorded rows; a user limited to a department is not offered the usernames of people of
    other departments."""
    who = resolve_actor(actor)
    require(who, "audit.view")
    actors = _distinct(session, AuditLog.actor)
    scope = department_scope(who)
    if scope is not None:
        elsewhere = set(session.scalars(select(User.username).where(User.department_id.is_not(None),
                                                                   User.department_id != scope)))
        actors = [a for a in actors if a not in elsewhere]
    return {"entities": sorted(ENTITIES), "actions": _distinct(session, AuditLog.action), "actors": actors}
