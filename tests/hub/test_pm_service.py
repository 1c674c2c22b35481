"""Preventive-maintenance plans, the generator and PM work orders, on SQLite and PostgreSQL.

Dates are worked out in each test: the demo hospital is in Europe/London, so in January local
midnight is 00:00 UTC and in July it is 23:00 UTC the day before.
"""

from __future__ import annotations

import pytest
from pm_support import at, pm_db, pm_pg_template, pm_pg_url, utc
from relational_support import actor, clock, engine, session
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.audit import verify_chain
from wardlink.hub.db.models import Alert, Asset, Notice, PmOccurrence, User, WorkOrder
from wardlink.hub.db.models.rules import AssetMeter
from wardlink.hub.errors import InvalidInput, NotFound, PermissionDenied
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.maintenance import checklists
from wardlink.hub.services.reports import kpis
from wardlink.hub.services.people import org
from wardlink.hub.services.maintenance import pm
from wardlink.hub.services.maintenance import pm_generator
from wardlink.hub.services.maintenance import pm_meters
from wardlink.hub.services.maintenance import pm_work
from wardlink.hub.services.people import users
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance.workorder_common import WorkOrderConflict
from wardlink.clock import ManualClock

VENT_ITEMS = [
    {"key": "alarm", "label": "Disconnect alarm sounds", "kind": "pass_fail"},
    {"key": "leak", "label": "Earth leakage current", "kind": "value", "unit": "uA", "high": 500},
    {"key": "remarks", "label": "Remarks", "kind": "text"},
]


def _who(session, name):
    return Actor.for_user(users.find_user(session, name), "192.0.2.10")


def _orders(session, **where):
    stmt = select(WorkOrder).order_by(WorkOrder.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(WorkOrder, key) == value)
    return session.scalars(stmt).all()


def _vent_plan(session, clock, **extra):
    template = checklists.create_template(session, name="Ventilator PM", items=VENT_ITEMS, actor=None,
                                          clock=clock)
    data = {"name": "Ventilator six-monthly", "asset_tag": "VENT-0001", "trigger": "calendar",
            "anchor_date": "2025-07-15", "checklist_template_id": template.id, **extra}
    return pm.create_plan(session, data, actor=_who(session, "manager"), clock=clock), template


def _finish(session, order_id, clock, *, resolution="as_planned"):
    """Assign to the technician, start and complete, as people do."""
    tech = users.find_user(session, "tech")
    workorders.transition(session, order_id, "assigned", {"assignee_id": tech.id},
                          actor=_who(session, "manager"), clock=clock)
    workorders.transition(session, order_id, "in_progress", actor=_who(session, "tech"), clock=clock)
    workorders.transition(session, order_id, "completed", {"resolution_category": resolution},
                          actor=_who(session, "tech"), clock=clock)


# ------------------------------------------------------------------ plans and risk


@pytest.mark.parametrize("data, message", [
    ({"trigger": "calendar"}, "interval_count: required for calendar plans (the asset's EM score suggests none)"),
    ({"trigger": "calendar", "interval_count": 3}, "interval_unit: required for calendar plans"),
    ({"trigger": "calendar", "interval_count": 3, "interval_unit": "fortnight"}, "interval_unit: must be one of"),
    ({"trigger": "calendar", "interval_count": 0, "interval_unit": "month"}, "interval_count: must be 1..1000"),
    ({"trigger": "meter", "meter": "run_hours"}, "meter_interval: required for meter plans"),
    ({"trigger": "meter", "meter": "Run Hours", "meter_interval": 10}, "meter: must be a meter name"),
    ({"trigger": "meter", "meter": "run_hours", "meter_interval": 100, "meter_lead": 100},
     "meter_lead: must be less than meter_interval"),
    ({"trigger": "calendar", "interval_count": 1, "interval_unit": "week", "lead_days": 7},
     "lead_days: must be shorter than the interval (7 days)"),
    ({"trigger": "calendar", "interval_count": 1, "interval_unit": "year", "meter": "run_hours"},
     "meter: a calendar plan uses no meter"),
    ({"trigger": "sometimes"}, "trigger: must be one of calendar, meter, whichever_first"),
    ({"trigger": "calendar", "interval_count": 1, "interval_unit": "year", "checklist_template_id": 99},
     "checklist_template_id: no checklist template 99"),
    ({"trigger": "calendar", "interval_count": 1, "interval_unit": "year", "colour": "red"}, "colour: unknown field"),
])
def test_plans_refuse_bad_input_naming_the_field(session, clock, data, message):
    with pytest.raises(InvalidInput) as caught:
        pm.create_plan(session, {"name": "Fridge PM", "asset_tag": "VF-0001", **data}, actor=None, clock=clock)
    assert str(caught.value).startswith(message)


