"""Page fragments that pages refresh in place (htmx polling): new alerts appear without reload."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.people.permissions import require
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.db import db

bp = Blueprint("fragments", __name__, template_folder="templates", url_prefix="/fragments")

#: How often pages refresh their alert panels.
ALERT_POLL = "10s"


@bp.get("/alerts")
@login_required
def open_alerts():
    """Return the unresolved-alerts panel of the dashboard."""
    require(g.actor, "alert.view")
    return render_template("fragments/alerts.html", alert_counts=alerts.open_counts(db(), actor=g.actor),
                           open_alerts=alerts.list_alerts(db(), actor=g.actor, state="active", per_page=10).items,
                           poll=ALERT_POLL)
