"""Every page and report that says "overdue" or "due" agrees, for every role, on one fixture.

Department AGR has four assets, each on one plan, seen on 2026-02-10 at noon (London is on
UTC in February, so local dates are UTC dates):

| asset     | plan                      | open service due (window)       | standing on 02-10          |
|-----------|---------------------------|---------------------------------|----------------------------|
| AGR-LATE  | monthly, lead 0           | 01-20 (01-13 .. 01-27)          | overdue: its window closed |
| AGR-GRACE | monthly, lead 0           | 02-05 (01-29 .. 02-12)          | due: past its date, in its window |
| AGR-SOON  | quarterly, lead 7 days    | 02-15 (02-05 .. 02-25)          | due                        |
| AGR-OK    | monthly, lead 0           | 02-01 done on 02-01; next 03-01 | compliant (recorded overdue) |
| AGR-HAND  | none                      | -                               | overdue, as set by hand    |

AGR-GRACE is the case a bare ``due_date < today`` gets wrong. The users are a manager, a
procurement officer, a viewer, a nurse and a technician of AGR: every role that sees assets
sees the same counts for the same assets.
"""

from __future__ import annotations

import re
from datetime import date

from pm_support import at
from relational_support import clock, login, web
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Site, WorkOrder
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.reports import kpis
from wardlink.hub.services.people import org
from wardlink.hub.services.maintenance import pm
from wardlink.hub.services.maintenance import pm_generator
from wardlink.hub.services.people import users
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.actor import Actor
from wardlink.clock import ManualClock

PLANS = {  # asset -> (anchor, interval count, interval unit, lead days)
    "AGR-LATE": ("2025-12-20", 1, "month", 0),
    "AGR-GRACE": ("2025-12-05", 1, "month", 0),
    "AGR-SOON": ("2025-11-15", 3, "month", 7),
    "AGR-OK": ("2025-12-01", 1, "month", 0),
}
EXPECTED = {"AGR-LATE": "overdue", "AGR-GRACE": "due", "AGR-SOON": "due", "AGR-OK": "compliant",
            "AGR-HAND": "overdue"}
ROLES = {"agr_manager": "manager", "agr_buyer": "procurement", "agr_viewer": "viewer", "agr_nurse": "staff",
         "agr_tech": "technician"}
NOW = at(2026, 2, 10)


def _finish(session, order_id, clock):
    manager = Actor.for_user(users.find_user(session, "manager"))
    tech = users.find_user(session, "tech")
    worker = Actor.for_user(tech)
    workorders.transition(session, order_id, "assigned", {"assignee_id": tech.id}, actor=manager, clock=clock)
    workorders.transition(session, order_id, "in_progress", actor=worker, clock=clock)
    workorders.transition(session, order_id, "completed", {"resolution_category": "as_planned"},
                          actor=worker, clock=clock)


def build(session) -> tuple[int, dict[str, str]]:
    """Build department AGR (see the module docstring); return its id and the users' passwords."""
    clock = ManualClock(at(2026, 1, 15))
    site = session.scalars(select(Site)).first()
    dept = org.ensure_department(session, site, code="AGR", name="Agreement ward", actor=None, clock=clock)
    secrets = {}
    for name, role in ROLES.items():
        _, secrets[name] = users.create_user_with_generated_password(
            session, username=name, role=role, department_id=dept.id, actor=None, clock=clock)
    for tag, (anchor, count, unit, lead) in PLANS.items():
        # AGR-OK's record says overdue (as it would until the scheduler's next run): a plan
        # covers it, so what its services say wins.
        recorded = {"maintenance_status": "overdue"} if tag == "AGR-OK" else {}
        assets.create_asset(session, {"tag": tag, "name": tag, "category": "Test device", "department_id": dept.id,
                                      **recorded}, actor=None, clock=clock)
        pm.create_plan(session, {"name": f"{tag} service", "asset_tag": tag, "trigger": "calendar",
                                 "interval_count": count, "interval_unit": unit, "anchor_date": anchor,
                                 "lead_days": lead}, actor=None, clock=clock)
    assets.create_asset(session, {"tag": "AGR-HAND", "name": "AGR-HAND", "category": "Test device",
                                  "department_id": dept.id, "maintenance_status": "overdue"}, actor=None, clock=clock)
    for day in ((1, 20), (2, 1), (2, 5), (2, 8), (2, 10)):
        clock.set(at(2026, *day, hour=8))
        for order_id in pm_generator.generate_due(session, clock=clock).work_order_ids:
            if session.get(WorkOrder, order_id).title.startswith("PM: AGR-OK"):
                _finish(session, order_id, clock)
        pm_generator.sync_completions(session, clock=clock)
    return dept.id, secrets


def _tile(html: str, label: str) -> int:
    found = re.findall(r'<span class="tile-number">(\d+)</span><span class="tile-label">' + label + "</span>", html)
    assert len(found) == 1, f"one '{label}' tile expected on the dashboard"
    return int(found[0])


def _status_line(html: str) -> str:
    return re.search(r'Maintenance: <span class="badge maint-(\w+)">', html).group(1)