def test_a_plan_targets_an_asset_or_a_make_and_model(session, clock):
    with pytest.raises(InvalidInput, match="asset_tag: a plan needs an asset, or a make and a model"):
        pm.create_plan(session, {"name": "x", "trigger": "calendar", "interval_count": 1,
                                 "interval_unit": "year"}, actor=None, clock=clock)
    with pytest.raises(InvalidInput, match="not both"):
        pm.create_plan(session, {"name": "x", "asset_tag": "VF-0001", "make": "Liebherr", "model": "MKv 3910",
                                 "trigger": "calendar", "interval_count": 1, "interval_unit": "year"},
                       actor=None, clock=clock)


def test_the_em_score_suggests_the_interval_and_high_risk_gets_high_priority(pm_db):
    clock = ManualClock(at(2026, 1, 1))
    with session_scope(pm_db) as s:
        manager = _who(s, "manager")
        vent = pm.create_plan(s, {"name": "Vent", "asset_tag": "VENT-0001", "trigger": "calendar"},
                              actor=manager, clock=clock)   # EM 21, life support
        pump = pm.create_plan(s, {"name": "Pump", "asset_tag": "IP-0101", "trigger": "calendar"},
                              actor=manager, clock=clock)   # EM 18, physical risk 4
        steriliser = pm.create_plan(s, {"name": "Steriliser", "asset_tag": "STER-0001", "trigger": "calendar"},
                                    actor=manager, clock=clock)  # EM 15, physical risk 3
        assert (vent.interval_count, vent.interval_unit, vent.priority) == (6, "month", "high")
        assert (pump.interval_count, pump.interval_unit, pump.priority) == (12, "month", "high")
        assert (steriliser.interval_count, steriliser.interval_unit, steriliser.priority) == (12, "month", "medium")
        assert vent.anchor_date.isoformat() == "2026-01-01"  # today at the site
        entries = {e.asset.tag: e for e in pm.programme(s, actor=manager)}
        assert "VF-0001" not in entries  # EM 7: outside the programme
        assert entries["VENT-0001"].suggested == (6, "month") and entries["VENT-0001"].high_risk
        assert [p.name for p in entries["VENT-0001"].plans] == ["Vent"]
        assert entries["DEF-0001"].plans == [] and entries["DEF-0001"].suggested == (6, "month")


# ------------------------------------------------------------------ generation


def test_the_generator_creates_each_service_once_with_the_checklist_of_its_day(pm_db):
    clock = ManualClock(at(2026, 1, 1))
    with session_scope(pm_db) as s:
        plan, template = _vent_plan(s, clock)
    # Due 2026-01-15, generated from 01-01 (lead 14 days); window +-20 days.
    with session_scope(pm_db) as s:
        report = pm_generator.generate_due(s, clock=clock)
        assert (report.created, report.skipped) == (1, 0)
    with session_scope(pm_db) as s:
        assert pm_generator.generate_due(s, clock=clock).created == 0
        (order,) = _orders(s, kind="pm")
        assert (order.source, order.state, order.priority, order.asset.tag) == ("pm", "pending", "high", "VENT-0001")
        assert order.code and "2026-01-15" in order.title
        assert order.response_due_at == utc(2026, 1, 16)            # started by the end of the due date
        assert order.resolution_due_at == order.due_at == utc(2026, 2, 5)  # done by the end of 02-04
        occ = s.scalars(select(PmOccurrence)).one()
        assert (occ.seq, occ.due_date.isoformat(), occ.window_days, occ.high_risk) == (0, "2026-01-15", 20, True)
        assert occ.checklist_version.version == 1
        checklists.update_template(s, template.id, items=VENT_ITEMS[:2], actor=None, clock=clock)
    # The next service (2026-07-15) appears on 07-01 and carries version 2; the first keeps version 1.
    clock.set(at(2026, 6, 30))
    with session_scope(pm_db) as s:
        assert pm_generator.generate_due(s, clock=clock).created == 0
    clock.set(at(2026, 7, 1))
    with session_scope(pm_db) as s:
        assert pm_generator.generate_due(s, clock=clock).created == 1
        first, second = s.scalars(select(PmOccurrence).order_by(PmOccurrence.seq)).all()
        assert (first.checklist_version.version, second.checklist_version.version) == (1, 2)
        assert len(second.checklist_version.items) == 2
        # London is on summer time: local midnight after 07-15 is 23:00 UTC on 07-15.
        assert second.work_order.response_due_at == utc(2026, 7, 15, 23)
        assert second.work_order.resolution_due_at == utc(2026, 8, 4, 23)
        assert verify_chain(s) is None


