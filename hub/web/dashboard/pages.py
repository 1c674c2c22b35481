"""The overview page: equipment status, unresolved alerts, gateways and live readings."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask_babel import gettext

from wardlink.hub.db.types import to_ms, utc_now
from wardlink.hub.errors import StoreError
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.people.permissions import can
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.db import db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.alerts.fragments import ALERT_POLL
from wardlink.hub.web.dashboard.overview import gateway_counts, maintenance_overview
from wardlink.hub.web.readings import gateway_live, link_states
from wardlink.hub.web.state import state

bp = Blueprint("dashboard", __name__, template_folder="templates")

#: How many gateways get a live panel on the dashboard.
LIVE_GATEWAYS = 4


@bp.get("/")
@login_required
def index():
    """Show the overview."""
    session, actor = db(), g.actor
    now = utc_now(state().clock)
    context = {"counts": None, "alert_counts": None, "open_alerts": [], "gateway_list": [],
               "live": [], "telemetry_error": None, "now_ms": to_ms(now)}
    if can(actor, "asset.view"):
        context["counts"] = assets.status_counts(session, actor=actor)
    if can(actor, "alert.view"):
        context["alert_counts"] = alerts.open_counts(session, actor=actor)
        context["open_alerts"] = alerts.list_alerts(session, actor=actor, state="active",
                                                    per_page=10).items
    if can(actor, "gateway.view"):
        context["gateway_list"] = gateways.list_gateways(session, actor=actor)
    states = context["states"] = link_states(context["gateway_list"], now)
    context["online_count"] = sum(1 for link in states.values() if link.status == "online")
    context["gateway_counts"] = gateway_counts(states.values())
    context.update(maintenance_overview(session, actor, now))
    telemetry = state().telemetry
    if can(actor, "telemetry.view") and telemetry is not None:
        try:
            context["live"] = [(gw, gateway_live(session, gw, telemetry, now, states[gw.gateway_id].status))
                               for gw in context["gateway_list"][:LIVE_GATEWAYS]]
        except StoreError as exc:
            context["telemetry_error"] = gettext("Telemetry store unavailable: %(error)s", error=error_message(exc))
    context["alert_poll"] = ALERT_POLL
    return render_template("dashboard.html", **context)
