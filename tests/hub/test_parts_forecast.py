"""The parts forecast against a hand-computed fixture: two plans (monthly and quarterly) with
parts per visit, known stock, known dates -> exact needs, shortfalls and suggested orders; on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from forecast_support import NOW, make_forecast
from relational_support import actor, engine, session

from wardlink.hub.db.models import AuditLog, WorkOrder
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.maintenance import parts_forecast, pm, pm_generator, pm_parts
from wardlink.clock import ManualClock

__all__ = ["engine", "session"]

def test_ninety_days_of_two_plans_give_the_hand_computed_needs_and_orders(session):
    store, monthly, quarterly = make_forecast(session)
    found = parts_forecast.forecast(session, actor=actor(session, "buyer"), now=NOW)
    assert (found.days, found.first, found.last) == (90, date(2026, 3, 1), date(2026, 5, 29))
    assert found.services == 4  # 3 monthly + 1 quarterly; the plan without parts does not count
    rows = {n.part.sku: (n.needed, n.on_hand, n.shortfall, n.suggested) for n in found.parts}
    assert rows == {"BAT-9": (Decimal(1), Decimal(0), Decimal(1), Decimal(1)),
                    "FLT-100": (Decimal(9), Decimal(4), Decimal(5), Decimal(10)),
                    "GAS-1": (Decimal(3), Decimal(5), Decimal(0), Decimal(0))}
    flt = next(n for n in found.parts if n.part.sku == "FLT-100")
    assert [(p.plan, p.services, p.per_visit, p.quantity) for p in flt.plans] == [
        ("Pump quarterly", 1, Decimal(3), Decimal(3)), ("Ventilator monthly", 3, Decimal(2), Decimal(6))]
    assert flt.value == Decimal("125.00") and flt.on_order == 0
    orders = found.orders
    assert [(o.supplier.name if o.supplier else None, [line.part.sku for line in o.lines], o.value)
            for o in orders] == [("Medparts Ltd", ["FLT-100"], Decimal("125.00")), (None, ["BAT-9"], Decimal("0.00"))]


def test_a_shorter_window_and_a_paused_plan_need_less(session):
    _, monthly, quarterly = make_forecast(session)
    found = parts_forecast.forecast(session, actor=actor(session, "manager"), now=NOW, days="30")
    assert found.last == date(2026, 3, 30)
    assert {n.part.sku: (n.needed, n.shortfall) for n in found.parts} == {
        "FLT-100": (Decimal(2), Decimal(0)), "GAS-1": (Decimal(1), Decimal(0))}
    pm.change_plan_state(session, monthly.id, "pause", actor=actor(session, "manager"), clock=ManualClock(NOW.timestamp()))
    found = parts_forecast.forecast(session, actor=actor(session, "manager"), now=NOW)
    assert {n.part.sku: n.needed for n in found.parts} == {"FLT-100": Decimal(3), "BAT-9": Decimal(1)}


def test_parts_per_visit_are_replaced_audited_and_checked(session):
    _, monthly, _ = make_forecast(session)
    clock, manager = ManualClock(NOW.timestamp()), actor(session, "manager")
    pm.update_plan(session, monthly.id, {"visit_parts": [{"sku": "GAS-1", "quantity": "0.5"}]}, actor=manager,
                   clock=clock)
    assert [(r.part.sku, r.quantity) for r in pm_parts.of_plan(session, monthly.id)] == [("GAS-1", Decimal("0.5"))]
    row = session.query(AuditLog).filter_by(action="pm_plan.update", entity_id=str(monthly.id)).one()
    before, after = json.loads(row.before_json), json.loads(row.after_json)
    assert [p["sku"] for p in before["visit_parts"]] == ["FLT-100", "GAS-1"]
    assert [(p["sku"], p["name"], p["quantity"]) for p in after["visit_parts"]] == [("GAS-1", "O2 cell", "0.5")]
    for bad, message in [([{"sku": "NOPE"}], "visit_parts[0].sku: no SKU 'NOPE' in the catalogue"),
                         ([{"sku": "GAS-1", "quantity": 0}], "visit_parts[0].quantity"),
                         ([{"sku": "GAS-1"}, {"sku": "gas-1"}], "visit_parts[1].sku: GAS-1 is listed twice"),
                         ("GAS-1", "visit_parts: must be a list")]:
        with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("]", r"\]")):
            pm.update_plan(session, monthly.id, {"visit_parts": bad}, actor=manager, clock=clock)
    assert [r.part.sku for r in pm_parts.of_plan(session, monthly.id)] == ["GAS-1"]


def test_bad_windows_and_people_without_parts_access_are_refused(session):
    make_forecast(session)
    for bad in ("0", "366", "soon"):
        with pytest.raises(InvalidInput, match="days: "):
            parts_forecast.forecast(session, actor=actor(session, "manager"), now=NOW, days=bad)
    with pytest.raises(PermissionDenied):
        parts_forecast.forecast(session, actor=actor(session, "nurse"), now=NOW)


def test_a_generated_service_names_its_parts_and_still_counts_until_done(session):
    _, monthly, _ = make_forecast(session)
    clock = ManualClock(datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp())
    pm_generator.generate_due(session, clock=clock)
    order = session.query(WorkOrder).filter(WorkOrder.title.like("PM: Ventilator monthly%")).one()
    assert "Part from stock: 2 x FLT-100 Air filter, ventilator intake." in order.description
    assert "Part from stock: 1 x GAS-1 O2 cell." in order.description
    found = parts_forecast.forecast(session, actor=actor(session, "manager"), now=NOW)
    assert {n.part.sku: n.needed for n in found.parts}["FLT-100"] == Decimal(9)
