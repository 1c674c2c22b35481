"""A hand-computed parts forecast: two plans (monthly and quarterly) with parts per visit and
known stock, as of 1 March 2026 at noon UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from inventory_support import make_store
from relational_support import actor

from wardlink.hub.services.inventory import catalogue, ledger
from wardlink.hub.services.maintenance import pm
from wardlink.clock import ManualClock

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def make_forecast(session, clock=None):
    """FLT-100 (4 on hand, reorder quantity 10, Medparts), GAS-1 (5 on hand, Medparts), BAT-9 (none,
    no supplier, no reorder quantity); a monthly ventilator plan due 15 Mar, 15 Apr, 15 May
    (2 x FLT-100 and 1 x GAS-1 a visit) and a quarterly pump plan due 10 Apr (3 x FLT-100, 1 x BAT-9)."""
    clock = clock or ManualClock(NOW.timestamp())
    store = make_store(session, clock)
    buyer, manager = actor(session, "buyer"), actor(session, "manager")
    gas = catalogue.create_part(session, {"sku": "GAS-1", "name": "O2 cell", "unit_cost": "80.00",
                                          "reorder_quantity": "2", "preferred_supplier_id": store.supplier_id},
                                actor=buyer, clock=clock)
    catalogue.create_part(session, {"sku": "BAT-9", "name": "Pump battery"}, actor=buyer, clock=clock)
    ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=4, actor=buyer, clock=clock)
    ledger.receive(session, gas.id, bin_id=store.bin_b, quantity=5, actor=buyer, clock=clock)
    monthly = pm.create_plan(session, {
        "name": "Ventilator monthly", "asset_tag": "VF-0001", "trigger": "calendar", "interval_count": 1,
        "interval_unit": "month", "anchor_date": "2026-02-15", "lead_days": 7,
        "visit_parts": [{"sku": "flt-100", "quantity": 2}, {"part_id": gas.id}]}, actor=manager, clock=clock)
    quarterly = pm.create_plan(session, {
        "name": "Pump quarterly", "asset_tag": "IP-0101", "trigger": "calendar", "interval_count": 3,
        "interval_unit": "month", "anchor_date": "2026-01-10", "lead_days": 7,
        "visit_parts": [{"sku": "FLT-100", "quantity": "3"}, {"sku": "BAT-9", "quantity": 1}]},
        actor=manager, clock=clock)
    pm.create_plan(session, {"name": "No parts", "asset_tag": "IP-0102", "trigger": "calendar",
                             "interval_count": 1, "interval_unit": "week", "anchor_date": "2026-02-20",
                             "lead_days": 2},
                   actor=manager, clock=clock)
    return store, monthly, quarterly
