"""The stored monthly KPI reports on the reports page and under /api/v1/reports/monthly: managers
and administrators list and download them, a department's manager only that department's,
other roles not at all; every download is in the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, time

from relational_support import clock, login, web
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, MonthlyReport
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people import org, users
from wardlink.hub.services.reports import monthly
from wardlink.clock import ManualClock

ICU_PASSWORD = "icu-manager-long-password-1"


def _reports(web) -> dict[str, MonthlyReport]:
    """Make February's reports as the scheduler does on 1 March, and an ICU-only manager."""
    march = ManualClock(datetime(2026, 3, 1, 7, tzinfo=UTC).timestamp())
    with session_scope(web.engine) as s:
        outcome = monthly.make_due(s, clock=march, at=time(7, 0), site_name="Riverside")
        assert outcome["made"] >= 2
        icu = next(d for d in org.list_departments(s) if d.code == "ICU")
        users.create_user(s, username="icumgr", role="manager", password=ICU_PASSWORD, department_id=icu.id,
                          actor=None, clock=web.clock)
    with session_scope(web.engine) as s:
        rows = s.scalars(select(MonthlyReport)).all()
        for row in rows:
            s.expunge(row)
    return {r.filename: r for r in rows}


def _client(web, username: str, secret: str | None = None):
    c = web.app.test_client()
    assert login(c, username, secret).status_code == 302
    return c


def test_managers_see_the_history_on_the_reports_page_and_download_the_pdf(web):
    stored = _reports(web)
    whole, icu = stored["kpis-2026-02-all.pdf"], stored["kpis-2026-02-ICU.pdf"]
    manager = web.client("manager")
    page = manager.get("/reports")
    assert page.status_code == 200 and 'id="monthly-reports"' in page.text
    for row in stored.values():
        assert f'href="/reports/monthly/{row.id}.pdf"' in page.text
    assert "February 2026" in page.text and "All departments" in page.text
    pdf = manager.get(f"/reports/monthly/{whole.id}.pdf")
    assert pdf.status_code == 200 and pdf.data == whole.content and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"] == "attachment; filename*=UTF-8''kpis-2026-02-all.pdf"
    # The department's manager sees the ICU report only.
    icu_manager = _client(web, "icumgr", ICU_PASSWORD)
    mine = icu_manager.get("/reports")
    assert f'/reports/monthly/{icu.id}.pdf' in mine.text and f'/reports/monthly/{whole.id}.pdf' not in mine.text
    assert icu_manager.get(f"/reports/monthly/{whole.id}.pdf").status_code == 403
    assert icu_manager.get(f"/reports/monthly/{icu.id}.pdf").data == icu.content
    # A viewer reads the KPIs but not the stored reports; a technician neither.
    viewer = web.client("viewer")
    assert 'id="monthly-reports"' not in viewer.get("/reports").text
    assert viewer.get(f"/reports/monthly/{whole.id}.pdf").status_code == 403
    assert web.client("tech").get(f"/reports/monthly/{whole.id}.pdf").status_code == 403
    assert manager.get("/reports/monthly/999999.pdf").status_code == 404
    with session_scope(web.engine) as s:
        downloads = s.scalars(select(AuditLog).where(AuditLog.action == "report.download")
                              .order_by(AuditLog.id)).all()
        assert [(a.actor, a.entity_id) for a in downloads] == [
            ("manager", str(whole.id)), ("icumgr", str(icu.id))]


def _token(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="api", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def test_the_api_lists_and_sends_the_same_reports_with_the_same_scope(web):
    stored = _reports(web)
    whole, icu = stored["kpis-2026-02-all.pdf"], stored["kpis-2026-02-ICU.pdf"]
    client = web.app.test_client()
    admin = _token(web, "admin")
    listing = client.get("/api/v1/reports/monthly", headers=admin)
    assert listing.status_code == 200
    items = listing.json["items"]
    assert items[0]["filename"] == "kpis-2026-02-all.pdf" and items[0]["department"] is None
    assert {i["filename"] for i in items} == set(stored) and listing.json["total"] == len(stored)
    assert items[0]["created_at"] == "2026-03-01T07:00:00.000+00:00" and items[0]["start"] == "2026-02-01"
    one = client.get(items[0]["url"], headers=admin)
    assert one.status_code == 200 and one.data == whole.content
    only_icu = client.get(f"/api/v1/reports/monthly?department={icu.department_id}", headers=admin)
    assert [i["id"] for i in only_icu.json["items"]] == [icu.id]
    # The ICU's manager: the ICU report only, and not the hospital-wide one.
    icu_manager = _token(web, "icumgr")
    mine = client.get("/api/v1/reports/monthly", headers=icu_manager)
    assert [(i["id"], i["department"]["code"]) for i in mine.json["items"]] == [(icu.id, "ICU")]
    assert client.get(f"/api/v1/reports/monthly/{whole.id}", headers=icu_manager).status_code == 403
    assert client.get("/api/v1/reports/monthly?department=x", headers=admin).status_code == 400
    assert client.get("/api/v1/reports/monthly", headers=_token(web, "tech")).status_code == 403
    assert client.get("/api/v1/reports/monthly/999999", headers=admin).status_code == 404
