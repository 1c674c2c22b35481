"""Importing parts from CSV or Excel: the upload form, the template file, and the import job
(a background job whose result is the row-by-row error report; rules in
:mod:`wardlink.hub.services.inventory.importer`)."""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db import session_scope
from wardlink.hub.errors import InvalidInput, Message
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.inventory import importer
from wardlink.hub.services.maintenance.attachments import read_limited
from wardlink.hub.services.people.permissions import require
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.jobs import JobResult, Progress
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.state import state
from wardlink.hub.web.table_import import read_table
from wardlink.hub.web.ui import ui_state
from wardlink.clock import Clock

bp = Blueprint("part_imports", __name__, template_folder="templates", url_prefix="/inventory/import")
#: Largest import file, and rows committed together (a crash loses at most one batch).
IMPORT_BYTES = 10 * 1024 * 1024
BATCH = 250


@bp.before_app_request
def _raise_upload_limit():
    # Before the app reads any form field (the CSRF check does), so the file gets its own limit.
    if request.endpoint == "part_imports.upload":
        request.max_content_length = IMPORT_BYTES + 64 * 1024


@bp.get("")
@login_required
def form(error: str | None = None, status: int = 200):
    """Show the upload form and the columns an import file may have."""
    require(g.actor, "part.manage")
    return render_template("inventory/import.html", columns=importer.COLUMNS, max_rows=importer.MAX_ROWS,
                           error=error), status


@bp.get("/template.csv")
@login_required
def template():
    """Download an import template: the header row and one example."""
    require(g.actor, "part.manage")
    return Response(importer.template_csv(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="parts-import-template.csv"'})


def _job(engine, actor: Actor, clock: Clock, rows: list[dict[str, str]]):
    def run(progress: Progress) -> JobResult:
        progress.total(len(rows))
        report = importer.ImportReport()
        for start in range(0, len(rows), BATCH):
            with session_scope(engine) as session:
                importer.import_rows(session, rows[start:start + BATCH], actor=actor, clock=clock, report=report,
                                     first_row=start + 2)
            progress.advance(len(rows[start:start + BATCH]), message=Message(N_("row %(row)s"),
                                                                             row=start + BATCH + 1))
        if not report.errors:
            return JobResult(summary=report.said)
        return JobResult(summary=report.said, filename="parts-import-errors.csv", mimetype="text/csv",
                         content=report.error_csv().encode(),
                         problems=tuple(Message(N_("row %(row)s (%(tag)s): %(error)s"), row=n, error=reason,
                                                tag=sku or Message(N_("no SKU")))
                                        for (n, sku, _), reason in zip(report.errors[:500], report.reasons)))
    return run


@bp.post("")
@login_required
def upload():
    """Read the uploaded file and start the import job."""
    require(g.actor, "part.manage")
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        return form(error=gettext("file: choose a CSV or Excel (.xlsx) file"), status=400)
    try:
        rows = read_table(upload_file.filename, read_limited(upload_file.stream, IMPORT_BYTES),
                          columns=importer.COLUMNS, required=importer.REQUIRED, max_rows=importer.MAX_ROWS,
                          what=N_("parts"))
    except InvalidInput as exc:
        return form(error=error_message(exc), status=400)
    if not rows:
        return form(error=gettext("file: has a header row but no parts"), status=400)
    job = ui_state().jobs.submit(kind="import", title=gettext("Import of %(n)s parts from %(file)s", n=len(rows),
                                                                  file=upload_file.filename),
                                 owner_id=g.actor.user_id, fn=_job(state().engine, g.actor, state().clock, rows))
    return redirect(url_for("jobs.detail", job_id=job.id), 303)
