"""Parts picked from stock for work orders.

A technician picks parts for an order (searching the catalogue or scanning a bin's label): the
parts are then *held* for it, so nobody else can take them, but stay on the books. Completing
the order issues them (one ``issue`` movement per pick, naming the order); cancelling it puts
them back (``released``), as does the technician putting back a pick before completion. The
work-order services call :func:`issue_for_order` and :func:`release_for_order` from their
state machine and check who may act on the order; the functions here receive the order they
loaded and never look orders up themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Part, PartKit, StockBin, StockLevel, StockMovement, WorkOrder, WorkOrderPick
from wardlink.hub.db.vocab import label
from wardlink.hub.errors import InvalidInput, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import get_row, number
from wardlink.hub.services.inventory.ledger import InsufficientStock, Who, begin, bin_for, finish, post
from wardlink.hub.services.inventory.levels import ZERO, bins_of, held_in_bin
from wardlink.hub.services.validate import stock_quantity
from wardlink.clock import Clock

QUANTITY = stock_quantity()
#: Most picks one work order may hold.
MAX_PICKS = 200


def pick_snapshot(pick: WorkOrderPick) -> dict[str, Any]:
    """Return a pick's fields (for audit rows and the API)."""
    return {"id": pick.id, "work_order_id": pick.work_order_id, "part_id": pick.part_id, "sku": pick.part.sku,
            "name": pick.part.name, "bin_id": pick.bin_id, "bin": pick.bin.label, "quantity": number(pick.quantity),
            "unit": pick.part.unit, "state": pick.state, "picked_by": pick.picked_by, "picked_at": pick.picked_at,
            "movement_id": pick.movement_id}


def picks_of(session: Session, order_id: int, *, states: Iterable[str] | None = None) -> list[WorkOrderPick]:
    """Return the picks of an order, oldest first (the caller checked it may see the order)."""
    stmt = (select(WorkOrderPick).where(WorkOrderPick.work_order_id == order_id)
            .options(selectinload(WorkOrderPick.part), selectinload(WorkOrderPick.movement),
                     selectinload(WorkOrderPick.bin).selectinload(StockBin.stock_location))
            .order_by(WorkOrderPick.id))
    if states is not None:
        stmt = stmt.where(WorkOrderPick.state.in_(list(states)))
    return list(session.scalars(stmt))


def _room(session: Session, order: WorkOrder, adding: int) -> None:
    count = len(picks_of(session, order.id, states=("picked", "issued")))
    if count + adding > MAX_PICKS:
        raise InvalidInput(N_("part_id: work order already holds %(count)s picks, the most is %(max_picks)s"),
                           count=count, max_picks=MAX_PICKS)


def _hold(session: Session, order: WorkOrder, part: Part, bin_: StockBin, amount: Decimal, who: Who) -> WorkOrderPick:
    free = Decimal(session.scalar(select(StockLevel.quantity).where(
        StockLevel.part_id == part.id, StockLevel.bin_id == bin_.id)) or ZERO) - held_in_bin(session, part.id, bin_.id)
    if free < amount:
        raise InsufficientStock(N_("quantity: not enough stock of %(sku)s in %(label)s: %(free)s %(unit)s free, "
                                   "%(amount)s %(unit)s asked for"),
                                sku=part.sku, label=bin_.label, free=number(max(free, ZERO)),
                                unit=Term(part.unit, label(part.unit)), amount=number(amount))
    pick = WorkOrderPick(work_order_id=order.id, part_id=part.id, bin_id=bin_.id, quantity=amount, state="picked",
                         picked_by_id=who.actor.user_id, picked_by=who.actor.username[:100], picked_at=who.now)
    session.add(pick)
    session.flush()
    return pick


def pick(session: Session, order: WorkOrder, *, part_id: Any, bin_id: Any, quantity: Any, actor: Actor,
         clock: Clock) -> WorkOrderPick:
    """Hold ``quantity`` of a part in a bin for ``order``; refused when the bin has too little free."""
    part, who = begin(session, part_id, "stock.issue", actor, clock)
    if not part.active:
        raise InvalidInput(N_("part_id: %(sku)s is inactive"), sku=part.sku)
    _room(session, order, 1)
    held = _hold(session, order, part, bin_for(session, bin_id), QUANTITY("quantity", quantity), who)
    audit.record(session, actor=who.actor, action="stock.pick", entity="work_order", entity_id=order.id,
                 after=pick_snapshot(held), clock=who.clock)
    return held


