"""Parts from stock on a work order: picking them, putting them back, and what the work costs.

Picking holds parts in a bin for the order (:mod:`wardlink.hub.services.inventory.picks`);
completing the order issues them and cancelling it puts them back (the state machine,
:mod:`~wardlink.hub.services.maintenance.workorder_flow`, calls the inventory hooks). Parts are
picked while the work is open: pending, assigned, in progress or on hold; a completed order is
returned for rework first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from wardlink.hub.db.models import WorkOrder, WorkOrderPick
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import label
from wardlink.hub.errors import Message, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.inventory import picks
from wardlink.hub.services.maintenance.workorder_common import (WorkOrderConflict, code_of, ensure_not_frozen, load,
                                                                touch)
from wardlink.hub.services.people.permissions import require
from wardlink.clock import Clock

#: States in which parts may be picked for an order or put back.
PICKING_STATES = frozenset({"pending", "assigned", "in_progress", "on_hold"})


def _open(session: Session, order_id: int, who: Actor, what: str) -> WorkOrder:
    require(who, "workorder.record")
    require(who, "stock.issue")
    order = load(session, order_id, who, for_update=True)
    ensure_not_frozen(order, what)
    if order.state not in PICKING_STATES:
        raise WorkOrderConflict(N_("work order %(code)s is %(state)s; return it for rework to %(what)s"),
                                code=code_of(order), state=Term(order.state, label(order.state).lower()),
                                what=Message(what))
    return order


def pick_part(session: Session, order_id: int, *, part_id: Any, bin_id: Any, quantity: Any,
              actor: Actor | None, clock: Clock | None = None) -> WorkOrderPick:
    """Hold parts from a bin for an order; they are issued when it is completed."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    order = _open(session, order_id, who, N_("pick parts"))
    row = picks.pick(session, order, part_id=part_id, bin_id=bin_id, quantity=quantity, actor=who, clock=clock)
    touch(order, utc_now(clock))
    return row


def pick_kit(session: Session, order_id: int, *, kit_id: Any, actor: Actor | None,
             clock: Clock | None = None) -> list[WorkOrderPick]:
    """Hold every part of a kit for an order, from the bins with the most free stock."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    order = _open(session, order_id, who, N_("pick parts"))
    rows = picks.pick_kit(session, order, kit_id=kit_id, actor=who, clock=clock)
    touch(order, utc_now(clock))
    return rows


def put_back(session: Session, order_id: int, pick_id: Any, *, actor: Actor | None,
             clock: Clock | None = None) -> WorkOrderPick:
    """Release parts picked for an order that were not used."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    order = _open(session, order_id, who, N_("put parts back"))
    row = picks.put_back(session, order, pick_id, actor=who, clock=clock)
    touch(order, utc_now(clock))
    return row


def picks_of(session: Session, order_id: int, *, actor: Actor | None) -> list[WorkOrderPick]:
    """Return the parts picked for an order the actor may see (issued, held and put back)."""
    order = load(session, order_id, resolve_actor(actor))
    return picks.picks_of(session, order.id)
