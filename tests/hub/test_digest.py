"""The daily digest and the monthly KPI report, end to end on SQLite and PostgreSQL with an
injected clock and a real SMTP server (aiosmtpd): the digest goes out at 07:00 local time in
Europe/Berlin on both sides of the March DST change (06:00Z, then 05:00Z) and not before; two
schedulers ticking the same clock send one digest per person and make one monthly report, and so
do two jobs racing past the leader lock; the report's PDF (read back with pdftotext) shows the
KPI service's figures for the month."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from workorder_support import env, open_order, pg_workorder_template

from wardlink.hub.db.models import AuditLog, MonthlyReport, Notice, NoticeEmail, ScheduledRun, Site, WorkOrder
from wardlink.hub.notify.notices import NoticeMailer
from wardlink.hub.notify.smtp import EmailNotifier
from wardlink.hub.scheduler import JOBS, Scheduler
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.notices import digest
from wardlink.hub.services.people import users
from wardlink.hub.services.reports import export, kpis
from wardlink.hub.services.reports.pdf import PDF_COLUMNS, cell_text

PUBLIC = "https://wardlink.hospital.example"
CALENDAR_JOBS = [j for j in JOBS if j.name in ("daily_digest", "monthly_report")]


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _set_clock(env, moment: datetime) -> None:
    env.clock.advance(moment.timestamp() - env.clock.now())


def _berlin(env) -> None:
    for site in env.session.scalars(select(Site)):
        site.timezone = "Europe/Berlin"
    for name in ("tech", "manager", "nurse", "pharmtech"):
        users.find_user(env.session, name).email = f"{name}@hospital.example"
    env.session.flush()


def _order_due(env, due: datetime, assignee: str = "tech") -> WorkOrder:
    order = (open_order(env, kind="inspection", asset_tag="VF-0002") if assignee == "pharmtech"
             else open_order(env))
    workorders.reassign(env.session, order.id, env.user_id(assignee), actor=env.actor("manager"), clock=env.clock)
    order.due_at = due
    env.session.flush()
    return order


def _digests(env, username: str) -> list[Notice]:
    env.session.expire_all()
    return list(env.session.scalars(select(Notice).where(Notice.user_id == env.user_id(username),
                                                         Notice.event == "daily_digest").order_by(Notice.id)))


def _deliver(env, mailer: NoticeMailer):
    env.session.commit()
    return mailer.run_pending()


def _mailer(env, smtp_server) -> NoticeMailer:
    server = EmailNotifier("mail", host=smtp_server.host, port=smtp_server.port,
                           sender="wardlink@hospital.example", to=[], timeout_s=5)
    return NoticeMailer(env.engine, server, public_url=PUBLIC, site_name="Riverside", clock=env.clock,
                        retry_initial_s=60, retry_max_s=600, max_attempts=5)


def _schedulers(env, *names: str, jobs=CALENDAR_JOBS) -> list[Scheduler]:
    return [Scheduler(env.engine, clock=env.clock, holder=name, jobs=jobs, public_url=PUBLIC,
                      site_name="Riverside") for name in names]


DIGEST_ONLY = [j for j in JOBS if j.name == "daily_digest"]


def _tick(schedulers, env, until: datetime, step_s: float = 60.0) -> None:
    """Run every scheduler's round, then advance the clock, until ``until`` (included)."""
    env.session.commit()  # the test's own reads hold SQLite's write lock until their transaction ends
    while True:
        for s in schedulers:
            report = s.run_once()
            assert not report.failed, report.failed
        if env.clock.now() + step_s > until.timestamp():
            return
        env.clock.advance(step_s)


