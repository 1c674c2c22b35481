"""The monthly KPI report: made once per month by the scheduler, stored, and mailed to managers.

On the 1st of a month (local time at the site, at the configured send time; the KPI period is
the month's local dates, so its figures are final from local midnight; where sites keep different
time zones, once the month is over at every one) :func:`make_due` claims the month's run
(:mod:`wardlink.hub.services.notices.runs`) and computes the previous month's KPIs with the KPI
service (:func:`wardlink.hub.services.reports.kpis.compute`): once for the whole hospital and
once for each department that has equipment or work in the month. Each is rendered as a PDF
(:mod:`wardlink.hub.services.reports.pdf`) and stored as a :class:`MonthlyReport` row. Managers
are told with a ``monthly_report`` notice whose e-mail carries the PDF: a manager without a
department gets the hospital-wide report, a department's manager that department's. A hub that
was down on the 1st makes the report on its first round afterwards.

Stored reports are listed and downloaded by managers and administrators, a department-scoped
manager seeing only their department's (:func:`list_reports`, :func:`get_report`).
"""

from __future__ import annotations

import hashlib
from datetime import date, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, defer, selectinload

from wardlink.hub.db.models import Department, MonthlyReport, User
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import Message, NotFound
from wardlink.hub.i18n import N_, default_locale, format_date, format_pattern, translate
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.notices import runs
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people import language
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.reports import kpis
from wardlink.hub.services.reports.pdf import report_pdf
from wardlink.clock import Clock

KIND = "monthly_report"
EVENT = "monthly_report"
SCHEDULER = Actor.system("scheduler")
#: Roles told about a new report (their preferences decide; managers by default).
RECIPIENT_ROLES = ("manager", "admin")


def previous_month(day: date) -> tuple[date, date]:
    """Return the first and last day of the month before ``day``'s."""
    last = day.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def month_name(start: date, locale: str | None = None) -> str:
    """Return a month as people write it in ``locale``, e.g. ``February 2026``, ``février 2026``."""
    return format_pattern(start, "MMMM y", locale)


def _store(session: Session, report: kpis.KpiReport, *, month: str, site_name: str,
           clock: Clock) -> MonthlyReport:
    department = report.department
    scope = "all" if department is None else f"dept:{department.id}"
    # in the language of the department's site (the hospital's for the whole), the zone of its days
    locale = language.site_language(session, department.id if department else None, default=default_locale())
    title = translate(locale, "monthly KPI report %(month)s", month=month_name(report.period.start, locale))
    if department is not None:
        title += f", {department.name}"
    content = report_pdf(report, site_name=site_name, title=title, locale=locale)
    row = MonthlyReport(month=month, scope=scope, department_id=department.id if department else None,
                        start=report.period.start, end=report.period.end,
                        filename=f"kpis-{month}-{department.code if department else 'all'}.pdf",
                        size=len(content), sha256=hashlib.sha256(content).hexdigest(), content=content,
                        created_at=utc_now(clock))
    session.add(row)
    session.flush()
    audit.record(session, actor=SCHEDULER, action="report.monthly", entity="monthly_report", entity_id=row.id,
                 after={"month": month, "scope": scope, "filename": row.filename, "size": row.size,
                        "sha256": row.sha256}, clock=clock)
    return row


def _tell(session: Session, row: MonthlyReport, clock: Clock) -> int:
    people = session.scalars(select(User.id).where(
        User.role.in_(RECIPIENT_ROLES), User.is_active.is_(True),
        User.department_id.is_(None) if row.department_id is None else User.department_id == row.department_id))
    def scope(locale: str | None) -> str:
        return translate(locale, "all departments") if row.department is None else row.department.name

    def subject(locale: str | None) -> str:
        return translate(locale, "Monthly KPI report %(month)s (%(scope)s)", month=month_name(row.start, locale),
                         scope=scope(locale))

    def body(locale: str | None) -> str:
        return translate(locale, "The maintenance KPIs of %(month)s (%(start)s to %(end)s) for %(scope)s are "
                                 "attached as a PDF and kept on the reports page.",
                         month=month_name(row.start, locale), start=format_date(row.start, locale),
                         end=format_date(row.end, locale), scope=scope(locale))
    told = notices.announce(
        session, EVENT, subject=subject, body=body,
        link=f"/reports/monthly/{row.id}.pdf", key=f"monthly_report:{row.month}:{row.scope}", clock=clock,
        users=tuple(people), report_id=row.id)
    return len(told)


def make_due(session: Session, *, clock: Clock, at: time, site_name: str, holder: str = "") -> dict:
    """Make, store and announce last month's reports if their time has come and they were not
    made yet; return what was done."""
    zone = notices.site_zone(session)
    local = runs.local_now(clock, zone)
    start, end = previous_month(local.date())
    month = start.strftime("%Y-%m")
    if not runs.is_time(local, at) or utc_now(clock) < kpis.over_everywhere(session, start, end):
        return {"month": month, "due": False}
    run = runs.claim(session, KIND, month, clock=clock, holder=holder)
    if run is None:
        return {"month": month, "due": True, "made": 0}
    whole = kpis.compute(session, start=start, end=end, actor=SCHEDULER, clock=clock)
    made = [_store(session, whole, month=month, site_name=site_name, clock=clock)]
    for department, _ in whole.departments:
        if department is not None:
            part = kpis.compute(session, start=start, end=end, department_id=department.id, actor=SCHEDULER,
                                clock=clock)
            made.append(_store(session, part, month=month, site_name=site_name, clock=clock))
    told = sum(_tell(session, row, clock) for row in made)
    run.summary = {"month": month, "reports": [r.filename for r in made], "told": told}
    return {"due": True, "made": len(made), **run.summary}


# ------------------------------------------------------------------ reading them


def _visible(actor: Actor):
    require(actor, "report.monthly")
    stmt = select(MonthlyReport)
    scope = department_scope(actor)
    if scope is not None:
        stmt = stmt.where(MonthlyReport.department_id == scope)
    return stmt


def list_reports(session: Session, *, actor: Actor, department_id: int | None = None, page: int = 1,
                 per_page: int = 50) -> Page:
    """Return the stored reports the actor may read (without their files), newest month first,
    hospital-wide before departments; optionally of one department."""
    stmt = _visible(actor).options(defer(MonthlyReport.content), selectinload(MonthlyReport.department))
    if department_id is not None:
        stmt = stmt.where(MonthlyReport.department_id == department_id)
    stmt = stmt.outerjoin(Department, Department.id == MonthlyReport.department_id).order_by(
        MonthlyReport.month.desc(), MonthlyReport.scope != "all", Department.code)
    return paginate(session, stmt, page=page, per_page=per_page)


def get_report(session: Session, report_id: int, *, actor: Actor, clock: Clock | None = None) -> MonthlyReport:
    """Return one stored report with its file, and audit that the actor took it."""
    require(actor, "report.monthly")
    row = session.get(MonthlyReport, report_id)
    if row is None:
        raise NotFound(N_("monthly report %(report_id)s not found"), report_id=report_id)
    require_department(actor, row.department_id, Message(N_("monthly report %(filename)s"), filename=row.filename))
    audit.record(session, actor=actor, action="report.download", entity="monthly_report", entity_id=row.id,
                 after={"filename": row.filename}, clock=clock)
    return row
