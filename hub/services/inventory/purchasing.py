"""Purchase orders: drafting an order of parts from a supplier, sending it, cancelling and
closing it. Receiving the parts is :mod:`.receiving`.

The states are ``draft`` -> ``sent`` -> ``partially_received`` -> ``received`` -> ``closed``,
and ``cancelled`` from ``draft`` or ``sent`` (nothing received yet). Lines are added, changed
and removed while the order is a draft. Receiving moves a sent order to partially received or
received; an order partly received is closed when the rest will not come. Every change is one
audit row on the order (``purchase_order.*``). Procurement (``purchase.manage``) drafts, sends,
cancels and closes; those who receive stock (``stock.receive``) receive against it; everyone who
may see parts may read orders. Orders, like the stock they fill, belong to the whole hospital:
no department scope.

"Add everything below reorder level" puts on a draft a line for each active part of the
order's supplier (its preferred supplier) that is at or below its reorder level and not yet on
the order: the quantity is the reorder list's, the part's reorder quantity and at least what it
takes to reach the level, less what is already on order for it; a part fully covered by orders
already sent is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Part, PurchaseOrder, PurchaseOrderLine, Supplier
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import PURCHASE_ORDER_STATES, label
from wardlink.hub.errors import InvalidInput, Message, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import amount, get_row, number
from wardlink.hub.services.inventory.levels import ZERO, on_hand
from wardlink.hub.services.inventory.low_stock import ReorderLine
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.people.site_time import zone_for
from wardlink.hub.services.validate import choice, money, optional_date, optional_id, stock_quantity, text
from wardlink.clock import Clock

#: States whose lines are still to arrive: what they lack is "on order".
OPEN_STATES = ("sent", "partially_received")
#: (from, to) -> what the transition is called (the audit action), for the transitions people ask for;
#: partially received and received are reached by receiving.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "sent"): "send", ("draft", "cancelled"): "cancel", ("sent", "cancelled"): "cancel",
    ("received", "closed"): "close", ("partially_received", "closed"): "close",
}
#: The states a transition may ask for, in the order of the flow.
TARGETS = tuple(dict.fromkeys(target for _, target in TRANSITIONS))
MAX_LINES = 200
NOTES = text(5000)
REASON = text(2000)
QUANTITY = stock_quantity()


class PurchaseOrderConflict(InvalidInput):
    """The order's state does not allow what was asked (nothing was changed)."""


def snapshot(order: PurchaseOrder) -> dict[str, Any]:
    """Return an order's fields and lines (for audit rows and the API)."""
    return {"id": order.id, "number": order.number, "supplier_id": order.supplier_id, "state": order.state,
            "expected_on": order.expected_on.isoformat() if order.expected_on else None, "notes": order.notes,
            "reason": order.reason,
            "lines": [{"id": line.id, "part_id": line.part_id, "quantity": number(line.quantity),
                       "unit_cost": amount(line.unit_cost), "received": number(line.received)}
                      for line in order.lines]}


def total(order: PurchaseOrder) -> Decimal | None:
    """Return what the order costs at its lines' unit costs (None when no line has a cost)."""
    costs = [line.quantity * line.unit_cost for line in order.lines if line.unit_cost is not None]
    return sum(costs, ZERO).quantize(Decimal("0.01")) if costs else None


# ------------------------------------------------------------------ reading


def get_order(session: Session, order_id: Any, *, actor: Actor | None, for_update: bool = False) -> PurchaseOrder:
    """Return purchase order ``order_id`` for someone who may see parts."""
    require(resolve_actor(actor), "part.view")
    return get_row(session, PurchaseOrder, order_id, "purchase order", for_update=for_update)


def list_orders(session: Session, *, actor: Actor | None, state: str | None = None, supplier_id: int | None = None,
                page: int = 1, per_page: int = 50) -> Page[PurchaseOrder]:
    """Return one page of purchase orders, newest first (``state`` may list several, comma-separated)."""
    require(resolve_actor(actor), "part.view")
    stmt = select(PurchaseOrder).options(selectinload(PurchaseOrder.supplier), selectinload(PurchaseOrder.lines))
    if state:
        states = [choice(PURCHASE_ORDER_STATES)("state", s.strip()) for s in state.split(",") if s.strip()]
        stmt = stmt.where(PurchaseOrder.state.in_(states))
    if supplier_id is not None:
        stmt = stmt.where(PurchaseOrder.supplier_id == supplier_id)
    return paginate(session, stmt.order_by(PurchaseOrder.id.desc()), page, per_page)


