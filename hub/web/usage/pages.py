"""The usage pages: an asset's usage page (what the QR code's "Start using" opens on a phone:
the procedure, the warning, what holds the start, the start form, or the open session with its
end and transfer), the sessions in use, the knowledge with its search and form, training
records and rentals. Routes are thin: the rules live in :mod:`wardlink.hub.services.usage`.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db.vocab import RENTAL_KINDS, USAGE_STATUSES
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.assets.register import get_asset
from wardlink.hub.services.people import org
from wardlink.hub.services.people.permissions import can, require
from wardlink.hub.services.usage import knowledge, procedure, rentals, sessions, training
from wardlink.hub.services.usage.sessions import UsagePolicy
from wardlink.hub.services.validate import text
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("usage", __name__, template_folder="templates", url_prefix="/usage")


def _form() -> dict[str, str]:
    return {k: v for k, v in request.form.items() if k != CSRF_FIELD}


def policy() -> UsagePolicy:
    """Return the site's usage policy from the hub's settings."""
    return UsagePolicy.from_config(state().config)


def _status(exc: Exception) -> int:
    return 403 if isinstance(exc, PermissionDenied) else 400


@bp.get("")
@login_required
def index():
    """List the sessions in use now and the latest ones."""
    require(g.actor, "usage.view")
    return render_template("usage/index.html", open_rows=sessions.list_sessions(db(), actor=g.actor, open_only=True),
                           recent=sessions.list_sessions(db(), actor=g.actor, limit=50))


def _scan_page(tag: str, *, error: str | None = None, status: int = 200, values: dict | None = None):
    session = db()
    asset = get_asset(session, tag, actor=g.actor)
    found = sessions.readiness(session, asset, user_id=g.actor.user_id, policy=policy(), clock=state().clock)
    current = sessions.open_session(session, asset.id)
    rental = rentals.latest(session, asset.id)
    return render_template(
        "usage/scan.html", asset=asset, found=found, current=current, rental=rental,
        procedure_html=procedure.render(found.knowledge.procedure), error=error, values=values or {},
        departments=org.list_departments(session), encounter_on=policy().encounter_key is not None,
        history=sessions.list_sessions(session, actor=g.actor, asset_tag=asset.tag, limit=10),
        message_text=error_message), status


@bp.get("/assets/<tag>")
@login_required
def scan(tag: str):
    """Show what applies to an asset before use and the start form (or its open session)."""
    require(g.actor, "usage.view")
    return _scan_page(tag)


def _act(tag: str, call, message: str):
    form = _form()
    try:
        call(form)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _scan_page(tag, error=error_message(exc), status=_status(exc), values=form)
    commit()
    flash(message, "success")
    return redirect(url_for("usage.scan", tag=tag), 303)


@bp.post("/assets/<tag>/start")
@login_required
def start(tag: str):
    """Start a session from the scan page's form."""
    def call(form):
        sessions.start(db(), tag, department_id=form.get("department_id") or None, reason=form.get("reason", ""),
                       encounter=form.get("encounter", ""), override_reason=form.get("override_reason", ""),
                       policy=policy(), actor=g.actor, clock=state().clock)
    return _act(tag, call, gettext("Session started."))


@bp.post("/assets/<tag>/ready")
@login_required
def ready(tag: str):
    """Mark an asset cleaned or inspected: available again."""
    return _act(tag, lambda form: sessions.mark_ready(db(), tag, actor=g.actor, clock=state().clock),
                gettext("Marked available."))


@bp.post("/sessions/<int:session_id>/end")
@login_required
def end(session_id: int):
    """End a session."""
    row = sessions.get_session(db(), session_id, actor=g.actor)
    tag = row.asset.tag
    return _act(tag, lambda form: sessions.end(db(), session_id, actor=g.actor, clock=state().clock),
                gettext("Session ended."))


@bp.post("/sessions/<int:session_id>/transfer")
@login_required
def transfer(session_id: int):
    """Transfer a session to another department."""
    tag = sessions.get_session(db(), session_id, actor=g.actor).asset.tag
    return _act(tag, lambda form: sessions.transfer(db(), session_id, department_id=form.get("department_id"),
                                                    reason=form.get("reason", ""), actor=g.actor,
                                                    clock=state().clock),
                gettext("Session transferred."))


# ------------------------------------------------------------------ knowledge


@bp.get("/knowledge")
@login_required
def knowledge_index():
    """List and search the knowledge."""
    q = text(200)("q", request.args.get("q"))
    return render_template("usage/knowledge.html", entries=knowledge.search(db(), q, actor=g.actor), q=q)


