"""A reassignment on SQLite and PostgreSQL: the order comes with its assignee, department and asset
in one locking statement, the audit chain's tail and key check in one read, and still each
reassignment writes one note, one audit row that the chain verifies, and one notice (with its
e-mail) to the new assignee, once; the department's scope and the row lock hold as before."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError
from workorder_support import env, open_order, pg_workorder_template

from wardlink.hub.db import open_engine
from wardlink.hub.db.audit import verify_chain
from wardlink.hub.db.models import AuditLog, Notice, NoticeEmail, WorkOrderNote
from wardlink.hub.errors import NotFound
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import org, users


def _reassign(env, order, username: str):
    return workorders.reassign(env.session, order.id, env.user_id(username), actor=env.actor("manager"),
                               clock=env.clock)


def _statements(engine, action) -> list[str]:
    """Return the statements ``engine`` runs while ``action()`` runs."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def _assigned(env, username: str) -> list[Notice]:
    return list(env.session.scalars(select(Notice).where(Notice.user_id == env.user_id(username),
                                                         Notice.event == "work_assigned")))


def test_a_reassignment_notes_audits_and_tells_the_new_assignee_once_in_twelve_statements(env):
    env.add_user("tech2", "technician")
    for name in ("tech", "tech2"):
        users.find_user(env.session, name).email = f"{name}@hospital.example"
    order = open_order(env)
    _reassign(env, order, "tech")  # pending: the assignment transition
    env.session.flush()
    env.session.expunge_all()  # a request starts with nothing loaded
    audit_before = env.session.scalar(select(AuditLog.seq).order_by(AuditLog.seq.desc()).limit(1))

    manager, tech2 = env.actor("manager"), env.user_id("tech2")
    seen = _statements(env.engine, lambda: workorders.reassign(env.session, order.id, tech2, actor=manager,
                                                               clock=env.clock))
    # the order with its assignee, department and asset; the new assignee; the update; the note;
    # the chain's lock (PostgreSQL) and tail; the audit row; earlier assignments; the site's
    # zone; the audience; the notice; the e-mail (there were 16)
    assert len(seen) <= (12 if env.backend == "postgresql" else 11), "\n".join(seen)
    assert not any(s.lstrip().startswith("SELECT departments") or s.lstrip().startswith("SELECT assets")
                   for s in seen), "the order's relations were loaded one by one"

    rows = env.session.scalars(select(AuditLog).where(AuditLog.seq > audit_before)).all()
    assert [(r.action, json.loads(r.before_json), json.loads(r.after_json)) for r in rows] == [
        ("workorder.reassign", {"assigned_to": "tech"}, {"assigned_to": "tech2"})]
    notes = env.session.scalars(select(WorkOrderNote.body).where(WorkOrderNote.work_order_id == order.id)
                                .order_by(WorkOrderNote.id)).all()
    assert notes[-1] == "Reassigned from tech to tech2" and notes.count("Reassigned from tech to tech2") == 1
    [told] = _assigned(env, "tech2")
    assert "Department: Intensive Care Unit" in told.body and "Asset: VF-0001" in told.body
    assert len(_assigned(env, "tech")) == 1
    emails = env.session.scalars(select(NoticeEmail.to_addr).where(NoticeEmail.notice_id == told.id)).all()
    assert emails == ["tech2@hospital.example"]

    _reassign(env, order, "tech2")  # the same person: nothing new
    _reassign(env, order, "tech")  # back to the first: a new assignment, told once more
    assert len(_assigned(env, "tech")) == 2 and len(_assigned(env, "tech2")) == 1
    assert env.session.scalar(select(AuditLog.seq).order_by(AuditLog.seq.desc()).limit(1)) == audit_before + 2
    assert verify_chain(env.session) is None


def test_a_manager_of_another_department_cannot_reassign_an_order_and_nothing_is_written(env):
    pharmacy = next(d.id for d in org.list_departments(env.session) if d.code == "PHARM")
    manager, _ = users.create_user_with_generated_password(env.session, username="pharmboss", role="manager",
                                                           display_name="Pharmacy manager",
                                                           department_id=pharmacy, actor=None, clock=env.clock)
    order = open_order(env)  # an ICU order
    _reassign(env, order, "tech")
    audit_rows = env.session.scalar(select(AuditLog.seq).order_by(AuditLog.seq.desc()).limit(1))
    with pytest.raises(NotFound):
        workorders.reassign(env.session, order.id, env.user_id("pharmtech"),
                            actor=Actor.for_user(manager, "192.0.2.30"), clock=env.clock)
    assert env.session.scalar(select(AuditLog.seq).order_by(AuditLog.seq.desc()).limit(1)) == audit_rows
    assert _assigned(env, "pharmtech") == []


def test_a_reassignment_locks_the_order_row_but_not_the_people_department_or_asset_it_names(env):
    if env.backend != "postgresql":
        pytest.skip("row locks: SQLite locks the whole database for a writer")
    order = open_order(env)
    _reassign(env, order, "tech")
    env.session.commit()
    env.add_user("tech2", "technician")
    env.session.commit()
    _reassign(env, order, "tech2")  # holds its locks until the commit below
    other = open_engine(env.engine.url.render_as_string(hide_password=False))
    try:
        with other.connect() as conn:
            conn.execute(text("SET lock_timeout = '2s'"))
            for statement in ("UPDATE users SET display_name = display_name WHERE username = 'tech2'",
                              "UPDATE users SET display_name = display_name WHERE username = 'tech'",
                              "UPDATE departments SET name = name",
                              "UPDATE assets SET name = name WHERE tag = 'VF-0001'"):
                conn.execute(text(statement))
            conn.rollback()
            conn.execute(text("SET lock_timeout = '2s'"))  # a rollback undoes a SET in its transaction
            with pytest.raises(OperationalError, match="lock timeout"):
                conn.execute(text("UPDATE work_orders SET title = title WHERE id = :id"), {"id": order.id})
            conn.rollback()
    finally:
        other.dispose()
    env.session.commit()
    assert verify_chain(env.session) is None
