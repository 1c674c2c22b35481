"""Asset register pages: list, detail with live readings, create and edit."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.i18n import N_

from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import EQUIPMENT_STATUSES, LIFECYCLE_STAGES, MAINTENANCE_STATUSES, OWNER_TYPES
from wardlink.hub.errors import InvalidInput, StoreError
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.assets import status as equipment_status
from wardlink.hub.services.assets.attachments import asset_attachments
from wardlink.hub.services.audit import readable
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.people import org
from wardlink.hub.services.people.permissions import can, require
from wardlink.hub.web import files
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.filters import display_zone
from wardlink.hub.web.assets.sections import (asset_charts, finance_sections, grafana_panels,
                                               maintenance_sections)
from wardlink.hub.web.query_args import asset_filters, page_number
from wardlink.hub.web.readings import asset_live, recent
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("assets", __name__, template_folder="templates", url_prefix="/assets")

PER_PAGE = 25
STATUS_ROWS = 20


@bp.get("")
@login_required
def index():
    """List assets with search, filters and pages."""
    page = assets.list_assets(db(), actor=g.actor, **asset_filters(), page=page_number(), per_page=PER_PAGE)
    return render_template("assets/list.html", page=page, departments=org.list_departments(db()),
                           categories=assets.categories(db()), sorts=assets.SORTS,
                           equipment_statuses=EQUIPMENT_STATUSES,
                           maintenance_statuses=MAINTENANCE_STATUSES)


@bp.get("/<tag>")
@login_required
def detail(tag: str):
    """Show one asset, its live readings, bindings, alerts and history."""
    return _detail_page(tag)


def _detail_page(tag: str, *, error: str | None = None, values: dict | None = None, status: int = 200):
    session, actor = db(), g.actor
    asset = assets.get_asset(session, tag, actor=actor)
    now = utc_now(state().clock)
    telemetry = state().telemetry
    live, recent_rows, telemetry_error = [], [], None
    if can(actor, "telemetry.view"):
        if telemetry is None:
            telemetry_error = gettext("No telemetry store is connected to this web server.")
        else:
            try:
                live = asset_live(session, state().engine, asset, telemetry, now)
                recent_rows = recent(session, asset, telemetry, now)
            except StoreError as exc:
                telemetry_error = gettext("Telemetry store unavailable: %(error)s", error=error_message(exc))
    history = readable.history(session, actor=actor, entity="asset", entity_id=asset.tag, zone=display_zone())
    asset_alerts = alerts.list_alerts(session, actor=actor, asset_tag=asset.tag,
                                      per_page=10).items if can(actor, "alert.view") else []
    return render_template(
        "assets/detail.html", asset=asset, live=live, recent=recent_rows, now_ms=round(now.timestamp() * 1000),
        telemetry_error=telemetry_error, history=history, asset_alerts=asset_alerts,
        bindings=gateways.binding_history(session, asset_id=asset.id),
        charts=asset_charts(session, asset, now, live) if can(actor, "telemetry.view") and telemetry else [],
        grafana_panels=grafana_panels(asset), error=error, values=values or {},
        asset_files=asset_attachments(session, asset.tag, actor=actor),
        inline=files.is_inline, max_file_bytes=files.MAX_ATTACHMENT_BYTES,
        status_history=equipment_status.history(session, asset.tag, actor=actor, limit=STATUS_ROWS),
        **maintenance_sections(session, actor, asset, now), **finance_sections(session, actor, asset)), status


#: Tag-out steps on the asset page: service call and what the flash message says.
TAGOUT_STEPS = {
    "tag-out": (equipment_status.tag_out, N_("Asset %(tag)s tagged out: do not use.")),
    "clear": (equipment_status.clear_tag_out, N_("Asset %(tag)s back in service: tag-out cleared.")),
}


@bp.post("/<tag>/tag-out/<step>")
@login_required
def tagout(tag: str, step: str):
    """Tag an asset out of use, or clear its tag-out (managers, with a reason)."""
    if step not in TAGOUT_STEPS:
        abort(404)
    call, message = TAGOUT_STEPS[step]
    reason = request.form.get("reason", "")
    try:
        call(db(), tag, reason=reason, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return _detail_page(tag, error=error_message(exc), values={f"{step}-reason": reason}, status=400)
    commit()
    flash(gettext(message, tag=tag), "success")
    return redirect(url_for("assets.detail", tag=tag), 303)


def _form_data() -> dict:
    data = {k: v for k, v in request.form.items() if k != CSRF_FIELD}
    data["life_support"] = "life_support" in request.form
    return data


def _render_form(asset, values: dict, error: str | None = None, status: int = 200):
    # Tag-out has its own step (who, when, why); the form offers it only to show it is set.
    tagged = asset is not None and asset.equipment_status == equipment_status.TAGGED_OUT
    statuses = [s for s in EQUIPMENT_STATUSES if tagged or s != equipment_status.TAGGED_OUT]
    return render_template("assets/form.html", asset=asset, values=values, error=error,
                           departments=org.list_departments(db()), locations=org.list_locations(db()),
                           owner_types=OWNER_TYPES, lifecycle_stages=LIFECYCLE_STAGES,
                           equipment_statuses=statuses,
                           maintenance_statuses=MAINTENANCE_STATUSES), status


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Register a new asset."""
    require(g.actor, "asset.create")
    if request.method == "GET":
        return _render_form(None, dict(assets.DEFAULTS, department_id=g.actor.department_id))
    data = _form_data()
    try:
        asset = assets.create_asset(db(), data, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        return _render_form(None, data, error_message(exc), 400)
    commit()
    flash(gettext("Asset %(tag)s registered.", tag=asset.tag), "success")
    return redirect(url_for("assets.detail", tag=asset.tag))


@bp.route("/<tag>/edit", methods=["GET", "POST"])
@login_required
def edit(tag: str):
    """Change an asset's details and statuses."""
    require(g.actor, "asset.update")
    asset = assets.get_asset(db(), tag, actor=g.actor)
    if request.method == "GET":
        return _render_form(asset, assets.asset_snapshot(asset))
    data = _form_data()
    if data.pop("tag", asset.tag) != asset.tag:
        abort(400, description="An asset's tag cannot be changed.")
    try:
        assets.update_asset(db(), tag, data, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        return _render_form(asset, data, error_message(exc), 400)
    commit()
    flash(gettext("Asset %(tag)s updated.", tag=tag), "success")
    return redirect(url_for("assets.detail", tag=tag))