def on_order(session: Session, part_ids: list[int]) -> dict[int, Decimal]:
    """Return how much of each part is ordered and not yet received (orders sent or partly
    received), 0 for parts with none."""
    wanted = list(dict.fromkeys(part_ids))
    out = dict.fromkeys(wanted, ZERO)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        rows = session.execute(select(PurchaseOrderLine.part_id, PurchaseOrderLine.quantity,
                                      PurchaseOrderLine.received)
                               .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.order_id)
                               .where(PurchaseOrderLine.part_id.in_(chunk), PurchaseOrder.state.in_(OPEN_STATES)))
        for part_id, quantity, received in rows:
            out[part_id] += Decimal(quantity) - Decimal(received)
    return {k: v.quantize(Decimal("0.001")).normalize() if v else ZERO for k, v in out.items()}


# ------------------------------------------------------------------ changing


@dataclass(frozen=True)
class Change:
    """Who changes an order and when."""

    who: Actor
    clock: Clock


def _begin(session: Session, order_id: Any, actor: Actor | None, clock: Clock | None,
           permission: str = "purchase.manage") -> tuple[PurchaseOrder, Change, dict[str, Any]]:
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, permission)
    order = get_row(session, PurchaseOrder, order_id, "purchase order", for_update=True)
    return order, Change(who, clock), snapshot(order)


def record(session: Session, order: PurchaseOrder, change: Change, action: str, before: dict[str, Any] | None) -> None:
    """Audit a change of ``order`` (``before``: its snapshot before, None for a new order)."""
    session.flush()
    after = snapshot(order)
    if before is not None:
        before, after = audit.changes(before, after)
    order.updated_at = utc_now(change.clock)
    audit.record(session, actor=change.who, action=f"purchase_order.{action}", entity="purchase_order",
                 entity_id=order.id, before=before, after={"number": order.number, **after}, clock=change.clock)


def _draft_only(order: PurchaseOrder, what: str) -> None:
    if order.state != "draft":
        raise PurchaseOrderConflict(N_("state: %(order)s is %(state)s; only a draft's %(what)s can be changed"),
                                    order=order.number, state=Term(order.state, label(order.state).lower()),
                                    what=Message(what))


def _supplier(session: Session, supplier_id: Any) -> Supplier:
    number_ = optional_id("supplier_id", supplier_id)
    supplier = session.get(Supplier, number_) if number_ is not None else None
    if supplier is None:
        if number_ is None:
            raise InvalidInput(N_("supplier_id: choose a supplier"))
        raise InvalidInput(N_("supplier_id: no supplier %(supplier)s"), supplier=number_)
    if not supplier.active:
        raise InvalidInput(N_("supplier_id: %(name)s is inactive; parts are not ordered from it"), name=supplier.name)
    return supplier


def create_order(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                 clock: Clock | None = None) -> PurchaseOrder:
    """Draft an order from a supplier (``supplier_id``, optional ``expected_on``, ``notes``);
    ``add_below_reorder`` true adds a line for each of its parts at or below the reorder level."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "purchase.manage")
    unknown = set(data) - {"supplier_id", "expected_on", "notes", "add_below_reorder"}
    if unknown:
        raise InvalidInput(N_("%(field)s: unknown field"), field=sorted(unknown)[0])
    supplier = _supplier(session, data.get("supplier_id"))
    now = utc_now(clock)
    order = PurchaseOrder(supplier_id=supplier.id, supplier=supplier, state="draft",
                          expected_on=optional_date("expected_on", data.get("expected_on")),
                          notes=NOTES("notes", data.get("notes")), created_by_id=who.user_id,
                          created_by=who.username[:100], created_at=now, updated_at=now, sent_by="", reason="",
                          lines=[])
    session.add(order)
    session.flush()
    order.number = f"PO-{order.id:05d}"
    if data.get("add_below_reorder") not in (None, "", False, "no", "false", "0"):
        _add_low_parts(session, order)
    record(session, order, Change(who, clock), "create", None)
    return order


def update_order(session: Session, order_id: Any, changes: Mapping[str, Any], *, actor: Actor | None,
                 clock: Clock | None = None) -> PurchaseOrder:
    """Change an order's supplier (a draft's), expected date or notes (until it is received)."""
    order, change, before = _begin(session, order_id, actor, clock)
    unknown = set(changes) - {"supplier_id", "expected_on", "notes"}
    if unknown:
        raise InvalidInput(N_("%(field)s: unknown field"), field=sorted(unknown)[0])
    if order.state not in ("draft", *OPEN_STATES):
        raise PurchaseOrderConflict(N_("state: %(order)s is %(state)s; it cannot be changed"), order=order.number,
                                    state=Term(order.state, label(order.state).lower()))
    if "supplier_id" in changes and optional_id("supplier_id", changes["supplier_id"]) != order.supplier_id:
        _draft_only(order, N_("supplier"))
        order.supplier = _supplier(session, changes["supplier_id"])
    if "expected_on" in changes:
        order.expected_on = optional_date("expected_on", changes["expected_on"])
    if "notes" in changes:
        order.notes = NOTES("notes", changes["notes"])
    record(session, order, change, "update", before)
    return order


def set_line(session: Session, order_id: Any, *, part_id: Any, quantity: Any, unit_cost: Any = None,
             actor: Actor | None, clock: Clock | None = None) -> PurchaseOrderLine:
    """Put ``quantity`` of a part on a draft (a part already on it gets the new quantity and cost);
    ``unit_cost`` defaults to the part's."""
    order, change, before = _begin(session, order_id, actor, clock)
    _draft_only(order, N_("lines"))
    part = get_row(session, Part, optional_id("part_id", part_id), "part")
    amount_ = QUANTITY("quantity", quantity)
    cost = money("unit_cost", unit_cost)
    line = next((row for row in order.lines if row.part_id == part.id), None)
    if line is None:
        if not part.active:
            raise InvalidInput(N_("part_id: %(sku)s is inactive; it is not ordered any more"), sku=part.sku)
        if len(order.lines) >= MAX_LINES:
            raise InvalidInput(N_("part_id: an order has at most %(max_lines)s lines"), max_lines=MAX_LINES)
        line = PurchaseOrderLine(part=part, part_id=part.id, received=ZERO, quantity=amount_)
        order.lines.append(line)
    line.quantity, line.unit_cost = amount_, cost if cost is not None else part.unit_cost
    record(session, order, change, "line", before)
    return line


