"""Sessions of use: a person scans an asset's QR code, reads what applies (:mod:`.knowledge`),
and starts using it for a department with a reason; the asset is *in use* until the session
ends, when it becomes *available* or, as its knowledge says, *needs cleaning* or *needs
inspection* until someone marks it ready. A transfer ends the session and opens the next in
another department.

What keeps a start from going ahead (:func:`readiness`, the one place that judges it):

- *holds* a manager (``usage.override``) may override with a reason, audited: equipment out of
  service or faulty (in maintenance), tagged out, or life-support equipment whose planned
  maintenance is overdue (judged by :mod:`wardlink.hub.services.maintenance.pm_standing`);
- *refusals* nobody overrides: already in use, waiting for cleaning or inspection, retired or
  decommissioned, a rental not yet through its incoming inspection or being returned, and,
  under the ``block`` training policy, a person without a valid training record (under
  ``warn`` the start goes ahead and the session is marked untrained).

No patient data is kept: an encounter reference, when the site has a key
(``encounter_key_file``), is stored only as its HMAC-SHA256 under that key, so someone who
knows the reference can find its sessions (:func:`find_by_encounter`) and nobody can read it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.config import HubConfig
from wardlink.hub.db.models import Asset, Department, UsageSession, UsageState
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, Message, NotFound, PermissionDenied, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets.register import get_asset
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import get_row
from wardlink.hub.services.maintenance import pm_standing
from wardlink.hub.services.people.permissions import can, department_scope, require
from wardlink.hub.services.usage import knowledge, rentals, training
from wardlink.hub.services.validate import optional_id, text
from wardlink.clock import Clock

IN_MAINTENANCE = ("out_of_service", "faulty")
GONE_STAGES = ("decommissioned", "disposed")


class UsageRefused(InvalidInput):
    """A session cannot start now; ``readiness`` says why (and whether an override would do)."""

    def __init__(self, message: Message, readiness: Readiness) -> None:
        super().__init__(message)
        self.readiness = readiness


@dataclass(frozen=True)
class UsagePolicy:
    """The site's settings for usage: the training policy and the encounter key (None: off)."""

    training: str = "warn"
    encounter_key: bytes | None = None

    @classmethod
    def from_config(cls, config: HubConfig) -> UsagePolicy:
        """Return the policy of ``config`` (reads the key file when one is named)."""
        key = config.read_secret("encounter_key_file")
        return cls(training=config.usage_training_policy, encounter_key=key.encode() if key else None)


@dataclass
class Readiness:
    """Whether ``asset`` may be started by a person now, and what they should know first."""

    asset: Asset
    status: str
    knowledge: knowledge.Knowledge
    holds: list[Message] = field(default_factory=list)
    refusals: list[Message] = field(default_factory=list)
    warnings: list[Message] = field(default_factory=list)
    untrained: bool = False

    @property
    def ready(self) -> bool:
        """Return True when nothing holds or refuses the start."""
        return not self.holds and not self.refusals

    @property
    def overridable(self) -> bool:
        """Return True when only holds a manager may override stand in the way."""
        return bool(self.holds) and not self.refusals


def status_of(session: Session, asset_id: int) -> str:
    """Return an asset's usage status (available when it never had a session)."""
    state = session.get(UsageState, asset_id)
    return state.status if state is not None else "available"


