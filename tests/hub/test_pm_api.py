"""The PM part of the JSON API: plans, checklists, services, meters and the programme; and
every PM and KPI route against every role, as the route permission table says."""

from __future__ import annotations

import pytest
from relational_support import clock, csrf_from, web
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import PmOccurrence, WorkOrder
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.maintenance import checklists
from wardlink.hub.services.people import org
from wardlink.hub.services.maintenance import pm
from wardlink.hub.services.maintenance import pm_generator
from wardlink.hub.services.people import users
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people.permissions import PERMISSIONS
from wardlink.hub.web.api.pm import ROUTE_PERMISSIONS

ITEMS = [{"key": "alarm", "label": "Disconnect alarm sounds", "kind": "pass_fail"},
         {"key": "leak", "label": "Earth leakage current", "kind": "value", "unit": "uA", "high": 500}]


class Browser:
    """A signed-in test client that sends its CSRF token with every change."""

    def __init__(self, web, username):
        self.client = web.client(username)
        self.token = csrf_from(self.client.get("/").text)

    def __getattr__(self, method):
        call = getattr(self.client, method)
        if method in ("post", "put", "patch", "delete"):
            return lambda url, **kw: call(url, headers={"X-CSRF-Token": self.token}, **kw)
        return call


def _plan(web):
    with session_scope(web.engine) as s:
        template = checklists.create_template(s, name="Ventilator PM", items=ITEMS, actor=None, clock=web.clock)
        plan = pm.create_plan(s, {"name": "Ventilator six-monthly", "asset_tag": "VENT-0001",
                                  "trigger": "calendar", "anchor_date": "2025-07-15",
                                  "checklist_template_id": template.id}, actor=None, clock=web.clock)
        (order_id,) = pm_generator.generate_due(s, clock=web.clock).work_order_ids
    return plan.id, template.id, order_id


def test_plans_are_created_read_changed_and_listed(web):
    manager = Browser(web, "manager")
    created = manager.post("/api/v1/pm-plans", json={
        "name": "Defibrillator", "asset_tag": "DEF-0001", "trigger": "whichever_first", "interval_count": 6,
        "interval_unit": "month", "meter": "shocks", "meter_interval": 500, "anchor_date": "2025-10-01"})
    assert created.status_code == 201, created.text
    plan = created.json
    assert (plan["asset"], plan["window_days"], plan["priority"], plan["lead_days"]) == ("DEF-0001", 20, "high", 14)
    assert plan["risk"] == {"em_score": 19, "in_programme": True, "suggested_interval": {"count": 6, "unit": "month"},
                            "high_risk": True, "life_support": True}
    assert plan["assets"][0]["next_due_date"] == "2026-04-01" and plan["assets"][0]["next_due_meter"] == 500.0
    changed = manager.patch(f"/api/v1/pm-plans/{plan['id']}", json={"lead_days": 30, "meter_interval": 400})
    assert changed.status_code == 200 and changed.json["lead_days"] == 30
    assert changed.json["assets"][0]["next_due_meter"] == 400.0
    bad = manager.patch(f"/api/v1/pm-plans/{plan['id']}", json={"asset_tag": "VF-0001"})
    assert bad.status_code == 400 and "cannot change" in bad.json["error"]["message"]
    bad = manager.post("/api/v1/pm-plans", json=["not", "an", "object"])
    assert bad.status_code == 400 and bad.json["error"]["message"].startswith("body: must be a JSON object")
    listed = manager.get("/api/v1/pm-plans?asset=DEF-0001&active=true").json
    assert [p["name"] for p in listed["items"]] == ["Defibrillator"] and listed["total"] == 1
    assert manager.get("/api/v1/pm-plans?trigger=calendar").json["total"] == 0
    assert manager.get("/api/v1/pm-plans/999").status_code == 404
    programme = {e["asset"]: e for e in manager.get("/api/v1/pm-programme").json["items"]}
    assert programme["DEF-0001"]["covered"] and not programme["VENT-0001"]["covered"]


