"""Escalation e-mails end to end on SQLite and PostgreSQL: the scheduler's rounds on an injected
clock, the deliverers the hub runs (the notice mailer, the alert dispatcher) and a real SMTP
server (aiosmtpd), at a site in Europe/Berlin.

- A work order: the assignee's e-mail on assignment; at 75 % of the response time a warning to
  the assignee; past it the breach to the assignee and the managers of the order's department
  (escalation), never to a manager of another department. Nothing before a threshold (two
  rounds just before it), each exactly once after it (two rounds and more), times in the site's
  zone.
- An alert: a rule's escalation step whose target is an e-mail notifier is sent once the alert
  has been unacknowledged for ``after_s``, and never for an alert acknowledged before that.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from relational_support import actor, clock, engine
from rules_support import alerts, make_engine, point
from sqlalchemy import select
from workorder_support import env, open_order, pg_workorder_template

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Site
from wardlink.hub.notify.config import build_notifiers
from wardlink.hub.notify.dispatcher import Dispatcher
from wardlink.hub.notify.notices import NoticeMailer
from wardlink.hub.notify.smtp import EmailNotifier
from wardlink.hub.scheduler import JOBS, Scheduler
from wardlink.hub.services.alerts import records as alert_service
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import org, users

H = 3600
BERLIN = ZoneInfo("Europe/Berlin")
PUBLIC = "https://wardlink.hospital.example"


def _berlin(session) -> None:
    for site in session.scalars(select(Site)):
        site.timezone = "Europe/Berlin"


def _local(moment: datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M %Z")


class Inbox:
    """The SMTP server's messages, read a round at a time."""

    def __init__(self, server) -> None:
        self.server = server
        self.seen = 0

    def new(self) -> list[EmailMessage]:
        """Return the messages received since the last call."""
        fresh = self.server.messages[self.seen:]
        self.seen = len(self.server.messages)
        return fresh


def subject(message: EmailMessage) -> str:
    """Return the subject as a mail client shows it (the standard library folds a long one before
    its first word, and its parser keeps the space the fold leaves)."""
    return str(message["Subject"]).strip()


def _jobs(*names: str):
    return tuple(j for j in JOBS if j.name in names)


# ------------------------------------------------------------------ work orders


def _people(env) -> dict[str, str]:
    """Give the seeded technician and hospital-wide manager addresses; add a manager of the ICU and
    one of the pharmacy. Return username -> address."""
    departments = {d.code: d.id for d in org.list_departments(env.session)}
    for name in ("tech", "manager"):
        users.find_user(env.session, name).email = f"{name}@hospital.example"
    for name, dept in (("icuboss", "ICU"), ("pharmboss", "PHARM")):
        users.create_user(env.session, username=name, role="manager", password=f"{name}-long-password-1",
                          email=f"{name}@hospital.example", department_id=departments[dept], actor=None,
                          clock=env.clock)
    env.session.flush()
    return {name: f"{name}@hospital.example" for name in ("tech", "manager", "icuboss", "pharmboss")}


def test_sla_warning_and_breach_e_mails_escalate_to_the_department_manager_once(env, smtp_server):
    address = _people(env)
    _berlin(env.session)
    order = open_order(env, priority="high")  # an ICU fridge; response 4 h, resolution 24 h
    workorders.reassign(env.session, order.id, env.user_id("tech"), actor=env.actor("manager"), clock=env.clock)
    opened, response_due = order.created_at, order.response_due_at
    code, title, order_id = order.code, order.title, order.id
    assert response_due - opened == timedelta(hours=4)
    env.session.commit()

    server = EmailNotifier("mail", host=smtp_server.host, port=smtp_server.port, sender="wardlink@hospital.example",
                           to=[], timeout_s=5)
    mailer = NoticeMailer(env.engine, server, public_url=PUBLIC, site_name="Riverside", clock=env.clock)
    scheduler = Scheduler(env.engine, clock=env.clock, holder="north", jobs=_jobs("workorder_sla"))
    inbox = Inbox(smtp_server)

    def rounds_at(*offsets_s: float) -> list[EmailMessage]:
        """Run a scheduler round and a mailer pass at each time (seconds after the order opened)."""
        for offset in offsets_s:
            env.clock.advance((opened + timedelta(seconds=offset) - datetime.fromtimestamp(
                env.clock.now(), opened.tzinfo)).total_seconds())
            report = scheduler.run_once()
            assert report.leader and set(report.ran) == {"workorder_sla"} and not report.failed
            mailer.run_pending()
        return inbox.new()

    # The assignment, the only e-mail at once (a new request tells managers in the app only).
    [assigned] = rounds_at(0)
    assert (assigned["To"], subject(assigned)) == (address["tech"], f"[Riverside] Assigned to you: {code} {title}")
    assert f"Response due: {_local(response_due)}" in assigned.get_content()

    warn_at = 0.75 * 4 * H  # 3 h: 75 % of the response time
    assert rounds_at(warn_at - 61, warn_at - 1) == []  # just before the threshold: nothing
    [warning] = rounds_at(warn_at + 59, warn_at + 119, warn_at + 179)
    assert warning["To"] == address["tech"]
    assert subject(warning) == f"[Riverside] Response time running out: {code} {title}"
    body = warning.get_content()
    assert f"it is due {_local(response_due)}." in body and "CET" in body
    assert f"Open: {PUBLIC}/work-orders/{order_id}" in body

    breach_at = 4 * H
    assert rounds_at(breach_at - 61, breach_at - 1) == []  # due, not yet past it
    breaches = rounds_at(breach_at + 59, breach_at + 119, breach_at + 179)
    escalated = f"[Riverside] Escalated: response time exceeded on {code} {title}"
    # The assignee, the hospital-wide manager and the ICU's manager; never the pharmacy's manager.
    assert sorted(m["To"] for m in breaches) == sorted([address["tech"], address["manager"], address["icuboss"]])
    assert {subject(m) for m in breaches} == {escalated}
    for message in breaches:
        text = message.get_content()
        assert f"The response time ran out at {_local(response_due)}; escalation level 1." in text
        assert "Department: Intensive Care Unit" in text
        assert f"Open: {PUBLIC}/work-orders/{order_id}" in text
    assert rounds_at(breach_at + 239, breach_at + 3600) == []  # once
    assert address["pharmboss"] not in {m["To"] for m in smtp_server.messages}
    rows = [m["X-Wardlink-Notice-Email"] for m in smtp_server.messages]
    assert len(rows) == len(set(rows)) == 5  # assignment, warning, three breaches: no row twice
    mailer.close()
    scheduler.close()