def readiness(session: Session, asset: Asset, *, user_id: int | None, policy: UsagePolicy,
              clock: Clock | None = None) -> Readiness:
    """Return whether ``asset`` may start for ``user_id`` now, and why not (see the module)."""
    clock = resolve_clock(clock)
    now = utc_now(clock)
    found = Readiness(asset=asset, status=status_of(session, asset.id), knowledge=knowledge.for_asset(session, asset))
    if asset.equipment_status == "tagged_out":
        found.holds.append(Message(N_("%(tag)s is tagged out: do not use (%(reason)s)"), tag=asset.tag,
                                   reason=asset.tagout_reason or "-"))
    elif asset.equipment_status in IN_MAINTENANCE:
        found.holds.append(Message(N_("%(tag)s is in maintenance (%(status)s)"), tag=asset.tag,
                                   status=Term(asset.equipment_status)))
    if asset.life_support and pm_standing.asset_status(session, asset, now) == "overdue":
        found.holds.append(Message(N_("%(tag)s is life-support equipment overdue for planned maintenance"),
                                   tag=asset.tag))
    if asset.equipment_status == "retired" or asset.lifecycle_stage in GONE_STAGES:
        found.refusals.append(Message(N_("%(tag)s is no longer in use (%(stage)s)"), tag=asset.tag,
                                      stage=Term(asset.lifecycle_stage if asset.lifecycle_stage in GONE_STAGES
                                                 else asset.equipment_status)))
    if found.status != "available":
        found.refusals.append(Message(N_("%(tag)s is %(status)s"), tag=asset.tag, status=Term(found.status)))
    rental_block = rentals.blocked_by(session, asset)
    if rental_block is not None:
        found.refusals.append(rental_block)
    if found.knowledge.training_required:
        today = rentals.site_today(session, asset.department_id, clock)
        if training.valid_record(session, user_id, asset, today) is None:
            found.untrained = True
            untrained = Message(N_("training on %(category)s is required and no valid training record was "
                                   "found"), category=asset.category)
            (found.refusals if policy.training == "block" else found.warnings).append(untrained)
    return found


def encounter_hash(reference: str, policy: UsagePolicy) -> str | None:
    """Return the keyed hash of an encounter reference ('' gives None); refused without a site key."""
    reference = text(200)("encounter", reference)
    if not reference:
        return None
    if policy.encounter_key is None:
        raise InvalidInput(N_("encounter: this site keeps no encounter references (no encounter key is set)"))
    folded = " ".join(reference.split()).casefold().encode()
    return hmac.new(policy.encounter_key, folded, hashlib.sha256).hexdigest()


def _department(session: Session, who: Actor, raw: Any, asset: Asset) -> Department:
    department_id = optional_id("department_id", raw)
    if department_id is None:
        department_id = who.department_id or asset.department_id
    department = session.get(Department, department_id) if department_id is not None else None
    if department is None:
        raise InvalidInput(N_("department_id: no department %(department_id)s"), department_id=department_id)
    scope = department_scope(who)
    if scope is not None and department.id != scope:
        raise PermissionDenied(N_("%(what)s belongs to another department than user '%(user)s'"),
                               what=Message(N_("the department")), user=who.username)
    return department


def set_state(session: Session, asset_id: int, status: str, session_id: int | None, now: datetime) -> None:
    """Set an asset's usage status (and its open session, or None)."""
    state = session.get(UsageState, asset_id, with_for_update=True)
    if state is None:
        session.add(UsageState(asset_id=asset_id, status=status, session_id=session_id, updated_at=now))
    else:
        state.status, state.session_id, state.updated_at = status, session_id, now


def snapshot(row: UsageSession) -> dict[str, Any]:
    """Return a session's fields (for audit rows and the API; the encounter only as 'kept' or not)."""
    return {"id": row.id, "asset_id": row.asset_id, "source": row.source, "department_id": row.department_id,
            "user_id": row.user_id, "username": row.username, "reason": row.reason,
            "encounter": row.encounter_hash is not None, "started_at": row.started_at, "ended_at": row.ended_at,
            "return_status": row.return_status, "override_reason": row.override_reason,
            "untrained": row.untrained, "transferred_from_id": row.transferred_from_id}


