"""The work-order services on SQLite and PostgreSQL: the state machine generated from its
table, who may make each move, electronic signatures, SLA due times and escalation with an
injected clock, vendor and staff isolation, records, downtime and checklist follow-ups."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from photo_support import jpeg, png
from workorder_support import (apply, bring_to, env, open_order, path_to,
                               payload_for, pg_workorder_template)

from wardlink.hub.db.audit import verify_chain
from wardlink.hub.db.models import AuditLog, User, WorkOrderNote, WorkOrderSignature
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import ROLES, WORK_ORDER_STATES
from wardlink.hub.errors import InvalidInput, NotFound, PermissionDenied
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.maintenance import esign
from wardlink.hub.services.people import users
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people.permissions import PERMISSIONS
from wardlink.hub.services.maintenance.sla import DEFAULT_POLICY, SlaPolicy, escalate_overdue, sla_status
from wardlink.hub.services.maintenance.workorder_common import SignatureRefused, WorkOrderConflict
from wardlink.hub.services.maintenance.workorder_flow import BY_EDGE, TRANSITIONS, roles_for

H = timedelta(hours=1)
ROLE_USER = {"admin": "admin", "manager": "manager", "technician": "tech", "staff": "nurse",
             "procurement": "buyer", "vendor": "vendor", "viewer": "viewer"}


def _audit_actions(env, order_id: int) -> list[str]:
    return list(env.session.scalars(select(AuditLog.action).where(
        AuditLog.entity == "work_order", AuditLog.entity_id == str(order_id)).order_by(AuditLog.seq)))


# ------------------------------------------------------------------ the state machine


@pytest.mark.parametrize("step", TRANSITIONS, ids=[f"{t.source}->{t.target}" for t in TRANSITIONS])
def test_every_allowed_transition_succeeds_and_is_audited(env, step):
    order = bring_to(env, step.source)
    notes_before = len(env.session.scalars(select(WorkOrderNote).where(
        WorkOrderNote.work_order_id == order.id)).all())
    env.clock.advance(600)
    apply(env, order, step)
    assert order.state == step.target
    assert order.updated_at == utc_now(env.clock)
    assert _audit_actions(env, order.id)[-1] == f"workorder.{step.verb}"
    notes = env.session.scalars(select(WorkOrderNote).where(WorkOrderNote.work_order_id == order.id)
                                .order_by(WorkOrderNote.id)).all()
    assert len(notes) == notes_before + 1 and notes[-1].kind == "system" and step.verb in notes[-1].body
    assert verify_chain(env.session) is None


@pytest.mark.parametrize("source", WORK_ORDER_STATES)
def test_every_transition_missing_from_the_table_is_refused_with_the_way_forward(env, source):
    order = bring_to(env, source)
    refused = [target for target in WORK_ORDER_STATES if (source, target) not in BY_EDGE]
    assert refused, "every state has at least one move the table leaves out (itself)"
    onward = sorted(t.target for t in TRANSITIONS if t.source == source)
    for target in refused:
        # The administrator holds every permission: only the table can be what refuses.
        with pytest.raises(WorkOrderConflict) as caught:
            workorders.transition(env.session, order.id, target, {}, actor=env.actor("admin"),
                                  clock=env.clock)
        message = str(caught.value)
        assert f"cannot go from {source.replace('_', ' ')}".lower() in message.lower()
        if onward:
            assert all(t.replace("_", " ") in message.lower() for t in onward), message
        else:
            assert "is final" in message
        assert order.state == source
    with pytest.raises(InvalidInput, match="to: must be one of"):
        workorders.transition(env.session, order.id, "done", {}, actor=env.actor("admin"), clock=env.clock)


@pytest.mark.parametrize("step", TRANSITIONS, ids=[f"{t.source}->{t.target}" for t in TRANSITIONS])
def test_roles_without_the_transitions_permission_are_refused(env, step):
    allowed = set(roles_for(step))
    assert allowed == {role for role, perms in PERMISSIONS.items() if step.permission in perms} - {"system"}
    orders = {}
    for role in ROLES:
        if role in allowed:
            continue
        # The vendor is the assignee of its own order, so only its permissions can refuse it.
        # Refusals change nothing, so one order per assignee serves every role.
        assignee = "vendor" if role == "vendor" else "tech"
        if assignee not in orders:
            orders[assignee] = bring_to(env, step.source, assignee=assignee)
        order, who = orders[assignee], ROLE_USER[role]
        with pytest.raises(PermissionDenied, match=f"role '{role}' may not"):
            workorders.transition(env.session, order.id, step.target,
                                  payload_for(env, step, order, who, assignee), actor=env.actor(who),
                                  clock=env.clock)
        assert order.state == step.source


def test_technicians_cannot_close_and_only_the_assignee_works_an_order(env):
    order = bring_to(env, "completed")
    with pytest.raises(PermissionDenied, match="role 'technician' may not approve and close"):
        workorders.close(env.session, order.id, password=env.passwords["tech"], actor=env.actor("tech"),
                         clock=env.clock)
    other = bring_to(env, "assigned")
    with pytest.raises(PermissionDenied, match="assigned to 'tech'; only the assignee or an administrator"):
        workorders.transition(env.session, other.id, "in_progress", {}, actor=env.add_user("tech2", "technician"),
                              clock=env.clock)
    assert workorders.transition(env.session, other.id, "in_progress", {}, actor=env.actor("admin"),
                                 clock=env.clock).state == "in_progress"


def test_managers_do_not_act_for_the_assignee_and_the_docs_say_who_does(env):
    from pathlib import Path

    from wardlink.hub.services.actor import Actor
    from wardlink.hub.services.maintenance.workorder_flow import available, may_make

    order = bring_to(env, "assigned")  # assigned to 'tech'
    manager = env.actor("manager")
    with pytest.raises(PermissionDenied, match="role 'manager' may not start, hold or complete"):
        workorders.transition(env.session, order.id, "in_progress", {}, actor=manager, clock=env.clock)
    assert order.state == "assigned"
    assert [t.verb for t in available(order, manager)] == ["cancel"]
    # Who may make an assignee-only step on someone else's order, from the permission table.
    for step in (t for t in TRANSITIONS if t.assignee_only):
        acting = sorted(role for role in ROLES if may_make(step, order, Actor(f"x-{role}", role, user_id=10**6)))
        assert acting == ["admin"], (step.verb, acting)
    docs = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    assert "only administrators may act for them. Managers do not start, hold, resume or complete" in docs
    assert workorders.transition(env.session, order.id, "in_progress", {}, actor=env.actor("admin"),
                                 clock=env.clock).state == "in_progress"


def test_inputs_are_checked_per_transition(env):
    order = bring_to(env, "in_progress")
    manager = env.actor("tech")
    with pytest.raises(InvalidInput, match="reason: is required to hold"):
        workorders.transition(env.session, order.id, "on_hold", {}, actor=manager, clock=env.clock)
    with pytest.raises(InvalidInput, match="password: not used to complete"):
        workorders.transition(env.session, order.id, "completed",
                              {"resolution_category": "repaired", "password": "x"}, actor=manager,
                              clock=env.clock)
    with pytest.raises(InvalidInput, match="resolution_category: must be one of"):
        workorders.transition(env.session, order.id, "completed", {"resolution_category": "accepted"},
                              actor=manager, clock=env.clock)
    pending = open_order(env)
    with pytest.raises(InvalidInput, match="is a staff"):
        workorders.transition(env.session, pending.id, "assigned", {"assignee_id": env.user_id("nurse")},
                              actor=env.actor("manager"), clock=env.clock)
    with pytest.raises(InvalidInput, match="works for another department"):
        workorders.transition(env.session, pending.id, "assigned", {"assignee_id": env.user_id("pharmtech")},
                              actor=env.actor("manager"), clock=env.clock)


# ------------------------------------------------------------------ electronic signature


def test_closing_needs_the_signers_password_and_stores_an_audited_signature(env):
    order = bring_to(env, "completed")
    manager = env.actor("manager")
    with pytest.raises(SignatureRefused, match="password: is not correct"):
        workorders.close(env.session, order.id, password="not-the-password", actor=manager, clock=env.clock)
    assert order.state == "completed"
    assert users.find_user(env.session, "manager").failed_logins == 1
    assert _audit_actions(env, order.id)[-1] != "workorder.sign"
    assert env.session.scalars(select(AuditLog.action).order_by(AuditLog.seq.desc())).first() == "signature.failed"

    env.clock.advance(90)
    workorders.close(env.session, order.id, password=env.passwords["manager"], comment="Checked on the ward",
                     actor=manager, clock=env.clock)
    assert (order.state, order.closed_at, order.closed_by.username) == ("closed", utc_now(env.clock), "manager")
    signature = env.session.scalars(select(WorkOrderSignature).where(WorkOrderSignature.work_order_id == order.id)).one()
    assert (signature.username, signature.signer_name, signature.meaning, signature.signed_at, signature.comment) == (
        "manager", "Manager", "approved and closed", utc_now(env.clock), "Checked on the ward")
    assert esign.signature_intact(env.session, signature)
    assert users.find_user(env.session, "manager").failed_logins == 0
    assert _audit_actions(env, order.id)[-2:] == ["workorder.sign", "workorder.close"]
    with pytest.raises(WorkOrderConflict, match="is closed; cannot add notes"):
        workorders.add_note(env.session, order.id, "late remark", actor=manager, clock=env.clock)


def test_wrong_signature_passwords_lock_the_account(env):
    order = bring_to(env, "completed")
    manager = env.actor("manager")
    for _ in range(users.MAX_FAILED_LOGINS):
        with pytest.raises(SignatureRefused, match="not correct"):
            workorders.close(env.session, order.id, password="guess", actor=manager, clock=env.clock)
    with pytest.raises(SignatureRefused, match="too many wrong passwords"):
        workorders.close(env.session, order.id, password=env.passwords["manager"], actor=manager, clock=env.clock)
    env.clock.advance(users.LOCKOUT.total_seconds() + 1)
    workorders.close(env.session, order.id, password=env.passwords["manager"], actor=manager, clock=env.clock)
    assert order.state == "closed"


def test_a_signature_stops_matching_when_the_signed_record_changes(env):
    order = bring_to(env, "closed")
    signature = env.session.scalars(select(WorkOrderSignature)).one()
    assert esign.signature_intact(env.session, signature)
    order.resolution_note = "edited behind the workflow's back"
    env.session.flush()
    assert not esign.signature_intact(env.session, signature)


# ------------------------------------------------------------------ SLA and escalation


@pytest.mark.parametrize("priority, response_h, resolution_h", [
    ("critical", 1, 8), ("high", 4, 24), ("medium", 24, 120), ("low", 72, 336)])
def test_due_times_follow_the_priority_table(env, priority, response_h, resolution_h):
    order = open_order(env, priority=priority)
    opened = utc_now(env.clock)
    assert (order.response_due_at, order.resolution_due_at) == (opened + response_h * H, opened + resolution_h * H)
    assert sla_status(order, opened, DEFAULT_POLICY) == {"response": "on_track", "resolution": "on_track"}
    assert sla_status(order, opened + 0.8 * response_h * H, DEFAULT_POLICY)["response"] == "at_risk"


def test_breaches_are_escalated_once_each_with_the_injected_clock(env):
    order = open_order(env, priority="critical")
    calm = open_order(env, priority="low")
    env.clock.advance(59 * 60)
    assert escalate_overdue(env.session, env.clock) == []

    env.clock.advance(61)
    first = escalate_overdue(env.session, env.clock)
    assert [(e.work_order_id, e.breach, e.level, e.notify_roles) for e in first] == [
        (order.id, "response", 1, ("manager", "admin"))]
    assert first[0].due_at == order.response_due_at and order.response_breached_at == utc_now(env.clock)
    assert escalate_overdue(env.session, env.clock) == []  # stamped once
    assert sla_status(order, utc_now(env.clock))["response"] == "breached"

    apply(env, order, path_to("assigned")[0])
    apply(env, order, path_to("in_progress")[-1])
    assert sla_status(order, utc_now(env.clock))["response"] == "late"
    env.clock.advance(7 * 3600)
    second = escalate_overdue(env.session, env.clock)
    assert [(e.work_order_id, e.breach, e.level, e.notify_roles) for e in second] == [
        (order.id, "resolution", 2, ("manager", "admin"))]
    assert calm.escalation_level == 0
    notes = env.session.scalars(select(WorkOrderNote.body).where(WorkOrderNote.work_order_id == order.id)).all()
    assert sum("time exceeded" in n for n in notes) == 2
    assert _audit_actions(env, order.id).count("workorder.escalate") == 2


def test_the_breach_note_gives_the_due_time_in_the_sites_zone(env):
    from zoneinfo import ZoneInfo

    from sqlalchemy import update

    from wardlink.hub.db.models import Site

    env.session.execute(update(Site).values(timezone="America/New_York"))
    order = open_order(env, priority="critical")
    env.clock.advance(3601)
    assert [e.breach for e in escalate_overdue(env.session, env.clock)] == ["response"]
    local = order.response_due_at.astimezone(ZoneInfo("America/New_York"))
    notes = env.session.scalars(select(WorkOrderNote.body).where(WorkOrderNote.work_order_id == order.id)).all()
    assert any(f"due {local:%Y-%m-%d %H:%M} E" in n and "UTC" not in n for n in notes), notes


def test_the_resolution_clock_stops_on_hold(env):
    order = bring_to(env, "in_progress", priority="high")
    due = order.resolution_due_at
    apply(env, order, BY_EDGE[("in_progress", "on_hold")])
    env.clock.advance(30 * 3600)  # past the 24 h resolution target, but on hold
    assert escalate_overdue(env.session, env.clock) == []
    assert sla_status(order, utc_now(env.clock))["resolution"] == "paused"
    apply(env, order, BY_EDGE[("on_hold", "in_progress")])
    assert order.resolution_due_at == due + 30 * H
    assert escalate_overdue(env.session, env.clock) == []


def test_a_new_priority_moves_the_due_times_and_keeps_hold_time(env):
    order = bring_to(env, "in_progress", priority="low")
    apply(env, order, BY_EDGE[("in_progress", "on_hold")])
    env.clock.advance(2 * 3600)
    apply(env, order, BY_EDGE[("on_hold", "in_progress")])
    workorders.update_work_order(env.session, order.id, {"priority": "critical"}, actor=env.actor("manager"),
                                 clock=env.clock)
    assert order.response_due_at == order.created_at + 1 * H
    assert order.resolution_due_at == order.created_at + 8 * H + 2 * H


def test_orders_written_without_due_times_get_them_when_escalation_runs(env):
    order = open_order(env, priority="high")
    order.response_due_at = order.resolution_due_at = None
    env.session.flush()
    escalate_overdue(env.session, env.clock)
    assert order.response_due_at == order.created_at + 4 * H


def test_sla_targets_are_configurable_and_errors_name_the_key():
    policy = SlaPolicy.from_mapping({"critical": {"response_hours": 0.5, "resolution_hours": 4}})
    assert policy.target("critical").response == timedelta(minutes=30)
    assert policy.target("low") == DEFAULT_POLICY.target("low")
    for raw, message in (({"urgent": {}}, r"sla\.urgent: unknown priority"),
                         ({"high": {"response_hours": 0}}, r"sla\.high\.response_hours: must be a number"),
                         ({"high": {"response_hours": 30}}, "must not exceed resolution_hours"),
                         ({"warn_fraction": 2}, r"sla\.warn_fraction")):
        with pytest.raises(ValueError, match=message):
            SlaPolicy.from_mapping(raw)


# ------------------------------------------------------------------ who sees what


def test_vendors_see_and_act_on_only_the_orders_assigned_to_them(env):
    theirs = bring_to(env, "assigned", assignee="vendor")
    others = bring_to(env, "assigned", assignee="tech")
    unassigned = open_order(env)
    vendor = env.actor("vendor")
    listed = workorders.list_work_orders(env.session, actor=vendor)
    assert [o.id for o in listed.items] == [theirs.id] and listed.total == 1
    for order_id in (others.id, unassigned.id):
        with pytest.raises(NotFound, match=f"work order {order_id} does not exist"):
            workorders.get_work_order(env.session, order_id, actor=vendor)
        with pytest.raises(NotFound):
            workorders.add_note(env.session, order_id, "hello", actor=vendor, clock=env.clock)
        with pytest.raises(NotFound):
            workorders.transition(env.session, order_id, "in_progress", {}, actor=vendor, clock=env.clock)
    workorders.transition(env.session, theirs.id, "in_progress", {}, actor=vendor, clock=env.clock)
    workorders.log_time(env.session, theirs.id, minutes=45, actor=vendor, clock=env.clock)
    assert theirs.state == "in_progress"


def test_staff_see_their_own_requests_and_department_scope_holds(env):
    mine = open_order(env)
    other = workorders.create_work_order(env.session, {"kind": "corrective", "title": "Theatre light",
                                                       "asset_tag": "VF-0001"},
                                         actor=env.actor("manager"), clock=env.clock)
    nurse = env.actor("nurse")
    assert [o.id for o in workorders.list_work_orders(env.session, actor=nurse).items] == [mine.id]
    with pytest.raises(NotFound):
        workorders.get_work_order(env.session, other.id, actor=nurse)
    pharmacy = env.actor("pharmtech")
    assert workorders.list_work_orders(env.session, actor=pharmacy).total == 0
    with pytest.raises(PermissionDenied, match="another department"):
        workorders.request_work(env.session, {"title": "Not mine", "asset_tag": "VF-0001"}, actor=env.actor("pharm"),
                                clock=env.clock)
    everything = workorders.list_work_orders(env.session, actor=env.actor("viewer"), state="open")
    assert {o.id for o in everything.items} == {mine.id, other.id}


def test_lists_filter_and_page(env):
    for priority in ("low", "high", "critical"):
        open_order(env, priority=priority)
    started = bring_to(env, "in_progress")
    viewer = env.actor("viewer")
    page = workorders.list_work_orders(env.session, actor=viewer, per_page=2, sort="priority")
    assert (page.total, page.pages, [o.priority for o in page.items]) == (4, 2, ["critical", "high"])
    assert [o.id for o in workorders.list_work_orders(env.session, actor=viewer, state="in_progress").items] == [
        started.id]
    assert workorders.list_work_orders(env.session, actor=env.actor("tech"), assigned_to="me").total == 1
    assert workorders.list_work_orders(env.session, actor=viewer, q=started.code).total == 1
    with pytest.raises(InvalidInput, match="state: must be one of"):
        workorders.list_work_orders(env.session, actor=viewer, state="open,sleeping")


# ------------------------------------------------------------------ records and downtime


def test_time_parts_notes_and_attachments_are_recorded_and_audited(env):
    order = bring_to(env, "in_progress")
    tech = env.actor("tech")
    workorders.log_time(env.session, order.id, minutes=35, note="Replaced door gasket", actor=tech, clock=env.clock)
    workorders.log_time(env.session, order.id, minutes=20, user_id=env.user_id("tech"),
                        performed_at="2026-01-01T00:30:00Z", actor=env.actor("manager"), clock=env.clock)
    workorders.add_part(env.session, order.id, part_number="LH-7112", description="Door gasket",
                        quantity="2", unit_cost="18.40", actor=tech, clock=env.clock)
    workorders.add_note(env.session, order.id, "Gasket torn at the hinge side", actor=tech, clock=env.clock)
    photo = jpeg()
    first = workorders.add_attachment(env.session, order.id, filename="../../gasket.jpg", data=photo,
                                      store=env.store, actor=tech, clock=env.clock)
    again = workorders.add_attachment(env.session, order.id, filename="copy.jpg", data=photo,
                                      store=env.store, actor=tech, clock=env.clock)
    assert again.id == first.id and first.filename == "gasket.jpg" and first.content_type == "image/jpeg"
    assert env.store.read(first.sha256) == photo
    records = workorders.records_of(env.session, order)
    assert records.minutes == 55 and str(records.parts_cost) == "36.80"
    assert [n.body for n in records.notes if n.kind == "note"] == ["Gasket torn at the hinge side"]
    assert {"workorder.time", "workorder.part", "workorder.note", "workorder.attach"} <= set(
        _audit_actions(env, order.id))
    for call, message in (
        (lambda: workorders.log_time(env.session, order.id, minutes=0, actor=tech, clock=env.clock), "minutes: must be 1..1440"),
        (lambda: workorders.log_time(env.session, order.id, minutes=5, performed_at="2027-01-01T00:00:00Z",
                                     actor=tech, clock=env.clock), "performed_at: must not be in the future"),
        (lambda: workorders.log_time(env.session, order.id, minutes=5, user_id=env.user_id("vendor"), actor=tech,
                                     clock=env.clock), "only managers may log time for someone else"),
        (lambda: workorders.add_part(env.session, order.id, part_number="X", description="Y", quantity="-1",
                                     actor=tech, clock=env.clock), "quantity: must be greater than 0"),
        (lambda: workorders.add_attachment(env.session, order.id, filename="x.exe", data=b"MZ\x90\x00\x03",
                                           store=env.store, actor=tech, clock=env.clock), "type not accepted"),
        (lambda: workorders.add_attachment(env.session, order.id, filename="big.txt",
                                           data=b"a" * (10 * 1024 * 1024 + 1), store=env.store, actor=tech,
                                           clock=env.clock), "at most 10 MiB"),
    ):
        with pytest.raises(InvalidInput, match=message):
            call()


def test_downtime_comes_from_the_alert_and_corrections_need_a_reason(env):
    alert = alerts.raise_alert(env.session, rule="fridge-temp", severity="critical", title="Fridge at 11 degC",
                               asset_tag="VF-0001", actor=None, clock=env.clock)
    opened = alert.opened_at
    env.clock.advance(1800)
    order = workorders.create_work_order(env.session, {"kind": "corrective", "title": "Fridge warm",
                                                       "alert_id": alert.id}, actor=env.actor("manager"),
                                         clock=env.clock)
    assert (order.asset.tag, order.downtime_start, order.source) == ("VF-0001", opened, "manual")
    for step in path_to("in_progress"):
        apply(env, order, step)
    env.clock.advance(3600)
    alerts.resolve(env.session, alert.id, note="Door closed, temperature back", actor=None, clock=env.clock)
    resolved = utc_now(env.clock)
    env.clock.advance(600)
    apply(env, order, BY_EDGE[("in_progress", "completed")])
    assert order.downtime_end == resolved

    with pytest.raises(InvalidInput, match="reason: is required"):
        workorders.set_downtime(env.session, order.id, start=opened, end=resolved, reason="",
                                actor=env.actor("tech"), clock=env.clock)
    with pytest.raises(InvalidInput, match="end: must not be before start"):
        workorders.set_downtime(env.session, order.id, start="2026-01-01T02:00:00Z", end="2026-01-01T01:00:00Z",
                                reason="typo", actor=env.actor("tech"), clock=env.clock)
    workorders.set_downtime(env.session, order.id, start="2026-01-01T00:45:00Z", end=resolved,
                            reason="Ward reported the fridge warm 15 minutes before the alert",
                            actor=env.actor("tech"), clock=env.clock)
    assert order.downtime_start.isoformat() == "2026-01-01T00:45:00+00:00"
    row = env.session.scalars(select(AuditLog).where(AuditLog.action == "workorder.downtime")).one()
    assert "15 minutes before the alert" in row.after_json and opened.isoformat()[:19] in row.before_json


def test_requests_become_pending_corrective_orders_with_their_files(env):
    photo = png()
    order = workorders.request_work(env.session, {"title": "Infusion pump alarms on battery", "asset_tag": "IPD-0001",
                                                  "equipment_down": True},
                                    actor=env.actor("nurse"), clock=env.clock, files=[("pump.png", photo)],
                                    store=env.store)
    assert (order.kind, order.state, order.source, order.requested_by.username) == (
        "corrective", "pending", "request", "nurse")
    assert order.downtime_start == utc_now(env.clock)
    assert [a.filename for a in workorders.records_of(env.session, order).attachments] == ["pump.png"]
    from wardlink.hub.services.actor import Actor

    qr = Actor.system("qr")
    with pytest.raises(InvalidInput, match="requester_name: is required"):
        workorders.request_work(env.session, {"title": "Broken"}, actor=qr, clock=env.clock, source="qr")
    public = workorders.request_work(env.session, {"title": "Bed scale reads 0", "requester_name": "Ward 4 desk",
                                                   "requester_contact": "ext 4410"},
                                     actor=qr, clock=env.clock, source="qr")
    assert (public.source, public.requester_name, public.requested_by_id) == ("qr", "Ward 4 desk", None)


def test_a_failed_checklist_item_opens_one_corrective_order(env):
    pm = bring_to(env, "in_progress", kind="pm", asset_tag="VF-0001")
    tech = env.actor("tech")
    child = workorders.open_corrective_from_failed_item(env.session, work_order_id=pm.id, item="Alarm test at 8 degC",
                                                        detail="No audible alarm", actor=tech, clock=env.clock)
    assert (child.kind, child.state, child.source, child.parent_id, child.asset_id) == (
        "corrective", "pending", "checklist", pm.id, pm.asset_id)
    assert child.title == "Failed check: Alarm test at 8 degC (VF-0001)" and "No audible alarm" in child.description
    assert child.priority == ("high" if pm.asset.life_support else "medium")
    same = workorders.open_corrective_from_failed_item(env.session, work_order_id=pm.id, item="Alarm test at 8 degC",
                                                       actor=tech, clock=env.clock)
    assert same.id == child.id
    with pytest.raises(PermissionDenied):
        workorders.open_corrective_from_failed_item(env.session, work_order_id=pm.id, item="x",
                                                    actor=env.actor("viewer"), clock=env.clock)


def test_kinds_that_concern_equipment_need_an_asset(env):
    for kind in ("pm", "inspection", "recall"):
        with pytest.raises(InvalidInput, match=f"asset_tag: is required for {kind}"):
            workorders.create_work_order(env.session, {"kind": kind, "title": "x"}, actor=env.actor("manager"),
                                         clock=env.clock)
    inspection = workorders.create_work_order(env.session, {"kind": "inspection", "title": "Incoming: loaned pump",
                                                            "asset_tag": "IPD-0001", "assignee_id": env.user_id("tech")},
                                              actor=env.actor("manager"), clock=env.clock)
    assert inspection.state == "assigned"
    with pytest.raises(PermissionDenied, match="may not assign"):
        workorders.create_work_order(env.session, {"kind": "corrective", "title": "x",
                                                   "assignee_id": env.user_id("tech")},
                                     actor=env.actor("tech"), clock=env.clock)


def test_the_audit_chain_holds_after_a_full_life(env):
    order = bring_to(env, "closed")
    assert _audit_actions(env, order.id) == ["workorder.create", "workorder.assign", "workorder.start",
                                             "workorder.complete", "workorder.sign", "workorder.close"]
    env.session.commit()
    assert verify_chain(env.session) is None
    assert env.session.get(User, order.closed_by_id).username == "manager"