def test_a_plans_checklist_is_versioned_and_work_orders_record_against_theirs(web):
    plan_id, template_id, order_id = _plan(web)
    manager, tech = Browser(web, "manager"), Browser(web, "tech")
    sheet = manager.get(f"/api/v1/pm-plans/{plan_id}/checklist").json
    assert sheet["template"]["version"] == 1 and [i["key"] for i in sheet["template"]["items"]] == ["alarm", "leak"]
    new_items = ITEMS + [{"key": "flow", "label": "Flow sensor check", "kind": "pass_fail"}]
    changed = manager.put(f"/api/v1/pm-plans/{plan_id}/checklist", json={"items": new_items})
    assert changed.status_code == 200 and changed.json["template"]["version"] == 2
    assert [v["version"] for v in changed.json["versions"]] == [1, 2]
    # The order generated before the change keeps version 1.
    on_order = tech.get(f"/api/v1/work-orders/{order_id}/checklist").json
    assert on_order["version"]["version"] == 1 and on_order["result"] is None
    recorded = tech.put(f"/api/v1/work-orders/{order_id}/checklist", json={
        "answers": {"alarm": {"result": "pass"}, "leak": {"value": 612.5, "comment": "retest after repair"}}})
    assert recorded.status_code == 200, recorded.text
    assert recorded.json["result"]["passed"] is False and len(recorded.json["corrective_work_orders"]) == 1
    again = tech.get(f"/api/v1/work-orders/{order_id}/checklist").json["result"]
    assert {r["key"]: r["outcome"] for r in again["results"]} == {"alarm": "pass", "leak": "fail"}
    bad = tech.put(f"/api/v1/work-orders/{order_id}/checklist", json={"answers": {"flow": {"result": "pass"}}})
    assert bad.status_code == 400 and "answers.flow: no such checklist item" in bad.json["error"]["message"]
    services = manager.get(f"/api/v1/pm-plans/{plan_id}/services").json["items"]
    assert [(s["due_date"], s["window"], s["judgement"]) for s in services] == [
        ("2026-01-15", {"opens": "2025-12-26", "closes": "2026-02-04", "days": 20}, "pending")]
    template = manager.get(f"/api/v1/checklist-templates/{template_id}").json
    assert template["version"] == 2 and len(template["versions"]) == 2


def test_meter_readings_are_recorded_and_listed_with_the_current_value(web):
    tech = Browser(web, "tech")
    posted = tech.post("/api/v1/assets/STER-0001/meter-readings", json={"meter": "cycles", "value": 4120,
                                                                         "note": "from the display"})
    assert posted.status_code == 201 and posted.json["entered_by"] == "tech"
    listed = tech.get("/api/v1/assets/STER-0001/meter-readings").json
    assert listed["current"] == {"cycles": 4120.0} and listed["items"][0]["note"] == "from the display"
    bad = tech.post("/api/v1/assets/STER-0001/meter-readings", json={"meter": "cycles", "value": -1})
    assert bad.status_code == 400 and bad.json["error"]["message"].startswith("value: must be between 0")


def test_a_plan_names_its_assignee_parts_and_time_and_is_paused_and_retired_over_the_api(web):
    manager = Browser(web, "manager")
    people = manager.get("/api/v1/pm-assignees").json["items"]
    tech = next(p for p in people if p["username"] == "tech")
    assert {p["role"] for p in people} <= {"technician", "vendor"}
    body = {"name": "Pump quarterly", "asset_tag": "IP-0101", "trigger": "calendar", "interval_count": 3,
            "interval_unit": "month", "assignee_id": tech["id"], "planned_minutes": 40,
            "planned_parts": [{"part_number": "BB-1", "description": "Seal", "quantity": 2}]}
    both = manager.post("/api/v1/pm-plans", json={**body, "assignee_team": "Team A"})
    assert both.status_code == 400 and both.json["error"]["message"].startswith("assignee_team: a plan goes to one")
    created = manager.post("/api/v1/pm-plans", json=body)
    assert created.status_code == 201, created.json
    plan = created.json
    assert (plan["assignee_id"], plan["assignee"], plan["planned_minutes"], plan["state"]) == (
        tech["id"], "Tech", 40, "active")
    assert plan["planned_parts"] == [{"part_number": "BB-1", "description": "Seal", "quantity": 2}]
    url = f"/api/v1/pm-plans/{plan['id']}/state"
    assert manager.post(url, json={"action": "pause"}).json["state"] == "paused"
    bad = manager.post(url, json={"action": "stop"})
    assert bad.status_code == 400 and bad.json["error"]["message"].startswith("action: must be one of")
    retired = manager.post(url, json={"action": "retire"}).json
    assert retired["state"] == "retired" and retired["retired_at"] is not None
    again = manager.patch(f"/api/v1/pm-plans/{plan['id']}", json={"lead_days": 3})
    assert again.status_code == 400 and "is retired" in again.json["error"]["message"]


def test_the_generator_endpoint_reports_what_it_created(web):
    _plan(web)
    manager = Browser(web, "manager")
    body = manager.post("/api/v1/pm-plans/generate").json
    assert (body["created"], body["locked"]) == (0, True)  # the service was generated already
    with session_scope(web.engine, readonly=True) as s:
        assert len(s.scalars(select(PmOccurrence)).all()) == 1


# ------------------------------------------------------------------ every route x every role


ROLES = {"admin": "admin", "manager": "manager", "tech": "technician", "nurse": "staff",
         "buyer": "procurement", "vendor": "vendor", "viewer": "viewer"}