def start(session: Session, tag: str, *, department_id: Any = None, reason: str = "", encounter: str = "",
          override_reason: str = "", policy: UsagePolicy = UsagePolicy(), actor: Actor | None,
          clock: Clock | None = None) -> UsageSession:
    """Start a scanned session of asset ``tag`` for a department (the person's own by default).

    Raises :class:`UsageRefused` when :func:`readiness` finds the asset not ready; a manager's
    ``override_reason`` lets holds (not refusals) through, audited as ``usage.override``."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "usage.start")
    asset = get_asset(session, tag, actor=who)
    session.get(UsageState, asset.id, with_for_update=True)  # one start per asset at a time
    digest = encounter_hash(encounter, policy)
    _end_measured(session, asset, who, utc_now(clock))
    found = readiness(session, asset, user_id=who.user_id, policy=policy, clock=clock)
    override = text(500)("override_reason", override_reason)
    if found.refusals or (found.holds and not override):
        first = (found.refusals or found.holds)[0]
        raise UsageRefused(Message(N_("%(tag)s cannot be started: %(why)s"), tag=asset.tag, why=first), found)
    if found.holds:
        require(who, "usage.override")
    department = _department(session, who, department_id, asset)
    now = utc_now(clock)
    row = UsageSession(asset_id=asset.id, source="scanned", department_id=department.id, user_id=who.user_id,
                       username=who.username[:100], reason=text(500)("reason", reason),
                       encounter_hash=digest, started_at=now, ended_by="",
                       override_reason=override if found.holds else "",
                       override_by=who.username[:100] if found.holds else "", untrained=found.untrained)
    session.add(row)
    session.flush()
    set_state(session, asset.id, "in_use", row.id, now)
    audit.record(session, actor=who, action="usage.start", entity="asset", entity_id=asset.tag,
                 after=snapshot(row), clock=clock)
    if found.holds:
        audit.record(session, actor=who, action="usage.override", entity="asset", entity_id=asset.tag,
                     after={"session_id": row.id, "reason": override, "holds": [str(m) for m in found.holds]},
                     clock=clock)
    return row


def _end_measured(session: Session, asset: Asset, who: Actor, now: datetime) -> None:
    """End a measured session running on ``asset`` now: the person's scan takes over, so the
    time from here on is theirs and is not counted twice."""
    current = open_session(session, asset.id)
    if current is None or current.source != "measured":
        return
    _close(session, current, who, now, None)
    session.flush()
    set_state(session, asset.id, "available", None, now)


def get_session(session: Session, session_id: Any, *, actor: Actor | None, for_update: bool = False) -> UsageSession:
    """Return a session the actor may see (their department's, or their own, when scoped)."""
    who = resolve_actor(actor)
    require(who, "usage.view")
    row = get_row(session, UsageSession, session_id, N_("usage session"), for_update=for_update)
    scope = department_scope(who)
    if scope is not None and row.department_id != scope and row.asset.department_id != scope:
        raise NotFound(N_("usage session %(session_id)s does not exist"), session_id=session_id)
    return row


def _close(session: Session, row: UsageSession, who: Actor, now: datetime, return_status: str | None) -> None:
    if row.ended_at is not None:
        raise InvalidInput(N_("state: usage session %(session_id)s has ended already"), session_id=row.id)
    row.ended_at, row.ended_by, row.return_status = now, who.username[:100], return_status


def end(session: Session, session_id: Any, *, actor: Actor | None, clock: Clock | None = None) -> UsageSession:
    """End a session; the asset becomes what its knowledge says (available by default). Audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "usage.start")
    row = get_session(session, session_id, actor=who, for_update=True)
    after = knowledge.for_asset(session, row.asset).return_status
    now = utc_now(clock)
    _close(session, row, who, now, after)
    session.flush()
    set_state(session, row.asset_id, after, None, now)
    audit.record(session, actor=who, action="usage.end", entity="asset", entity_id=row.asset.tag,
                 after={"session_id": row.id, "ended_at": now, "return_status": after}, clock=clock)
    return row


def transfer(session: Session, session_id: Any, *, department_id: Any, reason: str = "", actor: Actor | None,
             clock: Clock | None = None) -> UsageSession:
    """Hand an asset in use to another department: the session ends and the next one starts
    there at the same moment, linked to it. Audited; returns the new session."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "usage.start")
    row = get_session(session, session_id, actor=who, for_update=True)
    target_id = optional_id("department_id", department_id)
    target = session.get(Department, target_id) if target_id is not None else None
    if target is None:
        raise InvalidInput(N_("department_id: no department %(department_id)s"), department_id=target_id)
    if target.id == row.department_id:
        raise InvalidInput(N_("department_id: the session is in that department already"))
    now = utc_now(clock)
    _close(session, row, who, now, None)
    session.flush()
    nxt = UsageSession(asset_id=row.asset_id, source=row.source, department_id=target.id, user_id=who.user_id,
                       username=who.username[:100], reason=text(500)("reason", reason) or row.reason,
                       encounter_hash=None, started_at=now, ended_by="", override_reason="", override_by="",
                       untrained=False, transferred_from_id=row.id)
    session.add(nxt)
    session.flush()
    set_state(session, row.asset_id, "in_use", nxt.id, now)
    audit.record(session, actor=who, action="usage.transfer", entity="asset", entity_id=row.asset.tag,
                 after={"from_session_id": row.id, "session_id": nxt.id, "department_id": target.id}, clock=clock)
    return nxt


def mark_ready(session: Session, tag: str, *, actor: Actor | None, clock: Clock | None = None) -> None:
    """Mark an asset that waited for cleaning or inspection available again. Audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "usage.start")
    asset = get_asset(session, tag, actor=who)
    before = status_of(session, asset.id)
    if before not in ("needs_cleaning", "needs_inspection"):
        raise InvalidInput(N_("state: %(tag)s is %(status)s, not waiting for cleaning or inspection"),
                           tag=asset.tag, status=Term(before))
    set_state(session, asset.id, "available", None, utc_now(clock))
    audit.record(session, actor=who, action="usage.ready", entity="asset", entity_id=asset.tag,
                 before={"status": before}, after={"status": "available"}, clock=clock)


def open_session(session: Session, asset_id: int) -> UsageSession | None:
    """Return the asset's open session, or None."""
    return session.scalar(select(UsageSession).where(UsageSession.asset_id == asset_id,
                                                     UsageSession.ended_at.is_(None)))


def list_sessions(session: Session, *, actor: Actor | None, asset_tag: str | None = None,
                  open_only: bool = False, limit: int = 200) -> list[UsageSession]:
    """Return sessions, newest first (of one asset, or only open ones); scoped to a department."""
    who = resolve_actor(actor)
    require(who, "usage.view")
    stmt = select(UsageSession).options(selectinload(UsageSession.asset), selectinload(UsageSession.department))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(UsageSession.department_id == scope)
    if asset_tag:
        stmt = stmt.where(UsageSession.asset_id == get_asset(session, asset_tag, actor=who).id)
    if open_only:
        stmt = stmt.where(UsageSession.ended_at.is_(None))
    return list(session.scalars(stmt.order_by(UsageSession.started_at.desc(), UsageSession.id.desc()).limit(limit)))


def find_by_encounter(session: Session, reference: str, *, policy: UsagePolicy, actor: Actor | None,
                      limit: int = 200) -> list[UsageSession]:
    """Return the sessions recorded with encounter ``reference`` (matched by its keyed hash)."""
    who = resolve_actor(actor)
    require(who, "usage.view")
    digest = encounter_hash(reference, policy)
    if digest is None:
        raise InvalidInput(N_("encounter: is required"))
    stmt = select(UsageSession).where(UsageSession.encounter_hash == digest)
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(UsageSession.department_id == scope)
    return list(session.scalars(stmt.order_by(UsageSession.started_at.desc()).limit(limit)))


def may_start(who: Actor) -> bool:
    """Return True when ``who`` may start sessions (the scan page offers it)."""
    return can(who, "usage.start")