def test_the_digest_goes_out_at_seven_in_berlin_on_both_sides_of_the_dst_change(env, smtp_server):
    _set_clock(env, _utc(2026, 3, 27, 12))
    _berlin(env)
    order = _order_due(env, _utc(2026, 3, 28, 10))  # 11:00 CET on Saturday 28 March
    [north] = _schedulers(env, "north", jobs=DIGEST_ONLY)
    mailer = _mailer(env, smtp_server)
    assert _deliver(env, mailer).sent == 1  # the assignment
    smtp_server.messages.clear()

    # Saturday 28 March, CET (UTC+1): 07:00 local is 06:00Z.
    _set_clock(env, _utc(2026, 3, 28, 5, 50))
    _tick([north], env, _utc(2026, 3, 28, 5, 59))
    assert _digests(env, "tech") == []
    _tick([north], env, _utc(2026, 3, 28, 6, 0))
    [first] = _digests(env, "tech")
    assert first.created_at == _utc(2026, 3, 28, 6, 0) and first.key == "digest:2026-03-28"
    assert first.subject == "Daily digest 2026-03-28: 1 work orders due today"
    assert f"{order.code} {order.title}" in first.body and "due 2026-03-28 11:00 CET" in first.body
    assert f"{PUBLIC}/work-orders/{order.id}" in first.body
    # The manager and the staff have nothing to do today: empty digests are not sent.
    assert _digests(env, "manager") == [] and _digests(env, "nurse") == []
    assert _deliver(env, mailer).sent == 1
    [msg] = smtp_server.messages
    assert msg["To"] == "tech@hospital.example" and msg["Subject"] == f"[Riverside] {first.subject}"
    assert f"{PUBLIC}/work-orders/{order.id}" in msg.get_content()
    _tick([north], env, _utc(2026, 3, 28, 23, 0), step_s=3600)
    assert len(_digests(env, "tech")) == 1  # once that day

    # Sunday 29 March: the clocks went forward at 01:00Z; 07:00 CEST is 05:00Z.
    _set_clock(env, _utc(2026, 3, 29, 4, 50))
    _tick([north], env, _utc(2026, 3, 29, 4, 59))
    assert len(_digests(env, "tech")) == 1
    _tick([north], env, _utc(2026, 3, 29, 5, 0))
    second = _digests(env, "tech")[-1]
    assert second.created_at == _utc(2026, 3, 29, 5, 0) and second.key == "digest:2026-03-29"
    assert second.subject == "Daily digest 2026-03-29: 1 overdue work orders"
    assert "due 2026-03-28 11:00 CET" in second.body and "Europe/Berlin" in second.body
    assert _deliver(env, mailer).sent == 1
    runs = env.session.scalars(select(ScheduledRun).where(ScheduledRun.kind == "digest")
                               .order_by(ScheduledRun.id)).all()
    assert [(r.period, r.holder, r.summary["sent"]) for r in runs] == [
        ("2026-03-28@Europe/Berlin", "north", 1), ("2026-03-29@Europe/Berlin", "north", 1)]
    audits = env.session.scalars(select(AuditLog).where(AuditLog.action == "digest.send")).all()
    assert len(audits) == 2 and {a.actor for a in audits} == {"scheduler"}


def test_a_missed_send_time_sends_later_that_day_and_preferences_decide(env):
    _set_clock(env, _utc(2026, 3, 27, 12))
    _berlin(env)
    _order_due(env, _utc(2026, 3, 28, 10))
    _order_due(env, _utc(2026, 3, 28, 9), assignee="pharmtech")
    notices.set_preferences(env.session, {"daily_digest": {"email": False}}, actor=env.actor("pharmtech"),
                            clock=env.clock)
    env.session.commit()
    # The hub was down at 07:00; it comes back at 15:30 local and sends at once.
    _set_clock(env, _utc(2026, 3, 28, 14, 30))
    [south] = _schedulers(env, "south", jobs=DIGEST_ONLY)
    _tick([south], env, _utc(2026, 3, 28, 14, 30))
    [late] = _digests(env, "tech")
    assert late.created_at == _utc(2026, 3, 28, 14, 30) and "overdue" in late.subject
    # pharmtech turned the e-mail off (and never had it in the app): nothing is written.
    assert _digests(env, "pharmtech") == []
    emails = env.session.scalars(select(NoticeEmail).where(NoticeEmail.notice_id == late.id)).all()
    assert [e.to_addr for e in emails] == ["tech@hospital.example"]
    # Defaults: on for technicians and managers, off for other roles.
    assert notices.preferences(env.session, env.user_id("tech"))["daily_digest"] == {"in_app": False, "email": True}
    assert notices.preferences(env.session, env.user_id("nurse"))["daily_digest"] == {"in_app": False,
                                                                                      "email": False}


def _february(env) -> None:
    """Work in February 2026: a repaired failure on the ICU fridge, an open one on a pump."""
    _set_clock(env, _utc(2026, 2, 3, 8))
    fridge = open_order(env)
    workorders.reassign(env.session, fridge.id, env.user_id("tech"), actor=env.actor("manager"), clock=env.clock)
    env.clock.advance(5 * 3600)
    fridge.state, fridge.completed_at, fridge.resolution_category = "completed", _utc(2026, 2, 3, 13), "repaired"
    _set_clock(env, _utc(2026, 2, 17, 9))
    open_order(env, asset_tag="IPD-0001")
    env.session.commit()


