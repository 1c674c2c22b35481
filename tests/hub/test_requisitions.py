"""Requisitions on SQLite and PostgreSQL: raising one (a code per year), the whole flow from
submitted to closed with a movement row and an audit row per step, every step the flow does not
allow refused, who may take which step, escalation past the due date (exactly once, the right
people, through a real SMTP server), the work order a requisition becomes, the ageing report.

The seeded hospital's site is in Europe/London; the clock starts at 2026-01-01 01:00 UTC. The
nurse works in ICU; the requisitions go to Biomedical Engineering (BME), whose technician and
manager are made here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from relational_support import actor, clock, engine, session
from sqlalchemy import func, select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, Notice, NoticeEmail, RequisitionMovement, User
from wardlink.hub.errors import InvalidInput, NotFound, PermissionDenied
from wardlink.hub.notify.notices import NoticeMailer
from wardlink.hub.notify.smtp import EmailNotifier
from wardlink.hub.scheduler import JOBS, Scheduler
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import org, users
from wardlink.hub.services.requisitions import ageing, escalation, flow
from wardlink.hub.services.requisitions import register as requisitions
from wardlink.hub.services.requisitions.workorder import to_work_order

ESCALATION_ONLY = [j for j in JOBS if j.name == "requisition_escalation"]
#: The whole flow: (action, who takes it, the state after).
HAPPY = [("receive", "bme-tech", "received"), ("review", "bme-tech", "in_review"),
         ("approve", "bme-lead", "approved"), ("execute", "bme-tech", "in_execution"),
         ("deliver", "bme-tech", "delivered"), ("close", "nurse", "closed")]


def _dept(session, code: str) -> int:
    return {d.code: d.id for d in org.list_departments(session)}[code]


def _bme_people(session, clock) -> None:
    for name, role, dept in (("bme-tech", "technician", "BME"), ("bme-lead", "manager", "BME"),
                             ("icu-tech", "technician", "ICU")):
        user, _ = users.create_user_with_generated_password(
            session, username=name, role=role, display_name=name.upper(), department_id=_dept(session, dept),
            actor=None, clock=clock)
        user.email = f"{name}@hospital.example"


def _raise(session, clock, **changes):
    data = {"title": "Fix the nurses' station sink", "description": "Leaks under the basin",
            "priority": "high", "assigned_department_id": _dept(session, "BME"), "due_on": "2026-01-05", **changes}
    return requisitions.create_requisition(session, data, actor=actor(session, "nurse"), clock=clock)


def _set_clock(clock, moment: datetime) -> None:
    clock.advance(moment.timestamp() - clock.now())


def test_a_requisition_gets_a_code_per_year_and_starts_submitted_with_its_first_movement(session, clock):
    first = _raise(session, clock)
    second = _raise(session, clock, title="Second")
    assert (first.code, second.code) == ("REQ-2026-00001", "REQ-2026-00002")
    assert first.requesting_department_id == _dept(session, "ICU") and first.status == "submitted"
    [move] = first.movements
    assert (move.action, move.from_role, move.to_role, move.by_name) == ("submit", "requester", "assigned_staff",
                                                                         "nurse")
    _set_clock(clock, datetime(2027, 1, 2, 9, 0, tzinfo=UTC))
    assert _raise(session, clock, due_on="2027-01-09").code == "REQ-2027-00001"
    [after] = [json.loads(r.after_json) for r in session.scalars(
        select(AuditLog).where(AuditLog.action == "requisition.create", AuditLog.entity_id == str(first.id)))]
    assert after["code"] == "REQ-2026-00001" and after["due_on"] == "2026-01-05"


@pytest.mark.parametrize(("changes", "message"), [
    ({"title": ""}, "title: is required"),
    ({"due_on": "2025-12-31"}, r"due_on: must not be before today \(2026-01-01\), got 2025-12-31"),
    ({"due_on": ""}, "due_on: is required"),
    ({"assigned_department_id": None}, "assigned_department_id: is required"),
    ({"assigned_department_id": 9999}, "assigned_department_id: no department 9999"),
    ({"priority": "urgent"}, "priority: must be one of"),
    ({"colour": "red"}, "colour: unknown field"),
])
def test_bad_input_is_refused_with_a_clear_message(session, clock, changes, message):
    with pytest.raises(InvalidInput, match=message):
        _raise(session, clock, **changes)


def test_the_same_department_cannot_be_asked_and_staff_raise_only_for_their_own(session, clock):
    with pytest.raises(InvalidInput, match="must be another department than the requesting one"):
        _raise(session, clock, assigned_department_id=_dept(session, "ICU"))
    with pytest.raises(PermissionDenied, match="the requesting department belongs to another department"):
        _raise(session, clock, requesting_department_id=_dept(session, "PHARM"))
    with pytest.raises(PermissionDenied, match="may not raise requisitions"):
        requisitions.create_requisition(session, {"title": "x", "assigned_department_id": 1, "due_on": "2026-02-01"},
                                        actor=actor(session, "vendor"), clock=clock)


def test_the_whole_flow_writes_one_movement_and_one_audit_row_per_step(session, clock):
    _bme_people(session, clock)
    req = _raise(session, clock)
    for action, who, state in HAPPY:
        clock.advance(600)
        flow.move(session, req.id, action, remarks=f"{action} done", actor=actor(session, who), clock=clock)
        assert req.status == state
    moves = session.scalars(select(RequisitionMovement).where(RequisitionMovement.requisition_id == req.id)
                            .order_by(RequisitionMovement.id)).all()
    assert [(m.action, m.from_role, m.to_role, m.from_status, m.to_status, m.by_name) for m in moves] == [
        ("submit", "requester", "assigned_staff", "submitted", "submitted", "nurse"),
        ("receive", "assigned_staff", "assigned_staff", "submitted", "received", "bme-tech"),
        ("review", "assigned_staff", "assigned_manager", "received", "in_review", "bme-tech"),
        ("approve", "assigned_manager", "assigned_staff", "in_review", "approved", "bme-lead"),
        ("execute", "assigned_staff", "assigned_staff", "approved", "in_execution", "bme-tech"),
        ("deliver", "assigned_staff", "requester", "in_execution", "delivered", "bme-tech"),
        ("close", "requester", "requester", "delivered", "closed", "nurse")]
    assert moves[3].remarks == "approve done" and moves[-1].at > moves[0].at
    actions = list(session.scalars(select(AuditLog.action).where(AuditLog.entity == "requisition",
                                                                 AuditLog.entity_id == str(req.id))
                                   .order_by(AuditLog.seq)))
    assert actions == ["requisition.create", *(f"requisition.{a}" for a, _, _ in HAPPY)]
    assert flow.allowed_actions(req, actor(session, "admin")) == []


def test_a_rejection_needs_a_reason_and_ends_the_requisition(session, clock):
    _bme_people(session, clock)
    req = _raise(session, clock)
    for action in ("receive", "review"):
        flow.move(session, req.id, action, actor=actor(session, "bme-tech"), clock=clock)
    with pytest.raises(InvalidInput, match="remarks: say why when you reject a requisition"):
        flow.move(session, req.id, "reject", remarks="  ", actor=actor(session, "bme-lead"), clock=clock)
    assert req.status == "in_review"
    flow.move(session, req.id, "reject", remarks="Estates job, not ours", actor=actor(session, "bme-lead"),
              clock=clock)
    assert req.status == "rejected" and req.movements[-1].to_role == "requester"
    with pytest.raises(flow.RequisitionConflict, match=r"cannot execute requisition REQ-2026-00001 while it is "
                                                       r"rejected \(allowed now: none\)"):
        flow.move(session, req.id, "execute", actor=actor(session, "bme-tech"), clock=clock)


def _walk_to(session, clock, req, state: str) -> None:
    for action, who, _after in HAPPY:
        if req.status == state:
            return
        flow.move(session, req.id, action, remarks="ok", actor=actor(session, who), clock=clock)
    assert req.status == state


@pytest.mark.parametrize("state", ["submitted", "received", "in_review", "approved", "in_execution", "delivered",
                                   "closed"])
def test_every_step_not_in_the_flow_is_refused_and_changes_nothing(session, clock, state):
    _bme_people(session, clock)
    req = _raise(session, clock)
    _walk_to(session, clock, req, state)
    admin = actor(session, "admin")
    allowed = {s.action for s in flow.STEPS.values() if state in s.sources}
    moves = len(req.movements)
    for action in flow.STEPS:
        if action in allowed:
            continue
        with pytest.raises(flow.RequisitionConflict, match=f"cannot {action} requisition REQ-2026-00001 while it "
                                                           f"is {state}"):
            flow.move(session, req.id, action, remarks="try", actor=admin, clock=clock)
    assert req.status == state and len(req.movements) == moves
    with pytest.raises(InvalidInput, match="action: must be one of receive, review"):
        flow.move(session, req.id, "teleport", actor=admin, clock=clock)


def test_each_step_belongs_to_its_side(session, clock):
    _bme_people(session, clock)
    req = _raise(session, clock)
    with pytest.raises(PermissionDenied, match="may not receive, review, carry out and deliver requisitions"):
        flow.move(session, req.id, "receive", actor=actor(session, "nurse"), clock=clock)
    with pytest.raises(PermissionDenied, match="only the assigned department's staff may receive"):
        flow.move(session, req.id, "receive", actor=actor(session, "icu-tech"), clock=clock)
    with pytest.raises(NotFound):  # a pharmacy member does not even see an ICU -> BME requisition
        requisitions.get_requisition(session, req.id, actor=actor(session, "pharm"))
    for action in ("receive", "review"):
        flow.move(session, req.id, action, actor=actor(session, "bme-tech"), clock=clock)
    with pytest.raises(PermissionDenied, match="may not approve or reject requisitions"):
        flow.move(session, req.id, "approve", actor=actor(session, "bme-tech"), clock=clock)
    assert [s.action for s in flow.allowed_actions(req, actor(session, "bme-lead"))] == ["approve", "reject"]
    assert flow.allowed_actions(req, actor(session, "nurse")) == []
    for action, who, _ in HAPPY[2:5]:
        flow.move(session, req.id, action, actor=actor(session, who), clock=clock)
    with pytest.raises(PermissionDenied, match="only the requesting department may close"):
        flow.move(session, req.id, "close", actor=actor(session, "bme-lead"), clock=clock)


def test_lists_filter_by_status_department_and_overdue_within_scope(session, clock):
    _bme_people(session, clock)
    late = _raise(session, clock, title="Late one", due_on="2026-01-02")
    _raise(session, clock, title="Later one", due_on="2026-03-01")
    admin = actor(session, "admin")
    pharm_req = requisitions.create_requisition(
        session, {"title": "Pharmacy fridge shelf", "assigned_department_id": _dept(session, "ESTATES"),
                  "requesting_department_id": _dept(session, "PHARM"), "due_on": "2026-01-10"}, actor=admin,
        clock=clock)

    def titles(who, **filters):
        return [r.title for r in requisitions.list_requisitions(session, actor=actor(session, who), clock=clock,
                                                                **filters).items]
    assert titles("admin") == ["Late one", "Pharmacy fridge shelf", "Later one"]
    assert titles("nurse") == ["Late one", "Later one"]
    assert titles("bme-tech") == ["Late one", "Later one"]
    assert titles("pharm") == ["Pharmacy fridge shelf"]
    assert titles("admin", department_id=_dept(session, "ESTATES")) == ["Pharmacy fridge shelf"]
    _set_clock(clock, datetime(2026, 1, 3, 12, 0, tzinfo=UTC))
    assert titles("admin", overdue=True) == ["Late one"]
    flow.move(session, late.id, "receive", actor=actor(session, "bme-tech"), clock=clock)
    assert titles("admin", status="received") == ["Late one"]
    assert titles("admin", status="submitted") == ["Pharmacy fridge shelf", "Later one"]
    flow.move(session, pharm_req.id, "receive", actor=admin, clock=clock)
    with pytest.raises(InvalidInput, match="status: must be one of"):
        titles("admin", status="lost")


def test_escalation_past_the_due_date_happens_once_to_the_assigned_managers_and_the_requester(session, clock):
    _bme_people(session, clock)
    req = _raise(session, clock, due_on="2026-01-05")
    _set_clock(clock, datetime(2026, 1, 5, 23, 59, tzinfo=UTC))  # still the due date in London
    assert escalation.escalate_overdue(session, clock=clock) == []
    _set_clock(clock, datetime(2026, 1, 6, 0, 1, tzinfo=UTC))
    [done] = escalation.escalate_overdue(session, clock=clock)
    assert (done.code, done.days_overdue, done.managers, done.requester) == ("REQ-2026-00001", 1, 2, 1)
    assert escalation.escalate_overdue(session, clock=clock) == []
    clock.advance(3 * 86400)
    assert escalation.escalate_overdue(session, clock=clock) == []
    told = {n.user_id: n for n in session.scalars(select(Notice).where(Notice.event == "requisition_overdue"))}
    names = {session.get(User, u).username: n for u, n in told.items()}
    assert set(names) == {"bme-lead", "manager", "nurse"}  # not the BME technician, not pharmacy
    assert names["bme-lead"].subject == "Overdue requisition REQ-2026-00001 escalated: Fix the nurses' station sink"
    assert names["nurse"].subject == "Your requisition REQ-2026-00001 is overdue: Fix the nurses' station sink"
    assert "Assigned to: Biomedical Engineering" in names["nurse"].body
    assert names["nurse"].link == f"/requisitions/{req.id}"
    assert req.escalated_at == datetime(2026, 1, 6, 0, 1, tzinfo=UTC)
    move = req.movements[-1]
    assert (move.action, move.from_role, move.to_role, move.by_name) == ("escalate", "system", "assigned_manager",
                                                                         "scheduler")


def test_a_finished_or_delivered_requisition_does_not_escalate(session, clock):
    _bme_people(session, clock)
    done = _raise(session, clock, due_on="2026-01-02")
    _walk_to(session, clock, done, "delivered")
    _set_clock(clock, datetime(2026, 1, 9, 9, 0, tzinfo=UTC))
    assert escalation.escalate_overdue(session, clock=clock) == []
    assert requisitions.is_overdue(done, requisitions.today(session, clock)) is False


def test_two_schedulers_escalate_once_and_the_e_mails_go_through_smtp(engine, clock, smtp_server):
    with session_scope(engine) as s:
        _bme_people(s, clock)
        for name in ("manager", "nurse"):
            users.find_user(s, name).email = f"{name}@hospital.example"
        _raise(s, clock, due_on="2026-01-03")
    schedulers = [Scheduler(engine, clock=clock, holder=name, jobs=ESCALATION_ONLY) for name in ("north", "south")]
    mailer = NoticeMailer(engine, EmailNotifier("mail", host=smtp_server.host, port=smtp_server.port,
                                                sender="wardlink@hospital.example", to=[], timeout_s=5),
                          public_url="https://wardlink.hospital.example", site_name="Riverside", clock=clock,
                          retry_initial_s=60, retry_max_s=600, max_attempts=5)
    smtp_server.messages.clear()
    try:
        for _hour in range(24 * 6):
            for scheduler in schedulers:
                assert not scheduler.run_once().failed
            mailer.run_pending()
            clock.advance(3600)
    finally:
        for scheduler in schedulers:
            scheduler.close()
    sent = sorted((m["To"], m["Subject"]) for m in smtp_server.messages)
    assert sent == [
        ("bme-lead@hospital.example", "[Riverside] Overdue requisition REQ-2026-00001 escalated: Fix the nurses' "
                                      "station sink"),
        ("manager@hospital.example", "[Riverside] Overdue requisition REQ-2026-00001 escalated: Fix the nurses' "
                                     "station sink"),
        ("nurse@hospital.example", "[Riverside] Your requisition REQ-2026-00001 is overdue: Fix the nurses' "
                                   "station sink")]
    with session_scope(engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(NoticeEmail).where(NoticeEmail.state != "sent")) == 0
        assert s.scalar(select(func.count()).select_from(RequisitionMovement)
                        .where(RequisitionMovement.action == "escalate")) == 1


def test_an_approved_requisition_becomes_one_work_order_linked_both_ways(session, clock):
    _bme_people(session, clock)
    req = _raise(session, clock)
    with pytest.raises(flow.RequisitionConflict, match="only once approved or in execution, not while it is "
                                                       "submitted"):
        to_work_order(session, req.id, actor=actor(session, "bme-tech"), clock=clock)
    _walk_to(session, clock, req, "approved")
    with pytest.raises(PermissionDenied, match="only the assigned department's staff may make a work order of"):
        to_work_order(session, req.id, actor=actor(session, "icu-tech"), clock=clock)
    order = to_work_order(session, req.id, actor=actor(session, "bme-tech"), clock=clock)
    assert (order.kind, order.priority, order.department_id) == ("corrective", "high", _dept(session, "BME"))
    assert order.title == "REQ-2026-00001: Fix the nurses' station sink"
    assert order.due_at == datetime(2026, 1, 6, 0, 0, tzinfo=UTC)
    assert req.work_order_id == order.id and req.status == "approved"
    assert requisitions.for_work_order(session, order.id, actor=actor(session, "bme-lead")) is req
    assert requisitions.for_work_order(session, order.id, actor=actor(session, "vendor")) is None
    assert req.movements[-1].action == "work_order" and req.movements[-1].remarks == f"Work order {order.code}"
    with pytest.raises(flow.RequisitionConflict, match=f"already became work order {order.code}"):
        to_work_order(session, req.id, actor=actor(session, "bme-tech"), clock=clock)
    assert workorders.get_work_order(session, order.id, actor=actor(session, "bme-tech")).id == order.id


def test_the_ageing_report_counts_open_requisitions_by_age_and_assigned_department(session, clock):
    _bme_people(session, clock)
    old = _raise(session, clock, title="Old", due_on="2026-01-02")
    _set_clock(clock, datetime(2026, 1, 20, 9, 0, tzinfo=UTC))
    _raise(session, clock, title="Mid", due_on="2026-02-01")
    estates = requisitions.create_requisition(
        session, {"title": "Door closer", "assigned_department_id": _dept(session, "ESTATES"), "due_on": "2026-03-01"},
        actor=actor(session, "nurse"), clock=clock)
    _set_clock(clock, datetime(2026, 4, 15, 9, 0, tzinfo=UTC))
    _raise(session, clock, title="New", due_on="2026-04-30")
    gone = _raise(session, clock, title="Gone", due_on="2026-04-30")
    _walk_to(session, clock, gone, "closed")
    report = ageing.ageing(session, actor=actor(session, "admin"), clock=clock)
    rows = {r.department: (r.counts, r.total, r.overdue) for r in report.rows}
    assert rows == {
        "Biomedical Engineering": ({"0-7": 1, "8-30": 0, "31-90": 1, "over 90": 1}, 3, 2),
        "Estates and Facilities": ({"0-7": 0, "8-30": 0, "31-90": 1, "over 90": 0}, 1, 1)}
    assert report.totals.total == 4 and [i[1] for i in report.items if i[0] is old] == [104]
    assert estates.id in {i[0].id for i in report.items}
    table = ageing.ageing_table(session, actor=actor(session, "admin"), clock=clock)
    assert list(table.rows)[-1] == ["Total", 1, 0, 2, 1, 4, 3]
    with pytest.raises(PermissionDenied):
        ageing.ageing(session, actor=actor(session, "vendor"), clock=clock)
