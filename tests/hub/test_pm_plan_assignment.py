"""A plan's assignee, planned parts and time reach the work orders the generator opens; a paused
or retired plan opens none. On SQLite and PostgreSQL."""

from __future__ import annotations

from pm_support import at, pm_db, pm_pg_template, pm_pg_url
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import WorkOrder
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import pm, pm_generator
from wardlink.hub.services.people import users
from wardlink.clock import ManualClock


def _plan(session, clock, **extra):
    manager = Actor.for_user(users.find_user(session, "manager"))
    data = {"name": "Pump quarterly", "asset_tag": "IP-0101", "trigger": "calendar", "interval_count": 3,
            "interval_unit": "month", "anchor_date": "2026-01-10", "lead_days": 7, **extra}
    return pm.create_plan(session, data, actor=manager, clock=clock)


def test_the_generated_work_order_goes_to_the_plans_technician_with_its_parts_and_time(pm_db):
    clock = ManualClock(at(2026, 1, 20))
    with session_scope(pm_db) as s:
        tech = users.find_user(s, "tech")
        _plan(s, clock, assignee_id=tech.id, planned_minutes=50,
              planned_parts=[{"part_number": "BB-8700", "description": "Door seal", "quantity": 2}])
        tech_id = tech.id
    clock.set(at(2026, 4, 5))  # within the 7 days before 10 April
    with session_scope(pm_db) as s:
        report = pm_generator.generate_due(s, clock=clock)
        [order] = s.scalars(select(WorkOrder).where(WorkOrder.id.in_(report.work_order_ids))).all()
        assert (order.state, order.assigned_to_id) == ("assigned", tech_id)
        assert "Planned time: 50 minutes." in order.description
        assert "Part: 2 x BB-8700 Door seal." in order.description


def test_a_team_plan_leaves_the_order_unassigned_and_a_paused_or_retired_plan_opens_nothing(pm_db):
    clock = ManualClock(at(2026, 1, 20))
    with session_scope(pm_db) as s:
        team = _plan(s, clock, assignee_team="Biomed A").id
        paused = _plan(s, clock, name="Paused one").id
        retired = _plan(s, clock, name="Retired one").id
        manager = Actor.for_user(users.find_user(s, "manager"))
        pm.change_plan_state(s, paused, "pause", actor=manager, clock=clock)
        pm.change_plan_state(s, retired, "retire", actor=manager, clock=clock)
    clock.set(at(2026, 4, 5))
    with session_scope(pm_db) as s:
        report = pm_generator.generate_due(s, clock=clock)
        orders = s.scalars(select(WorkOrder).where(WorkOrder.id.in_(report.work_order_ids))).all()
        assert [(o.assigned_to_id, o.title.split(" - ")[0]) for o in orders] == [(None, "PM: Pump quarterly")]
        assert "Team: Biomed A." in orders[0].description
        assert [pm.plan_state(pm.get_plan(s, i, actor=None)) for i in (team, paused, retired)] == [
            "active", "paused", "retired"]