def _requests(plan_id, template_id, order_id):
    """One request per route: (endpoint, method, url, JSON body)."""
    plan_body = {"name": "Fridge", "asset_tag": "VF-0001", "trigger": "calendar", "interval_count": 1,
                 "interval_unit": "year"}
    return [
        ("api_pm.plan_list", "get", "/api/v1/pm-plans", None),
        ("api_pm.plan_create", "post", "/api/v1/pm-plans", plan_body),
        ("api_pm.plan_detail", "get", f"/api/v1/pm-plans/{plan_id}", None),
        ("api_pm.plan_update", "patch", f"/api/v1/pm-plans/{plan_id}", {"lead_days": 20}),
        ("api_pm.plan_services", "get", f"/api/v1/pm-plans/{plan_id}/services", None),
        ("api_pm.plan_state", "post", f"/api/v1/pm-plans/{plan_id}/state", {"action": "pause"}),
        ("api_pm.plan_assignees", "get", "/api/v1/pm-assignees", None),
        ("api_pm.plan_checklist", "get", f"/api/v1/pm-plans/{plan_id}/checklist", None),
        ("api_pm.plan_checklist_set", "put", f"/api/v1/pm-plans/{plan_id}/checklist", {"template_id": template_id}),
        ("api_pm.generate", "post", "/api/v1/pm-plans/generate", None),
        ("api_pm.programme", "get", "/api/v1/pm-programme", None),
        ("api_pm.calendar", "get", "/api/v1/pm-calendar?start=2026-01-01&end=2026-12-31", None),
        ("api_pm.template_list", "get", "/api/v1/checklist-templates", None),
        ("api_pm.template_create", "post", "/api/v1/checklist-templates", {"name": "x", "items": ITEMS}),
        ("api_pm.template_detail", "get", f"/api/v1/checklist-templates/{template_id}", None),
        ("api_pm.template_update", "patch", f"/api/v1/checklist-templates/{template_id}", {"description": "d"}),
        ("api_pm.work_order_checklist", "get", f"/api/v1/work-orders/{order_id}/checklist", None),
        ("api_pm.work_order_checklist_record", "put", f"/api/v1/work-orders/{order_id}/checklist",
         {"answers": {"alarm": {"result": "pass"}}}),
        ("api_pm.meter_list", "get", "/api/v1/assets/VENT-0001/meter-readings", None),
        ("api_pm.meter_record", "post", "/api/v1/assets/VENT-0001/meter-readings", {"meter": "run_hours", "value": 5}),
        ("api_pm.kpi_report", "get", "/api/v1/kpis?start=2025-12-01&end=2025-12-31", None),
        ("api_pm.kpi_export", "get", "/api/v1/kpis/export?format=csv&start=2025-12-01&end=2025-12-31", None),
    ]


@pytest.mark.timeout(120)
def test_every_pm_route_allows_exactly_the_roles_the_table_names(web):
    plan_id, template_id, order_id = _plan(web)
    requests = _requests(plan_id, template_id, order_id)
    routed = {rule.endpoint for rule in web.app.url_map.iter_rules() if rule.endpoint.startswith("api_pm.")}
    assert routed == set(ROUTE_PERMISSIONS) == {r[0] for r in requests}
    with session_scope(web.engine, readonly=True) as s:
        assert s.get(WorkOrder, order_id).state == "pending"
    browsers = {name: Browser(web, name) for name in ROLES}
    wrong = []
    for endpoint, method, url, body in requests:
        for name, role in ROLES.items():
            allowed = ROUTE_PERMISSIONS[endpoint].allows(Actor(username=name, role=role))
            kwargs = {"json": body} if body is not None else {}
            status = getattr(browsers[name], method)(url, **kwargs).status_code
            if (status == 403) == allowed or status in (401, 500):
                wrong.append((endpoint, name, status, allowed))
    assert not wrong
    # The table is no looser than the permission table: each route's needs are real actions.
    assert all(set(n.all_of) | set(n.any_of) <= PERMISSIONS["admin"] for n in ROUTE_PERMISSIONS.values())


def test_a_token_without_the_permission_is_refused_with_the_reason(web):
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="t", actor=Actor.for_user(users.find_user(s, "viewer")),
                                          clock=web.clock)
    response = web.app.test_client().post("/api/v1/pm-plans", json={},
                                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json["error"]["message"] == ("role 'viewer' may not create or change maintenance plans "
                                                 "and checklists (user 'viewer')")
    assert web.app.test_client().get("/api/v1/pm-plans").status_code == 401


def test_a_make_and_model_plan_shows_scoped_users_only_their_departments_assets(web):
    with session_scope(web.engine) as s:
        pharmacy = next(d.id for d in org.list_departments(s) if d.code == "PHARM")
        assets.create_asset(s, {"tag": "VENT-0002", "name": "Transport ventilator", "category": "Ventilator",
                                "make": "Hamilton Medical", "model": "HAMILTON-C6", "department_id": pharmacy},
                            actor=None, clock=web.clock)
        plan = pm.create_plan(s, {"name": "All C6", "make": "Hamilton Medical", "model": "HAMILTON-C6",
                                  "trigger": "calendar", "interval_count": 6, "interval_unit": "month"},
                              actor=None, clock=web.clock)
    url = f"/api/v1/pm-plans/{plan.id}"
    assert [a["asset"] for a in web.client("manager").get(url).json["assets"]] == ["VENT-0001", "VENT-0002"]
    assert [a["asset"] for a in web.client("nurse").get(url).json["assets"]] == ["VENT-0001"]