def pick_kit(session: Session, order: WorkOrder, *, kit_id: Any, actor: Actor, clock: Clock) -> list[WorkOrderPick]:
    """Hold every part of a kit for ``order``, each from the bins with the most free stock;
    refused as a whole when any part is short."""
    kit = get_row(session, PartKit, kit_id, "kit")
    _room(session, order, len(kit.items))
    made: list[WorkOrderPick] = []
    for item in sorted(kit.items, key=lambda i: i.part_id):
        part, who = begin(session, item.part_id, "stock.issue", actor, clock)
        wanted = item.quantity
        for stock in sorted(bins_of(session, part.id), key=lambda s: -s.available):
            take = min(wanted, stock.available)
            if take > 0 and stock.bin.active:
                made.append(_hold(session, order, part, stock.bin, take, who))
                wanted -= take
        if wanted > 0:
            raise InsufficientStock(N_("kit_id: not enough stock of %(sku)s for kit '%(name)s': %(wanted)s %(unit)s "
                                       "short"),
                                    sku=part.sku, name=kit.name, wanted=number(wanted),
                                    unit=Term(part.unit, label(part.unit)))
    audit.record(session, actor=actor, action="stock.pick", entity="work_order", entity_id=order.id,
                 after={"kit": kit.name, "picks": [pick_snapshot(p) for p in made]}, clock=clock)
    return made


def put_back(session: Session, order: WorkOrder, pick_id: Any, *, actor: Actor, clock: Clock) -> WorkOrderPick:
    """Release a pick that was not issued: the parts are free again."""
    row = get_row(session, WorkOrderPick, pick_id, "pick")
    if row.work_order_id != order.id:
        raise InvalidInput(N_("pick_id: pick %(pick_id)s is not on this work order"), pick_id=pick_id)
    part, who = begin(session, row.part_id, "stock.issue", actor, clock)
    if row.state != "picked":
        raise InvalidInput(N_("pick_id: pick %(id)s is %(state)s; only picked parts go back"),
                           id=row.id, state=Term(row.state, label(row.state).lower()))
    row.state, row.settled_at = "released", who.now
    session.flush()
    audit.record(session, actor=who.actor, action="stock.put_back", entity="work_order", entity_id=order.id,
                 after=pick_snapshot(row), clock=who.clock)
    return row


def issue_for_order(session: Session, order: WorkOrder, *, actor: Actor, clock: Clock,
                    reference: str) -> list[StockMovement]:
    """Issue every part held for ``order`` (it is being completed): one ``issue`` movement per
    pick, naming the order. Called by the work-order state machine, which checked the actor."""
    moves = []
    picked = picks_of(session, order.id, states=("picked",))
    for part_id in sorted({p.part_id for p in picked}):
        part, who = begin(session, part_id, None, actor, clock)
        issued = []
        for row in (p for p in picked if p.part_id == part_id):
            move = post(session, part, row.bin, -row.quantity, "issue", who,
                        held=held_in_bin(session, part.id, row.bin_id, besides=row.id), work_order_id=order.id,
                        reason=f"Work order {reference} completed", reference=reference[:100])
            row.state, row.settled_at, row.movement_id = "issued", who.now, move.id
            issued.append(move)
        finish(session, part, who, "stock.issue", issued)
        moves += issued
    return moves


def release_for_order(session: Session, order: WorkOrder, *, actor: Actor, clock: Clock) -> list[WorkOrderPick]:
    """Put back every part still held for ``order`` (it is being cancelled)."""
    rows = picks_of(session, order.id, states=("picked",))
    for part_id in sorted({p.part_id for p in rows}):
        _, who = begin(session, part_id, None, actor, clock)
        for row in (p for p in rows if p.part_id == part_id):
            row.state, row.settled_at = "released", who.now
    session.flush()
    if rows:
        audit.record(session, actor=actor, action="stock.put_back", entity="work_order", entity_id=order.id,
                     after={"picks": [pick_snapshot(p) for p in rows]}, clock=clock)
    return rows


def cost_of(pick: WorkOrderPick) -> Decimal | None:
    """Return what a pick costs: at the issue's unit cost once issued, else at the part's."""
    unit_cost = pick.movement.unit_cost if pick.movement is not None else pick.part.unit_cost
    return None if unit_cost is None else (pick.quantity * unit_cost).quantize(Decimal("0.01"))


def parts_cost(session: Session, order_id: int) -> tuple[Decimal, bool]:
    """Return the cost of the parts picked or issued for an order, and whether every one had a cost."""
    return parts_costs(session, [order_id]).get(order_id, (Decimal("0.00"), True))


def parts_costs(session: Session, order_ids: list[int]) -> dict[int, tuple[Decimal, bool]]:
    """Return :func:`parts_cost` of each order of ``order_ids`` that has picks, in one query."""
    found: dict[int, list[Decimal | None]] = {}
    for pick in session.scalars(select(WorkOrderPick).where(WorkOrderPick.work_order_id.in_(order_ids),
                                                            WorkOrderPick.state.in_(("picked", "issued")))
                                .options(selectinload(WorkOrderPick.part), selectinload(WorkOrderPick.movement))):
        found.setdefault(pick.work_order_id, []).append(cost_of(pick))
    return {order_id: (sum((c for c in costs if c is not None), Decimal("0.00")), all(c is not None for c in costs))
            for order_id, costs in found.items()}
