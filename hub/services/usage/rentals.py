"""Rented and loaned equipment: from whom, under which contract, from when until its expected
return, at what rate (per day, per use, or both), and whether it must pass an incoming
inspection before first use.

Registering a rental that needs the inspection opens an inspection work order on the asset at
once; until that order is completed *accepted* (and its safety check, if recorded, passed), no
session of the asset can start (:mod:`.sessions`). Returning is two steps: *returning* (no new
use; the asset waits to be collected) and *returned* on the day it left. The cost to date is
the daily rate times the days from the start to today (or the return day), both counted,
plus the rate per use times the sessions started while it ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Asset, Rental, UsageSession
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import RENTAL_KINDS
from wardlink.hub.errors import InvalidInput, Message, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets.register import get_asset
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import amount, get_row
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people.local_time import department_zone, first_site_zone
from wardlink.hub.services.people.permissions import can, department_scope, require
from wardlink.hub.services.validate import boolean, choice, money, optional_date, parse_fields, text
from wardlink.clock import Clock

FIELDS = {"asset_tag": text(64, required=True), "kind": choice(RENTAL_KINDS), "vendor": text(200, required=True),
          "contract_ref": text(100), "starts_on": optional_date, "expected_return_on": optional_date,
          "rate_per_day": money, "rate_per_use": money, "inspection_required": boolean}
#: Work-order states in which an inspection is done.
DONE_STATES = ("completed", "closed")


def snapshot(rental: Rental) -> dict[str, Any]:
    """Return a rental's fields (for audit rows and the API)."""
    return {"id": rental.id, "asset_id": rental.asset_id, "kind": rental.kind, "vendor": rental.vendor,
            "contract_ref": rental.contract_ref, "starts_on": rental.starts_on.isoformat(),
            "expected_return_on": rental.expected_return_on.isoformat(),
            "rate_per_day": amount(rental.rate_per_day), "rate_per_use": amount(rental.rate_per_use),
            "inspection_required": rental.inspection_required,
            "inspection_work_order_id": rental.inspection_work_order_id, "state": rental.state,
            "returned_on": rental.returned_on.isoformat() if rental.returned_on else None,
            "return_note": rental.return_note}


def site_today(session: Session, department_id: int | None, clock: Clock) -> date:
    """Return today's date at the department's site (the first site's for none)."""
    zone = department_zone(session, department_id) or first_site_zone(session)
    return utc_now(clock).astimezone(zone).date()


def _open_inspection(session: Session, who: Actor, rental: Rental, asset: Asset, clock: Clock) -> int:
    # The person registering may not open work orders (procurement): the rental opens it then.
    opener = who if can(who, "workorder.create") else Actor.system("rentals")
    order = workorders.create_work_order(session, {
        "kind": "inspection", "asset_tag": asset.tag, "priority": "high",
        "title": f"Incoming inspection of {rental.kind} {asset.tag} from {rental.vendor}"[:300],
        "description": f"Inspect before first use (contract {rental.contract_ref or '-'}); complete it as "
                       "accepted to release the equipment for use."}, actor=opener, clock=clock)
    return order.id


def register(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
             clock: Clock | None = None) -> Rental:
    """Register rented or loaned equipment (an asset already in the register); opens its incoming
    inspection work order when one is required (the default). Audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "rental.manage")
    raw = {"kind": "rental", "inspection_required": True, **data}
    fields = parse_fields(FIELDS, raw, partial=False)
    asset = get_asset(session, fields["asset_tag"], actor=who)
    if current(session, asset.id) is not None:
        raise InvalidInput(N_("asset_tag: %(tag)s already has a rental that is not returned"), tag=asset.tag)
    starts = fields["starts_on"] or site_today(session, asset.department_id, clock)
    until = fields["expected_return_on"]
    if until is None:
        raise InvalidInput(N_("expected_return_on: is required"))
    if until < starts:
        raise InvalidInput(N_("expected_return_on: must be on or after the start %(day)s"), day=starts.isoformat())
    now = utc_now(clock)
    rental = Rental(asset_id=asset.id, kind=fields["kind"], vendor=fields["vendor"],
                    contract_ref=fields["contract_ref"], starts_on=starts, expected_return_on=until,
                    rate_per_day=fields["rate_per_day"], rate_per_use=fields["rate_per_use"],
                    inspection_required=fields["inspection_required"], state="active",
                    created_by=who.username[:100], created_at=now, updated_at=now, return_note="")
    session.add(rental)
    session.flush()
    if rental.inspection_required:
        rental.inspection_work_order_id = _open_inspection(session, who, rental, asset, clock)
        session.flush()
    audit.record(session, actor=who, action="rental.register", entity="rental", entity_id=rental.id,
                 after=snapshot(rental), clock=clock)
    return rental


def current(session: Session, asset_id: int) -> Rental | None:
    """Return the asset's rental that is not returned, or None."""
    return session.scalar(select(Rental).where(Rental.asset_id == asset_id, Rental.state != "returned"))


def latest(session: Session, asset_id: int) -> Rental | None:
    """Return the asset's most recent rental, returned or not, or None."""
    return session.scalar(select(Rental).where(Rental.asset_id == asset_id).order_by(Rental.id.desc()).limit(1))