def test_a_make_and_model_plan_covers_each_such_asset_except_retired_ones(pm_db):
    clock = ManualClock(at(2026, 1, 1))
    with session_scope(pm_db) as s:
        pm.create_plan(s, {"name": "Infusomat annual", "make": "B. Braun", "model": "Infusomat Space",
                           "trigger": "calendar", "interval_count": 1, "interval_unit": "year",
                           "anchor_date": "2025-01-10", "lead_days": 30}, actor=None, clock=clock)
        s.scalar(select(Asset).where(Asset.tag == "IP-0102")).equipment_status = "retired"
    with session_scope(pm_db) as s:
        pm_generator.generate_due(s, clock=clock)
        assert [(o.asset.tag, o.due_date.isoformat()) for o in s.scalars(select(PmOccurrence))] == [
            ("IP-0101", "2026-01-10")]
        s.scalar(select(Asset).where(Asset.tag == "IP-0102")).equipment_status = "faulty"
    with session_scope(pm_db) as s:
        pm_generator.generate_due(s, clock=clock)
        assert sorted(o.asset.tag for o in s.scalars(select(PmOccurrence))) == ["IP-0101", "IP-0102"]


def test_a_meter_plan_follows_the_device_counter_plus_telemetry_run_hours(pm_db):
    clock = ManualClock(at(2026, 1, 1))
    with session_scope(pm_db) as s:
        dock = s.scalar(select(Asset).where(Asset.tag == "IPD-0001"))
        s.add(AssetMeter(asset_id=dock.id, meter="run_hours", seconds=100 * 3600.0,
                         updated_at=utc(2026, 1, 1)))
    with session_scope(pm_db) as s:
        assert pm_meters.current_value(s, dock.id, "run_hours") == 100.0  # telemetry alone
        pm_meters.record_reading(s, "IPD-0001", meter="run_hours", value=1200, actor=_who(s, "tech"),
                                 clock=clock)
        s.get(AssetMeter, (dock.id, "run_hours")).seconds = 150 * 3600.0
    with session_scope(pm_db) as s:
        # The device said 1,200 h when telemetry stood at 100 h; telemetry now says 150 h.
        assert pm_meters.current_value(s, dock.id, "run_hours") == 1250.0
        plan = pm.create_plan(s, {"name": "Dock service", "asset_tag": "IPD-0001", "trigger": "meter",
                                  "meter": "run_hours", "meter_interval": 500, "meter_lead": 25},
                              actor=None, clock=clock)
        assert plan.anchor_meter == 1250.0  # due at 1,750 h, generated from 1,725 h
    for telemetry_hours, created in ((624, 0), (625, 1)):
        with session_scope(pm_db) as s:
            s.get(AssetMeter, (dock.id, "run_hours")).seconds = telemetry_hours * 3600.0
        with session_scope(pm_db) as s:
            assert pm_generator.generate_due(s, clock=clock).created == created
    with session_scope(pm_db) as s:
        occ = s.scalars(select(PmOccurrence)).one()
        assert (occ.due_date, occ.due_meter, occ.meter_tolerance) == (None, 1750.0, 50.0)
        assert "due at 1750 run_hours" in occ.work_order.title


# ------------------------------------------------------------------ completion, status, escalation


