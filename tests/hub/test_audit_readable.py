"""Audit rows read as field changes: rows written by the real services on SQLite and PostgreSQL,
shown with field labels, value labels, local times (Berlin), names for ids, Yes/No, units, and
secrets never shown; the asset and work-order pages and the audit page show them so."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from relational_support import clock, csrf_from, web
from sqlalchemy import select
from workorder_support import env, open_order, pg_workorder_template

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, Department, Location
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.audit import readable
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.maintenance.workorder_records import log_time
from wardlink.hub.services.people import users

BERLIN = ZoneInfo("Europe/Berlin")


def _last(session, entity: str, entity_id, action: str) -> AuditLog:
    return session.scalars(select(AuditLog).where(AuditLog.entity == entity, AuditLog.entity_id == str(entity_id),
                                                  AuditLog.action == action).order_by(AuditLog.seq.desc())).first()


def _local(moment) -> str:
    return moment.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M %Z")


def test_a_priority_change_reads_with_labels_and_its_due_times_in_local_time(env):
    order = open_order(env, priority="medium")
    due_before = order.resolution_due_at
    workorders.update_work_order(env.session, order.id, {"priority": "high"}, actor=env.actor("manager"),
                                 clock=env.clock)
    assert order.resolution_due_at != due_before
    [entry] = readable.describe(env.session, [_last(env.session, "work_order", order.id, "workorder.update")],
                                BERLIN)
    texts = [c.text for c in entry.changes]
    assert "Priority: Medium → High" in texts
    assert f"Resolution due: {_local(due_before)} → {_local(order.resolution_due_at)}" in texts
    assert _local(due_before).endswith(" CET")
    assert entry.entity == f"Work order {order.code}" and entry.action == "Work order: update"
    assert "{" not in entry.text


def test_an_assignment_names_the_person_and_a_time_log_carries_its_unit(env):
    order = open_order(env)
    workorders.reassign(env.session, order.id, env.user_id("tech"), actor=env.actor("manager"), clock=env.clock)
    log_time(env.session, order.id, minutes=45, actor=env.actor("tech"), clock=env.clock)
    assign = _last(env.session, "work_order", order.id, "workorder.assign")
    time = _last(env.session, "work_order", order.id, "workorder.time")
    created = _last(env.session, "work_order", order.id, "workorder.create")
    by_seq = {e.row.seq: e for e in readable.describe(env.session, [assign, time, created], BERLIN)}
    assert {c.text for c in by_seq[assign.seq].changes} == {"State: Pending → Assigned",
                                                              "Assigned to: Tech (tech)"}
    assert "Time spent: 45 min" in [c.text for c in by_seq[time.seq].changes]
    creation = [c.text for c in by_seq[created.seq].changes]
    # A new order lists what it was created with; ids become names, empty fields are left out.
    assert "Priority: Medium" in creation and "Kind: Corrective" in creation
    nurse = users.find_user(env.session, "nurse")
    assert f"Requested by: {nurse.display_name}" in creation
    icu = env.session.get(Department, order.department_id)
    assert f"Department: {icu.name}" in creation
    assert not any(text.startswith("Resolution note") for text in creation)


def test_an_asset_update_shows_department_and_location_names_yes_no_and_money(env):
    ed = env.session.scalars(select(Department).where(Department.code == "ED")).one()
    icu = env.session.scalars(select(Department).where(Department.code == "ICU")).one()
    room = env.session.scalars(select(Location).order_by(Location.id)).first()
    assets.update_asset(env.session, "VF-0001", {"department_id": ed.id, "life_support": True,
                                                 "purchase_cost": "12500.5", "location_id": room.id},
                        actor=env.actor("admin"), clock=env.clock)
    row = _last(env.session, "asset", "VF-0001", "asset.update")
    assert json.loads(row.after_json)["department_id"] == ed.id  # the row holds the id
    [entry] = readable.describe(env.session, [row], BERLIN)
    texts = [c.text for c in entry.changes]
    assert f"Department: {icu.name} → {ed.name}" in texts
    assert "Life support: No → Yes" in texts
    assert any(t.startswith("Purchase cost: ") and t.endswith("12,500.50") for t in texts)
    assert any(t.startswith("Location: ") and t.endswith(room.label) for t in texts)
    assert entry.entity == "Asset VF-0001"


def test_secrets_are_said_to_have_changed_and_never_shown(env):
    secret_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
    audit.record(env.session, actor=env.actor("admin"), action="user.update", entity="user", entity_id="tech",
                 before={"password_hash": "$argon2id$old", "role": "technician", "is_active": True},
                 after={"password_hash": secret_hash, "role": "manager", "is_active": False,
                        "api_secret_value": "s3cr3t-token-value"},
                 clock=env.clock)
    [entry] = readable.describe(env.session, [_last(env.session, "user", "tech", "user.update")], BERLIN)
    texts = [c.text for c in entry.changes]
    assert "Password: changed (not shown)" in texts
    assert "Role: Technician → Manager" in texts and "Active: Yes → No" in texts
    assert "Api secret value: changed (not shown)" in texts
    assert "argon2" not in entry.text and "s3cr3t" not in entry.text


def test_the_pages_show_readable_changes_not_json(web):
    with session_scope(web.engine) as s:
        admin = users.find_user(s, "admin")
        order = workorders.create_work_order(s, {"kind": "corrective", "title": "Pump occludes", "asset_tag":
                                                 "VF-0001", "priority": "medium"}, actor=Actor.for_user(admin),
                                             clock=web.clock)
        order_id, title = order.id, order.title
        assets.update_asset(s, "VF-0001", {"life_support": True}, actor=Actor.for_user(admin), clock=web.clock)
    client = web.client("manager")
    page = client.get(f"/work-orders/{order_id}")
    form = csrf_from(page.text)
    response = client.post(f"/work-orders/{order_id}/priority", data={"priority": "high", "csrf_token": form})
    assert response.status_code == 303, response.text
    for url in (f"/work-orders/{order_id}", f"/audit?entity=work_order&entity_id={order_id}"):
        html = client.get(url).text
        assert "Priority: Medium → High" in html, url
        assert "&#34;priority&#34;" not in html and '"priority":' not in html
    asset_page = client.get("/assets/VF-0001").text
    assert "Life support: No → Yes" in asset_page
    # Those without the audit trail's permission see no history on the order's page.
    tech_page = web.client("tech").get(f"/work-orders/{order_id}")
    assert tech_page.status_code == 200 and title in tech_page.text
    assert "Change history" not in tech_page.text
