"""Gateway pages: status, channels, and binding channels to assets."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db.types import to_ms, utc_now
from wardlink.hub.errors import InvalidInput, StoreError
from wardlink.hub.i18n import N_
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.people.permissions import can
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.filters import display_zone
from wardlink.hub.web.readings import gateway_live, link_states, with_unregistered
from wardlink.hub.web.state import state

bp = Blueprint("gateways", __name__, template_folder="templates", url_prefix="/gateways")


@bp.get("")
@login_required
def index():
    """List gateways with their status, last contact and buffer depth."""
    gateway_list = gateways.list_gateways(db(), actor=g.actor)
    return render_template("gateways/list.html", gateway_list=gateway_list,
                           states=link_states(gateway_list))


@bp.get("/<gateway_id>")
@login_required
def detail(gateway_id: str, error: str | None = None, status: int = 200):
    """Show a gateway's channels, what each is bound to, and the binding forms."""
    gateway = gateways.get_gateway(db(), gateway_id, actor=g.actor)
    now = utc_now(state().clock)
    link = link_states([gateway], now)[gateway.gateway_id]
    live, telemetry_error = [], None
    if can(g.actor, "telemetry.view"):
        if state().telemetry is None:
            telemetry_error = gettext("No telemetry store is connected to this web server.")
        else:
            try:
                live = gateway_live(db(), gateway, state().telemetry, now, link.status)
            except StoreError as exc:
                telemetry_error = gettext("Telemetry store unavailable: %(error)s", error=error_message(exc))
    return render_template(
        "gateways/detail.html", gateway=gateway, link=link, live=live, telemetry_error=telemetry_error,
        now_ms=to_ms(now), channels=with_unregistered(gateways.channels_with_bindings(db(), gateway, now), live),
        assets=gateways.assets_for_binding(db(), actor=g.actor), error=error), status


def parse_local(name: str, value: str | None) -> datetime | None:
    """Parse a 'YYYY-MM-DDTHH:MM[:SS]' form value in the site's time zone; blank means None."""
    if not value or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(N_("%(field)s: must be a date and time as YYYY-MM-DDTHH:MM (local time), got %(value)r"),
                           field=name, value=value) from None
    return (moment.replace(tzinfo=display_zone()) if moment.tzinfo is None else moment).astimezone(UTC)


@bp.post("/<gateway_id>/channels/<channel_id>/bind")
@login_required
def bind(gateway_id: str, channel_id: str):
    """Bind a channel to an asset (closing its current binding)."""
    try:
        binding = gateways.bind_channel(
            db(), gateway_id=gateway_id, channel_id=channel_id,
            asset_tag=request.form.get("asset_tag", ""), metric=request.form.get("metric") or None,
            valid_from=parse_local("valid_from", request.form.get("valid_from")),
            actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return detail(gateway_id, error=error_message(exc), status=400)
    commit()
    flash(gettext("Channel %(channel)s now measures %(tag)s (%(metric)s).", channel=channel_id, tag=binding.asset.tag,
                  metric=binding.metric), "success")
    return redirect(url_for("gateways.detail", gateway_id=gateway_id))


@bp.post("/<gateway_id>/channels/<channel_id>/unbind")
@login_required
def unbind(gateway_id: str, channel_id: str):
    """End a channel's current binding."""
    try:
        closed = gateways.unbind_channel(db(), gateway_id=gateway_id, channel_id=channel_id,
                                         actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return detail(gateway_id, error=error_message(exc), status=400)
    commit()
    flash(gettext("Channel %(channel)s is no longer bound.", channel=channel_id) if closed else
          gettext("Channel %(channel)s was not bound.", channel=channel_id), "success")
    return redirect(url_for("gateways.detail", gateway_id=gateway_id))
