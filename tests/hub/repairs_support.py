"""A hand-computed month of repairs (February 2026, London = UTC): two corrective orders done in
the month, one held for a part and one that breached its SLA, plus orders that must be left out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from inventory_support import make_store
from relational_support import actor

from wardlink.hub.services.inventory import ledger
from wardlink.hub.services.maintenance import delays, sla, workorder_costs, workorder_parts, workorder_records, workorders
from wardlink.hub.services.people import users


def _at(clock, day: int, hour: int, month: int = 2) -> None:
    clock.set(datetime(2026, month, day, hour, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Month:
    """Ids and codes of what :func:`make_month` made."""

    held: int
    held_code: str
    breached: int
    breached_code: str


def _order(session, clock, tag: str, title: str, kind: str = "corrective") -> int:
    manager, tech = actor(session, "manager"), actor(session, "tech")
    order = workorders.create_work_order(session, {"kind": kind, "title": title, "asset_tag": tag,
                                                   "assignee_id": users.find_user(session, "tech").id},
                                         actor=manager, clock=clock)
    workorders.transition(session, order.id, "in_progress", actor=tech, clock=clock)
    return order.id


def make_month(session, clock) -> Month:
    """VF-0001 (ICU): picked 2 FLT-100 at 12.50, held 3-4 Feb "Awaiting filter delivery", 90 min at
    40.00/h, a door gasket by hand (1 x 30.00), a vendor charge of 50.00, done 5 Feb: 55 + 60 + 50 =
    165.00. DEF-0001 (ED): opened 1 Feb, breached, reason "Vendor engineer unavailable", 60 min,
    done 20 Feb: 40.00. Left out: a PM order done in February, a repair done 1 March."""
    _at(clock, 1, 1)
    manager, tech = actor(session, "manager"), actor(session, "tech")
    store = make_store(session, clock)
    ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=10, actor=actor(session, "buyer"),
                   clock=clock)
    workorder_costs.set_rate(session, role="technician", hourly_rate="40.00", actor=manager, clock=clock)
    breached = _order(session, clock, "DEF-0001", "Pads connector loose")
    _at(clock, 2, 9)
    held = _order(session, clock, "VF-0001", "Fridge alarm, intake filter clogged")
    workorder_parts.pick_part(session, held, part_id=store.part_id, bin_id=store.bin_a, quantity=2, actor=tech,
                              clock=clock)
    _at(clock, 3, 10)
    workorders.transition(session, held, "on_hold", {"reason": "Awaiting filter delivery"}, actor=tech, clock=clock)
    _at(clock, 4, 10)
    workorders.transition(session, held, "in_progress", actor=tech, clock=clock)
    workorder_records.log_time(session, held, minutes=90, actor=tech, clock=clock)
    workorder_records.add_part(session, held, part_number="GASK-1", description="Door gasket", quantity=1,
                               unit_cost="30.00", actor=tech, clock=clock)
    workorder_costs.add_charge(session, held, description="Call-out", amount="50.00", vendor="Liebherr service",
                               actor=tech, clock=clock)
    _at(clock, 5, 12)
    workorders.transition(session, held, "completed", {"resolution_category": "part_replaced"}, actor=tech,
                          clock=clock)
    pm_order = _order(session, clock, "IP-0101", "Planned check", kind="pm")
    workorders.transition(session, pm_order, "completed", {"resolution_category": "as_planned"}, actor=tech,
                          clock=clock)
    _at(clock, 20, 9)
    sla.escalate_overdue(session, clock)
    delays.explain_breach(session, breached, "Vendor engineer unavailable", actor=tech, clock=clock)
    workorder_records.log_time(session, breached, minutes=60, actor=tech, clock=clock)
    workorders.transition(session, breached, "completed", {"resolution_category": "repaired"}, actor=tech,
                          clock=clock)
    late = _order(session, clock, "IP-0102", "Door latch")
    _at(clock, 1, 0, month=3)
    workorders.transition(session, late, "completed", {"resolution_category": "repaired"}, actor=tech, clock=clock)
    _at(clock, 2, 9, month=3)
    codes = {o.id: o.code for o in (workorders.get_work_order(session, i, actor=manager) for i in (held, breached))}
    return Month(held, codes[held], breached, codes[breached])
