"""Recall pages: the dashboard with the recall list, one recall with the assets it concerns, the
review queue, the import of an openFDA file (a background job with its progress) and the form for
a notice from another regulator.

Matching, who may confirm what and the work orders are judged in
:mod:`wardlink.hub.services.compliance`; these views turn forms into service calls.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db.models.recalls import RECALL_REGULATORS
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_, translate
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.compliance import recall_review, recalls
from wardlink.hub.services.compliance.openfda import MAX_BYTES
from wardlink.hub.services.maintenance.attachments import read_limited
from wardlink.hub.services.people.permissions import require
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import current_locale, error_message
from wardlink.hub.web.jobs import JobResult, Progress
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state
from wardlink.hub.web.ui import ui_state
from wardlink.clock import Clock

bp = Blueprint("recalls", __name__, template_folder="templates", url_prefix="/recalls")


@bp.before_app_request
def _raise_upload_limit():
    # Before the app reads any form field (the CSRF check does), so the file gets its own limit.
    if request.endpoint == "recalls.upload":
        request.max_content_length = MAX_BYTES + 64 * 1024


@bp.get("")
@login_required
def index():
    """Show the dashboard and one list of recalls (open, done, unmatched or all)."""
    status = request.args.get("status") or "open"
    try:
        rows = recall_review.list_recalls(db(), actor=g.actor, status=status)
    except InvalidInput as exc:
        return render_template("compliance/recalls.html", board=None, rows=[], status="open",
                               lists=recall_review.LISTS, error=error_message(exc)), 400
    return render_template("compliance/recalls.html", board=recall_review.dashboard(db(), actor=g.actor), rows=rows,
                           status=status, lists=recall_review.LISTS, error=None)


@bp.get("/<int:recall_id>")
@login_required
def detail(recall_id: int):
    """Show one recall and the assets it concerns, with their work orders."""
    row = recall_review.get_recall(db(), recall_id, actor=g.actor)
    return render_template("compliance/recall.html", row=row,
                           matches=recall_review.matches_of(db(), recall_id, actor=g.actor), error=None)


@bp.get("/review")
@login_required
def review(error: str | None = None, status: int = 200):
    """List the fuzzy matches waiting for a person to confirm or reject them."""
    return render_template("compliance/review.html", matches=recall_review.review_queue(db(), actor=g.actor),
                           error=error), status


@bp.post("/matches/<int:match_id>/<any(confirm, reject):decision>")
@login_required
def decide(match_id: int, decision: str):
    """Confirm (open the work order) or reject (with a reason) a fuzzy match."""
    note = request.form.get("note", "")
    try:
        if decision == "confirm":
            match = recall_review.confirm(db(), match_id, actor=g.actor, clock=state().clock, note=note)
        else:
            match = recall_review.reject(db(), match_id, actor=g.actor, clock=state().clock, reason=note)
    except (InvalidInput, NotFound) as exc:
        db().rollback()
        return review(error=error_message(exc), status=400 if isinstance(exc, InvalidInput) else 404)
    commit()
    if decision == "confirm":
        flash(gettext("%(tag)s confirmed: work order %(code)s opened.", tag=match.asset.tag,
                      code=match.work_order.code if match.work_order else ""), "success")
    else:
        flash(gettext("%(tag)s rejected for recall %(reference)s.", tag=match.asset.tag,
                      reference=match.recall.reference), "success")
    return redirect(url_for("recalls.review"), 303)


@bp.get("/import")
@login_required
def import_form(error: str | None = None, status: int = 200):
    """Show the upload form for an openFDA device recall or enforcement file."""
    require(g.actor, "recall.manage")
    return render_template("compliance/import.html", error=error, max_mb=MAX_BYTES // (1024 * 1024)), status


def _job(engine, actor: Actor, clock: Clock, filename: str, content: bytes, locale: str | None):
    def run(progress: Progress) -> JobResult:
        seen = 0

        def report(done: int, total: int) -> None:
            nonlocal seen
            progress.total(total)
            progress.advance(done - seen, message=translate(locale, N_("%(done)s of %(total)s records"), done=done,
                                                            total=total))
            seen = done
        _, tally = recalls.import_file(engine, filename, content, actor=actor, clock=clock, progress=report)
        counts = tally.as_dict()
        summary = translate(locale, N_("%(records)s records: %(new_recalls)s new recalls, %(known_recalls)s already "
                                       "known, %(refused)s refused; %(linked)s assets linked with a work order "
                                       "each, %(to_review)s matches to review."), **counts)
        return JobResult(summary=summary, problems=tuple(recalls.describe(r, locale) for r in tally.refused[:500]))
    return run


@bp.post("/import")
@login_required
def upload():
    """Start the import job of an uploaded openFDA file."""
    require(g.actor, "recall.manage")
    recalls.require_hospital_wide(g.actor)
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        return import_form(error=gettext("file: choose an openFDA device recall or enforcement file (.json or "
                                         ".zip)"), status=400)
    try:
        content = read_limited(upload_file.stream, MAX_BYTES)
    except InvalidInput as exc:
        return import_form(error=error_message(exc), status=400)
    job = ui_state().jobs.submit(kind="import", title=gettext("Recall import from %(file)s", file=upload_file.filename),
                                 owner_id=g.actor.user_id,
                                 fn=_job(state().engine, g.actor, state().clock, upload_file.filename, content,
                                         current_locale()))
    return redirect(url_for("jobs.detail", job_id=job.id), 303)


def _notice_form(values: dict, error: str | None = None, status: int = 200):
    return render_template("compliance/notice.html", values=values, error=error,
                           regulators=[r for r in RECALL_REGULATORS if r != "FDA"]), status


@bp.route("/notices/new", methods=["GET", "POST"])
@login_required
def notice():
    """Enter a field safety notice from another regulator (MHRA, ANSM...)."""
    require(g.actor, "recall.manage")
    if request.method == "GET":
        return _notice_form({"regulator": "MHRA"})
    data = {k: v for k, v in request.form.items() if k != CSRF_FIELD and k in recalls.NOTICE_FIELDS}
    try:
        recall, tally = recalls.create_notice(db(), data, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return _notice_form(data, error_message(exc), 400)
    commit()
    flash(gettext("Notice %(reference)s recorded: %(linked)s assets linked, %(to_review)s to review.",
                  reference=recall.reference, linked=tally.linked, to_review=tally.to_review), "success")
    return redirect(url_for("recalls.detail", recall_id=recall.id), 303)