def _plan_state(html: str) -> str | None:
    states = re.findall(r'<td><span class="badge maint-(\w+)">', html.split('id="pm"', 1)[1])
    assert len(states) <= 1
    return states[0] if states else None


def _calendar(client, month: str) -> dict[str, bool]:
    html = client.get(f"/maintenance/calendar?month={month}").text
    found = re.findall(r'<li class="cal-entry cal-(\w+)[^"]*"[^>]*>\s*<span class="cal-status">[^<]*</span>\s*'
                       r'<a href="[^"]*">(AGR-\w+)</a>', html)
    marked: dict[str, bool] = {}
    for status, tag in found:  # a tag may show more than once (the projected next service too)
        marked[tag] = marked.get(tag, False) or status == "overdue"
    return marked


def test_dashboard_asset_page_pm_pages_and_kpis_agree_for_every_role(web):
    with session_scope(web.engine) as s:
        department_id, secrets = build(s)
    web.clock.set(NOW)
    clients = {}
    for name in ROLES:
        clients[name] = web.app.test_client()
        assert login(clients[name], name, secrets[name]).status_code == 302
    overdue = sum(1 for status in EXPECTED.values() if status == "overdue")
    due = sum(1 for status in EXPECTED.values() if status == "due")

    # Every role's dashboard: the same counts of the same assets.
    for name, client in clients.items():
        html = client.get("/").text
        assert (_tile(html, "maintenance overdue"), _tile(html, "maintenance due")) == (overdue, due), name

    # The asset page: the status line and the plan's row say what the dashboard counted.
    manager = clients["agr_manager"]
    for tag, status in EXPECTED.items():
        html = manager.get(f"/assets/{tag}").text
        assert (tag, _status_line(html), _plan_state(html)) == (tag, status, status if tag in PLANS else None)
        assert _status_line(clients["agr_buyer"].get(f"/assets/{tag}").text) == status
        assert manager.get(f"/api/v1/assets/{tag}").json["maintenance_status"] == status

    # The PM calendar marks exactly the overdue service (not one merely past its due date).
    january, february = _calendar(manager, "2026-01"), _calendar(manager, "2026-02")
    marked = {tag: january.get(tag, False) or february.get(tag, False) for tag in {*january, *february}}
    assert {tag for tag, late in marked.items() if late} == {"AGR-LATE"}
    assert {"AGR-GRACE", "AGR-SOON", "AGR-OK"} <= set(marked)

    # The KPIs (service and JSON API): services past their window, undone.
    query = f"start=2026-01-01&end=2026-02-10&department={department_id}"
    overdue_services = 1  # AGR-LATE's; AGR-HAND has no plan
    assert manager.get(f"/api/v1/kpis?{query}").json["kpis"]["pm_overdue"] == overdue_services
    with session_scope(web.engine) as s:
        report = kpis.compute(s, start=date(2026, 1, 1), end=date(2026, 2, 10), department_id=department_id,
                              actor=None, clock=ManualClock(NOW))
        assert report.total.pm_overdue == overdue_services

    # The scheduler stores the same judgement on each asset (the register and its filter).
    with session_scope(web.engine) as s:
        pm_generator.refresh_status(s, clock=ManualClock(NOW))
    with session_scope(web.engine) as s:
        stored = {a.tag: a.maintenance_status for a in assets.list_assets(
            s, actor=None, department_id=department_id, per_page=50).items}
    assert stored == EXPECTED
    listed = manager.get("/api/v1/assets?maintenance_status=overdue").json
    assert [a["tag"] for a in listed["items"]] == ["AGR-HAND", "AGR-LATE"]


def test_a_plan_page_shows_only_the_assets_of_the_users_department(web):
    """A make-and-model plan covers assets of two departments; a manager of one sees its own."""
    with session_scope(web.engine) as s:
        _, secrets = build(s)
        site = s.scalars(select(Site)).first()
        other = org.ensure_department(s, site, code="OTH", name="Other ward", actor=None, clock=web.clock)
        for tag, dept in (("AGR-PUMP", "AGR"), ("OTH-PUMP", "OTH")):
            department_id = other.id if dept == "OTH" else users.find_user(s, "agr_manager").department_id
            assets.create_asset(s, {"tag": tag, "name": tag, "category": "Pump", "make": "Acme", "model": "P1",
                                    "department_id": department_id}, actor=None, clock=web.clock)
        plan = pm.create_plan(s, {"name": "Acme P1 yearly", "make": "Acme", "model": "P1", "trigger": "calendar",
                                  "interval_count": 1, "interval_unit": "year"}, actor=None, clock=web.clock)
        plan_id = plan.id
    client = web.app.test_client()
    assert login(client, "agr_manager", secrets["agr_manager"]).status_code == 302
    page = client.get(f"/maintenance/{plan_id}").text
    assert "AGR-PUMP" in page and "OTH-PUMP" not in page
    assert "OTH-PUMP" in web.client("manager").get(f"/maintenance/{plan_id}").text  # no department: all