def test_completion_makes_the_asset_compliant_and_restarts_a_whichever_first_plan(pm_db):
    # Every 6 months or 1,000 cycles, counted from 2025-07-20 at 0 cycles: due 2026-01-20.
    clock = ManualClock(at(2026, 1, 6))
    with session_scope(pm_db) as s:
        template = checklists.create_template(s, name="Defib check", items=VENT_ITEMS[:1], actor=None,
                                              clock=clock)
        plan = pm.create_plan(s, {"name": "Defibrillator", "asset_tag": "DEF-0001", "trigger": "whichever_first",
                                  "interval_count": 6, "interval_unit": "month", "meter": "cycles",
                                  "meter_interval": 1000, "anchor_date": "2025-07-20", "anchor_meter": 0,
                                  "checklist_template_id": template.id}, actor=None, clock=clock)
        report = pm_generator.generate_due(s, clock=clock)
        order_id = report.work_order_ids[0]
        assert pm_generator.refresh_status(s, clock=clock)["due"] >= 1
        assert s.scalar(select(Asset.maintenance_status).where(Asset.tag == "DEF-0001")) == "due"
    clock.set(at(2026, 1, 12))
    with session_scope(pm_db) as s:
        assert not pm_work.checklist_complete(s, order_id)
        tech = users.find_user(s, "tech")
        workorders.transition(s, order_id, "assigned", {"assignee_id": tech.id}, actor=_who(s, "manager"),
                              clock=clock)
        workorders.transition(s, order_id, "in_progress", actor=_who(s, "tech"), clock=clock)
        pm_work.record_results(s, order_id, {"alarm": {"result": "pass"}}, meter=640, actor=_who(s, "tech"),
                               clock=clock)
        assert pm_work.checklist_complete(s, order_id)
        workorders.transition(s, order_id, "completed", {"resolution_category": "as_planned"},
                              actor=_who(s, "tech"), clock=clock)
    with session_scope(pm_db) as s:
        assert pm_generator.sync_completions(s, clock=clock) == 1
        occ = s.scalars(select(PmOccurrence)).one()
        assert (occ.state, occ.completed_on.isoformat(), occ.completion_meter) == ("completed", "2026-01-12", 640)
        pm_generator.refresh_status(s, clock=clock)
        assert s.scalar(select(Asset.maintenance_status).where(Asset.tag == "DEF-0001")) == "compliant"
        (view,) = pm.outlook(s, s.get(type(plan), plan.id))
        assert (view.next_due_date.isoformat(), view.next_due_meter, view.meter_now) == ("2026-07-12", 1640.0, 640.0)
        services = pm.list_services(s, plan.id, actor=None, clock=clock).items
        assert [(o.seq, verdict) for o, verdict in services] == [(0, "on_time")]


def test_an_overdue_service_makes_the_asset_overdue_and_is_escalated_once(pm_db):
    clock = ManualClock(at(2026, 1, 1))
    with session_scope(pm_db) as s:
        _vent_plan(s, clock)
        pm_generator.generate_due(s, clock=clock)
    clock.set(at(2026, 2, 4))  # last day of the window (due 01-15 + 20 days)
    with session_scope(pm_db) as s:
        assert pm_generator.escalate_overdue_pm(s, clock=clock) == 0
        pm_generator.refresh_status(s, clock=clock)
        assert s.scalar(select(Asset.maintenance_status).where(Asset.tag == "VENT-0001")) == "due"
    clock.set(at(2026, 2, 5))
    with session_scope(pm_db) as s:
        counts = pm_generator.refresh_status(s, clock=clock)
        assert counts["overdue"] == 1 and counts["changed"] == 1
        assert s.scalar(select(Asset.maintenance_status).where(Asset.tag == "VENT-0001")) == "overdue"
        assert pm_generator.escalate_overdue_pm(s, clock=clock) == 1
    with session_scope(pm_db) as s:
        assert pm_generator.escalate_overdue_pm(s, clock=clock) == 0
        (order,) = _orders(s, kind="pm")
        assert order.priority == "critical"  # life-support equipment
        alert = s.scalars(select(Alert).where(Alert.rule == "pm_overdue")).one()
        assert (alert.severity, alert.asset.tag, alert.state) == ("critical", "VENT-0001", "open")
        assert "was due 2026-01-15" in alert.detail
        # The managers are told once each (a notice; the second run above told nobody again).
        managers = set(s.scalars(select(User.id).where(User.role == "manager", User.is_active.is_(True))))
        told = list(s.scalars(select(Notice).where(Notice.event == "pm_overdue")))
        assert managers and managers <= {n.user_id for n in told} and len(told) == len({n.user_id for n in told})
        assert all(n.subject.startswith("Planned maintenance overdue: VENT-0001") for n in told)
        assert verify_chain(s) is None


