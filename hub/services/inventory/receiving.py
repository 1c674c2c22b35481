"""Receiving a purchase order: a delivery of one line into a bin.

Each receipt is a ``receive`` movement of the stock ledger (:func:`.ledger.post`), naming the
order's supplier, with the order's number as its reference and the line's unit cost, plus one
``purchase_order_receipts`` row tying it to the line; the line's ``received`` grows by the
same amount in the same transaction, so the ledger's receipts against a line always add up
to what the line says arrived. More than is still to arrive is refused. The order becomes
partially received, or received when every line is complete. Audited on the part
(``stock.receive``, with the movement) and on the order (``purchase_order.receive``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import (PurchaseOrder, PurchaseOrderLine, PurchaseOrderReceipt, StockBin, StockLevel,
                                    StockLocation, StockMovement)
from wardlink.hub.db.vocab import label
from wardlink.hub.errors import InvalidInput, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.inventory import ledger
from wardlink.hub.services.inventory.common import get_row, number
from wardlink.hub.services.inventory.purchasing import OPEN_STATES, Change, PurchaseOrderConflict, record, snapshot
from wardlink.hub.services.validate import optional_id, stock_quantity, text
from wardlink.clock import Clock

QUANTITY = stock_quantity()
REFERENCE = text(100)


def receive(session: Session, order_id: Any, line_id: Any, *, quantity: Any, bin_id: Any, reference: Any = "",
            actor: Actor | None, clock: Clock | None = None) -> StockMovement:
    """Put ``quantity`` of a line of a sent order into a bin (``reference``: the delivery note);
    return the movement. Refused when the order is not sent or partly received, or when more
    than is still to arrive is given."""
    amount = QUANTITY("quantity", quantity)
    line_number = optional_id("line_id", line_id)
    line = session.get(PurchaseOrderLine, line_number) if line_number is not None else None
    if line is None or str(line.order_id) != str(order_id):
        get_row(session, PurchaseOrder, order_id, "purchase order")
        raise InvalidInput(N_("line_id: the order has no line %(line_id)s"), line_id=line_id)
    # The part first, as every movement does, then the order: one receipt of a line at a time.
    part, who = ledger.begin(session, line.part_id, "stock.receive", actor, clock)
    order = get_row(session, PurchaseOrder, line.order_id, "purchase order", for_update=True)
    session.refresh(line)
    before = snapshot(order)
    if order.state not in OPEN_STATES:
        raise PurchaseOrderConflict(N_("state: %(order)s is %(state)s; only a sent order is received"),
                                    order=order.number, state=Term(order.state, label(order.state).lower()))
    if amount > line.outstanding:
        raise InvalidInput(N_("quantity: only %(outstanding)s %(unit)s of %(sku)s are still to arrive on %(number)s "
                              "(%(received)s of %(quantity)s received); %(amount)s is more than that"),
                           outstanding=number(line.outstanding), unit=Term(part.unit, label(part.unit)), sku=part.sku,
                           number=order.number, received=number(line.received), quantity=number(line.quantity),
                           amount=number(amount))
    bin_ = ledger.bin_for(session, bin_id, incoming=True)
    note = REFERENCE("reference", reference)
    move = ledger.post(session, part, bin_, amount, "receive", who, unit_cost=line.unit_cost,
                       supplier_id=order.supplier_id, reference=" / ".join(filter(None, (order.number, note)))[:100],
                       reason=f"Purchase order {order.number}")
    session.add(PurchaseOrderReceipt(line_id=line.id, movement_id=move.id))
    line.received = line.received + amount
    session.flush()
    order.state = "received" if all(row.received >= row.quantity for row in order.lines) else "partially_received"
    ledger.finish(session, part, who, "stock.receive", [move])
    record(session, order, Change(who.actor, who.clock), "receive", before)
    return move


def received_by_ledger(session: Session, line_id: int) -> Decimal:
    """Return the sum of the ledger's movements received against a line (what reconciles with
    the line's ``received``)."""
    total = session.scalar(select(func.coalesce(func.sum(StockMovement.quantity), 0))
                           .join(PurchaseOrderReceipt, PurchaseOrderReceipt.movement_id == StockMovement.id)
                           .where(PurchaseOrderReceipt.line_id == line_id))
    return Decimal(total or 0).quantize(Decimal("0.001"))


def usual_bins(session: Session, part_ids: list[int]) -> dict[int, str]:
    """Return, per part, the label (``LOCATION/BIN``) of the active bin holding most of it: where
    a delivery goes unless said otherwise. Parts kept nowhere are left out."""
    out: dict[int, str] = {}
    if not part_ids:
        return out
    rows = session.execute(select(StockLevel.part_id, StockLocation.code, StockBin.code)
                           .join(StockBin, StockBin.id == StockLevel.bin_id)
                           .join(StockLocation, StockLocation.id == StockBin.stock_location_id)
                           .where(StockLevel.part_id.in_(part_ids[:500]), StockBin.active.is_(True),
                                  StockLocation.active.is_(True))
                           .order_by(StockLevel.part_id, StockLevel.quantity.desc(), StockBin.id))
    for part_id, location, bin_code in rows:
        out.setdefault(part_id, f"{location}/{bin_code}")
    return out