def _pdf_text(content: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def _table_rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


def test_the_monthly_report_pdf_shows_the_kpi_services_figures_and_is_mailed_to_managers(
        env, smtp_server, tmp_path):
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is needed"
    _berlin(env)
    _february(env)
    mailer = _mailer(env, smtp_server)
    assert _deliver(env, mailer).sent == 1  # the assignment of February
    smtp_server.messages.clear()
    [north] = _schedulers(env, "north")
    # 1 March, CET: 07:00 local is 06:00Z.
    _set_clock(env, _utc(2026, 3, 1, 5, 55))
    _tick([north], env, _utc(2026, 3, 1, 5, 59))
    assert env.session.scalar(select(func.count()).select_from(MonthlyReport)) == 0
    _tick([north], env, _utc(2026, 3, 1, 6, 5))
    env.session.expire_all()
    rows = env.session.scalars(select(MonthlyReport).order_by(MonthlyReport.id)).all()
    assert rows[0].scope == "all" and rows[0].filename == "kpis-2026-02-all.pdf"
    assert {(r.month, r.start, r.end) for r in rows} == {("2026-02", date(2026, 2, 1), date(2026, 2, 28))}
    system = env.actor("admin")
    for row in rows:
        expected = kpis.compute(env.session, start=date(2026, 2, 1), end=date(2026, 2, 28),
                                department_id=row.department_id, actor=system, clock=env.clock)
        # The month is over at the site (midnight CET): final figures.
        assert expected.as_of == expected.period.ends == _utc(2026, 2, 28, 23)
        text = _pdf_text(row.content, tmp_path)
        assert "monthly KPI report February 2026" in text
        lines = _table_rows(text)
        header = export.HEADER
        for table_row in export.rows(expected):
            cells = [cell_text(table_row[header.index(name)]) for name, _ in PDF_COLUMNS]
            assert any(line[-len(cells):] == cells for line in lines), (row.filename, cells, text)
    icu = next(r for r in rows if r.department is not None and r.department.code == "ICU")
    icu_kpis = kpis.compute(env.session, start=date(2026, 2, 1), end=date(2026, 2, 28), department_id=icu.department_id,
                            actor=system, clock=env.clock).total
    assert (icu_kpis.failures, icu_kpis.repairs, icu_kpis.mttr_hours) == (2, 1, 5.0)  # the data is there

    # The hospital-wide manager is told once, with the PDF attached; the SMTP server is down first.
    smtp_server.stop()
    report = _deliver(env, mailer)
    assert (report.sent, report.retried) == (0, 1)
    smtp_server.start()
    env.clock.advance(61)
    assert _deliver(env, mailer).sent == 1
    [msg] = smtp_server.messages
    assert msg["To"] == "manager@hospital.example"
    assert msg["Subject"] == "[Riverside] Monthly KPI report February 2026 (all departments)"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "kpis-2026-02-all.pdf"
    assert attachment.get_content() == rows[0].content
    assert f"{PUBLIC}/reports/monthly/{rows[0].id}.pdf" in msg.get_body(("plain",)).get_content()
    audits = env.session.scalars(select(AuditLog).where(AuditLog.action == "report.monthly")).all()
    assert sorted(a.entity_id for a in audits) == sorted(str(r.id) for r in rows)


def test_two_schedulers_send_one_digest_per_person_and_make_one_monthly_report(env, smtp_server):
    _berlin(env)
    _february(env)
    _set_clock(env, _utc(2026, 2, 28, 12))
    _order_due(env, _utc(2026, 3, 1, 10))
    _order_due(env, _utc(2026, 3, 1, 11), assignee="pharmtech")
    mailer = _mailer(env, smtp_server)
    assert _deliver(env, mailer).sent == 3  # the assignments
    smtp_server.messages.clear()
    north, south = _schedulers(env, "north", "south")
    _set_clock(env, _utc(2026, 3, 1, 5, 30))
    _tick([north, south], env, _utc(2026, 3, 1, 6, 10))
    # The leader stops; the standby takes over and runs the calendar jobs again at once.
    north.close()
    _tick([south], env, _utc(2026, 3, 1, 6, 30))
    # A third scheduler starts after a restart of both.
    south.close()
    [west] = _schedulers(env, "west")
    _tick([west], env, _utc(2026, 3, 1, 7, 0))
    west.close()
    keys = env.session.execute(select(Notice.user_id, Notice.key).where(Notice.event == "daily_digest")).all()
    assert sorted(keys) == sorted([(env.user_id("tech"), "digest:2026-03-01"),
                                   (env.user_id("pharmtech"), "digest:2026-03-01")])
    runs = env.session.execute(select(ScheduledRun.kind, ScheduledRun.period)).all()
    assert sorted(runs) == [("digest", "2026-03-01@Europe/Berlin"), ("monthly_report", "2026-02")]
    scopes = env.session.scalars(select(MonthlyReport.scope).order_by(MonthlyReport.scope)).all()
    assert scopes == sorted(set(scopes)) and "all" in scopes
    _deliver(env, mailer)
    assert _deliver(env, mailer).sent == 0
    by_to: dict[str, list[str]] = {}
    for msg in smtp_server.messages:
        by_to.setdefault(msg["To"], []).append(msg["Subject"].split(":")[0])
    assert by_to == {"tech@hospital.example": ["[Riverside] Daily digest 2026-03-01"],
                     "pharmtech@hospital.example": ["[Riverside] Daily digest 2026-03-01"],
                     "manager@hospital.example": ["[Riverside] Monthly KPI report February 2026 (all departments)"]}


def test_a_digest_lists_pm_due_this_week_and_open_alerts_of_the_department(env):
    from wardlink.hub.services.alerts import records as alert_service

    _set_clock(env, _utc(2026, 3, 27, 12))
    _berlin(env)
    alert_service.raise_alert(env.session, asset_tag="VF-0001", rule="fridge_high", severity="critical",
                              title="Fridge too warm", actor=None, clock=env.clock)
    env.session.flush()
    tech = users.find_user(env.session, "tech")
    pharmtech = users.find_user(env.session, "pharmtech")
    now = _utc(2026, 3, 28, 6)
    zone = notices.site_zone(env.session)
    mine = digest.build(env.session, tech, now=now, zone=zone)
    assert [s.total for s in mine.sections if s.heading == "Open alerts"] == [1]
    assert "VF-0001: Fridge too warm" in mine.body(PUBLIC) and f"{PUBLIC}/assets/VF-0001" in mine.body(PUBLIC)
    # The pharmacy technician's department has no open alert.
    theirs = digest.build(env.session, pharmtech, now=now, zone=zone)
    assert theirs.is_empty


def test_two_jobs_racing_past_the_leader_lock_still_send_each_digest_once(env):
    """Should two schedulers both believe they lead (a lease taken over while the old leader
    is still in a round), the claimed run still lets only one of them send."""
    import threading

    from wardlink.hub.db import session_scope
    from wardlink.hub.scheduler.jobs import JobContext, daily_digest, monthly_report

    _berlin(env)
    _february(env)
    _set_clock(env, _utc(2026, 2, 28, 12))
    _order_due(env, _utc(2026, 3, 1, 10))
    env.session.commit()
    _set_clock(env, _utc(2026, 3, 1, 6, 30))
    start = threading.Barrier(2)
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        ctx = JobContext(engine=env.engine, clock=env.clock, public_url=PUBLIC, holder=name)
        try:
            start.wait(timeout=30)
            results[name] = {"digest": daily_digest(ctx), "report": monthly_report(ctx)}
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("north", "south")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and sorted(results) == ["north", "south"]
    assert sorted(len(r["digest"]["zones"]) for r in results.values()) == [0, 1]
    made = sorted(r["report"].get("made", 0) for r in results.values())
    assert made[0] == 0 and made[1] >= 2  # one made the hospital's and the departments' reports
    with session_scope(env.engine) as s:
        assert s.scalar(select(func.count()).select_from(Notice).where(Notice.event == "daily_digest")) == 1
        holders = s.scalars(select(ScheduledRun.holder).where(ScheduledRun.kind == "digest")).all()
        assert len(holders) == 1 and holders[0] in results
        assert s.scalar(select(func.count()).select_from(ScheduledRun)
                        .where(ScheduledRun.kind == "monthly_report")) == 1


def test_pdf_text_writes_what_the_latin1_fonts_lack_the_way_print_did():
    from wardlink.hub.services.reports.pdf import latin1_text

    assert cell_text("Main-d\u2019\u0153uvre \u2013 1\u202f250 \u20ac") == "Main-d'oeuvre - 1 250 EUR"
    assert cell_text(2.25) == "2.2" and cell_text(None) == "-" and cell_text("") == "-"
    assert latin1_text("\u0152dème \u2264 3 \u2026 \u4e2d") == "OEdème <= 3 ... ?"  # other scripts: '?'
