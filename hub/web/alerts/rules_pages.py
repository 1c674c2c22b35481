"""The alert rules pages: list, create, edit, enable or disable rules, and export or import
them as a rules file.

Routes only translate forms to :mod:`wardlink.hub.rules.editing`, which validates with the rules
file's own validator, checks the ``rule.manage`` permission, audits every change and bumps
the rules generation, so every rules engine applies a change from its next batch or tick.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db.vocab import ALERT_SEVERITIES, WORK_ORDER_PRIORITIES
from wardlink.hub.errors import InvalidInput
from wardlink.hub.rules import editing
from wardlink.hub.rules import preview as previews
from wardlink.hub.rules.spec import MATCH_KEYS
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.people.permissions import can, require
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.state import state

bp = Blueprint("rules", __name__, template_folder="templates", url_prefix="/rules")


@bp.get("")
@login_required
def index():
    """List the rules with their kind, severity, match, parameters and alert counts."""
    rules, counts = alerts.rule_overview(db(), actor=g.actor)
    return render_template("rules/list.html", rules=rules, open_counts=counts,
                           can_manage=can(g.actor, "rule.manage"))


def _form_page(values: dict, *, rule=None, error: str | None = None, error_at: str | None = None,
               status: int = 200, preview=None):
    kinds = {k["kind"]: k for k in editing.kinds(actor=g.actor)}
    kind = kinds.get(values.get("kind", ""))
    return render_template("rules/form.html", values=values, rule=rule, kind=kind, kinds=list(kinds.values()),
                           severities=ALERT_SEVERITIES, priorities=WORK_ORDER_PRIORITIES, match_keys=MATCH_KEYS,
                           error=error, error_at=error_at, preview=preview, max_days=previews.MAX_DAYS), status


def _preview_form(values: dict, rule=None):
    """Show the form again with how often the rule as typed would have fired (nothing saved)."""
    try:
        result = previews.preview_entry(db(), state().telemetry, editing.entry_from_form(values),
                                        days=previews.parse_days(values.get("days")), actor=g.actor,
                                        clock=state().clock)
    except InvalidInput as exc:
        return _refused(values, exc, rule=rule)
    return _form_page(values, rule=rule, preview=result)


def _refused(values: dict, exc: InvalidInput, rule=None):
    db().rollback()
    field = getattr(exc, "field", None)
    return _form_page(values, rule=rule, error=error_message(exc), error_at=field, status=400)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Pick a kind, then fill in the new rule's form."""
    require(g.actor, "rule.manage")
    if request.method == "GET":
        kind = request.args.get("kind", "")
        return _form_page({"kind": kind, "enabled": "on"})
    values = request.form.to_dict()
    if values.get("action") == "preview":
        return _preview_form(values)
    try:
        row = editing.create_rule(db(), editing.entry_from_form(values), actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        return _refused(values, exc)
    commit()
    flash(gettext("Rule %(name)s created; the rules engine applies it from the next reading.", name=row.name),
          "success")
    return redirect(url_for("rules.index"), 303)


@bp.route("/<name>/edit", methods=["GET", "POST"])
@login_required
def edit(name: str):
    """Change a rule's definition (its name and kind stay)."""
    require(g.actor, "rule.manage")
    rule = editing.get_rule(db(), name, actor=g.actor)
    if request.method == "GET":
        return _form_page(editing.form_of(editing.entry_of(rule)), rule=rule)
    values = {**request.form.to_dict(), "name": rule.name, "kind": rule.kind}
    if values.get("action") == "preview":
        return _preview_form(values, rule=rule)
    try:
        editing.update_rule(db(), name, editing.entry_from_form(values), actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        return _refused(values, exc, rule=rule)
    commit()
    flash(gettext("Rule %(name)s saved; the rules engine applies it from the next reading.", name=name), "success")
    return redirect(url_for("rules.index"), 303)


@bp.get("/<name>/preview")
@login_required
def preview(name: str):
    """How often a stored rule would have fired over the last days (``days``, 7 by default)."""
    rule = editing.get_rule(db(), name, actor=g.actor)
    days = request.args.get("days", "7")
    try:
        result = previews.preview_rule(db(), state().telemetry, name, days=previews.parse_days(days),
                                       actor=g.actor, clock=state().clock)
        error = None
    except InvalidInput as exc:
        result, error = None, error_message(exc)
    return render_template("rules/preview.html", rule=rule, preview=result, error=error, days=days,
                           max_days=previews.MAX_DAYS), 400 if error else 200


@bp.post("/<name>/enabled")
@login_required
def set_enabled(name: str):
    """Enable or disable a rule (``enabled`` = 1 or 0)."""
    enabled = request.form.get("enabled") == "1"
    editing.set_enabled(db(), name, enabled, actor=g.actor, clock=state().clock)
    commit()
    flash(gettext("Rule %(name)s enabled.", name=name) if enabled else gettext("Rule %(name)s disabled.", name=name),
          "success")
    return redirect(url_for("rules.index"), 303)


@bp.get("/export")
@login_required
def export():
    """Download every rule as a rules file (TOML)."""
    text = editing.export_rules(db(), actor=g.actor)
    return Response(text, mimetype="application/toml",
                    headers={"Content-Disposition": 'attachment; filename="wardlink-rules.toml"'})


@bp.post("/import")
@login_required
def import_file():
    """Apply an uploaded rules file as one change (validated first; nothing applied when refused)."""
    require(g.actor, "rule.manage")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(gettext("Import: choose a rules file (.toml or .json) first."), "error")
        return redirect(url_for("rules.index"), 303)
    data = upload.read(editing.MAX_IMPORT_BYTES + 1)
    try:
        document = editing.read_document(data, upload.filename)
        report = editing.import_rules(db(), document, actor=g.actor, clock=state().clock,
                                      filename=upload.filename)
    except InvalidInput as exc:
        db().rollback()
        flash(gettext("Import refused, nothing changed: %(error)s", error=error_message(exc)), "error")
        return redirect(url_for("rules.index"), 303)
    commit()
    flash(gettext("Imported %(file)s: %(created)s created, %(updated)s updated, %(disabled)s disabled, "
                  "%(unchanged)s unchanged.", file=upload.filename, created=len(report.created),
                  updated=len(report.updated), disabled=len(report.disabled), unchanged=len(report.unchanged)),
          "success")
    return redirect(url_for("rules.index"), 303)
