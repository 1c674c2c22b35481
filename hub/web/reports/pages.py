"""The reports page: maintenance KPIs by period and department, exported in the background, and
the history of the monthly KPI reports the scheduler stored (managers and administrators)."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.i18n import N_

from wardlink.hub.db import session_scope
from wardlink.hub.errors import InvalidInput, Message
from wardlink.hub.services.reports import export
from wardlink.hub.services.reports import exports as export_audit
from wardlink.hub.services.reports import kpis, monthly, repairs, repairs_files
from wardlink.hub.services.reports.pdf import report_pdf
from wardlink.hub.services.people import org
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people.permissions import can, require
from wardlink.hub.services.pagination import Page
from wardlink.hub.services.validate import optional_date, optional_id
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web import files
from wardlink.hub.web.db import commit as db_commit
from wardlink.hub.web.db import db
from wardlink.hub.web.query_args import int_arg, page_number
from wardlink.hub.web.filters import display_zone
from wardlink.hub.web.jobs import JobResult, Progress
from wardlink.hub.web.i18n import current_locale, error_message
from wardlink.hub.web.state import state
from wardlink.hub.web.ui import ui_state

bp = Blueprint("reports", __name__, template_folder="templates", url_prefix="/reports")

FORMATS = {"csv": ("text/csv; charset=utf-8", "csv"),
           "xlsx": (export.CONTENT_TYPES["xlsx"], "xlsx"),
           "pdf": ("application/pdf", "pdf")}
DEFAULT_DAYS = 30


def _selection(source) -> tuple[date, date, int | None]:
    """Return the chosen local dates (the last 30 days at the site by default) and department."""
    department_id = optional_id("department", source.get("department"))
    today = kpis.local_today(db(), g.actor, department_id, state().clock)
    start = optional_date("start", source.get("start")) or today - timedelta(days=DEFAULT_DAYS)
    end = optional_date("end", source.get("end")) or today
    kpis.check_days(start, end)
    return start, end, department_id


#: Departments per page of the KPI table.
TABLE_PAGE = 10
#: How the equipment uptime table may be ordered, in words.
UPTIME_SORTS = {"uptime": N_("Lowest uptime"), "availability": N_("Lowest availability"),
                "downtime": N_("Most hours down"), "asset": N_("Asset tag")}


def _kpi_table(report: kpis.KpiReport, columns: tuple[str, ...]) -> Page[dict[str, Any]]:
    """Return the page of the KPI table the request asks for: each row's department and the
    chosen columns' values."""
    index = {name: i for i, name in enumerate(export.HEADER)}
    rows = [{"department": row[0], "values": {name: row[index[name]] for name in columns}}
            for row in export.rows(report)]
    pages = max(1, -(-len(rows) // TABLE_PAGE))
    number = min(int_arg("table_page", 1, 1, 1_000_000), pages)
    return Page(rows[(number - 1) * TABLE_PAGE:number * TABLE_PAGE], number, TABLE_PAGE, len(rows))


def _charts(report: kpis.KpiReport) -> dict[str, dict[str, Any]]:
    """Return the chart specs (drawn by app.js) of the figures by department."""
    names = [d.code if d is not None else "(none)" for d, _ in report.departments]
    figures = [k for _, k in report.departments]

    def spec(unit: str, *series: tuple[str, list]) -> dict[str, Any]:
        return {"x": "category", "xLabel": gettext("Department"), "xs": list(range(len(names))), "labels": names,
                "unit": unit,
                "percent": unit == "%", "series": [{"label": gettext(label), "bars": True, "values": values}
                                                   for label, values in series]}
    return {"mttr": spec("h", ("MTTR", [k.mttr_hours for k in figures])),
            "mtbf": spec("h", ("MTBF", [k.mtbf_hours for k in figures])),
            "uptime": spec("%", (N_("Uptime"), [k.uptime_pct for k in figures]),
                           (N_("Availability"), [k.availability_pct for k in figures]))}


@bp.get("")
@login_required
def index():
    """Show the KPIs of the chosen period and department."""
    require(g.actor, "kpi.view")
    start, end, department_id = _selection(request.args)
    columns = export.choose_columns(request.args.getlist("col"))
    report = kpis.compute(db(), start=start, end=end, department_id=department_id, actor=g.actor,
                          clock=state().clock, assets=False)
    sort = request.args.get("uptime_sort") or "uptime"
    uptime = kpis.uptime_page(db(), report, sort=sort, page=int_arg("uptime_page", 1, 1, 1_000_000))
    history = (monthly.list_reports(db(), actor=g.actor, page=page_number(lenient=True), per_page=24)
               if can(g.actor, "report.monthly") else None)
    return render_template("reports/index.html", report=report, start=start, end=end,
                           department_id=department_id, departments=org.list_departments(db()),
                           formats=FORMATS, history=history,
                           labels=export.LABELS, columns=columns, chosen=request.args.getlist("col"),
                           all_columns=export.HEADER[1:], table=_kpi_table(report, columns), charts=_charts(report),
                           uptime=uptime, uptime_sort=sort, uptime_sorts=UPTIME_SORTS)


@bp.get("/monthly/<int:report_id>.pdf")
@login_required
def monthly_pdf(report_id: int):
    """Download a stored monthly KPI report (recorded in the audit trail)."""
    row = monthly.get_report(db(), report_id, actor=g.actor, clock=state().clock)
    data, sha256, filename = bytes(row.content), row.sha256, row.filename
    db_commit()
    return files.send_bytes(data, sha256=sha256, content_type="application/pdf", filename=filename)


def _export_job(engine, actor: Actor, clock, site_name: str, fmt: str, start: date, end: date,
                department_id: int | None, zone=None, locale: str | None = None):
    def run(progress: Progress) -> JobResult:
        progress.total(2)
        with session_scope(engine) as session:
            report = kpis.compute(session, start=start, end=end, department_id=department_id,
                                  actor=actor, clock=clock)
        progress.advance(message=Message(N_("Writing the file")))
        content = (report_pdf(report, site_name=site_name, zone=zone, locale=locale) if fmt == "pdf"
                   else export.WRITERS[fmt](report, zone=zone))
        progress.advance()
        scope = report.department.code if report.department is not None else "all"
        mimetype, suffix = FORMATS[fmt]
        return JobResult(summary=Message(N_("KPI report %(start)s to %(end)s (%(scope)s) ready."),
                                         start=start.isoformat(), end=end.isoformat(),
                                         scope=scope if report.department is not None else Message(N_("all"))),
                         filename=f"kpis-{scope}-{start.isoformat()}-{end.isoformat()}.{suffix}",
                         mimetype=mimetype, content=content)
    return run


@bp.post("/export")
@login_required
def export_report():
    """Start an export of the KPIs as CSV, Excel or PDF."""
    require(g.actor, "kpi.view")
    fmt = request.form.get("format", "")
    if fmt not in FORMATS:
        raise InvalidInput(N_("format: must be one of %(choices)s, got %(fmt)r"), choices=', '.join(FORMATS), fmt=fmt)
    start, end, department_id = _selection(request.form)
    # The period was checked above, so mistakes show at once rather than in the job.
    job = ui_state().jobs.submit(
        kind="export", title=Message(N_("KPI export (%(format)s)"), format=fmt.upper()), owner_id=g.actor.user_id,
        fn=_export_job(state().engine, g.actor, state().clock, state().config.site_name, fmt, start, end,
                       department_id, display_zone(), current_locale()))
    return redirect(url_for("jobs.detail", job_id=job.id), 303)


# ------------------------------------------------------------------ the monthly repairs list


def _repairs(source) -> repairs.RepairsReport:
    return repairs.repairs_report(db(), actor=g.actor, clock=state().clock, month=source.get("month"),
                                  department_id=source.get("department"))


@bp.get("/repairs")
@login_required
def repairs_list():
    """Show the corrective work orders completed in a month, per department, with parts, delays and cost."""
    require(g.actor, "kpi.view")
    error = None
    try:
        report = _repairs(request.args)
    except InvalidInput as exc:
        error, report = error_message(exc), _repairs({})
    args = {"month": report.key, **({"department": report.department.id} if report.department else {})}
    return render_template("reports/repairs.html", report=report, error=error, args=args,
                           month_name=monthly.month_name(report.month, current_locale()),
                           departments=org.list_departments(db())), 400 if error else 200


@bp.get("/repairs.<fmt>")
@login_required
def repairs_download(fmt: str):
    """Download the month's repairs list as PDF or Excel (recorded in the audit trail)."""
    report = _repairs(request.args)
    content, filename, mimetype = repairs_files.repairs_file(
        report, fmt, site_name=state().config.site_name,
        month_name=monthly.month_name(report.month, current_locale()), locale=current_locale())
    export_audit.record(db(), actor=g.actor, kind="repairs", fmt=fmt, rows=len(report.repairs), clock=state().clock,
                        filters={"month": report.key, "department": report.department.code if report.department
                                 else None})
    db_commit()
    return files.send_bytes(content, sha256=hashlib.sha256(content).hexdigest(), content_type=mimetype,
                            filename=filename)
