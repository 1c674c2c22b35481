"""Parts on work orders: picked parts are held for the order, issued when it is completed and put
back when it is cancelled; the order's cost adds parts, labour at the rates and vendor charges."""

from __future__ import annotations

from decimal import Decimal

import pytest
from inventory_support import make_store
from relational_support import actor, clock, engine, session

from wardlink.hub.db.models import Alert, Notice, NoticeEmail, Part, StockMovement, WorkOrderPick
from wardlink.hub.services.inventory import ledger, levels, low_stock
from wardlink.hub.services.maintenance import workorder_costs, workorder_parts, workorders
from wardlink.hub.services.maintenance.workorder_common import WorkOrderConflict
from wardlink.hub.services.people import users


def _order(session, clock):
    order = workorders.create_work_order(session, {"kind": "corrective", "title": "Ventilator filter alarm",
                                                   "asset_tag": "VF-0001"}, actor=actor(session, "manager"),
                                         clock=clock)
    tech = actor(session, "tech")
    workorders.transition(session, order.id, "assigned", {"assignee_id": tech.user_id},
                          actor=actor(session, "manager"), clock=clock)
    workorders.transition(session, order.id, "in_progress", actor=tech, clock=clock)
    return order


def test_completing_the_order_issues_its_picks_and_the_part_falls_to_its_reorder_level(session, clock):
    store = make_store(session, clock, reorder_level="3")
    users.update_user(session, "buyer", {"email": "stores@hospital.example"}, actor=None, clock=clock)
    ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=5, actor=None, clock=clock)
    order, tech = _order(session, clock), actor(session, "tech")
    pick = workorder_parts.pick_part(session, order.id, part_id=store.part_id, bin_id=store.bin_a, quantity=2,
                                     actor=tech, clock=clock)
    # held, not issued: on hand stays 5, only 3 are free to anyone else
    assert levels.on_hand(session, [store.part_id])[store.part_id] == Decimal("5")
    with pytest.raises(ledger.InsufficientStock, match=r"A-1: 3 each free \(2 held for work orders\), 4 each asked for"):
        ledger.issue(session, store.part_id, bin_id=store.bin_a, quantity=4, reason="x", actor=tech, clock=clock)
    assert session.get(Part, store.part_id).low_since is None

    workorders.transition(session, order.id, "completed", {"resolution_category": "part_replaced"}, actor=tech,
                          clock=clock)
    assert pick.state == "issued"
    issue = session.get(StockMovement, pick.movement_id)
    assert (issue.kind, issue.quantity, issue.balance, issue.work_order_id) == ("issue", Decimal("-2"),
                                                                                Decimal("3"), order.id)
    part = session.get(Part, store.part_id)
    assert part.low_since is not None
    alert = session.get(Alert, part.low_alert_id)
    assert (alert.rule, alert.state, alert.title) == ("low_stock", "open",
                                                      "Low stock: FLT-100 Air filter, ventilator intake: 3 each left")
    told = {n.user_id for n in session.query(Notice).filter(Notice.key == f"part:{part.id}:low:{alert.id}")}
    assert {actor(session, "buyer").user_id, actor(session, "manager").user_id} <= told
    mails = session.query(NoticeEmail).join(Notice, NoticeEmail.notice_id == Notice.id).filter(
        Notice.event == "low_stock").all()
    mail, = mails
    assert mail.to_addr == "stores@hospital.example" and "Reorder quantity: 10 each" in mail.body
    line, = low_stock.reorder_list(session, actor=actor(session, "buyer")).items
    assert (line.part.id, line.on_hand, line.suggested) == (store.part_id, Decimal("3"), Decimal("10"))

    # restocking above the level ends the episode and resolves the alert
    ledger.receive(session, store.part_id, bin_id=store.bin_b, quantity=10, actor=None, clock=clock)
    assert part.low_since is None and alert.state == "resolved"
    assert low_stock.reorder_list(session, actor=None).items == []


def test_cancelling_the_order_puts_its_picks_back(session, clock):
    store = make_store(session, clock)
    ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=4, actor=None, clock=clock)
    manager, tech = actor(session, "manager"), actor(session, "tech")
    order = workorders.create_work_order(session, {"kind": "corrective", "title": "Check", "asset_tag": "VF-0001"},
                                         actor=manager, clock=clock)
    pick = workorder_parts.pick_part(session, order.id, part_id=store.part_id, bin_id=store.bin_a, quantity="4",
                                     actor=tech, clock=clock)
    assert levels.held(session, [store.part_id])[store.part_id] == Decimal("4")
    workorders.transition(session, order.id, "cancelled", {"reason": "duplicate"}, actor=manager, clock=clock)
    assert pick.state == "released"
    assert levels.held(session, [store.part_id])[store.part_id] == Decimal("0")
    assert session.query(StockMovement).filter_by(kind="issue").count() == 0
    with pytest.raises(WorkOrderConflict, match="cancelled"):
        workorder_parts.pick_part(session, order.id, part_id=store.part_id, bin_id=store.bin_a, quantity=1,
                                  actor=tech, clock=clock)


def test_a_pick_larger_than_the_free_stock_is_refused(session, clock):
    store = make_store(session, clock)
    ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=1, actor=None, clock=clock)
    order = _order(session, clock)
    with pytest.raises(ledger.InsufficientStock, match="1 each free, 2 each asked for"):
        workorder_parts.pick_part(session, order.id, part_id=store.part_id, bin_id=store.bin_a, quantity=2,
                                  actor=actor(session, "tech"), clock=clock)
    assert session.query(WorkOrderPick).count() == 0


def test_the_order_cost_is_parts_plus_labour_at_the_rates_plus_vendor_charges(session, clock):
    store = make_store(session, clock, unit_cost="12.50")
    ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=5, actor=None, clock=clock)
    order, tech, manager = _order(session, clock), actor(session, "tech"), actor(session, "manager")
    workorder_parts.pick_part(session, order.id, part_id=store.part_id, bin_id=store.bin_a, quantity=2,
                              actor=tech, clock=clock)
    workorders.add_part(session, order.id, part_number="X-1", description="Fuse", quantity=1, unit_cost="3.00",
                        actor=tech, clock=clock)
    workorder_costs.set_rate(session, role="technician", hourly_rate="40.00", actor=manager, clock=clock)
    workorders.log_time(session, order.id, minutes=90, actor=tech, clock=clock)
    cost = workorder_costs.order_cost(session, order.id, actor=manager)
    assert (cost.parts, cost.labour, cost.vendor, cost.unpriced_minutes) == (Decimal("28.00"), Decimal("60.00"),
                                                                             Decimal("0.00"), 0)
    workorder_costs.set_rate(session, user_id=tech.user_id, hourly_rate="50", actor=manager, clock=clock)
    workorder_costs.add_charge(session, order.id, vendor="Draeger service", description="Call-out", amount="120",
                               reference="INV-77", actor=tech, clock=clock)
    cost = workorder_costs.order_cost(session, order.id, actor=manager)
    assert (cost.labour, cost.vendor, cost.total) == (Decimal("75.00"), Decimal("120.00"), Decimal("223.00"))
