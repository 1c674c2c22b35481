"""The stock ledger: every change of stock is one append-only movement, written with the level.

Receipts, issues, returns, transfers, adjustments and counts all go through :func:`post`,
which changes a bin's level with one conditional UPDATE (``... WHERE quantity + change >=
held``) and writes the movement with the balance that UPDATE returned. Stock therefore never
goes below what is held for work orders, let alone below zero, however many requests take
from one bin at once: on PostgreSQL concurrent UPDATEs of a row wait for each other and each
re-checks the condition on the committed quantity; SQLite has one writer at a time. Every
public function first locks the part's row, so the movements of one part (and the low-stock
judgement after them) happen one transaction at a time.

SQLite keeps NUMERIC values as binary floats, so the new level is rounded to the three
decimals quantities have before it is compared or stored: 0.3 taken as three 0.1s leaves 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Part, StockBin, StockLevel, StockMovement, Supplier
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import label
from wardlink.hub.errors import InvalidInput, Message, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory import low_stock, storage
from wardlink.hub.services.inventory.common import amount, get_row, number
from wardlink.hub.services.inventory.levels import ZERO, held_in_bin
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import money, optional_id, stock_quantity, text
from wardlink.clock import Clock

QUANTITY = stock_quantity()
REASON = text(2000)
REASON_REQUIRED = text(2000, required=True)
REFERENCE = text(100)


class InsufficientStock(InvalidInput):
    """Not enough stock in the bin for what was asked (nothing was changed)."""


@dataclass(frozen=True)
class Who:
    """Who moves stock and when."""

    actor: Actor
    clock: Clock
    now: datetime


def begin(session: Session, part_id: Any, permission: str | None, actor: Actor | None,
          clock: Clock | None) -> tuple[Part, Who]:
    """Check ``permission`` (None: the caller did), lock part ``part_id`` for this transaction
    and return it."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    if permission is not None:
        require(who, permission)
    part = get_row(session, Part, part_id, "part", for_update=True)
    return part, Who(who, clock, utc_now(clock))


def bin_for(session: Session, bin_id: Any, name: str = "bin_id", *, incoming: bool = False) -> StockBin:
    """Return the bin ``bin_id`` names (its id, or its label ``LOCATION/BIN`` as printed);
    stock only goes into active bins."""
    if isinstance(bin_id, str) and "/" in bin_id:
        row = storage.find_bin(session, bin_id.strip())
    else:
        number_ = optional_id(name, bin_id)
        row = session.get(StockBin, number_) if number_ is not None else None
    if row is None:
        raise InvalidInput(N_("%(field)s: no bin %(bin_id)r"), field=name, bin_id=bin_id)
    if incoming and not (row.active and row.stock_location.active):
        raise InvalidInput(N_("%(field)s: bin %(label)s is inactive; stock cannot go into it"),
                           field=name, label=row.label)
    return row


def _short(part: Part, bin_: StockBin, wanted: Decimal, have: Decimal, held: Decimal) -> InsufficientStock:
    unit = Term(part.unit, label(part.unit))
    holds = (Message(N_("%(free)s %(unit)s free (%(held)s held for work orders)"), free=number(max(have - held, ZERO)),
                     unit=unit, held=number(held)) if held
             else Message(N_("it holds %(have)s %(unit)s"), have=number(have), unit=unit))
    return InsufficientStock(N_("quantity: not enough stock of %(sku)s in %(label)s: %(holds)s, %(wanted)s %(unit)s "
                                "asked for"),
                             sku=part.sku, label=bin_.label, holds=holds, wanted=number(wanted), unit=unit)


def post(session: Session, part: Part, bin_: StockBin, change: Decimal, kind: str, who: Who, *,
         held: Decimal = ZERO, **details: Any) -> StockMovement:
    """Change the part's stock in ``bin_`` by ``change`` and write the movement; refuse (nothing
    written) when the bin would keep less than ``held``. ``details`` are further movement fields
    (reason, reference, unit_cost, work_order_id, supplier_id, related_id, approved_by_id)."""
    level_id = session.scalar(select(StockLevel.id).where(StockLevel.part_id == part.id,
                                                          StockLevel.bin_id == bin_.id))
    if level_id is None:
        if change < 0:
            raise _short(part, bin_, -change, ZERO, ZERO)
        level = StockLevel(part_id=part.id, bin_id=bin_.id, quantity=ZERO)
        session.add(level)
        session.flush()
        level_id = level.id
    after = func.round(StockLevel.quantity + change, 3)
    balance = session.execute(
        update(StockLevel).where(StockLevel.id == level_id, after >= held).values(quantity=after)
        .returning(StockLevel.quantity).execution_options(synchronize_session=False)).scalar()
    if balance is None:
        have = session.scalar(select(StockLevel.quantity).where(StockLevel.id == level_id)) or ZERO
        raise _short(part, bin_, -change, Decimal(have), held)
    stale = session.get(StockLevel, level_id)
    if stale is not None:
        session.expire(stale)
    details.setdefault("unit_cost", part.unit_cost)
    movement = StockMovement(part_id=part.id, bin_id=bin_.id, kind=kind, quantity=change, balance=balance,
                             user_id=who.actor.user_id, username=who.actor.username[:100], created_at=who.now,
                             **details)
    session.add(movement)
    session.flush()
    return movement


def movement_snapshot(row: StockMovement) -> dict[str, Any]:
    """Return a movement's fields (for audit rows and the API)."""
    return {"id": row.id, "part_id": row.part_id, "bin_id": row.bin_id, "kind": row.kind,
            "quantity": number(row.quantity), "balance": number(row.balance), "unit_cost": amount(row.unit_cost),
            "work_order_id": row.work_order_id, "supplier_id": row.supplier_id, "related_id": row.related_id,
            "reason": row.reason, "reference": row.reference, "user": row.username,
            "approved_by_id": row.approved_by_id, "created_at": row.created_at}


