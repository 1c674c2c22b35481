"""The monthly repairs list against a hand-computed February on SQLite and PostgreSQL, and the
delay reasons it reads: a hold's reason kept after the resume, a reason given after an SLA breach."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from relational_support import actor, clock, engine, session
from repairs_support import make_month

from wardlink.hub.db.models import AuditLog, Department, WorkOrderDelay
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.maintenance import delays, workorders
from wardlink.hub.services.reports import repairs

__all__ = ["clock", "engine", "session"]


def test_february_holds_the_two_repairs_with_parts_delays_and_costs(session, clock):
    month = make_month(session, clock)
    report = repairs.repairs_report(session, actor=actor(session, "manager"), clock=clock, month="2026-02")
    assert (report.month, report.period.start, report.period.end) == (date(2026, 2, 1), date(2026, 2, 1),
                                                                      date(2026, 2, 28))
    assert [(d.department.code, [r.code for r in d.repairs]) for d in report.departments] == [
        ("ED", [month.breached_code]), ("ICU", [month.held_code])]
    held = next(r for r in report.repairs if r.order.id == month.held)
    assert [(p.number, p.quantity, p.cost, p.from_stock) for p in held.parts] == [
        ("FLT-100", Decimal(2), Decimal("25.00"), True), ("GASK-1", Decimal(1), Decimal("30.00"), False)]
    assert [(d.kind, d.reason, d.started_at, d.ended_at) for d in held.delays] == [
        ("hold", "Awaiting filter delivery", datetime(2026, 2, 3, 10, tzinfo=UTC), datetime(2026, 2, 4, 10, tzinfo=UTC))]
    assert (held.cost.parts, held.cost.labour, held.cost.vendor, held.cost.total) == (
        Decimal("55.00"), Decimal("60.00"), Decimal("50.00"), Decimal("165.00"))
    breached = next(r for r in report.repairs if r.order.id == month.breached)
    assert [(d.kind, d.reason) for d in breached.delays] == [("sla_breach", "Vendor engineer unavailable")]
    assert breached.cost.total == Decimal("40.00") and report.total == Decimal("205.00")
    assert [(a.tag, a.repairs, a.total) for a in report.assets()] == [("VF-0001", 1, Decimal("165.00")),
                                                                      ("DEF-0001", 1, Decimal("40.00"))]
    assert [(p.number, p.quantity, p.cost, p.repairs) for p in report.parts()] == [
        ("FLT-100", Decimal(2), Decimal("25.00"), 1), ("GASK-1", Decimal(1), Decimal("30.00"), 1)]


def test_one_department_the_default_month_and_bad_choices(session, clock):
    month = make_month(session, clock)
    icu = session.query(Department).filter_by(code="ICU").one()
    report = repairs.repairs_report(session, actor=actor(session, "manager"), clock=clock, month="2026-02",
                                    department_id=str(icu.id))
    assert [r.code for r in report.repairs] == [month.held_code] and report.department.code == "ICU"
    # The clock stands on 2 March: the default month is February, the last complete one.
    assert repairs.repairs_report(session, actor=actor(session, "manager"), clock=clock).key == "2026-02"
    march = repairs.repairs_report(session, actor=actor(session, "manager"), clock=clock, month="2026-03")
    assert [r.order.title for r in march.repairs] == ["Door latch"]
    for bad in ("2026-13", "Feb", "1999-01"):
        with pytest.raises(InvalidInput, match="month: "):
            repairs.repairs_report(session, actor=actor(session, "manager"), clock=clock, month=bad)
    with pytest.raises(PermissionDenied):
        repairs.repairs_report(session, actor=actor(session, "tech"), clock=clock, month="2026-02")


def test_a_breach_reason_needs_a_breach_and_is_audited(session, clock):
    month = make_month(session, clock)
    tech = actor(session, "tech")
    row = session.query(AuditLog).filter_by(action="workorder.delay_reason", entity_id=str(month.breached)).one()
    assert "Vendor engineer unavailable" in row.after_json
    with pytest.raises(InvalidInput, match="has not breached its service level"):
        delays.explain_breach(session, month.held, "Slow", actor=tech, clock=clock)
    with pytest.raises(InvalidInput, match="reason: "):
        delays.explain_breach(session, month.breached, "  ", actor=tech, clock=clock)
    with pytest.raises(PermissionDenied):
        delays.explain_breach(session, month.breached, "Because", actor=actor(session, "viewer"), clock=clock)
    # A hold without a reason for the delay is refused and records nothing.
    order = workorders.create_work_order(session, {"kind": "corrective", "title": "Hinge", "asset_tag": "VF-0002",
                                                   "assignee_id": tech.user_id}, actor=actor(session, "manager"),
                                         clock=clock)
    workorders.transition(session, order.id, "in_progress", actor=tech, clock=clock)
    with pytest.raises(InvalidInput, match="reason: is required"):
        workorders.transition(session, order.id, "on_hold", {"reason": ""}, actor=tech, clock=clock)
    assert session.query(WorkOrderDelay).filter_by(work_order_id=order.id).count() == 0
