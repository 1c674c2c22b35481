"""Alert pages: the list, acknowledging and resolving."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.i18n import N_

from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import ALERT_SEVERITIES, ALERT_STATES
from wardlink.hub.errors import InvalidInput
from wardlink.hub.rules import lifecycle
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.state import state

bp = Blueprint("alerts", __name__, template_folder="templates", url_prefix="/alerts")

STATE_FILTERS = ("active", *ALERT_STATES, "all")
#: How long an alert may be shelved from the alert pages, in hours.
SHELVE_HOURS = (1, 2, 4, 8, 24, 72)


@bp.get("")
@login_required
def index():
    """List alerts, unresolved first."""
    wanted = request.args.get("state", "active")
    number = page_number(lenient=True)
    page = alerts.list_alerts(db(), actor=g.actor, state=None if wanted == "all" else wanted,
                              severity=request.args.get("severity") or None, page=number, per_page=25)
    now = utc_now(state().clock)
    shelved = {}
    for alert in page.items:
        lc = lifecycle.get_lifecycle(db(), alert.id)
        if lifecycle.is_shelved(lc, now):
            shelved[alert.id] = lc
    return render_template("alerts/list.html", page=page, state_filter=wanted,
                           state_filters=STATE_FILTERS, severities=ALERT_SEVERITIES,
                           shelved=shelved, shelve_hours=SHELVE_HOURS)


def _back():
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("alerts.index"))


def _take_step(step, alert_id: int, done: str):
    """Run one person's step on an alert (the services check who may), with the form's note."""
    step(db(), alert_id, note=request.form.get("note", ""), actor=g.actor, clock=state().clock)
    commit()
    flash(gettext(done, alert=alert_id), "success")
    return _back()


@bp.post("/<int:alert_id>/acknowledge")
@login_required
def acknowledge(alert_id: int):
    """Acknowledge an open alert."""
    return _take_step(alerts.acknowledge, alert_id, N_("Alert %(alert)s acknowledged."))


@bp.post("/<int:alert_id>/resolve")
@login_required
def resolve(alert_id: int):
    """Resolve an alert with a note."""
    return _take_step(alerts.resolve, alert_id, N_("Alert %(alert)s resolved."))


@bp.post("/<int:alert_id>/shelve")
@login_required
def shelve(alert_id: int):
    """Shelve an unresolved alert for some hours, with a note saying why."""
    try:
        hours = int(request.form.get("hours", ""))
    except ValueError:
        raise InvalidInput(N_("hours: must be one of %(choices)s"), choices=', '.join(map(str, SHELVE_HOURS))) from None
    if hours not in SHELVE_HOURS:
        raise InvalidInput(N_("hours: must be one of %(choices)s, got %(hours)s"),
                           choices=', '.join(map(str, SHELVE_HOURS)), hours=hours)
    until = utc_now(state().clock) + timedelta(hours=hours)
    lifecycle.shelve(db(), alert_id, until=until, note=request.form.get("note", ""), actor=g.actor,
                     clock=state().clock)
    commit()
    flash(gettext("Alert %(alert)s shelved for %(hours)s h.", alert=alert_id, hours=hours), "success")
    return _back()


@bp.post("/<int:alert_id>/unshelve")
@login_required
def unshelve(alert_id: int):
    """End an alert's shelving now."""
    lifecycle.unshelve(db(), alert_id, actor=g.actor, clock=state().clock)
    commit()
    flash(gettext("Alert %(alert)s is no longer shelved.", alert=alert_id), "success")
    return _back()
