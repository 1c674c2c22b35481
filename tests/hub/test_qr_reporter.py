"""The QR reporter hears back, end to end on SQLite and PostgreSQL with a real SMTP server
(aiosmtpd): someone without an account reports a fault on the label's page with an e-mail
address; the order is assigned, worked and closed; every status change reaches the address
through the notice outbox, in the site's time zone, saying only the equipment, the new status,
the time and the reference: no technician's or manager's name, no notes, no link."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from relational_support import clock, csrf_from, password, web
from sqlalchemy import func, select, update

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import NoticeEmail, Site, WorkOrder
from wardlink.hub.notify.notices import NoticeMailer
from wardlink.hub.notify.smtp import EmailNotifier
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users

__all__ = ["clock", "web"]
REPORTER = "jo.reporter@home.example"
PUBLIC = "https://wardlink.hospital.example"
NAIROBI = ZoneInfo("Africa/Nairobi")
NOTE = "Compressor relay replaced, alarm silent for 2 h"


def _report(client, **fields):
    page = client.get("/a/VF-0001")
    return client.post("/a/VF-0001", data={"description": "Alarm beeping all night, display blank",
                                           "name": "Nurse Joy", "csrf_token": csrf_from(page.text), **fields})


def _step(web, order_id: int, to: str, who: str, **payload) -> None:
    with session_scope(web.engine) as s:
        actor = Actor.for_user(users.find_user(s, who))
        workorders.transition(s, order_id, to, payload, actor=actor, clock=web.clock)


def _statuses(messages) -> list[str]:
    return [re.search(r"^Status: (.+?)\r?$", m.get_content(), re.M).group(1) for m in messages]


def test_the_reporter_hears_of_each_status_change_and_nothing_else(web, smtp_server):
    with session_scope(web.engine) as s:
        s.execute(update(Site).values(timezone="Africa/Nairobi"))
    client = web.app.test_client()
    refused = _report(client, email="jo at home")
    assert refused.status_code == 400 and "email: must be an e-mail address" in refused.text
    assert 'value="jo at home"' in refused.text  # what was typed is kept
    with session_scope(web.engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.source == "qr")) == 0
    sent = _report(client, email=f" {REPORTER} ")
    assert sent.status_code == 200, sent.text
    assert f"We will e-mail <strong>{REPORTER}</strong>" in sent.text
    reference = re.search(r"<strong data-reference>([^<]+)</strong>", sent.text).group(1)
    with session_scope(web.engine, readonly=True) as s:
        order = s.scalars(select(WorkOrder).where(WorkOrder.code == reference)).one()
        order_id, asset_name = order.id, order.asset.name
        assert order.requester_email == REPORTER
        tech_id = users.find_user(s, "tech").id

    server = EmailNotifier("mail", host=smtp_server.host, port=smtp_server.port,
                           sender="wardlink@hospital.example", to=[], timeout_s=5)
    mailer = NoticeMailer(web.engine, server, public_url=PUBLIC, site_name="Riverside", clock=web.clock)
    assert mailer.run_pending().sent == 0  # a report alone changes no status

    _step(web, order_id, "assigned", "manager", assignee_id=tech_id, note="Tech to check the relay")
    assigned_at = web.clock.now()
    mailer.run_pending()
    mine = [m for m in smtp_server.messages if m["To"] == REPORTER]
    assert _statuses(mine) == ["Assigned"]

    web.clock.advance(3600)
    _step(web, order_id, "in_progress", "tech")
    _step(web, order_id, "completed", "tech", resolution_category="repaired", resolution_note=NOTE)
    web.clock.advance(600)
    _step(web, order_id, "closed", "manager", password=password("manager"), comment="Checked on the ward")
    mailer.run_pending()
    mine = [m for m in smtp_server.messages if m["To"] == REPORTER]
    assert _statuses(mine) == ["Assigned", "In progress", "Completed", "Closed"]

    first = mine[0].get_content()
    when = f"{datetime.fromtimestamp(assigned_at, NAIROBI):%Y-%m-%d %H:%M} EAT"
    assert f"Time: {when}" in first  # the site's time zone
    assert f"Reference: {reference}" in first and f"Equipment: VF-0001 {asset_name}" in first
    assert mine[0]["Subject"] == f"[Riverside] Assigned: your report {reference} about VF-0001 {asset_name}"
    with session_scope(web.engine, readonly=True) as s:
        names = {u.username for u in users.list_users(s, actor=None)} | {
            u.display_name for u in users.list_users(s, actor=None) if u.display_name}
    for message in mine:
        text = message.as_string()
        for leak in (*sorted(names), NOTE, "Tech to check the relay", "Checked on the ward", "Alarm beeping",
                     "Nurse Joy", "/work-orders", "account page"):
            assert leak not in text, (leak, message["Subject"])
        assert "replies are not read" in message.get_content()
    with session_scope(web.engine, readonly=True) as s:
        states = s.scalars(select(NoticeEmail.state).where(NoticeEmail.to_addr == REPORTER)).all()
    assert states == ["sent"] * 4
    assert mailer.run_pending().sent == 0  # each once


def test_a_report_without_an_address_sends_nothing_and_staff_see_the_address(web):
    client = web.app.test_client()
    assert _report(client).status_code == 200
    assert _report(client, email="ward7@hospital.example").status_code == 200
    with session_scope(web.engine) as s:
        silent, told = s.scalars(select(WorkOrder).where(WorkOrder.source == "qr").order_by(WorkOrder.id)).all()
        assert silent.requester_email == ""
        tech = users.find_user(s, "tech").id
        for order in (silent, told):
            workorders.reassign(s, order.id, tech, actor=Actor.for_user(users.find_user(s, "manager")),
                                clock=web.clock)
        told_id = told.id
        assert s.scalars(select(NoticeEmail.to_addr).where(NoticeEmail.notice_id.is_(None))).all() == [
            "ward7@hospital.example"]
    page = web.client("manager").get(f"/work-orders/{told_id}").text
    assert 'id="reporter-email">ward7@hospital.example<' in page
