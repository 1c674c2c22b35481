"""Adjustments and stock counts, and a manager's approval of the large ones.

An adjustment changes a bin's stock by a signed amount with a reason (damaged, expired, found);
a count records what was found in a bin and adjusts the books by the difference. Either is
applied at once when it is small, or when the person making it may approve
(``stock.approve``); otherwise it waits as a :class:`~wardlink.hub.db.models.StockAdjustment`
until a manager approves it (then its movement is written) or rejects it. "Large" is the
:class:`ApprovalPolicy`: worth more than a value at the part's unit cost, or, for a part
without a cost, more than a number of units (the ``stock_approval_value`` and
``stock_approval_quantity`` settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Part, StockAdjustment, StockLevel, StockMovement
from wardlink.hub.errors import InvalidInput, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import get_row, number
from wardlink.hub.services.inventory.ledger import (REASON_REQUIRED, Who, begin, bin_for, finish, post)
from wardlink.hub.services.inventory.levels import ZERO, held_in_bin
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import can, require
from wardlink.hub.services.validate import stock_quantity, text
from wardlink.clock import Clock

COUNTED = stock_quantity(zero=True)
NOTE = text(2000)


@dataclass(frozen=True)
class ApprovalPolicy:
    """When an adjustment or count needs a manager's approval."""

    #: Changes worth more than this (quantity x the part's unit cost) need approval.
    value: Decimal = Decimal("500")
    #: For parts without a unit cost: changes of more than this many units need approval.
    quantity: Decimal = Decimal("10")

    def value_of(self, part: Part, change: Decimal) -> Decimal | None:
        """Return what ``change`` is worth at the part's unit cost (None without a cost)."""
        return None if part.unit_cost is None else (abs(change) * part.unit_cost).quantize(Decimal("0.01"))

    def needs_approval(self, part: Part, change: Decimal) -> bool:
        """Return True when ``change`` of ``part`` is above the threshold."""
        worth = self.value_of(part, change)
        return abs(change) > self.quantity if worth is None else worth > self.value


@dataclass(frozen=True)
class Outcome:
    """What became of an adjustment or count: a movement written now, a request waiting, or
    neither (a count that matched the books)."""

    movement: StockMovement | None = None
    request: StockAdjustment | None = None


def _signed(name: str, value: Any) -> Decimal:
    """Parse a signed change of stock (``-2`` takes two away); 0 is refused."""
    raw = value
    if isinstance(value, (str, int, float, Decimal)) and not isinstance(value, bool):
        raw = str(value).strip()
    negative = isinstance(raw, str) and raw.startswith("-")
    amount = stock_quantity()(name, raw[1:] if isinstance(raw, str) and negative else value)
    return -amount if negative else amount


def _settle(session: Session, part: Part, bin_id: int, change: Decimal, kind: str, who: Who, policy: ApprovalPolicy,
            fields: dict[str, Any]) -> Outcome:
    bin_ = bin_for(session, bin_id, incoming=change > 0)
    needs = policy.needs_approval(part, change)
    if needs and not can(who.actor, "stock.approve"):
        request = StockAdjustment(part_id=part.id, bin_id=bin_.id, kind=kind, quantity=change,
                                  value=policy.value_of(part, change), state="pending",
                                  requested_by_id=who.actor.user_id, requested_by=who.actor.username[:100],
                                  requested_at=who.now, **fields)
        session.add(request)
        session.flush()
        audit.record(session, actor=who.actor, action="stock.adjust_request", entity="part", entity_id=part.id,
                     after={"sku": part.sku, "adjustment_id": request.id, "bin": bin_.label, "kind": kind,
                            "quantity": number(change), "value": number(request.value), "reason": request.reason},
                     clock=who.clock)
        return Outcome(request=request)
    held = held_in_bin(session, part.id, bin_.id) if change < 0 else ZERO
    move = post(session, part, bin_, change, kind, who, held=held, reason=fields["reason"],
                approved_by_id=who.actor.user_id if needs else None)
    finish(session, part, who, f"stock.{kind}", [move])
    return Outcome(movement=move)


def adjust(session: Session, part_id: Any, *, bin_id: Any, quantity: Any, reason: Any, actor: Actor | None,
           clock: Clock | None = None, policy: ApprovalPolicy = ApprovalPolicy()) -> Outcome:
    """Change a bin's stock by ``quantity`` (signed: ``-2`` takes two away) with a reason; above
    the policy's threshold it waits for a manager unless the actor may approve."""
    part, who = begin(session, part_id, "stock.adjust", actor, clock)
    change = _signed("quantity", quantity)
    return _settle(session, part, bin_id, change, "adjust", who, policy,
                   {"reason": REASON_REQUIRED("reason", reason)})


