"""Bulk asset import pages: the upload form, the template file, and the import job."""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.people.permissions import require
from wardlink.hub.web.assets.importer import COLUMNS, MAX_ROWS, import_job, read_rows, template_csv
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.state import state
from wardlink.hub.web.ui import ui_state

bp = Blueprint("imports", __name__, template_folder="templates", url_prefix="/assets/import")


@bp.get("")
@login_required
def form(error: str | None = None, status: int = 200):
    """Show the upload form and the columns an import file may have."""
    require(g.actor, "asset.create")
    return render_template("assets/import.html", columns=COLUMNS, max_rows=MAX_ROWS, error=error), status


@bp.get("/template.csv")
@login_required
def template():
    """Download an import template with the header row and one example."""
    require(g.actor, "asset.create")
    return Response(template_csv(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="asset-import-template.csv"'})


@bp.post("")
@login_required
def upload():
    """Read the uploaded file and start the import job."""
    require(g.actor, "asset.create")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return form(error=gettext("file: choose a CSV or Excel (.xlsx) file"), status=400)
    try:
        rows = read_rows(upload.filename, upload.read())
    except InvalidInput as exc:
        return form(error=error_message(exc), status=400)
    if not rows:
        return form(error=gettext("file: has a header row but no assets"), status=400)
    job = ui_state().jobs.submit(
        kind="import", title=gettext("Import of %(n)s assets from %(file)s", n=len(rows), file=upload.filename),
        owner_id=g.actor.user_id, fn=import_job(state().engine, g.actor, state().clock, rows))
    return redirect(url_for("jobs.detail", job_id=job.id), 303)
