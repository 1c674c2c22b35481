"""Notices about the work on SQLite and PostgreSQL, with an injected clock: a new request tells
the department's managers, an assignment the assignee, an SLA clock at 75 % the assignee and a
breach the assignee and the manager (each exactly once); preferences decide in-app and e-mail;
the e-mail copies go through a real SMTP server (aiosmtpd) with retries and backoff."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from workorder_support import env, open_order, pg_workorder_template

from wardlink.hub.db.models import AuditLog, Notice, NoticeEmail, Site
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import ConfigError, InvalidInput, NotFound, PermissionDenied
from wardlink.hub.notify.notices import NoticeMailer
from wardlink.hub.notify.smtp import EmailNotifier
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.maintenance.sla import escalate_overdue
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.notices import mail
from wardlink.hub.services.people import users

H = 3600
PUBLIC = "https://wardlink.hospital.example"


def _notices(env, username: str) -> list[Notice]:
    return list(env.session.scalars(select(Notice).where(Notice.user_id == env.user_id(username))
                                    .order_by(Notice.id)))


def _events(env, username: str) -> list[str]:
    return [n.event for n in _notices(env, username)]


def _with_emails(env) -> None:
    for name in ("tech", "manager", "nurse"):
        users.find_user(env.session, name).email = f"{name}@hospital.example"
    env.session.flush()


def _assign(env, order, assignee: str = "tech"):
    return workorders.reassign(env.session, order.id, env.user_id(assignee), actor=env.actor("manager"),
                               clock=env.clock)


def test_a_new_request_tells_the_managers_and_an_assignment_the_assignee(env):
    order = open_order(env)  # requested by the ICU nurse
    assert _events(env, "manager") == ["work_opened"]
    assert _events(env, "nurse") == [] and _events(env, "tech") == []
    [opened] = _notices(env, "manager")
    assert order.code in opened.subject and opened.link == f"/work-orders/{order.id}"
    _assign(env, order)
    [assigned] = _notices(env, "tech")
    assert assigned.event == "work_assigned" and assigned.subject == f"Assigned to you: {order.code} {order.title}"
    assert "Priority: Medium" in assigned.body and "Response due:" in assigned.body
    assert notices.unread_count(env.session, actor=env.actor("tech")) == 1
    notices.mark_read(env.session, assigned.id, actor=env.actor("tech"), clock=env.clock)
    assert notices.unread_count(env.session, actor=env.actor("tech")) == 0
    # Someone else's notice is not found, never marked.
    with pytest.raises(NotFound):
        notices.mark_read(env.session, opened.id, actor=env.actor("tech"), clock=env.clock)
    assert notices.mark_all_read(env.session, actor=env.actor("manager"), clock=env.clock) == 1


def test_sla_warning_at_75_percent_and_breach_escalation_each_once(env):
    order = open_order(env, priority="medium")  # response 24 h, resolution 120 h
    _assign(env, order)
    env.clock.advance(17 * H)
    escalate_overdue(env.session, env.clock)
    assert _events(env, "tech") == ["work_assigned"]  # 17 of 24 h: not yet 75 %
    env.clock.advance(1 * H + 60)
    escalate_overdue(env.session, env.clock)
    assert _events(env, "tech") == ["work_assigned", "sla_warning"]
    warning = _notices(env, "tech")[-1]
    assert warning.subject.startswith("Response time running out: ")
    env.clock.advance(H)
    escalate_overdue(env.session, env.clock)
    assert _events(env, "tech") == ["work_assigned", "sla_warning"]  # once
    env.clock.advance(6 * H)  # past 24 h: breached
    [found] = escalate_overdue(env.session, env.clock)
    assert found.breach == "response"
    assert _events(env, "tech") == ["work_assigned", "sla_warning", "sla_breached"]
    assert _events(env, "manager") == ["work_opened", "sla_breached"]
    escalate_overdue(env.session, env.clock)
    env.clock.advance(H)
    escalate_overdue(env.session, env.clock)
    assert _events(env, "tech").count("sla_breached") == 1 and _events(env, "manager").count("sla_breached") == 1
    breach = _notices(env, "manager")[-1]
    assert breach.subject.startswith(f"Escalated: response time exceeded on {order.code}")
    assert "escalation level 1" in breach.body


def test_preferences_decide_in_app_and_e_mail_and_are_audited(env):
    _with_emails(env)
    tech = env.actor("tech")
    assert notices.preferences(env.session, tech.user_id)["work_assigned"] == {"in_app": True, "email": True}
    notices.set_preferences(env.session, {"work_assigned": {"in_app": False, "email": False}}, actor=tech,
                            clock=env.clock)
    order = open_order(env)
    _assign(env, order)
    assert notices.unread_count(env.session, actor=tech) == 0
    assert notices.list_notices(env.session, actor=tech).items == []
    assert env.session.scalars(select(NoticeEmail).where(NoticeEmail.to_addr == "tech@hospital.example")).all() == []
    # The manager keeps the defaults: a new request in the app only, no e-mail.
    assert notices.unread_count(env.session, actor=env.actor("manager")) == 1
    assert env.session.scalars(select(NoticeEmail)).all() == []
    audit = env.session.scalars(select(AuditLog).where(AuditLog.action == "notice.preferences")).one()
    assert json.loads(audit.after_json) == {"work_assigned": {"in_app": False, "email": False}}
    with pytest.raises(InvalidInput, match="event: unknown event 'nope'"):
        notices.set_preferences(env.session, {"nope": {"email": True}}, actor=tech, clock=env.clock)
    with pytest.raises(InvalidInput, match="work_assigned.email: must be true or false"):
        notices.set_preferences(env.session, {"work_assigned": {"email": "yes"}}, actor=tech, clock=env.clock)


def test_the_hook_tells_roles_of_a_department_once_per_key(env):
    icu = users.find_user(env.session, "nurse").department_id
    first = notices.announce(env.session, "low_stock", subject="Gloves below minimum", key="stock:gloves:1",
                             clock=env.clock, roles=("manager", "technician"), department_id=icu)
    again = notices.announce(env.session, "low_stock", subject="Gloves below minimum", key="stock:gloves:1",
                             clock=env.clock, roles=("manager", "technician"), department_id=icu)
    told = {n.user_id for n in first}
    # Unscoped manager and technician count for every department; the pharmacy technician does not.
    assert told == {env.user_id("manager"), env.user_id("tech")} and again == []
    with pytest.raises(InvalidInput, match="event: unknown event"):
        notices.announce(env.session, "party", subject="x", key="k", clock=env.clock, users=(1,))


def test_e_mails_go_to_each_person_with_link_and_local_time_and_retry_with_backoff(env, smtp_server):
    _with_emails(env)
    for site in env.session.scalars(select(Site)):
        site.timezone = "Africa/Nairobi"
    order = open_order(env, priority="medium")
    _assign(env, order)
    env.clock.advance(19 * H)
    escalate_overdue(env.session, env.clock)
    env.clock.advance(6 * H)
    escalate_overdue(env.session, env.clock)
    env.session.commit()
    server = EmailNotifier("mail", host=smtp_server.host, port=smtp_server.port, sender="wardlink@hospital.example",
                           to=[], timeout_s=5)
    mailer = NoticeMailer(env.engine, server, public_url=PUBLIC, site_name="Riverside", clock=env.clock,
                          retry_initial_s=60, retry_max_s=600, max_attempts=3)
    report = mailer.run_pending()
    assert (report.sent, report.retried, report.failed) == (4, 0, 0)
    by_to: dict[str, list[str]] = {}
    for msg in smtp_server.messages:
        by_to.setdefault(msg["To"], []).append(msg["Subject"])
    assert sorted(by_to) == ["manager@hospital.example", "tech@hospital.example"]
    assert [s.split(":")[0].strip() for s in by_to["tech@hospital.example"]] == [
        "[Riverside] Assigned to you", "[Riverside] Response time running out", "[Riverside] Escalated"]
    assert by_to["manager@hospital.example"] == [
        f"[Riverside] Escalated: response time exceeded on {order.code} {order.title}"]
    body = smtp_server.messages[0].get_content()
    assert f"Open: {PUBLIC}/work-orders/{order.id}" in body
    local = order.response_due_at.astimezone(ZoneInfo("Africa/Nairobi"))
    assert f"Response due: {local:%Y-%m-%d %H:%M} EAT" in body  # the site's time zone
    assert mailer.run_pending().sent == 0  # each e-mail once
    admin = env.actor("admin")
    env.session.expire_all()
    assert mail.counts(env.session, actor=admin) == {"pending": 0, "sent": 4, "failed": 0}
    with pytest.raises(PermissionDenied):
        mail.counts(env.session, actor=env.actor("manager"))

    # The server goes away: the next e-mail is retried after the backoff, then sent.
    smtp_server.stop()
    notices.announce(env.session, "work_assigned", subject="Another job", key="test:again", clock=env.clock,
                     users=(env.user_id("tech"),))
    env.session.commit()
    report = mailer.run_pending()
    assert (report.sent, report.retried) == (0, 1)
    row = env.session.scalars(select(NoticeEmail).where(NoticeEmail.state == "pending")).one()
    env.session.refresh(row)
    assert row.attempts == 1 and row.last_error
    assert row.next_attempt_at == utc_now(env.clock) + timedelta(seconds=60)
    env.session.rollback()
    smtp_server.start()
    assert mailer.run_pending().sent == 0  # not due yet
    env.clock.advance(61)
    assert mailer.run_pending().sent == 1
    assert smtp_server.messages[-1]["Subject"] == "[Riverside] Another job"


def test_the_hub_sends_notice_e_mails_through_the_named_notifier_and_refuses_an_unknown_one(
        env, smtp_server, tmp_path):
    from relational_support import hub_config

    from wardlink.hub.runtime import rules_runtime

    rules = tmp_path / "rules.toml"
    rules.write_text(f'[notifiers.mail]\ntype = "email"\nhost = "{smtp_server.host}"\nport = {smtp_server.port}\n'
                     'security = "none"\nsender = "wardlink@hospital.example"\nto = ["biomed@hospital.example"]\n')
    _with_emails(env)
    _assign(env, open_order(env))
    env.session.commit()
    url = env.engine.url.render_as_string(hide_password=False)
    wrong = hub_config(tmp_path, database_url=url, rules_file=str(rules), notice_email="nope")
    with pytest.raises(ConfigError, match="notice_email: no e-mail notifier named 'nope'"):
        rules_runtime(wrong, env.engine, env.clock, client_id="notices-test")
    config = hub_config(tmp_path, database_url=url, rules_file=str(rules), notice_email="mail",
                        public_url=PUBLIC)
    runtime = rules_runtime(config, env.engine, env.clock, client_id="notices-test")
    try:
        smtp_server.wait_for(1, 20)
    finally:
        runtime.close()
    [msg] = smtp_server.messages
    assert msg["To"] == "tech@hospital.example" and msg["Subject"].startswith("[Wardlink] Assigned to you: ")
    assert f"{PUBLIC}/work-orders/" in msg.get_content()
