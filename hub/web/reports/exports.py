"""Export buttons of the list pages: work orders, assets, PM compliance, audit trail, readings.

Each list page carries a small form (``reports/_export.html``) that posts the page's current
filters and a format here. The services build the table (checking permissions, department
scope and filters at once); a small export is sent straight back, a larger one runs as a
background job with progress (:mod:`wardlink.hub.web.jobs`) and the browser goes to its page.
Either way the export writes one audit row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, g, redirect, request, url_for
from sqlalchemy.orm import Session

from wardlink.hub.db import session_scope
from wardlink.hub.errors import InvalidInput, Message, Plural
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.reports import exports, tables
from wardlink.hub.services.validate import optional_date, optional_id
from wardlink.hub.web.audit.pages import FILTERS as AUDIT_FILTERS
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.jobs import JobResult, Progress
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.state import state
from wardlink.hub.web.ui import ui_state

bp = Blueprint("exports", __name__, url_prefix="/exports")

#: A table builder: (session, actor, clock) -> Table, with the request's filters bound.
Builder = Callable[[Session, Actor, Any], tables.Table]


def _form(name: str) -> str | None:
    return request.form.get(name) or None


def work_order_filters(source) -> dict[str, Any]:
    """Return the work-order list filters of a form or query string (the list page's names)."""
    wanted = source.get("state") or "open"
    return {"state": None if wanted == "all" else wanted, "kind": source.get("kind") or None,
            "priority": source.get("priority") or None, "asset_tag": source.get("asset") or None,
            "department_id": source.get("department") or None, "assigned_to": source.get("assigned_to") or None,
            "q": source.get("q") or None, "dates": source.get("dates") or None,
            "date_from": source.get("date_from") or None, "date_to": source.get("date_to") or None,
            "sort": source.get("sort") or "newest"}


def asset_filters(source) -> dict[str, Any]:
    """Return the asset-register filters of a form or query string (the register page's names)."""
    return {"q": source.get("q") or None, "department_id": optional_id("department", source.get("department")),
            "category": source.get("category") or None,
            "equipment_status": source.get("equipment_status") or None,
            "maintenance_status": source.get("maintenance_status") or None, "sort": source.get("sort") or "tag"}


def _builder(kind: str) -> tuple[Builder, dict[str, Any]]:
    form = request.form
    if kind == "work-orders":
        filters = work_order_filters(form)
        return (lambda s, who, clock: exports.work_orders_table(s, actor=who, clock=clock, **filters)), filters
    if kind == "assets":
        filters = asset_filters(form)
        return (lambda s, who, clock: exports.assets_table(s, actor=who, clock=clock, **filters)), filters
    if kind == "pm-compliance":
        start, end = optional_date("start", form.get("start")), optional_date("end", form.get("end"))
        if start is None or end is None:
            raise InvalidInput(N_("start and end: both are required"))
        filters = {"start": start, "end": end, "department_id": optional_id("department", form.get("department"))}
        return (lambda s, who, clock: exports.pm_compliance_table(s, actor=who, clock=clock, **filters)), filters
    if kind == "audit":
        criteria = audit.criteria_from(form, AUDIT_FILTERS)
        filters = {name: _form(name) for name in AUDIT_FILTERS}
        return (lambda s, who, clock: exports.audit_table(s, actor=who, clock=clock, **criteria)), filters
    if kind == "readings":
        filters = {"asset_tag": form.get("asset", ""), "channel": form.get("channel"),
                   "date_from": _form("date_from"), "date_to": _form("date_to")}
        store = state().telemetry
        return (lambda s, who, clock: exports.readings_table(s, store, actor=who, clock=clock, **filters)), filters
    raise InvalidInput(N_("kind: must be one of work-orders, assets, pm-compliance, audit, readings, got %(kind)r"),
                       kind=kind)


def _job(engine, build: Builder, who: Actor, clock, kind: str, fmt: str, filters: dict[str, Any]):
    def run(progress: Progress) -> JobResult:
        with session_scope(engine) as session:
            table = build(session, who, clock)
            total, written = table.total or 0, [0]
            progress.total(total)
            progress.note(Message(N_("Writing rows")))

            def tick(n: int) -> None:
                written[0] += n
                progress.advance(n, message=Plural("%(done)s of %(total)s row written",
                                                   "%(done)s of %(total)s rows written", total,
                                                   done=written[0], total=total))
            content = tables.write(table, fmt, tick)
            exports.record(session, actor=who, kind=kind, fmt=fmt, filters=filters, rows=table.total or 0,
                           clock=clock)
        rows = table.total or 0
        return JobResult(summary=Plural("%(table)s: %(rows)s row ready.", "%(table)s: %(rows)s rows ready.", rows,
                                        table=Message(table.name), rows=rows),
                         filename=f"{table.filename}.{fmt}", mimetype=tables.content_type(fmt), content=content)
    return run


def attachment(content: bytes, filename: str, fmt: str) -> Response:
    """Return a file download response."""
    return Response(content, mimetype=tables.content_type(fmt),
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.post("/<kind>")
@login_required
def start(kind: str):
    """Export what a list page shows: at once when small, else as a background job."""
    fmt = tables.check_format(request.form.get("format", ""))
    build, filters = _builder(kind)
    app = state()
    table = build(db(), g.actor, app.clock)  # checks permissions and filters now
    audit_kind = kind.replace("-", "_")
    if (table.total or 0) <= current_app.config.get("EXPORT_SMALL_ROWS", exports.SMALL_ROWS):
        content = tables.write(table, fmt)
        exports.record(db(), actor=g.actor, kind=audit_kind, fmt=fmt, filters=filters, rows=table.total or 0,
                       clock=app.clock)
        commit()
        return attachment(content, f"{table.filename}.{fmt}", fmt)
    db().rollback()
    job = ui_state().jobs.submit(kind="export", title=Message(N_("%(table)s export (%(format)s)"),
                                                              table=Message(table.name), format=fmt.upper()),
                                 owner_id=g.actor.user_id,
                                 fn=_job(app.engine, build, g.actor, app.clock, audit_kind, fmt, filters))
    return redirect(url_for("jobs.detail", job_id=job.id), 303)
