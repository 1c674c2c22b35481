"""KPIs on two small datasets whose expected figures are worked out by hand in this file,
and the CSV and Excel exports (opened with csv and openpyxl) carrying the same numbers.

Both datasets use the period 2026-01-01 .. 2026-01-10 (as of 2026-01-11 00:00 UTC: 240 hours)
and a department of their own, so the demo hospital's equipment does not enter the sums.
London is on UTC in January, so local midnights are UTC midnights.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from pm_support import at, utc
from relational_support import clock, engine, session, web
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Site, WorkOrder
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.assets import status
from wardlink.hub.services.reports import export
from wardlink.hub.services.reports import kpis
from wardlink.hub.services.people import org
from wardlink.hub.services.maintenance import pm
from wardlink.hub.services.maintenance import pm_generator
from wardlink.hub.services.people import users
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.actor import Actor
from wardlink.clock import ManualClock

START, END = date(2026, 1, 1), date(2026, 1, 10)


def _department(session, code, clock):
    site = session.scalars(select(Site)).first()
    return org.ensure_department(session, site, code=code, name=f"{code} ward", actor=None, clock=clock)


def _asset(session, tag, dept, clock, **risk):
    return assets.create_asset(session, {"tag": tag, "name": tag, "category": "Test device",
                                         "department_id": dept.id, **risk}, actor=None, clock=clock)


def build_repairs(session) -> int:
    """Corrective work on two assets of department REP; return the department id.

    | # | asset | opened      | downtime       | response due / met | resolution due / met   | counts as   |
    |---|-------|-------------|----------------|--------------------|------------------------|-------------|
    | 1 | A1    | 01-02 00:00 | 01-02 -> 01-03 | 01:00 / 00:30      | 01-02 08:00 / 01-03 x  | failure 24h |
    | 2 | A1    | 01-05 00:00 | 00:00 -> 12:00 | 04:00 / never x    | 01-06 / 01-05 12:00    | failure 12h |
    | 3 | A2    | 01-09 00:00 | 01-09 -> open  | 04:00 / 02:00      | 01-10 / open x         | failure     |
    | 4 | A2    | 01-04 00:00 | -              | 01:00 / 00:15      | 08:00 / 06:00          | no fault    |
    | 5 | A2    | 01-06 00:00 | -              | cancelled at 01:00 |                        | nothing     |
    | 6 | A1    | 2025-12-20  | -              | inspection, due 2025-12-30, pending     | backlog     |
    | 7 | A2    | 01-12 00:00 | after the end  |                    |                        | nothing     |

    (x: breached)
    """
    clock = ManualClock(at(2025, 12, 1))
    dept = _department(session, "REP", clock)
    a1 = _asset(session, "REP-A1", dept, clock, life_support=True)
    a2 = _asset(session, "REP-A2", dept, clock, physical_risk=2)
    d = utc
    rows = [
        dict(asset=a1, kind="corrective", state="completed", created_at=d(2026, 1, 2),
             responded_at=d(2026, 1, 2, 0, 30), response_due_at=d(2026, 1, 2, 1), resolution_due_at=d(2026, 1, 2, 8),
             completed_at=d(2026, 1, 3), downtime_start=d(2026, 1, 2), downtime_end=d(2026, 1, 3),
             resolution_category="repaired"),
        dict(asset=a1, kind="corrective", state="closed", created_at=d(2026, 1, 5), response_due_at=d(2026, 1, 5, 4),
             resolution_due_at=d(2026, 1, 6), completed_at=d(2026, 1, 5, 12), closed_at=d(2026, 1, 6, 9),
             downtime_start=d(2026, 1, 5), downtime_end=d(2026, 1, 5, 12), resolution_category="adjusted"),
        dict(asset=a2, kind="corrective", state="in_progress", created_at=d(2026, 1, 9),
             responded_at=d(2026, 1, 9, 2), response_due_at=d(2026, 1, 9, 4), resolution_due_at=d(2026, 1, 10),
             downtime_start=d(2026, 1, 9)),
        dict(asset=a2, kind="corrective", state="completed", created_at=d(2026, 1, 4),
             responded_at=d(2026, 1, 4, 0, 15), response_due_at=d(2026, 1, 4, 1), resolution_due_at=d(2026, 1, 4, 8),
             completed_at=d(2026, 1, 4, 6), resolution_category="no_fault_found"),
        dict(asset=a2, kind="corrective", state="cancelled", created_at=d(2026, 1, 6), cancelled_at=d(2026, 1, 6, 1),
             response_due_at=d(2026, 1, 6, 4), resolution_due_at=d(2026, 1, 7)),
        dict(asset=a1, kind="inspection", state="pending", created_at=d(2025, 12, 20),
             response_due_at=d(2025, 12, 21), resolution_due_at=d(2025, 12, 30)),
        dict(asset=a2, kind="corrective", state="pending", created_at=d(2026, 1, 12),
             response_due_at=d(2026, 1, 12, 4), resolution_due_at=d(2026, 1, 13), downtime_start=d(2026, 1, 12)),
    ]
    for n, row in enumerate(rows, 1):
        asset = row.pop("asset")
        session.add(WorkOrder(title=f"REP job {n}", asset_id=asset.id, department_id=dept.id, priority="high",
                              source="manual", escalation_level=0, updated_at=row["created_at"], **row))
    # The equipment status followed the failures: A1 faulty 01-02 -> 01-03 and 01-05 00:00 ->
    # 12:00, A2 faulty from 01-09 on.
    for asset, value, when in ((a1, "faulty", d(2026, 1, 2)), (a1, "in_service", d(2026, 1, 3)),
                               (a1, "faulty", d(2026, 1, 5)), (a1, "in_service", d(2026, 1, 5, 12)),
                               (a2, "faulty", d(2026, 1, 9))):
        clock.set(when.timestamp())
        assets.update_asset(session, asset.tag, {"equipment_status": value}, actor=None, clock=clock)
    session.flush()
    return dept.id


def _finish(session, order_id, clock, *, started, done):
    tech = users.find_user(session, "tech")
    manager = Actor.for_user(users.find_user(session, "manager"))
    worker = Actor.for_user(tech)
    clock.set(started)
    workorders.transition(session, order_id, "assigned", {"assignee_id": tech.id}, actor=manager, clock=clock)
    workorders.transition(session, order_id, "in_progress", actor=worker, clock=clock)
    clock.set(done)
    workorders.transition(session, order_id, "completed", {"resolution_category": "as_planned"},
                          actor=worker, clock=clock)


def build_services(session) -> int:
    """Weekly plans (window +-1 day, no lead) on two assets of department SVC; return its id.

    | plan | asset (risk)     | anchor     | service due (window)     | what happens                  | verdict |
    |------|------------------|------------|--------------------------|-------------------------------|---------|
    | P1   | B1 (life support)| 2025-12-29 | 01-05 (01-04 .. 01-06)   | generated 01-05, done 01-05   | on time |
    | P2   | B2               | 2025-12-30 | 01-06 (01-05 .. 01-07)   | generated 01-06, done 01-08   | late    |
    | P3   | B2               | 2025-12-26 | 01-02 (01-01 .. 01-03)   | generated 01-02, never done   | missed  |
    | P3   | B2               |            | 01-09 (01-08 .. 01-10)   | generated 01-09, open         | pending |
    | P4   | B1 (life support)| 2025-12-27 | 01-03 (01-02 .. 01-04)   | generated 01-05 (late), open  | missed  |
    | P4   | B1 (life support)|            | 01-10 (01-09 .. 01-11)   | generated 01-10, open         | pending |
    """
    clock = ManualClock(at(2025, 12, 1))
    dept = _department(session, "SVC", clock)
    b1 = _asset(session, "SVC-B1", dept, clock, life_support=True)
    b2 = _asset(session, "SVC-B2", dept, clock, physical_risk=2)
    clock.set(at(2026, 1, 1))
    for name, asset, anchor in (("P1", b1, "2025-12-29"), ("P2", b2, "2025-12-30"), ("P3", b2, "2025-12-26"),
                                ("P4", b1, "2025-12-27")):
        pm.create_plan(session, {"name": name, "asset_tag": asset.tag, "trigger": "calendar", "interval_count": 1,
                                 "interval_unit": "week", "anchor_date": anchor, "lead_days": 0},
                       actor=None, clock=clock)
    generated = {}
    for day in (2, 5, 6, 9, 10):
        clock.set(at(2026, 1, day))
        generated[day] = pm_generator.generate_due(session, clock=clock).work_order_ids
    p1 = next(o for o in generated[5] if session.get(WorkOrder, o).title.startswith("PM: P1"))
    _finish(session, p1, clock, started=at(2026, 1, 5, 13), done=at(2026, 1, 5, 15))
    (p2,) = generated[6]
    _finish(session, p2, clock, started=at(2026, 1, 8, 12), done=at(2026, 1, 8, 14))
    clock.set(at(2026, 1, 11, 6))
    pm_generator.sync_completions(session, clock=clock)
    return dept.id


def _report(session, department_id, now=None):
    return kpis.compute(session, start=START, end=END, department_id=department_id, actor=None,
                        clock=ManualClock(now or at(2026, 1, 20)))


def test_repair_kpis_match_the_hand_computed_figures(session):
    report = _report(session, build_repairs(session))
    k = report.total.as_dict()
    assert report.as_of == utc(2026, 1, 11)
    # Failures: orders 1, 2, 3 (4 found no fault, 5 was cancelled, 7 is after the period).
    assert k["failures"] == 3
    # Asset hours 2 x 240 = 480; downtime A1 24 + 12, A2 48 (01-09 to the end) = 84.
    assert (k["asset_hours"], k["downtime_hours"]) == (480.0, 84.0)
    assert k["mtbf_hours"] == pytest.approx((480 - 84) / 3) == 132.0
    assert k["uptime_pct"] == pytest.approx(100 * 396 / 480) == 82.5
    # Repairs completed in the period: 24 h and 12 h.
    assert (k["repairs"], k["mttr_hours"]) == (2, 18.0)
    # Open at the end: order 3 (corrective) and 6 (inspection), both past their due time.
    assert k["backlog"] == {"pm": 0, "corrective": 1, "inspection": 1, "recall": 0, "total": 2}
    assert k["work_orders_overdue"] == 2
    # Response due in the period: 1, 2, 3, 4; only 2 missed it. Resolution: 1 and 3 missed.
    assert k["sla"] == {"response": {"due": 4, "breached": 1, "breach_rate_pct": 25.0},
                        "resolution": {"due": 4, "breached": 2, "breach_rate_pct": 50.0}}
    assert k["pm"]["judged"] == 0 and k["pm"]["completion_pct"] is None


def test_uptime_and_availability_come_from_the_status_history(session):
    """Three assets of department UPT over 240 hours (2026-01-01 .. 01-10):

    | asset | in scope                        | hours | not in service                          | fault |
    |-------|---------------------------------|-------|-----------------------------------------|-------|
    | U1    | all period                      | 240   | tagged out 01-04 06:00 -> 01-05 06:00   | 24    |
    |       |                                 |       | out of service 01-08 -> 01-09 (stored)  |       |
    | U2    | registered 01-03 12:00          | 180   | faulty 01-10 00:00 -> the end           | 24    |
    | U3    | retired 01-06 00:00             | 120   | -                                       | 0     |

    U1: uptime 192/240 = 80 %, availability 216/240 = 90 %. U2: 156/180 = 86.667 % both.
    U3: 100 %. All: uptime 468/540 = 86.667 %, availability 492/540 = 91.111 %.
    """
    clock = ManualClock(at(2025, 12, 1))
    dept = _department(session, "UPT", clock)
    manager = Actor(username="uptmgr", role="manager", department_id=dept.id)
    _asset(session, "UPT-U1", dept, clock)
    _asset(session, "UPT-U3", dept, clock)
    steps = [
        (utc(2026, 1, 3, 12), lambda: _asset(session, "UPT-U2", dept, clock)),
        (utc(2026, 1, 4, 6), lambda: status.tag_out(session, "UPT-U1", reason="Cracked casing", actor=manager,
                                                     clock=clock)),
        (utc(2026, 1, 5, 6), lambda: status.clear_tag_out(session, "UPT-U1", reason="Casing replaced",
                                                           actor=manager, clock=clock)),
        (utc(2026, 1, 6), lambda: assets.update_asset(session, "UPT-U3", {"equipment_status": "retired"},
                                                       actor=manager, clock=clock)),
        (utc(2026, 1, 8), lambda: assets.update_asset(session, "UPT-U1", {"equipment_status": "out_of_service"},
                                                       actor=manager, clock=clock)),
        (utc(2026, 1, 9), lambda: assets.update_asset(session, "UPT-U1", {"equipment_status": "in_service"},
                                                       actor=manager, clock=clock)),
        (utc(2026, 1, 10), lambda: assets.update_asset(session, "UPT-U2", {"equipment_status": "faulty"},
                                                        actor=manager, clock=clock)),
    ]
    for when, step in steps:
        clock.set(when.timestamp())
        step()
    report = _report(session, dept.id)
    k = report.total.as_dict()
    assert (k["asset_hours"], k["downtime_hours"], k["fault_hours"]) == (540.0, 72.0, 48.0)
    assert k["uptime_pct"] == round(100 * 468 / 540, 3) == 86.667
    assert k["availability_pct"] == round(100 * 492 / 540, 3) == 91.111
    by_asset = {a["asset"]: a for a in report.as_dict()["assets"]}
    assert {t: (a["scope_hours"], a["in_service_hours"], a["fault_hours"], a["uptime_pct"], a["availability_pct"])
            for t, a in by_asset.items()} == {
        "UPT-U1": (240.0, 192.0, 24.0, 80.0, 90.0),
        "UPT-U2": (180.0, 156.0, 24.0, 86.667, 86.667),
        "UPT-U3": (120.0, 120.0, 0.0, 100.0, 100.0),
    }
    (dept_row,) = [k for d, k in report.departments if d is not None and d.code == "UPT"]
    assert dept_row.uptime_pct == 86.667 and dept_row.availability_pct == 91.111


def test_pm_compliance_kpis_match_the_hand_computed_figures(session):
    report = _report(session, build_services(session))
    k = report.total.as_dict()
    assert k["pm"] == {"on_time": 1, "late": 1, "missed": 2, "pending": 2, "judged": 4,
                       "completion_pct": 50.0, "on_time_pct": 25.0}
    # High-risk (B1): P1 on time, P4 missed, P4's second pending -> 1 of 2, target not met.
    assert k["pm_high_risk"] == {"on_time": 1, "late": 0, "missed": 1, "pending": 1, "judged": 2,
                                 "completion_pct": 50.0, "on_time_pct": 50.0, "target_pct": 100.0,
                                 "target_met": False}
    assert [(s.asset, s.plan, s.due_date.isoformat(), s.judgement) for s in report.high_risk_services] == [
        ("SVC-B1", "P4", "2026-01-03", "missed")]
    assert k["pm_overdue"] == 2
    assert k["backlog"]["pm"] == 4
    # Past their resolution due time at the end: P3's first (01-04 00:00) and P4's first
    # (generated after its window, so due at once: 01-05 12:00).
    assert k["work_orders_overdue"] == 2
    # Response due in the period: P3 01-03, P4 01-05 12:00, P1 01-06, P2 01-07, P3 01-10 ->
    # only P1 was started in time. Resolution: P3 01-04, P4 01-05, P1 01-07, P2 01-08 -> P1 met.
    assert k["sla"]["response"] == {"due": 5, "breached": 4, "breach_rate_pct": 80.0}
    assert k["sla"]["resolution"] == {"due": 4, "breached": 3, "breach_rate_pct": 75.0}
    assert (k["failures"], k["mtbf_hours"], k["mttr_hours"], k["uptime_pct"]) == (0, None, None, 100.0)


def test_the_report_splits_by_department_and_respects_scope(session):
    repairs, services = build_repairs(session), build_services(session)
    report = _report(session, None)
    by_code = {d.code: k for d, k in report.departments if d is not None}
    assert by_code["REP"].as_dict() == _report(session, repairs).total.as_dict()
    assert by_code["SVC"].as_dict() == _report(session, services).total.as_dict()
    assert report.total.failures == sum(k.failures for _, k in report.departments)
    assert report.total.pm.judged == sum(k.pm.judged for _, k in report.departments)
    scoped = Actor(username="repmgr", role="manager", department_id=repairs)
    mine = kpis.compute(session, start=START, end=END, actor=scoped, clock=ManualClock(at(2026, 1, 20)))
    assert mine.department.code == "REP" and [d.code for d, _ in mine.departments] == ["REP"]
    with pytest.raises(PermissionDenied, match="only see KPIs of their own department"):
        kpis.compute(session, start=START, end=END, department_id=services, actor=scoped,
                     clock=ManualClock(at(2026, 1, 20)))
    with pytest.raises(InvalidInput, match="end: must not be before start"):
        kpis.compute(session, start=END, end=START, actor=None, clock=ManualClock(at(2026, 1, 20)))
    with pytest.raises(InvalidInput, match="start: the period must have begun"):
        kpis.compute(session, start=date(2026, 3, 1), end=date(2026, 3, 2), actor=None,
                     clock=ManualClock(at(2026, 1, 20)))
    # Before the period ends, facts are taken as of now: order 3's downtime runs to 01-10 00:00.
    early = _report(session, repairs, now=at(2026, 1, 10, 0))
    assert (early.as_of, early.total.downtime_hours) == (utc(2026, 1, 10), 36.0 + 24.0)


def test_csv_and_excel_exports_carry_the_figures(session):
    repairs = build_repairs(session)
    report = _report(session, repairs)
    table = list(csv.DictReader(io.StringIO(export.to_csv(report))))
    assert len(table) == 1
    row = table[0]
    assert (row["department"], row["failures"], row["mtbf_hours"], row["mttr_hours"]) == ("REP", "3", "132.0", "18.0")
    assert (row["uptime_pct"], row["backlog_total"], row["resolution_breach_rate_pct"]) == ("82.5", "2", "50.0")
    assert row["pm_completion_pct"] == ""  # nothing judged: no rate
    book = load_workbook(io.BytesIO(export.to_xlsx(report)))
    sheet = book["KPIs"]
    assert [c.value for c in sheet[1]][:4] == ["Period", "2026-01-01", "2026-01-10", "Europe/London"]
    # By default in the zone of the report's days (London is on GMT in January).
    assert [c.value for c in sheet[2]][:2] == ["As of", "2026-01-11 00:00:00 GMT"]
    # In the site's time zone when the page that starts the export gives it.
    berlin = load_workbook(io.BytesIO(export.to_xlsx(report, zone=ZoneInfo("Europe/Berlin"))))["KPIs"]
    assert [c.value for c in berlin[2]][:2] == ["As of", "2026-01-11 01:00:00 CET"]
    header = [c.value for c in sheet[4]]
    values = dict(zip(header, [c.value for c in sheet[5]]))
    assert (values["department"], values["failures"], values["mtbf_hours"], values["uptime_pct"]) == (
        "REP", 3, 132.0, 82.5)
    assert values["downtime_hours"] == 84.0 and values["work_orders_overdue"] == 2
    assert [c.value for c in book["High-risk PM"][1]][:3] == ["asset", "department", "plan"]


def test_a_formula_in_a_department_name_stays_text_in_exports(session):
    clock = ManualClock(at(2025, 12, 1))
    site = session.scalars(select(Site)).first()
    dept = org.ensure_department(session, site, code="=1+2", name="x", actor=None, clock=clock)
    _asset(session, "F-1", dept, clock)
    report = _report(session, None)
    assert "'=1+2" in [row[0] for row in export.rows(report)]


def test_the_api_serves_kpis_and_both_export_formats(web):
    with session_scope(web.engine) as s:
        repairs = build_repairs(s)
    web.clock.set(at(2026, 1, 20))
    client = web.client("manager")
    query = f"start=2026-01-01&end=2026-01-10&department={repairs}"
    body = client.get(f"/api/v1/kpis?{query}").json
    assert (body["start"], body["end"], body["department"]["code"]) == ("2026-01-01", "2026-01-10", "REP")
    assert (body["kpis"]["mtbf_hours"], body["kpis"]["mttr_hours"], body["kpis"]["failures"]) == (132.0, 18.0, 3)
    response = client.get(f"/api/v1/kpis/export?format=csv&{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert list(csv.DictReader(io.StringIO(response.text)))[0]["uptime_pct"] == "82.5"
    response = client.get(f"/api/v1/kpis/export?format=xlsx&{query}")
    assert response.mimetype == export.CONTENT_TYPES["xlsx"]
    sheet = load_workbook(io.BytesIO(response.data))["KPIs"]
    assert dict(zip([c.value for c in sheet[4]], [c.value for c in sheet[5]]))["failures"] == 3
    bad = client.get(f"/api/v1/kpis/export?format=pdf&{query}")
    assert bad.status_code == 400 and "format: must be one of csv, xlsx" in bad.json["error"]["message"]
    assert client.get("/api/v1/kpis?start=2026-13-01").status_code == 400
    assert web.client("nurse").get(f"/api/v1/kpis?{query}").status_code == 403


def build_edge_orders(session) -> int:
    """Work orders of department EDG whose counting turns on details; return the department id.

    | # | kind       | opened      | finished                 | category  | response due / met  | resolution due |
    |---|------------|-------------|--------------------------|-----------|---------------------|----------------|
    | 1 | corrective | 01-02       | closed 01-03 06:00 only  | (none)    | 01-02 04:00 / x     | 01-04          |
    | 2 | corrective | 01-03       | completed 01-04          | user_error| 01:00 / 00:30       | 01-03 12:00 x  |
    | 3 | corrective | 01-04       | cancelled 01-12          | -         | 01-04 04:00         | 01-05          |
    | 4 | corrective | 01-06       | completed 01-12          | repaired  | 02:00 / 03:00 x     | 01-07 x        |
    | 5 | pm         | 2025-12-28  | open                     | -         | 2025-12-28 04:00    | (none)         |
    | 6 | corrective | 2025-12-30  | completed 01-01 06:00    | repaired  | 2025-12-30 04:00    | 01-01 00:00 x  |
    | 7 | inspection | 01-12       | open                     | -         | 01-12 04:00         | 01-13          |

    (x: breached when counted; order 3 is cancelled, so never a failure nor counted for the SLA,
    but it is open until it was cancelled)
    """
    clock = ManualClock(at(2025, 12, 1))
    dept = _department(session, "EDG", clock)
    e1 = _asset(session, "EDG-E1", dept, clock)
    d = utc
    rows = [
        dict(kind="corrective", state="closed", created_at=d(2026, 1, 2), closed_at=d(2026, 1, 3, 6),
             response_due_at=d(2026, 1, 2, 4), resolution_due_at=d(2026, 1, 4)),
        dict(kind="corrective", state="completed", created_at=d(2026, 1, 3), completed_at=d(2026, 1, 4),
             responded_at=d(2026, 1, 3, 0, 30), response_due_at=d(2026, 1, 3, 1),
             resolution_due_at=d(2026, 1, 3, 12), resolution_category="user_error"),
        dict(kind="corrective", state="cancelled", created_at=d(2026, 1, 4), cancelled_at=d(2026, 1, 12),
             response_due_at=d(2026, 1, 4, 4), resolution_due_at=d(2026, 1, 5)),
        dict(kind="corrective", state="completed", created_at=d(2026, 1, 6), completed_at=d(2026, 1, 12),
             responded_at=d(2026, 1, 6, 3), response_due_at=d(2026, 1, 6, 2), resolution_due_at=d(2026, 1, 7),
             resolution_category="repaired"),
        dict(kind="pm", state="in_progress", created_at=d(2025, 12, 28), response_due_at=d(2025, 12, 28, 4)),
        dict(kind="corrective", state="closed", created_at=d(2025, 12, 30), completed_at=d(2026, 1, 1, 6),
             closed_at=d(2026, 1, 2), response_due_at=d(2025, 12, 30, 4), resolution_due_at=d(2026, 1, 1),
             resolution_category="repaired"),
        dict(kind="inspection", state="pending", created_at=d(2026, 1, 12), response_due_at=d(2026, 1, 12, 4),
             resolution_due_at=d(2026, 1, 13)),
    ]
    for n, row in enumerate(rows, 1):
        session.add(WorkOrder(title=f"EDG job {n}", asset_id=e1.id, department_id=dept.id, priority="high",
                              source="manual", escalation_level=0, updated_at=row["created_at"], **row))
    session.flush()
    return dept.id


def test_work_orders_are_counted_as_they_stood_at_the_end_of_the_period(session):
    dept_id = build_edge_orders(session)
    k = _report(session, dept_id).total.as_dict()  # as of 01-11 00:00
    # Failures: 1 (no category) and 4 (completed after the end); 2 was a use error, 3 cancelled.
    assert k["failures"] == 2
    # Repairs completed in the period: 1 (closed only, 30 h) and 6 (opened before it, 54 h).
    assert (k["repairs"], k["mttr_hours"]) == (2, 42.0)
    # Open at the end: 3 (cancelled later) and 4 (completed later), both past due, and 5 (no due).
    assert k["backlog"] == {"pm": 1, "corrective": 2, "inspection": 0, "recall": 0, "total": 3}
    assert k["work_orders_overdue"] == 2
    # Response due in the period: 1 x, 2, 4 x. Resolution: 1, 2 x, 4 x, 6 x (due at the first instant).
    assert k["sla"] == {"response": {"due": 3, "breached": 2, "breach_rate_pct": 66.67},
                        "resolution": {"due": 4, "breached": 3, "breach_rate_pct": 75.0}}
    assert (k["asset_hours"], k["mtbf_hours"]) == (240.0, 120.0)
    everyone = _report(session, None)
    (row,) = [k for d, k in everyone.departments if d is not None and d.code == "EDG"]
    assert row.as_dict() == _report(session, dept_id).total.as_dict()


def test_a_report_made_during_its_period_counts_up_to_now(session):
    dept_id = build_edge_orders(session)
    report = _report(session, dept_id, now=at(2026, 1, 5, 12))
    k = report.total.as_dict()
    assert report.as_of == utc(2026, 1, 5, 12)
    # Opened by then: 1, 2, 3, 5, 6. Failure: 1. Repairs: 1 and 6.
    assert (k["failures"], k["repairs"], k["mttr_hours"]) == (1, 2, 42.0)
    # Open: 3 (due 01-05 00:00, overdue) and 5.
    assert k["backlog"] == {"pm": 1, "corrective": 1, "inspection": 0, "recall": 0, "total": 2}
    assert k["work_orders_overdue"] == 1
    assert k["sla"] == {"response": {"due": 2, "breached": 1, "breach_rate_pct": 50.0},
                        "resolution": {"due": 3, "breached": 2, "breach_rate_pct": 66.67}}
    assert (k["asset_hours"], k["mtbf_hours"]) == (108.0, 108.0)