def test_a_failed_item_opens_one_corrective_order_linked_to_the_pm_order(session, clock):
    clock.set(at(2026, 1, 2))
    _vent_plan(session, clock)
    (order_id,) = pm_generator.generate_due(session, clock=clock).work_order_ids
    tech = _who(session, "tech")
    with pytest.raises(InvalidInput, match="answers.alarm.result: 'Disconnect alarm sounds' is required"):
        pm_work.record_results(session, order_id, {"alarm": {"result": "na"}}, actor=tech, clock=clock)
    with pytest.raises(InvalidInput, match="answers.flow: no such checklist item"):
        pm_work.record_results(session, order_id, {"flow": {"value": 1}}, actor=tech, clock=clock)
    result, opened = pm_work.record_results(
        session, order_id, {"alarm": {"result": "fail", "comment": "no tone"}, "leak": {"value": 120}},
        actor=tech, clock=clock)
    assert (result.passed, result.complete, len(opened)) == (False, True, 1)
    corrective = opened[0]
    assert (corrective.kind, corrective.source, corrective.parent_id) == ("corrective", "checklist", order_id)
    assert "Disconnect alarm sounds" in corrective.title and "no tone" in corrective.description
    # Recording again: the alarm keeps its order; the leakage now fails and opens its own.
    result, opened = pm_work.record_results(
        session, order_id, {"alarm": {"result": "fail"}, "leak": {"value": 650}}, actor=tech, clock=clock)
    assert len(opened) == 1 and "Earth leakage current" in opened[0].title
    assert len(_orders(session, kind="corrective")) == 2
    assert {r["key"]: r["outcome"] for r in result.results} == {"alarm": "fail", "leak": "fail",
                                                               "remarks": "missing"}
    result, _ = pm_work.record_results(session, order_id, {"alarm": {"result": "pass"}}, actor=tech, clock=clock)
    assert (result.passed, result.complete) == (False, False)  # the leakage value is required
    _finish(session, order_id, clock)
    with pytest.raises(WorkOrderConflict, match="only be recorded before it is completed"):
        pm_work.record_results(session, order_id, {"alarm": {"result": "pass"}}, actor=tech, clock=clock)


def test_who_may_plan_record_and_see(session, clock):
    clock.set(at(2026, 1, 2))
    _vent_plan(session, clock)
    pm.create_plan(session, {"name": "Pharmacy fridge", "asset_tag": "VF-0002", "trigger": "calendar",
                             "interval_count": 1, "interval_unit": "year"}, actor=None, clock=clock)
    pm.create_plan(session, {"name": "All Infusomats", "make": "B. Braun", "model": "Infusomat Space",
                             "trigger": "calendar", "interval_count": 1, "interval_unit": "year"},
                   actor=None, clock=clock)
    with pytest.raises(PermissionDenied, match="role 'technician' may not create or change maintenance plans"):
        pm.create_plan(session, {"name": "x", "asset_tag": "VF-0001", "trigger": "calendar",
                                 "interval_count": 1, "interval_unit": "year"}, actor=actor(session, "tech"),
                       clock=clock)
    nurse = actor(session, "nurse")  # staff, ICU
    assert sorted(p.name for p in pm.list_plans(session, actor=nurse).items) == [
        "All Infusomats", "Ventilator six-monthly"]
    pharmacy = next(d.id for d in org.list_departments(session) if d.code == "PHARM")
    ward_manager = Actor(username="wardmgr", role="manager", department_id=pharmacy)
    with pytest.raises(PermissionDenied, match="make-and-model plan covers every department"):
        pm.create_plan(session, {"name": "x", "make": "a", "model": "b", "trigger": "calendar",
                                 "interval_count": 1, "interval_unit": "year"}, actor=ward_manager, clock=clock)
    with pytest.raises(PermissionDenied, match="belongs to another department"):
        pm.create_plan(session, {"name": "x", "asset_tag": "VENT-0001", "trigger": "calendar"},
                       actor=ward_manager, clock=clock)
    today = utc_now(clock).date()
    with pytest.raises(PermissionDenied, match="may not view maintenance KPIs"):
        kpis.compute(session, start=today, end=today, actor=nurse, clock=clock)
    (order_id,) = pm_generator.generate_due(session, clock=clock).work_order_ids
    vendor = actor(session, "vendor")
    with pytest.raises(NotFound):
        pm_work.checklist_for(session, order_id, actor=vendor)  # not assigned to this vendor
    workorders.transition(session, order_id, "assigned", {"assignee_id": vendor.user_id},
                          actor=actor(session, "manager"), clock=clock)
    result, _ = pm_work.record_results(session, order_id, {"alarm": {"result": "pass"}, "leak": {"value": 3}},
                                       actor=vendor, clock=clock)
    assert result.passed and result.recorded_by == "vendor"

