"""Equipment status tied to the work: tag-out from a failed safety-critical check, from a
request reporting the device out of use and from a manager; clearing by closing the work with
a passing safety check (or by a manager, with a reason); the status history every change
leaves; and the priority a new order starts with. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pm_support import at
from relational_support import actor, clock, engine, password, session, web
from sqlalchemy import select

from wardlink.hub.db.audit import verify_chain
from wardlink.hub.db.models import Asset, AssetStatusChange, AuditLog
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.assets import register, status
from wardlink.hub.services.maintenance import checklists, pm, pm_generator, pm_work, workorders

__all__ = ["clock", "engine", "session", "web"]

SAFETY_ITEMS = [
    {"key": "alarm", "label": "Disconnect alarm sounds", "kind": "pass_fail"},
    {"key": "leak", "label": "Earth leakage current", "kind": "value", "unit": "uA", "high": 500, "safety": True},
]


def _asset(session, tag: str) -> Asset:
    return session.scalars(select(Asset).where(Asset.tag == tag)).one()


def _history(session, tag: str) -> list[tuple]:
    asset = _asset(session, tag)
    rows = session.scalars(select(AssetStatusChange).where(AssetStatusChange.asset_id == asset.id)
                           .order_by(AssetStatusChange.started_at, AssetStatusChange.id)).all()
    return [(r.status, r.started_at, r.ended_at, r.work_order_id) for r in rows]


def _asset_audit(session, tag: str) -> list[str]:
    return list(session.scalars(select(AuditLog.action).where(AuditLog.entity == "asset", AuditLog.entity_id == tag)
                                .order_by(AuditLog.seq)))


def _pm_order(session, clock) -> int:
    clock.set(at(2026, 1, 2))
    template = checklists.create_template(session, name="Ventilator safety PM", items=SAFETY_ITEMS, actor=None,
                                          clock=clock)
    pm.create_plan(session, {"name": "Ventilator six-monthly", "asset_tag": "VENT-0001", "trigger": "calendar",
                             "anchor_date": "2025-07-15", "checklist_template_id": template.id},
                   actor=actor(session, "manager"), clock=clock)
    (order_id,) = pm_generator.generate_due(session, clock=clock).work_order_ids
    return order_id


def _work(session, clock, order_id: int, **complete) -> None:
    workorders.transition(session, order_id, "assigned", {"assignee_id": actor(session, "tech").user_id},
                          actor=actor(session, "manager"), clock=clock)
    workorders.transition(session, order_id, "in_progress", actor=actor(session, "tech"), clock=clock)
    workorders.transition(session, order_id, "completed", {"resolution_category": "repaired", **complete},
                          actor=actor(session, "tech"), clock=clock)


def test_a_safety_critical_item_that_fails_tags_out_until_its_work_closes_with_a_passing_check(session, clock):
    pm_id = _pm_order(session, clock)
    tech = actor(session, "tech")
    clock.set(at(2026, 1, 3, 9))
    _, opened = pm_work.record_results(session, pm_id, {"alarm": {"result": "pass"}, "leak": {"value": 740}},
                                       actor=tech, clock=clock)
    (corrective,) = opened
    vent = _asset(session, "VENT-0001")
    tagged_at = datetime(2026, 1, 3, 9, tzinfo=UTC)
    assert (vent.equipment_status, vent.tagout_by, vent.tagout_at, vent.tagout_work_order_id) == (
        "tagged_out", "tech", tagged_at, corrective.id)
    assert "Earth leakage current" in vent.tagout_reason
    assert corrective.priority == "critical"  # a life-support device failed its check

    # Completing the work without saying how the safety check went is refused, and loses nothing.
    workorders.transition(session, corrective.id, "assigned", {"assignee_id": tech.user_id},
                          actor=actor(session, "manager"), clock=clock)
    workorders.transition(session, corrective.id, "in_progress", actor=tech, clock=clock)
    with pytest.raises(InvalidInput, match="safety_check: VENT-0001 is tagged out by this order"):
        workorders.transition(session, corrective.id, "completed", {"resolution_category": "repaired"},
                              actor=tech, clock=clock)
    assert corrective.state == "in_progress"
    with pytest.raises(InvalidInput, match="safety_check: must be one of pass, fail"):
        workorders.transition(session, corrective.id, "completed",
                              {"resolution_category": "repaired", "safety_check": "ok"}, actor=tech, clock=clock)
    workorders.transition(session, corrective.id, "completed",
                          {"resolution_category": "repaired", "safety_check": "pass"}, actor=tech, clock=clock)
    assert _asset(session, "VENT-0001").equipment_status == "tagged_out"  # not until it is closed

    clock.set(at(2026, 1, 3, 15))
    workorders.close(session, corrective.id, password=password("manager"), actor=actor(session, "manager"),
                     clock=clock)
    vent = _asset(session, "VENT-0001")
    assert (vent.equipment_status, vent.tagout_at, vent.tagout_work_order_id) == ("in_service", None, None)
    cleared_at = datetime(2026, 1, 3, 15, tzinfo=UTC)
    assert _history(session, "VENT-0001") == [
        ("in_service", vent.created_at, tagged_at, None),
        ("tagged_out", tagged_at, cleared_at, corrective.id),
        ("in_service", cleared_at, None, corrective.id),
    ]
    assert _asset_audit(session, "VENT-0001")[-2:] == ["asset.tagout", "asset.tagout_clear"]
    assert verify_chain(session) is None


def test_a_failed_safety_check_keeps_the_tag_out_and_only_a_manager_clears_it_with_a_reason(session, clock):
    nurse = actor(session, "nurse")
    order = workorders.request_work(session, {"title": "Infusion pump will not start", "asset_tag": "IP-0101",
                                              "equipment_down": True}, actor=nurse, clock=clock)
    pump = _asset(session, "IP-0101")
    assert (pump.equipment_status, pump.tagout_by, pump.tagout_work_order_id) == ("tagged_out", "nurse", order.id)
    assert order.priority == "high"  # EM score 18: a high-risk device reported failed
    assert order.downtime_start is not None

    _work(session, clock, order.id, safety_check="fail")
    workorders.close(session, order.id, password=password("manager"), actor=actor(session, "manager"), clock=clock)
    assert _asset(session, "IP-0101").equipment_status == "tagged_out"

    with pytest.raises(PermissionDenied, match="may not tag equipment out of use or clear a tag-out"):
        status.clear_tag_out(session, "IP-0101", reason="looks fine to me", actor=nurse, clock=clock)
    with pytest.raises(InvalidInput, match="reason: is required"):
        status.clear_tag_out(session, "IP-0101", reason=" ", actor=actor(session, "manager"), clock=clock)
    with pytest.raises(InvalidInput, match="equipment_status: tag-out is set and cleared with its own step"):
        register.update_asset(session, "IP-0101", {"equipment_status": "in_service"}, actor=actor(session, "manager"),
                              clock=clock)
    clock.advance(600)
    status.clear_tag_out(session, "IP-0101", reason="Vendor replaced the pump; retested on the bench",
                         actor=actor(session, "manager"), clock=clock)
    assert _asset(session, "IP-0101").equipment_status == "in_service"
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "asset.tagout_clear")).one()
    assert entry.actor == "manager" and "Vendor replaced the pump" in entry.after_json


def test_a_manager_tags_out_and_every_status_change_is_in_the_history(session, clock):
    manager = actor(session, "manager")
    with pytest.raises(PermissionDenied):
        status.tag_out(session, "VF-0001", reason="Door seal torn", actor=actor(session, "tech"), clock=clock)
    status.tag_out(session, "VF-0001", reason="Door seal torn", actor=manager, clock=clock)
    with pytest.raises(InvalidInput, match="already tagged out"):
        status.tag_out(session, "VF-0001", reason="again", actor=manager, clock=clock)
    clock.advance(3600)
    status.clear_tag_out(session, "VF-0001", reason="Seal replaced", actor=manager, clock=clock)
    clock.advance(3600)
    register.update_asset(session, "VF-0001", {"equipment_status": "faulty"}, actor=manager, clock=clock)
    register.update_asset(session, "VF-0001", {"notes": "no status change"}, actor=manager, clock=clock)
    rows = status.history(session, "VF-0001", actor=manager)
    assert [r.status for r in rows] == ["faulty", "in_service", "tagged_out", "in_service"]
    assert [r.ended_at is None for r in rows] == [True, False, False, False]
    # The stretches tile the asset's time: each ends where the next begins.
    assert all(newer.started_at == older.ended_at for newer, older in zip(rows, rows[1:], strict=False))
    with pytest.raises(InvalidInput, match="a new asset cannot start tagged out"):
        register.create_asset(session, {"tag": "NEW-1", "name": "New", "category": "Fridge",
                                        "equipment_status": "tagged_out"}, actor=manager, clock=clock)


def test_a_life_support_device_reported_from_its_label_starts_critical_and_tagged_out(session, clock):
    qr = Actor(username="qr-report", role="system")
    order = workorders.request_work(session, {"title": "Defibrillator fails self test", "asset_tag": "DEF-0001",
                                              "requester_name": "Ward nurse", "equipment_down": True},
                                    actor=qr, clock=clock, source="qr")
    assert order.priority == "critical"
    assert _asset(session, "DEF-0001").equipment_status == "tagged_out"
    low = workorders.request_work(session, {"title": "Dock cracked", "asset_tag": "IPD-0001"},
                                  actor=actor(session, "nurse"), clock=clock)
    assert low.priority == "medium" and _asset(session, "IPD-0001").equipment_status == "in_service"
    chosen = workorders.request_work(session, {"title": "Wobbly", "asset_tag": "VENT-0001", "priority": "low"},
                                     actor=actor(session, "nurse"), clock=clock)
    assert chosen.priority == "low"  # what the requester chose stands


# ------------------------------------------------------------------ over HTTP: assignees, priority, tag-out


def _token(web, username: str) -> dict:
    from wardlink.hub.db import session_scope
    from wardlink.hub.services.people import users

    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="test", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def test_the_assignee_list_offers_only_who_may_take_the_order_and_priority_and_tag_out_work_over_http(web):
    from wardlink.hub.db import session_scope
    from wardlink.hub.services.people import org, users

    with session_scope(web.engine) as s:
        ed = next(d.id for d in org.list_departments(s) if d.code != "ICU")
        users.create_user(s, username="edtech", role="technician", password="edtech-long-password-1",
                          department_id=ed, actor=None, clock=web.clock)
    client, manager = web.app.test_client(), _token(web, "manager")
    order = client.post("/api/v1/work-orders", json={"kind": "corrective", "title": "Alarm", "asset_tag": "VF-0001"},
                        headers=manager).json
    offered = {u["username"] for u in client.get(f"/api/v1/work-orders/assignees?work_order_id={order['id']}",
                                                 headers=manager).json["items"]}
    assert "tech" in offered and "vendor" in offered and "edtech" not in offered
    everyone = {u["username"] for u in client.get("/api/v1/work-orders/assignees", headers=manager).json["items"]}
    assert "edtech" in everyone  # an unscoped manager, no order named
    assert client.get("/api/v1/work-orders/assignees?work_order_id=x", headers=manager).status_code == 400

    assert order["priority"] == "medium"  # VF-0001 is not life support, EM score below the programme
    changed = client.patch(f"/api/v1/work-orders/{order['id']}", json={"priority": "critical"}, headers=manager)
    assert changed.status_code == 200 and changed.json["priority"] == "critical"
    assert client.patch(f"/api/v1/work-orders/{order['id']}", json={"priority": "critical"},
                        headers=_token(web, "tech")).status_code == 403

    tagged = client.post("/api/v1/assets/VF-0001/tag-out", json={"reason": "Door seal torn"}, headers=manager)
    assert tagged.status_code == 200 and tagged.json["equipment_status"] == "tagged_out"
    assert (tagged.json["tagout"]["by"], tagged.json["tagout"]["reason"]) == ("manager", "Door seal torn")
    again = client.post("/api/v1/assets/VF-0001/tag-out", json={"reason": "again"}, headers=manager)
    assert again.status_code == 400 and "already tagged out" in again.json["error"]["message"]
    assert client.post("/api/v1/assets/VF-0001/tag-out/clear", json={}, headers=manager).status_code == 400
    cleared = client.post("/api/v1/assets/VF-0001/tag-out/clear", json={"reason": "Seal replaced"}, headers=manager)
    assert cleared.status_code == 200 and cleared.json["tagout"] is None
    history = client.get("/api/v1/assets/VF-0001/status-history", headers=manager).json["items"]
    assert [h["status"] for h in history[:3]] == ["in_service", "tagged_out", "in_service"]
    assert history[1]["reason"] == "Door seal torn" and history[1]["ended_at"] == history[0]["started_at"]


# ------------------------------------------------------------------ work opened by an alert

FRIDGE_HIGH = {"name": "fridge-high", "kind": "threshold", "severity": "critical",
               "match": {"metric": "temperature", "category": "Medical refrigerator"},
               "above": 8.0, "for_s": 300, "hysteresis": 0.5, "gap_s": 600}


def _alert_order(engine, rules, start_ms: int):
    from rules_support import alerts, series

    from wardlink.hub.db import session_scope
    from wardlink.hub.db.models import WorkOrder

    rules.on_points(series("fridge1.temp", start_ms, 60, [5.0, 8.4, 8.6, 8.9, 9.2, 9.4, 9.3]))
    [(alert, lc)] = [(a, lc) for a, lc in alerts(engine) if a.state == "open"]
    with session_scope(engine, readonly=True) as s:
        order = s.get(WorkOrder, lc.work_order_id)
        return alert, lc, order.id, order.downtime_start, order.priority, order.source


@pytest.mark.parametrize("logged", [False, True])
def test_alert_opened_work_starts_downtime_at_the_alert_and_may_close_itself_when_it_clears(engine, clock, logged):
    from rules_support import make_engine, series

    from wardlink.hub.db import session_scope
    from wardlink.hub.db.models import WorkOrder, WorkOrderNote

    rules = make_engine(engine, clock, [{**FRIDGE_HIGH, "work_order": {"priority": "high", "auto_close": True}}])
    start = round(clock.now() * 1000) - 600_000  # readings of the last ten minutes
    alert, lc, order_id, downtime_start, priority, source = _alert_order(engine, rules, start)
    # The condition began with the first reading above 8 degC (60 s in), five minutes before the alert.
    assert downtime_start == lc.condition_since == datetime.fromtimestamp((start + 60_000) / 1000, UTC)
    assert downtime_start < alert.opened_at and (priority, source) == ("high", "alert")
    if logged:
        with session_scope(engine) as s:
            workorders.add_note(s, order_id, "Checked the door seal", actor=actor(s, "tech"), clock=clock)
    rules.on_points(series("fridge1.temp", start + 480_000, 60, [7.4]))
    with session_scope(engine, readonly=True) as s:
        order = s.get(WorkOrder, order_id)
        notes = [n.body for n in s.scalars(select(WorkOrderNote).where(WorkOrderNote.work_order_id == order_id))]
        if logged:
            assert order.state == "pending" and order.downtime_end is None
            assert "stays open because work was logged" in notes[-1]
        else:
            assert order.state == "cancelled"
            assert order.downtime_end == datetime.fromtimestamp((start + 480_000) / 1000, UTC)
            assert "Closed automatically: the alert's condition cleared" in notes[-1]
            assert "rule option auto_close" in notes[-1]


def test_without_the_rule_option_alert_opened_work_stays_open_when_the_condition_clears(engine, clock):
    from rules_support import make_engine, series

    from wardlink.hub.db import session_scope
    from wardlink.hub.db.models import WorkOrder

    rules = make_engine(engine, clock, [{**FRIDGE_HIGH, "work_order": True}])
    start = round(clock.now() * 1000) - 600_000  # readings of the last ten minutes
    _, _, order_id, _, _, _ = _alert_order(engine, rules, start)
    rules.on_points(series("fridge1.temp", start + 480_000, 60, [7.4]))
    with session_scope(engine, readonly=True) as s:
        assert s.get(WorkOrder, order_id).state == "pending"


# ------------------------------------------------------------------ categories as a managed list


def test_categories_are_one_list_with_risk_defaults_and_duplicates_merge_with_their_assets(session, clock):
    from wardlink.hub.services.assets import categories

    manager = actor(session, "manager")
    with pytest.raises(PermissionDenied, match="may not manage equipment categories"):
        categories.create_category(session, {"name": "Suction pump"}, actor=actor(session, "tech"), clock=clock)
    suction = categories.create_category(session, {"name": "Suction pump", "equipment_function": 9,
                                                   "physical_risk": 4, "maintenance_requirement": 3},
                                         actor=manager, clock=clock)
    with pytest.raises(InvalidInput, match="name: 'Suction pump' is already in the list"):
        categories.create_category(session, {"name": "suction  PUMP"}, actor=manager, clock=clock)
    # A new asset takes the list's spelling and, unscored, the category's scores.
    pump = register.create_asset(session, {"tag": "SP-1", "name": "Suction", "category": "SUCTION PUMP",
                                           "incident_history": 0}, actor=manager, clock=clock)
    assert (pump.category, pump.equipment_function, pump.physical_risk, pump.maintenance_requirement,
            pump.em_score) == ("Suction pump", 9, 4, 3, 16)
    # A category nobody listed joins the list once, whatever its case later.
    register.create_asset(session, {"tag": "AS-1", "name": "Aspirator", "category": "aspirator"}, actor=manager,
                          clock=clock)
    second = register.create_asset(session, {"tag": "AS-2", "name": "Aspirator", "category": "Aspirator"},
                                   actor=manager, clock=clock)
    assert second.category == "aspirator"
    aspirator = categories.find(session, "ASPIRATOR")
    target, moved = categories.merge(session, aspirator.id, suction.id, actor=manager, clock=clock)
    assert (target.name, moved) == ("Suction pump", ["AS-1", "AS-2"])
    assert categories.find(session, "aspirator") is None
    assert _asset(session, "AS-2").category == "Suction pump"
    counts = {c.name: n for c, n in categories.list_categories(session, actor=manager)}
    assert counts["Suction pump"] == 3
    merged = session.scalars(select(AuditLog).where(AuditLog.action == "category.merge")).one()
    assert '"AS-1"' in merged.after_json and merged.actor == "manager"
    categories.update_category(session, suction.id, {"name": "Surgical suction pump"}, actor=manager, clock=clock)
    assert _asset(session, "SP-1").category == "Surgical suction pump"
    with pytest.raises(InvalidInput, match="into_id: a category cannot be merged into itself"):
        categories.merge(session, suction.id, suction.id, actor=manager, clock=clock)


def test_the_categories_page_and_api_add_change_and_merge(web):
    client, manager = web.app.test_client(), _token(web, "manager")
    made = client.post("/api/v1/categories", json={"name": "Defibrillator monitor", "physical_risk": 5},
                       headers=manager)
    assert made.status_code == 201 and made.json["physical_risk"] == 5
    duplicate = client.post("/api/v1/categories", json={"name": "defibrillator MONITOR"}, headers=manager)
    assert duplicate.status_code == 400 and "already in the list" in duplicate.json["error"]["message"]
    listed = {c["name"]: c for c in client.get("/api/v1/categories", headers=manager).json["items"]}
    defib = listed["Defibrillator"]
    assert defib["assets"] >= 1
    merged = client.post(f"/api/v1/categories/{defib['id']}/merge", json={"into_id": made.json["id"]},
                         headers=manager)
    assert merged.status_code == 200 and "DEF-0001" in merged.json["moved"]
    assert merged.json["category"]["assets"] == len(merged.json["moved"])
    assert client.get("/api/v1/assets/DEF-0001", headers=manager).json["category"] == "Defibrillator monitor"
    browser = web.client("manager")
    page = browser.get("/categories").text
    assert 'data-category="Defibrillator monitor"' in page and "Merge into" in page
    assert "Add a category" not in web.client("tech").get("/categories").text
