"""Training records: a person trained on a category of equipment (or one model of it) on a day,
valid until an expiry day. Managers record them (``training.manage``); starting equipment whose
knowledge requires training without a record valid today warns or is refused, as the site's
``usage_training_policy`` says (:mod:`.sessions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Asset, TrainingRecord, User
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import key_of, tidy
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.validate import optional_date, optional_id, parse_fields, text
from wardlink.clock import Clock

FIELDS = {"user_id": optional_id, "category": text(100, required=True), "model": text(100),
          "trained_on": optional_date, "expires_on": optional_date, "note": text(2000)}


def snapshot(row: TrainingRecord) -> dict[str, Any]:
    """Return a record's fields (for audit rows and the API)."""
    return {"id": row.id, "user_id": row.user_id, "category": row.category, "model": row.model,
            "trained_on": row.trained_on.isoformat(),
            "expires_on": row.expires_on.isoformat() if row.expires_on else None, "note": row.note}


def record(session: Session, data: Mapping[str, Any], *, today: date, actor: Actor | None,
           clock: Clock | None = None) -> TrainingRecord:
    """Record that a person was trained (``trained_on`` defaults to ``today``); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "training.manage")
    fields = parse_fields(FIELDS, data, partial=False)
    if fields["user_id"] is None:
        raise InvalidInput(N_("user_id: is required"))
    user = session.get(User, fields["user_id"])
    if user is None:
        raise InvalidInput(N_("user_id: no user %(user_id)s"), user_id=fields["user_id"])
    trained_on = fields["trained_on"] or today
    if trained_on > today:
        raise InvalidInput(N_("trained_on: %(day)s is in the future"), day=trained_on.isoformat())
    if fields["expires_on"] is not None and fields["expires_on"] < trained_on:
        raise InvalidInput(N_("expires_on: must be on or after the training day %(day)s"),
                           day=trained_on.isoformat())
    category, model = tidy(fields["category"]), tidy(fields["model"])
    row = TrainingRecord(user_id=user.id, category=category, category_key=key_of(category), model=model,
                         model_key=key_of(model), trained_on=trained_on, expires_on=fields["expires_on"],
                         note=fields["note"], recorded_by=who.username[:100], created_at=utc_now(clock))
    session.add(row)
    session.flush()
    audit.record(session, actor=who, action="training.record", entity="training", entity_id=row.id,
                 after=snapshot(row), clock=clock)
    return row


def valid_record(session: Session, user_id: int | None, asset: Asset, today: date) -> TrainingRecord | None:
    """Return a record of ``user_id`` valid ``today`` for ``asset``'s category (all its models, or
    its own model), the one valid longest; None when there is none."""
    if user_id is None:
        return None
    stmt = (select(TrainingRecord)
            .where(TrainingRecord.user_id == user_id, TrainingRecord.category_key == key_of(asset.category),
                   TrainingRecord.model_key.in_(("", key_of(asset.model or ""))),
                   TrainingRecord.trained_on <= today,
                   or_(TrainingRecord.expires_on.is_(None), TrainingRecord.expires_on >= today)))
    rows = list(session.scalars(stmt))
    rows.sort(key=lambda r: r.expires_on or date.max, reverse=True)
    return rows[0] if rows else None


def list_records(session: Session, *, actor: Actor | None, user_id: int | None = None,
                 limit: int = 500) -> list[TrainingRecord]:
    """Return training records, newest first: a person limited to a department sees its people's."""
    who = resolve_actor(actor)
    require(who, "usage.view")
    stmt = select(TrainingRecord).join(User, User.id == TrainingRecord.user_id).options(
        selectinload(TrainingRecord.user))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(User.department_id == scope)
    if user_id is not None:
        stmt = stmt.where(TrainingRecord.user_id == user_id)
    return list(session.scalars(stmt.order_by(TrainingRecord.trained_on.desc(), TrainingRecord.id.desc())
                                .limit(limit)))


def get_record(session: Session, record_id: int, *, actor: Actor | None) -> TrainingRecord:
    """Return one training record the actor may see (a department's people's when scoped)."""
    who = resolve_actor(actor)
    require(who, "usage.view")
    row = session.get(TrainingRecord, record_id) if isinstance(record_id, int) and 0 < record_id < 2**31 else None
    scope = department_scope(who)
    if row is None or (scope is not None and row.user.department_id != scope):
        raise NotFound(N_("training record %(record_id)s does not exist"), record_id=record_id)
    return row