def remove_line(session: Session, order_id: Any, line_id: Any, *, actor: Actor | None,
                clock: Clock | None = None) -> None:
    """Take a line off a draft."""
    order, change, before = _begin(session, order_id, actor, clock)
    _draft_only(order, N_("lines"))
    line = next((row for row in order.lines if row.id == optional_id("line_id", line_id)), None)
    if line is None:
        raise InvalidInput(N_("line_id: %(number)s has no line %(line_id)s"), number=order.number, line_id=line_id)
    order.lines.remove(line)
    record(session, order, change, "line", before)


def _add_low_parts(session: Session, order: PurchaseOrder) -> list[PurchaseOrderLine]:
    present = {line.part_id for line in order.lines}
    parts = [p for p in session.scalars(select(Part).where(Part.low_since.is_not(None), Part.active.is_(True),
                                                           Part.preferred_supplier_id == order.supplier_id)
                                        .order_by(Part.sku_key)) if p.id not in present]
    ids = [p.id for p in parts]
    stock, coming = on_hand(session, ids), on_order(session, ids)
    added = []
    for part in parts:
        wanted = ReorderLine(part, stock[part.id], ZERO).suggested - coming[part.id]
        if wanted > 0 and len(order.lines) < MAX_LINES:
            line = PurchaseOrderLine(part=part, part_id=part.id, quantity=wanted, unit_cost=part.unit_cost,
                                     received=ZERO)
            order.lines.append(line)
            added.append(line)
    session.flush()
    return added


def add_below_reorder(session: Session, order_id: Any, *, actor: Actor | None,
                      clock: Clock | None = None) -> list[PurchaseOrderLine]:
    """Add to a draft a line for each part of its supplier at or below its reorder level (see the
    module's text for the quantity); return the lines added."""
    order, change, before = _begin(session, order_id, actor, clock)
    _draft_only(order, N_("lines"))
    added = _add_low_parts(session, order)
    if added:
        record(session, order, change, "line", before)
    return added


def transition(session: Session, order_id: Any, to: Any, *, reason: Any = "", actor: Actor | None,
               clock: Clock | None = None) -> PurchaseOrder:
    """Send a draft, cancel a draft or a sent order (say why), or close a received or partly
    received one; raise :class:`PurchaseOrderConflict` for any other move."""
    order, change, before = _begin(session, order_id, actor, clock)
    target = choice(TARGETS)("to", to)
    action = TRANSITIONS.get((order.state, target))
    if action is None:
        raise PurchaseOrderConflict(N_("to: %(order)s is %(state)s; it cannot be %(target)s"), order=order.number,
                                    state=Term(order.state, label(order.state).lower()),
                                    target=Term(target, label(target).lower()))
    why = REASON("reason", reason)
    now = utc_now(change.clock)
    if action == "send":
        if not order.lines:
            raise InvalidInput(N_("lines: %(number)s has no lines; add the parts to order before sending it"),
                               number=order.number)
        order.sent_at, order.sent_by = now, change.who.username[:100]
        lead = order.supplier.lead_time_days
        if order.expected_on is None and lead is not None:
            order.expected_on = now.astimezone(zone_for(session, change.who)).date() + timedelta(days=lead)
    elif action == "cancel":
        if not why:
            raise InvalidInput(N_("reason: say why the order is cancelled"))
        order.ended_at, order.reason = now, why
    else:
        order.ended_at, order.reason = now, why
    order.state = target
    record(session, order, change, action, before)
    return order
