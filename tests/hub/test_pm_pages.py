"""Maintenance plans made and changed in the admin UI: the form's fields reach the plans service,
a refused field is shown next to its input with nothing lost, and pausing, resuming and retiring
a plan are audited and allowed only to those who may manage plans."""

from __future__ import annotations

import json
import re

from relational_support import clock, csrf_from, web
from sqlalchemy import select
from test_web_pages import _PageAudit

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, PmPlan
from wardlink.hub.services.maintenance import checklists, pm
from wardlink.hub.services.people import users

ITEMS = [{"key": "alarm", "label": "Alarm sounds", "kind": "pass_fail"}]


def _plan_form(**fields) -> dict:
    data = {"name": "Infusion pump quarterly PM", "target": "asset", "asset_tag": "IP-0101",
            "trigger": "calendar", "interval_count": "3", "interval_unit": "month", "anchor_date": "2026-01-05",
            "lead_days": "7", "priority": "", "checklist_template_id": "", "instructions": "",
            "assign_to": "", "assignee_id": "", "assignee_team": "", "assignee_vendor": "",
            "planned_minutes": "", "meter": "", "meter_interval": "", "meter_lead": "", "anchor_meter": ""}
    data.update(fields)
    return data


def _audit(web, action: str) -> list[AuditLog]:
    with session_scope(web.engine, readonly=True) as s:
        rows = list(s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))
        s.expunge_all()
        return rows


def test_a_manager_creates_a_calendar_plan_with_assignment_parts_and_time(web):
    client = web.client("manager")
    form = client.get("/maintenance/new").text
    with session_scope(web.engine) as s:
        template = checklists.create_template(s, name="Pump safety check", items=ITEMS, actor=None, clock=web.clock)
        template_id, tech_id = template.id, users.find_user(s, "tech").id
    data = _plan_form(checklist_template_id=str(template_id), assign_to="user", assignee_id=str(tech_id),
                      assignee_team="left over from switching", planned_minutes="45", meter="run_hours",
                      **{"parts-0-part_number": "BB-8700", "parts-0-description": "Door seal", "parts-0-quantity": "2",
                         "parts-1-part_number": "", "parts-1-description": "", "parts-1-quantity": ""})
    response = client.post("/maintenance/new", data={**data, "csrf_token": csrf_from(form)})
    assert response.status_code == 303, response.text
    plan_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with session_scope(web.engine, readonly=True) as s:
        plan = s.get(PmPlan, plan_id)
        # the meter and the team belong to other choices of the form and are left out
        assert (plan.trigger, plan.interval_count, plan.interval_unit, plan.meter) == ("calendar", 3, "month", None)
        assert (plan.assignee_id, plan.assignee_team, plan.planned_minutes) == (tech_id, None, 45)
        assert plan.planned_parts == [{"part_number": "BB-8700", "description": "Door seal", "quantity": 2}]
        assert plan.checklist_template_id == template_id and plan.asset.tag == "IP-0101"
    page = client.get(f"/maintenance/{plan_id}").text
    assert "Tech" in page and "45 minutes" in page and "BB-8700" in page and "every 3 months" in page
    [row] = _audit(web, "pm_plan.create")
    assert row.actor == "manager" and json.loads(row.after_json)["assignee_id"] == tech_id


def test_a_refused_field_is_shown_next_to_its_input_and_nothing_typed_is_lost(web):
    client = web.client("manager")
    token = csrf_from(client.get("/maintenance/new").text)
    response = client.post("/maintenance/new", data={**_plan_form(interval_count="", planned_minutes="90",
                                                                  instructions="Check the door latch"),
                                                     "csrf_token": token})
    assert response.status_code == 400
    html = response.text
    assert re.search(r'id="interval_count"[^>]*aria-invalid="true" aria-describedby="interval_count-error"', html)
    assert 'id="interval_count-error">interval_count: required for calendar plans' in html
    assert 'value="90"' in html and "Check the door latch" in html and 'value="IP-0101"' in html
    response = client.post("/maintenance/new", data={**_plan_form(**{"parts-0-quantity": "-1",
                                                                     "parts-0-description": "Fuse"}),
                                                     "csrf_token": token})
    assert response.status_code == 400 and "planned_parts[0].quantity: must be more than 0" in response.text
    response = client.post("/maintenance/new", data={**_plan_form(assign_to="user", assignee_id="1"),
                                                     "csrf_token": token})
    assert response.status_code == 400 and "assignee_id: user 1 is not an active" in response.text
    with session_scope(web.engine, readonly=True) as s:
        assert s.scalars(select(PmPlan)).all() == []