def inspection_passed(session: Session, rental: Rental) -> bool:
    """Return True when the rental needs no incoming inspection or its work order was completed
    accepted without a failed safety check."""
    if not rental.inspection_required:
        return True
    if rental.inspection_work_order_id is None:
        return False
    order = workorders.get_work_order(session, rental.inspection_work_order_id, actor=Actor.system("rentals"))
    return (order.state in DONE_STATES and order.resolution_category == "accepted"
            and order.safety_check != "fail")


def blocked_by(session: Session, asset: Asset) -> Message | None:
    """Return why the asset's rental keeps it from being used now, or None."""
    rental = latest(session, asset.id)
    if rental is None:
        return None
    if rental.state != "active":
        return Message(N_("the %(kind)s is %(state)s to %(vendor)s"), kind=Term(rental.kind),
                       state=Term(rental.state), vendor=rental.vendor)
    if not inspection_passed(session, rental):
        return Message(N_("the %(kind)s has not passed its incoming inspection (work order %(work_order_id)s)"),
                       kind=Term(rental.kind), work_order_id=rental.inspection_work_order_id)
    return None


def get_rental(session: Session, rental_id: Any, *, actor: Actor | None, for_update: bool = False) -> Rental:
    """Return a rental the actor may see (its asset's department when scoped)."""
    who = resolve_actor(actor)
    require(who, "usage.view")
    rental = get_row(session, Rental, rental_id, N_("rental"), for_update=for_update)
    get_asset(session, rental.asset.tag, actor=who)
    return rental


def start_return(session: Session, rental_id: Any, *, note: str = "", actor: Actor | None,
                 clock: Clock | None = None) -> Rental:
    """Begin returning an active rental: no session may start from now on. Audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "rental.manage")
    rental = get_rental(session, rental_id, actor=who, for_update=True)
    if rental.state != "active":
        raise InvalidInput(N_("state: the rental is %(state)s, not active"), state=Term(rental.state))
    if session.scalar(select(UsageSession.id).where(UsageSession.asset_id == rental.asset_id,
                                                    UsageSession.ended_at.is_(None))) is not None:
        raise InvalidInput(N_("state: %(tag)s is in use; end its session before returning it"), tag=rental.asset.tag)
    rental.state, rental.return_note, rental.updated_at = "returning", text(2000)("note", note), utc_now(clock)
    audit.record(session, actor=who, action="rental.returning", entity="rental", entity_id=rental.id,
                 after={"state": "returning", "return_note": rental.return_note}, clock=clock)
    return rental


def complete_return(session: Session, rental_id: Any, *, returned_on: Any = None, actor: Actor | None,
                    clock: Clock | None = None) -> Rental:
    """Record the day a rental being returned left the hospital (today by default). Audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "rental.manage")
    rental = get_rental(session, rental_id, actor=who, for_update=True)
    if rental.state != "returning":
        raise InvalidInput(N_("state: the rental is %(state)s; start its return first"), state=Term(rental.state))
    today = site_today(session, rental.asset.department_id, clock)
    day = optional_date("returned_on", returned_on) or today
    if day > today or day < rental.starts_on:
        raise InvalidInput(N_("returned_on: must be between the start %(start)s and today %(today)s"),
                           start=rental.starts_on.isoformat(), today=today.isoformat())
    rental.state, rental.returned_on, rental.updated_at = "returned", day, utc_now(clock)
    audit.record(session, actor=who, action="rental.returned", entity="rental", entity_id=rental.id,
                 after={"state": "returned", "returned_on": day.isoformat()}, clock=clock)
    return rental


@dataclass(frozen=True)
class Cost:
    """What a rental has cost so far."""

    days: int
    uses: int
    amount: Decimal


def cost_to_date(session: Session, rental: Rental, today: date) -> Cost:
    """Return the days charged (start to today or the return day, both counted), the sessions
    started while it ran and what they cost at the rental's rates."""
    end = min(rental.returned_on or today, today)
    days = max((end - rental.starts_on).days + 1, 0)
    uses = 0
    if rental.rate_per_use is not None:
        uses = session.scalar(select(func.count()).select_from(UsageSession).where(
            UsageSession.asset_id == rental.asset_id, UsageSession.transferred_from_id.is_(None),
            UsageSession.started_at >= rental.created_at)) or 0
    total = (rental.rate_per_day or Decimal(0)) * days + (rental.rate_per_use or Decimal(0)) * uses
    return Cost(days=days, uses=uses, amount=total.quantize(Decimal("0.01")))


def list_rentals(session: Session, *, actor: Actor | None, state: str | None = None,
                 limit: int = 500) -> list[Rental]:
    """Return rentals, those not returned first, by expected return; scoped to a department."""
    who = resolve_actor(actor)
    require(who, "usage.view")
    stmt = select(Rental).join(Asset, Asset.id == Rental.asset_id).options(selectinload(Rental.asset))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Asset.department_id == scope)
    if state:
        stmt = stmt.where(Rental.state == state)
    return list(session.scalars(stmt.order_by((Rental.state == "returned"), Rental.expected_return_on,
                                              Rental.id).limit(limit)))