# ------------------------------------------------------------------ alerts


NOTIFIERS = {name: {"type": "email", "host": "127.0.0.1", "port": 0, "security": "none",
                    "sender": "wardlink@hospital.example", "to": [f"{name}@hospital.example"]}
             for name in ("ops", "oncall")}
RULE = {"name": "cold-chain-high", "kind": "threshold", "severity": "warning", "above": 8.0,
        "match": {"metric": "temperature"}, "notify": ["ops"],
        "escalate": [{"after_s": 600, "notify": ["oncall"]}]}


def test_an_unacknowledged_alert_is_e_mailed_to_its_escalation_target_at_after_s_and_an_acknowledged_one_never(
        engine, clock, smtp_server):
    notifiers = {name: {**spec, "port": smtp_server.port} for name, spec in NOTIFIERS.items()}
    with session_scope(engine) as s:
        _berlin(s)
    dispatcher = Dispatcher(engine, build_notifiers(notifiers, clock=clock), clock=clock)
    rules = make_engine(engine, clock, [RULE], notifiers=notifiers, dispatcher=dispatcher)
    scheduler = Scheduler(engine, clock=clock, holder="north", rules=rules, jobs=_jobs("rules_tick"))
    inbox = Inbox(smtp_server)
    start = clock.now()

    def rounds_at(*offsets_s: float) -> list[EmailMessage]:
        """Run a scheduler round (the rules tick delivers the outbox) at each time after the start."""
        for offset in offsets_s:
            clock.advance(start + offset - clock.now())
            report = scheduler.run_once()
            assert report.ran["rules_tick"]["errors"] == 0 and not report.failed
        return inbox.new()

    now_ms = round(clock.now() * 1000)
    rules.on_points([point("fridge1.temp", now_ms, 9.4), point("room.temp", now_ms, 9.1)])
    by_asset = {a.asset.tag: a for a, _ in alerts(engine)}
    fridge, room = by_asset["VF-0001"], by_asset["ENV-ICU-1"]
    opened = rounds_at(0)
    assert sorted((m["To"], m["X-Wardlink-Event"], m["X-Wardlink-Alert"]) for m in opened) == sorted(
        [("ops@hospital.example", "opened", str(fridge.id)), ("ops@hospital.example", "opened", str(room.id))])
    with session_scope(engine) as s:  # the room's alert is acknowledged before its step is due
        alert_service.acknowledge(s, room.id, note="Air conditioning reset", actor=actor(s, "tech"), clock=clock)

    assert rounds_at(594, 599) == []  # 1 s before after_s: no escalation yet
    [escalated] = rounds_at(604, 609, 1200)
    assert escalated["To"] == "oncall@hospital.example" and smtp_server.envelopes[-1].rcpt_tos == [escalated["To"]]
    assert (escalated["X-Wardlink-Event"], escalated["X-Wardlink-Alert"]) == ("escalated", str(fridge.id))
    assert subject(escalated).startswith("[Wardlink] Escalated, unacknowledged (WARNING): VF-0001")
    text = escalated.get_content()
    opened_local = fridge.opened_at.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M:%S %Z")
    facts = {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}
    assert facts["Escalation level"] == "1" and facts["Opened"] == opened_local  # the site's time
    assert rounds_at(3600, 7200) == []  # the step fires once; the acknowledged alert never escalates
    [(room_now, room_lc)] = [(a, lc) for a, lc in alerts(engine) if a.id == room.id]
    assert room_now.state == "acknowledged" and room_lc.escalation_level == 0
    scheduler.close()
    dispatcher.close()
