"""The delivery of notice e-mails in Chromium, on a desktop and a 390x844 phone: an administrator
goes from the inbox to the e-mail page, sees the failed e-mails with the mail server's refusal,
sends one again and then all the others, and the mailer delivers them through a real SMTP
server (aiosmtpd). Screenshots of each step go with the test output."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_ui_browser import DESKTOP, PHONE, Session

from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import NoticeEmail
from wardlink.hub.notify.notices import NoticeMailer
from wardlink.hub.notify.smtp import EmailNotifier
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.people import users

pytestmark = pytest.mark.timeout(180)


def _mailer(served, smtp_server) -> NoticeMailer:
    server = EmailNotifier("mail", host=smtp_server.host, port=smtp_server.port, sender="wardlink@hospital.example",
                           to=[])
    return NoticeMailer(served.engine, server, public_url=served.base, clock=served.clock)


def _fail_two(served, smtp_server, device: str) -> list[int]:
    """Queue two e-mails to the technician and have the mailer fail them; return their ids."""
    with session_scope(served.engine) as s:
        tech = users.find_user(s, "tech")
        tech.email = "tech@hospital.example"
        ids = [notices.announce(s, "low_stock", subject=f"Gloves below minimum ({device} {n})",
                                key=f"browser-retry:{device}:{n}", clock=served.clock, users=(tech.id,))[0].id
               for n in range(2)]
    smtp_server.before_accept = lambda _m: "550 5.1.1 Mailbox unavailable"
    assert _mailer(served, smtp_server).run_pending().failed == 2
    smtp_server.before_accept = None
    with session_scope(served.engine, readonly=True) as s:
        return list(s.scalars(select(NoticeEmail.id).where(NoticeEmail.notice_id.in_(ids)).order_by(NoticeEmail.id)))


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_an_admin_sees_failed_e_mails_and_sends_them_again(served, chromium, smtp_server, artifacts_dir, device):
    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    first, second = _fail_two(served, smtp_server, device)
    me = Session(chromium, served, **(PHONE if device == "phone" else DESKTOP)).sign_in("admin")
    page = me.open("/notices")
    page.get_by_role("link", name="E-mail delivery").click()
    page.wait_for_url(re.compile(r".*/notices/emails$"))
    page.get_by_role("link", name="2 failed").click()
    page.wait_for_url(re.compile(r".*/notices/emails\?state=failed$"))
    failed = page.locator("tr[data-state=failed]")
    assert failed.count() == 2
    assert "550 5.1.1 Mailbox unavailable" in failed.first.inner_text()
    page.screenshot(path=shots / f"notice-emails-{device}-1-failed.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name=f"Send e-mail {first} again").click()
    assert f"E-mail {first} queued to be sent again." in page.locator(".flash").inner_text()
    assert [int(x) for x in failed.evaluate_all("rows => rows.map(r => r.dataset.emailId)")] == [second]
    with page.expect_navigation():
        page.get_by_role("button", name="Send all 1 failed again").click()
    assert "1 failed e-mail(s) queued to be sent again." in page.locator(".flash").inner_text()
    assert failed.count() == 0 and "0 failed" in page.get_by_test_id("email-counts").inner_text()
    page.screenshot(path=shots / f"notice-emails-{device}-2-queued.png", full_page=True)
    assert _mailer(served, smtp_server).run_pending().sent == 2
    page = me.open("/notices/emails?state=sent")
    sent = [int(x) for x in page.locator("tr[data-state=sent]").evaluate_all("rows => rows.map(r => r.dataset.emailId)")]
    assert {first, second} <= set(sent)
    assert sorted(int(m["X-Wardlink-Notice-Email"]) for m in smtp_server.messages) == [first, second]
    page.screenshot(path=shots / f"notice-emails-{device}-3-sent.png", full_page=True)
    me.close()