def test_a_make_and_model_meter_plan_and_an_edit_of_it(web):
    client = web.client("manager")
    token = csrf_from(client.get("/maintenance/new").text)
    data = _plan_form(name="Infomat run-hours service", target="make_model", make="B. Braun", model="Infusomat Space",
                      trigger="meter", meter="run_hours", meter_interval="2000", meter_lead="100",
                      assign_to="vendor", assignee_vendor="B. Braun Service")
    response = client.post("/maintenance/new", data={**data, "csrf_token": token})
    assert response.status_code == 303, response.text
    plan_id = int(response.headers["Location"].rsplit("/", 1)[1])
    edit = client.get(f"/maintenance/{plan_id}/edit").text
    page = _PageAudit()
    page.feed(edit)
    assert page.problems == [] and all(f["csrf"] for f in page.forms if f["method"] == "post")
    assert [f for f in page.fields if f[1] is None or f[1] not in page.labels] == []
    assert 'value="B. Braun Service"' in edit and "every B. Braun Infusomat Space" in edit
    changed = _plan_form(name="Infomat run-hours service", trigger="whichever_first", interval_count="1",
                         interval_unit="year", meter="run_hours", meter_interval="1500", meter_lead="100",
                         assign_to="team", assignee_team="Biomed team A", assignee_vendor="B. Braun Service")
    del changed["asset_tag"]
    response = client.post(f"/maintenance/{plan_id}/edit", data={**changed, "csrf_token": csrf_from(edit)})
    assert response.status_code == 303, response.text
    with session_scope(web.engine, readonly=True) as s:
        plan = s.get(PmPlan, plan_id)
        assert (plan.make, plan.trigger, plan.meter_interval, plan.interval_unit) == (
            "B. Braun", "whichever_first", 1500, "year")
        assert (plan.assignee_team, plan.assignee_vendor) == ("Biomed team A", None)
    [row] = _audit(web, "pm_plan.update")
    assert json.loads(row.after_json)["assignee_team"] == "Biomed team A"


def test_pause_resume_and_retire_are_audited_and_a_retired_plan_stays_retired(web):
    with session_scope(web.engine) as s:
        plan_id = pm.create_plan(s, {"name": "Fridge service", "asset_tag": "VF-0001", "trigger": "calendar",
                                     "interval_count": 6, "interval_unit": "month"}, actor=None, clock=web.clock).id
    client = web.client("manager")
    detail = client.get(f"/maintenance/{plan_id}").text
    token = csrf_from(detail)
    assert client.post(f"/maintenance/{plan_id}/state", data={"action": "pause"}).status_code == 400  # no CSRF
    for action, state in (("pause", "paused"), ("resume", "active"), ("pause", "paused"), ("retire", "retired")):
        response = client.post(f"/maintenance/{plan_id}/state", data={"action": action, "csrf_token": token})
        assert response.status_code == 303
        assert f"is now {state}" in client.get(response.headers["Location"]).text
    response = client.post(f"/maintenance/{plan_id}/state", data={"action": "resume", "csrf_token": token},
                           follow_redirects=True)
    assert "Not changed: action: maintenance plan" in response.text and "is retired" in response.text
    assert "Edit plan" not in response.text
    assert client.get(f"/maintenance/{plan_id}/edit").status_code == 200
    response = client.post(f"/maintenance/{plan_id}/edit", data={**_plan_form(), "csrf_token": token})
    assert response.status_code == 400 and "is retired and can no longer change" in response.text
    with session_scope(web.engine, readonly=True) as s:
        plan = s.get(PmPlan, plan_id)
        assert plan.retired_at is not None and not plan.active
    assert [json.loads(r.after_json) for r in _audit(web, "pm_plan.update")] == [
        {"active": False}, {"active": True}, {"active": False}]
    [retired] = _audit(web, "pm_plan.retire")
    assert retired.actor == "manager" and json.loads(retired.before_json) == {"retired_at": None}


def test_only_those_who_manage_plans_may_create_change_or_retire_them(web):
    with session_scope(web.engine) as s:
        plan_id = pm.create_plan(s, {"name": "Fridge service", "asset_tag": "VF-0001", "trigger": "calendar",
                                     "interval_count": 6, "interval_unit": "month"}, actor=None, clock=web.clock).id
    client = web.client("tech")
    page = client.get(f"/maintenance/{plan_id}").text
    assert "Retire for good" not in page and "Edit plan" not in page
    token = csrf_from(client.get("/account").text)
    assert client.get("/maintenance/new").status_code == 403
    assert client.post("/maintenance/new", data={**_plan_form(), "csrf_token": token}).status_code == 403
    assert client.post(f"/maintenance/{plan_id}/state", data={"action": "retire", "csrf_token": token}).status_code == 403
    assert client.post(f"/maintenance/{plan_id}/state", data={"action": "pause", "csrf_token": token}).status_code == 403
    with session_scope(web.engine, readonly=True) as s:
        assert s.get(PmPlan, plan_id).active and s.get(PmPlan, plan_id).retired_at is None