def count(session: Session, part_id: Any, *, bin_id: Any, counted: Any, reason: Any = "", actor: Actor | None,
          clock: Clock | None = None, policy: ApprovalPolicy = ApprovalPolicy()) -> Outcome:
    """Record a stock count of one bin: the books move by the difference (as :func:`adjust`);
    a count matching the books writes no movement but is audited."""
    part, who = begin(session, part_id, "stock.adjust", actor, clock)
    bin_ = bin_for(session, bin_id)
    found = COUNTED("counted", counted)
    books = Decimal(session.scalar(select(StockLevel.quantity).where(
        StockLevel.part_id == part.id, StockLevel.bin_id == bin_.id)) or ZERO)
    why = text(2000)("reason", reason) or "Stock count"
    if found == books:
        audit.record(session, actor=who.actor, action="stock.count", entity="part", entity_id=part.id,
                     after={"sku": part.sku, "bin": bin_.label, "counted": number(found), "matched": True},
                     clock=who.clock)
        return Outcome()
    return _settle(session, part, bin_.id, found - books, "count", who, policy,
                   {"reason": why, "counted": found, "expected": books})


# ------------------------------------------------------------------ approval


def pending(session: Session, *, actor: Actor | None, page: int = 1, per_page: int = 50) -> Page[StockAdjustment]:
    """Return one page of the adjustments waiting for approval, oldest first."""
    require(resolve_actor(actor), "part.view")
    stmt = (select(StockAdjustment).where(StockAdjustment.state == "pending")
            .options(selectinload(StockAdjustment.part), selectinload(StockAdjustment.bin))
            .order_by(StockAdjustment.id))
    return paginate(session, stmt, page, per_page)


def _decide(session: Session, adjustment_id: Any, actor: Actor | None, clock: Clock | None) -> tuple[
        StockAdjustment, Part, Who]:
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "stock.approve")
    request = get_row(session, StockAdjustment, adjustment_id, "adjustment")
    part, moment = begin(session, request.part_id, "stock.approve", who, clock)
    session.refresh(request, with_for_update=True)
    if request.state != "pending":
        raise InvalidInput(N_("adjustment %(id)s is already %(state)s"), id=request.id, state=Term(request.state))
    if who.user_id is not None and request.requested_by_id == who.user_id:
        raise InvalidInput(N_("adjustment %(id)s: its requester cannot approve or reject it"), id=request.id)
    return request, part, moment


def approve(session: Session, adjustment_id: Any, *, note: Any = "", actor: Actor | None,
            clock: Clock | None = None) -> StockAdjustment:
    """Approve a waiting adjustment: its movement is written now (refused, and left waiting,
    when the bin no longer holds enough)."""
    request, part, who = _decide(session, adjustment_id, actor, clock)
    bin_ = bin_for(session, request.bin_id, incoming=request.quantity > 0)
    held = held_in_bin(session, part.id, bin_.id) if request.quantity < 0 else ZERO
    move = post(session, part, bin_, request.quantity, request.kind, who, held=held, reason=request.reason,
                approved_by_id=who.actor.user_id)
    request.state, request.movement_id = "approved", move.id
    request.decided_by_id, request.decided_by, request.decided_at = who.actor.user_id, who.actor.username[:100], who.now
    request.decision_note = NOTE("note", note)
    finish(session, part, who, "stock.adjust_approve", [move])
    return request


def reject(session: Session, adjustment_id: Any, *, note: Any, actor: Actor | None,
           clock: Clock | None = None) -> StockAdjustment:
    """Reject a waiting adjustment with a reason; nothing moves. Audited."""
    request, part, who = _decide(session, adjustment_id, actor, clock)
    request.decision_note = text(2000, required=True)("note", note)
    request.state = "rejected"
    request.decided_by_id, request.decided_by, request.decided_at = who.actor.user_id, who.actor.username[:100], who.now
    session.flush()
    audit.record(session, actor=who.actor, action="stock.adjust_reject", entity="part", entity_id=part.id,
                 after={"sku": part.sku, "adjustment_id": request.id, "note": request.decision_note},
                 clock=who.clock)
    return request
