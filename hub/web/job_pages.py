"""Pages of background jobs: progress (polled by htmx), result download, and the list."""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template, request

from wardlink.hub.errors import NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.ui import ui_state

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

#: How often the job page asks for progress.
POLL = "1s"


@bp.get("")
@login_required
def index():
    """List the signed-in user's recent jobs."""
    return render_template("jobs/list.html", jobs=ui_state().jobs.for_owner(g.actor.user_id))


@bp.get("/<job_id>")
@login_required
def detail(job_id: str):
    """Show a job's progress; the progress box refreshes itself until the job finishes."""
    job = ui_state().jobs.get(job_id, owner_id=g.actor.user_id)
    return render_template("jobs/detail.html", job=job, poll=POLL)


@bp.get("/<job_id>/status")
@login_required
def status(job_id: str):
    """Return the progress box alone (htmx polls this), or JSON for scripts."""
    job = ui_state().jobs.get(job_id, owner_id=g.actor.user_id)
    if request.accept_mimetypes.best == "application/json":
        return job.to_json()
    return render_template("jobs/_progress.html", job=job, poll=POLL)


@bp.get("/<job_id>/download")
@login_required
def download(job_id: str):
    """Send a finished job's file."""
    job = ui_state().jobs.get(job_id, owner_id=g.actor.user_id)
    if job.state != "done" or job.result is None or job.result.content is None:
        raise NotFound(N_("job '%(job_id)s' has no file to download (yet)"), job_id=job_id)
    result = job.result
    return Response(result.content, mimetype=result.mimetype, headers={
        "Content-Disposition": f'attachment; filename="{result.filename}"'})
