"""Notices in the web UI and the JSON API: the bell count in the header and its polled
fragment, the inbox (mark read, mark all read, open the thing), preferences on the account
page, the administrators' e-mail page, and the same operations under /api/v1/notices."""

from __future__ import annotations

import json

from relational_support import actor, clock, csrf_from, web
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, Notice, NoticeEmail
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users


def _order_for_tech(web) -> int:
    with session_scope(web.engine) as s:
        order = workorders.request_work(s, {"title": "Fridge alarm sounding", "asset_tag": "VF-0001"},
                                        actor=actor(s, "nurse"), clock=web.clock)
        workorders.reassign(s, order.id, users.find_user(s, "tech").id, actor=actor(s, "manager"),
                            clock=web.clock)
        return order.id


def test_the_bell_counts_unread_notices_and_the_inbox_marks_them_read(web):
    tech = web.client("tech")
    page = tech.get("/account")
    assert 'data-testid="bell-count">0<' in page.text
    order_id = _order_for_tech(web)
    bell = tech.get("/notices/bell")
    assert bell.status_code == 200 and 'data-testid="bell-count">1<' in bell.text
    assert 'hx-trigger="every 10s"' in bell.text
    inbox = tech.get("/notices")
    assert "Assigned to you: WO-" in inbox.text and "(1 unread)" in inbox.text
    with session_scope(web.engine) as s:
        notice_id = s.scalar(select(Notice.id).where(Notice.user_id == users.find_user(s, "tech").id))
    opened = tech.post(f"/notices/{notice_id}/read", data={"csrf_token": csrf_from(inbox.text), "open": "1"})
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/work-orders/{order_id}")
    assert 'data-testid="bell-count">0<' in tech.get("/notices/bell").text
    # Someone else's notice: not found; a POST without the CSRF token: refused.
    manager = web.client("manager")
    assert manager.post(f"/notices/{notice_id}/read",
                        data={"csrf_token": csrf_from(manager.get("/notices").text)}).status_code == 404
    assert tech.post("/notices/read-all").status_code in (400, 403)
    mpage = manager.get("/notices")
    assert "(1 unread)" in mpage.text
    assert manager.post("/notices/read-all", data={"csrf_token": csrf_from(mpage.text)}).status_code == 302
    assert "(0 unread)" in manager.get("/notices").text


def test_preferences_on_the_account_page_are_saved_and_audited(web):
    tech = web.client("tech")
    page = tech.get("/account")
    assert 'id="notice-preferences"' in page.text and 'name="work_assigned.email" checked' in page.text
    form = {"csrf_token": csrf_from(page.text)}
    form.update({f"{e}.{c}": "on" for e in ("work_opened", "sla_warning", "sla_breached") for c in ("in_app", "email")})
    saved = tech.post("/notices/preferences", data=form)
    assert saved.status_code == 302
    page = tech.get("/account")
    assert 'name="work_assigned.in_app">' in page.text and 'name="work_opened.email" checked' in page.text
    _order_for_tech(web)
    assert 'data-testid="bell-count">0<' in tech.get("/notices/bell").text
    with session_scope(web.engine) as s:
        row = s.scalars(select(AuditLog).where(AuditLog.action == "notice.preferences")).one()
        assert json.loads(row.after_json)["work_assigned"] == {"in_app": False, "email": False}


def test_the_api_lists_marks_and_sets_preferences_and_only_admins_see_e_mails(web):
    _order_for_tech(web)
    tech = web.client("tech")
    token = csrf_from(tech.get("/account").text)
    listed = tech.get("/api/v1/notices").get_json()
    assert listed["unread"] == 1 and listed["items"][0]["event"] == "work_assigned"
    notice_id = listed["items"][0]["id"]
    marked = tech.post(f"/api/v1/notices/{notice_id}/read", headers={"X-CSRF-Token": token})
    assert marked.status_code == 200 and marked.get_json()["read_at"] is not None
    assert tech.get("/api/v1/notices?unread=true").get_json()["items"] == []
    assert tech.post("/api/v1/notices/read-all", headers={"X-CSRF-Token": token}).get_json() == {"marked": 0}
    put = tech.put("/api/v1/notices/preferences", json={"sla_warning": {"email": False}},
                   headers={"X-CSRF-Token": token})
    assert put.status_code == 200 and put.get_json()["sla_warning"] == {"in_app": True, "email": False}
    bad = tech.put("/api/v1/notices/preferences", json={"sla_warning": {"email": "no"}},
                   headers={"X-CSRF-Token": token})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_input"
    assert tech.get("/api/v1/notices/emails").status_code == 403
    assert tech.get("/notices/emails").status_code == 403
    admin = web.client("admin")
    emails = admin.get("/api/v1/notices/emails").get_json()
    assert set(emails["counts"]) == {"pending", "sent", "failed"}
    page = admin.get("/notices/emails")
    assert page.status_code == 200 and 'data-testid="email-counts"' in page.text