def finish(session: Session, part: Part, who: Who, action: str, moves: list[StockMovement]) -> None:
    """Audit the movements of one request and judge the part's stock against its reorder level."""
    audit.record(session, actor=who.actor, action=action, entity="part", entity_id=part.id,
                 after={"sku": part.sku, "movements": [movement_snapshot(m) for m in moves]}, clock=who.clock)
    low_stock.evaluate(session, part, clock=who.clock)


# ------------------------------------------------------------------ the movements


def receive(session: Session, part_id: Any, *, bin_id: Any, quantity: Any, unit_cost: Any = None,
            supplier_id: Any = None, reference: Any = "", reason: Any = "", actor: Actor | None,
            clock: Clock | None = None) -> StockMovement:
    """Put delivered stock into a bin (``unit_cost`` defaults to the part's); audited."""
    part, who = begin(session, part_id, "stock.receive", actor, clock)
    bin_ = bin_for(session, bin_id, incoming=True)
    supplier = optional_id("supplier_id", supplier_id)
    if supplier is not None and session.get(Supplier, supplier) is None:
        raise InvalidInput(N_("supplier_id: no supplier %(supplier)s"), supplier=supplier)
    cost = money("unit_cost", unit_cost)
    move = post(session, part, bin_, QUANTITY("quantity", quantity), "receive", who,
                unit_cost=cost if cost is not None else part.unit_cost, supplier_id=supplier,
                reference=REFERENCE("reference", reference), reason=REASON("reason", reason))
    finish(session, part, who, "stock.receive", [move])
    return move


def issue(session: Session, part_id: Any, *, bin_id: Any, quantity: Any, reason: Any, actor: Actor | None,
          clock: Clock | None = None) -> StockMovement:
    """Take stock out of a bin for use outside a work order (say what for); what is held for
    work orders stays. Raises :class:`InsufficientStock` when the bin has too little."""
    part, who = begin(session, part_id, "stock.issue", actor, clock)
    bin_ = bin_for(session, bin_id)
    amount = QUANTITY("quantity", quantity)
    move = post(session, part, bin_, -amount, "issue", who, held=held_in_bin(session, part.id, bin_.id),
                reason=REASON_REQUIRED("reason", reason))
    finish(session, part, who, "stock.issue", [move])
    return move


def return_stock(session: Session, part_id: Any, *, bin_id: Any, quantity: Any, reason: Any,
                 actor: Actor | None, clock: Clock | None = None) -> StockMovement:
    """Put unused parts back into a bin (say where they come from); audited."""
    part, who = begin(session, part_id, "stock.issue", actor, clock)
    bin_ = bin_for(session, bin_id, incoming=True)
    move = post(session, part, bin_, QUANTITY("quantity", quantity), "return", who,
                reason=REASON_REQUIRED("reason", reason))
    finish(session, part, who, "stock.return", [move])
    return move


def transfer(session: Session, part_id: Any, *, from_bin_id: Any, to_bin_id: Any, quantity: Any,
             reason: Any = "", actor: Actor | None, clock: Clock | None = None) -> tuple[StockMovement, StockMovement]:
    """Move stock from one bin to another: two movements, the second naming the first."""
    part, who = begin(session, part_id, "stock.transfer", actor, clock)
    source = bin_for(session, from_bin_id, "from_bin_id")
    target = bin_for(session, to_bin_id, "to_bin_id", incoming=True)
    if source.id == target.id:
        raise InvalidInput(N_("to_bin_id: must be another bin than from_bin_id"))
    amount, why = QUANTITY("quantity", quantity), REASON("reason", reason)
    out = post(session, part, source, -amount, "transfer_out", who, held=held_in_bin(session, part.id, source.id),
               reason=why)
    into = post(session, part, target, amount, "transfer_in", who, reason=why, related_id=out.id)
    finish(session, part, who, "stock.transfer", [out, into])
    return out, into


# ------------------------------------------------------------------ reading


def get_movement(session: Session, movement_id: Any, *, actor: Actor | None) -> StockMovement:
    """Return one movement of the ledger."""
    require(resolve_actor(actor), "part.view")
    return get_row(session, StockMovement, movement_id, "stock movement")


def history(session: Session, part_id: Any, *, actor: Actor | None, bin_id: int | None = None,
            kind: str | None = None, page: int = 1, per_page: int = 50) -> Page[StockMovement]:
    """Return one page of a part's movements, newest first (``bin_id`` and ``kind`` filter)."""
    require(resolve_actor(actor), "part.view")
    part = get_row(session, Part, part_id, "part")
    stmt = (select(StockMovement).where(StockMovement.part_id == part.id)
            .options(selectinload(StockMovement.bin).selectinload(StockBin.stock_location)))
    if bin_id is not None:
        stmt = stmt.where(StockMovement.bin_id == bin_id)
    if kind:
        stmt = stmt.where(StockMovement.kind == kind)
    return paginate(session, stmt.order_by(StockMovement.id.desc()), page, per_page)


def ledger_totals(session: Session, part_id: int) -> dict[int, Decimal]:
    """Return, per bin, the sum of the part's movements: what the ledger says each bin holds."""
    rows = session.execute(select(StockMovement.bin_id, func.sum(StockMovement.quantity))
                           .where(StockMovement.part_id == part_id).group_by(StockMovement.bin_id)).all()
    return {bin_id: Decimal(total).quantize(Decimal("0.001")) for bin_id, total in rows}