def _knowledge_form(entry, *, error: str | None = None, status: int = 200, values: dict | None = None):
    if values is None:
        values = {k: ("" if v is None else v) for k, v in knowledge.snapshot(entry).items()} if entry else {}
        if entry is not None:
            values["training_required"] = {True: "yes", False: "no", None: ""}[entry.training_required]
    return render_template("usage/knowledge_form.html", entry=entry, values=values, error=error,
                           statuses=[s for s in USAGE_STATUSES if s != "in_use"]), status


@bp.get("/knowledge/new")
@login_required
def knowledge_new():
    """Show the form of a new knowledge entry."""
    require(g.actor, "knowledge.manage")
    return _knowledge_form(None, values={"category": request.args.get("category", "")})


@bp.get("/knowledge/<int:entry_id>")
@login_required
def knowledge_edit(entry_id: int):
    """Show a knowledge entry with its form."""
    return _knowledge_form(knowledge.get_entry(db(), entry_id, actor=g.actor))


@bp.post("/knowledge", defaults={"entry_id": None})
@bp.post("/knowledge/<int:entry_id>")
@login_required
def knowledge_save(entry_id: int | None):
    """Add or change a knowledge entry."""
    form = _form()
    for name in ("procedure", "critical_warning", "cleaning", "return_status", "training_required",
                 "max_use_hours", "maintenance_interval_days"):
        if name in form and form[name] == "":
            form[name] = None  # blank: the category's (or nothing)
    try:
        if entry_id is None:
            entry_id = knowledge.create_entry(db(), form, actor=g.actor, clock=state().clock).id
        else:
            knowledge.update_entry(db(), entry_id, form, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        existing = knowledge.get_entry(db(), entry_id, actor=g.actor) if entry_id else None
        return _knowledge_form(existing, error=error_message(exc), status=400, values=_form())
    commit()
    flash(gettext("Knowledge saved."), "success")
    return redirect(url_for("usage.knowledge_edit", entry_id=entry_id), 303)


# ------------------------------------------------------------------ training


def _training_page(*, error: str | None = None, status: int = 200, values: dict | None = None):
    from wardlink.hub.services.people import users

    people = users.list_users(db(), actor=g.actor) if can(g.actor, "training.manage") else []
    return render_template("usage/training.html", records=training.list_records(db(), actor=g.actor),
                           people=people, error=error, values=values or {},
                           today=rentals.site_today(db(), g.actor.department_id, state().clock)), status


@bp.get("/training")
@login_required
def training_index():
    """List training records (and the form to record one)."""
    return _training_page()


@bp.post("/training")
@login_required
def training_record():
    """Record a training."""
    form = _form()
    try:
        training.record(db(), form, today=rentals.site_today(db(), g.actor.department_id, state().clock),
                        actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _training_page(error=error_message(exc), status=_status(exc), values=form)
    commit()
    flash(gettext("Training recorded."), "success")
    return redirect(url_for("usage.training_index"), 303)


# ------------------------------------------------------------------ rentals


def _rentals_page(*, error: str | None = None, status: int = 200, values: dict | None = None):
    today = rentals.site_today(db(), g.actor.department_id, state().clock)
    rows = [(r, rentals.cost_to_date(db(), r, today), rentals.inspection_passed(db(), r))
            for r in rentals.list_rentals(db(), actor=g.actor)]
    return render_template("usage/rentals.html", rows=rows, kinds=RENTAL_KINDS, error=error, values=values or {},
                           today=today), status


@bp.get("/rentals")
@login_required
def rentals_index():
    """List rentals and loaners with their cost to date (and the form to register one)."""
    return _rentals_page()


@bp.post("/rentals")
@login_required
def rental_register():
    """Register a rental or loaner."""
    form = _form()
    form["inspection_required"] = form.get("inspection_required", "no")
    try:
        rentals.register(db(), form, actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _rentals_page(error=error_message(exc), status=_status(exc), values=form)
    commit()
    flash(gettext("Rental registered."), "success")
    return redirect(url_for("usage.rentals_index"), 303)


@bp.post("/rentals/<int:rental_id>/<any(returning, returned):step>")
@login_required
def rental_return(rental_id: int, step: str):
    """Start or complete a rental's return."""
    form = _form()
    try:
        if step == "returning":
            rentals.start_return(db(), rental_id, note=form.get("note", ""), actor=g.actor, clock=state().clock)
        else:
            rentals.complete_return(db(), rental_id, returned_on=form.get("returned_on") or None, actor=g.actor,
                                    clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _rentals_page(error=error_message(exc), status=_status(exc))
    commit()
    flash(gettext("Rental updated."), "success")
    return redirect(url_for("usage.rentals_index"), 303)