def _failed_emails(web, smtp_server, count: int) -> list[int]:
    """Queue ``count`` e-mails to the technician and have a real mailer fail them (the server
    refuses the address for good); return their ids."""
    from wardlink.hub.notify.notices import NoticeMailer
    from wardlink.hub.notify.smtp import EmailNotifier
    from wardlink.hub.services.notices import core as notices

    with session_scope(web.engine) as s:
        tech = users.find_user(s, "tech")
        tech.email = "tech@hospital.example"
        ids = [notices.announce(s, "low_stock", subject=f"Gloves {n}", key=f"web-retry:{n}", clock=web.clock,
                                users=(tech.id,))[0].id for n in range(count)]
    server = EmailNotifier("mail", host=smtp_server.host, port=smtp_server.port, sender="wardlink@hospital.example",
                           to=[])
    mailer = NoticeMailer(web.engine, server, public_url="https://wardlink.hospital.example", clock=web.clock)
    smtp_server.before_accept = lambda _m: "550 5.1.1 Mailbox unavailable"
    assert mailer.run_pending().failed == count
    smtp_server.before_accept = None
    with session_scope(web.engine, readonly=True) as s:
        return list(s.scalars(select(NoticeEmail.id).where(NoticeEmail.notice_id.in_(ids)).order_by(NoticeEmail.id)))


def test_admins_see_failed_e_mails_with_their_error_and_send_them_again_by_page_and_api(web, smtp_server):
    first, second, third = _failed_emails(web, smtp_server, 3)
    admin = web.client("admin")
    page = admin.get("/notices/emails?state=failed")
    assert "3 failed" in page.text and "550 5.1.1 Mailbox unavailable" in page.text
    assert f'aria-label="Send e-mail {first} again"' in page.text and "Send all 3 failed again" in page.text
    token = csrf_from(page.text)
    again = admin.post(f"/notices/emails/{first}/retry", data={"csrf_token": token, "state": "failed"})
    assert again.status_code == 302 and again.headers["Location"].endswith("/notices/emails?state=failed")
    assert admin.post(f"/notices/emails/{first}/retry", data={"csrf_token": token}).status_code == 400  # pending now
    assert admin.post(f"/notices/emails/{second}/retry").status_code in (400, 403)  # no CSRF token
    tech = web.client("tech")
    tech_token = csrf_from(tech.get("/account").text)
    assert tech.post(f"/notices/emails/{second}/retry", data={"csrf_token": tech_token}).status_code == 403
    assert tech.post("/api/v1/notices/emails/retry-failed", headers={"X-CSRF-Token": tech_token}).status_code == 403
    api = admin.post(f"/api/v1/notices/emails/{second}/retry", headers={"X-CSRF-Token": token})
    assert api.status_code == 200 and api.get_json() == {"queued": 1}
    assert admin.post("/api/v1/notices/emails/999999/retry", headers={"X-CSRF-Token": token}).status_code == 404
    rest = admin.post("/api/v1/notices/emails/retry-failed", headers={"X-CSRF-Token": token})
    assert rest.get_json() == {"queued": 1}
    listed = admin.get("/api/v1/notices/emails?state=pending").get_json()
    assert sorted(e["id"] for e in listed["items"]) == [first, second, third]
    assert {(e["attempts"], e["last_error"][:3]) for e in listed["items"]} == {(0, "SMT")}  # error kept till next try
    with session_scope(web.engine, readonly=True) as s:
        audited = [(r.entity_id, json.loads(r.before_json)["emails"])
                   for r in s.scalars(select(AuditLog).where(AuditLog.action == "notice_email.retry")
                                      .order_by(AuditLog.seq))]
    assert audited == [(str(first), 1), (str(second), 1), ("failed", 1)]
