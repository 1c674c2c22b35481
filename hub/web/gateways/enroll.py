"""Gateway enrollment over HTTP: the endpoint gateways call, and the administrator's actions.

``POST /api/enroll`` takes ``{"token": "wle_..."}`` from ``wardlink-edge enroll`` and answers
with the gateway's broker login, the broker's CA certificate and its initial config. It needs
no sign-in (the token is the credential), is rate-limited per client address, and every
attempt, accepted or refused, lands in the audit trail. The token travels in the body, never
in the URL, so no access log records it.

The ``/enrollment/...`` routes are the gateways pages' buttons: add a gateway (and get its
first token), issue a new token, disable, enable, revoke. A token is shown once, on the page
that answers the POST that created it.

Broker logins change through a :class:`~wardlink.hub.services.gateways.enrollment.BrokerAccounts` found through
its entry point on first use, or set with :func:`use_broker_accounts`.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Blueprint, Flask, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db import session_scope
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.gateways import enrollment
from wardlink.hub.services.gateways.enrollment import REFUSALS, BrokerAccounts, BrokerUnavailable, EnrollmentRefused
from wardlink.hub.services.people.permissions import require
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import client_ip, login_required
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.errors import error_response
from wardlink.hub.web.security import RateLimiter
from wardlink.hub.web.state import state
from wardlink.errors import WardlinkError

log = logging.getLogger("wardlink.web")

bp = Blueprint("enroll", __name__, template_folder="templates")

EXTENSION = "wardlink.enroll"
#: Enrollment attempts allowed per client address per window (Flask settings ENROLL_*).
ENROLL_ATTEMPTS = 10
ENROLL_WINDOW_S = 300.0
NOT_SET_UP = ("enrollment is not set up on this hub: give the web service a broker settings file "
              "(/etc/wardlink/enrollment.toml or $WARDLINK_ENROLLMENT_CONFIG; see docs/deployment.md)")


@dataclass
class EnrollState:
    """The broker accounts of this app (found once) and the enrollment rate limiter."""

    limiter: RateLimiter
    accounts: BrokerAccounts | None = None
    resolved: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def _enroll_state(app: Flask | None = None) -> EnrollState:
    app = app or current_app
    found = app.extensions.get(EXTENSION)
    if found is None:
        found = app.extensions.setdefault(EXTENSION, EnrollState(RateLimiter(
            int(app.config.get("ENROLL_ATTEMPTS", ENROLL_ATTEMPTS)),
            float(app.config.get("ENROLL_WINDOW_S", ENROLL_WINDOW_S)), app.extensions["wardlink"].clock)))
    return found


def use_broker_accounts(app: Flask, accounts: BrokerAccounts | None) -> None:
    """Make ``app`` change broker logins through ``accounts`` (None: enrollment switched off)."""
    st = _enroll_state(app)
    with st.lock:
        st.accounts, st.resolved = accounts, True


def broker_accounts() -> BrokerAccounts:
    """Return this app's broker accounts, or raise BrokerUnavailable when none is set up."""
    st = _enroll_state()
    with st.lock:
        if not st.resolved:
            try:
                st.accounts = enrollment.load_broker_accounts(state().config)
            except WardlinkError as exc:  # a bad settings file: say so, and read it again next time
                raise BrokerUnavailable(f"enrollment settings: {exc}") from exc
            # No settings file yet: look again next time. The guide starts the web unit before
            # the enrollment settings are written, and they must work without a restart.
            st.resolved = st.accounts is not None
    if st.accounts is None:
        raise BrokerUnavailable(NOT_SET_UP)
    return st.accounts


# ------------------------------------------------------------------ the gateway's request


@bp.post("/api/enroll")
def redeem():
    """Exchange a one-time enrollment token for broker credentials, CA certificate and config."""
    address = client_ip()
    wait = _enroll_state().limiter.hit(address or "-")
    if wait is not None:
        return error_response(429, "too_many_requests", "too many enrollment attempts from this address; "
                              f"try again in {math.ceil(wait)} s", {"Retry-After": str(math.ceil(wait))})
    body = request.get_json(silent=True)
    token = body.get("token") if isinstance(body, dict) else None
    hostname = body.get("hostname") if isinstance(body, dict) else None
    clock = state().clock
    try:
        accounts = broker_accounts()
        answer = enrollment.redeem(db(), accounts, token=token, source_ip=address, clock=clock,
                                   hostname=hostname)
        commit()
    except EnrollmentRefused as exc:
        db().rollback()
        with session_scope(state().engine) as session:
            enrollment.record_refusal(session, exc, source_ip=address, clock=clock)
        log.warning("enrollment refused (%s) for %s from %s", exc.reason, exc.gateway_id or "-", address)
        return error_response(REFUSALS[exc.reason], f"token_{exc.reason}", str(exc))
    except BrokerUnavailable as exc:
        db().rollback()
        log.error("enrollment from %s failed: %s", address, exc)
        return error_response(503, "broker_unavailable", f"the hub cannot set up the broker login now ({exc}); "
                                                         "the token was not used, try again later")
    log.info("gateway %s enrolled from %s", answer.gateway_id, address)
    return jsonify(answer.to_json())


# ------------------------------------------------------------------ the administrator's actions


def _ttl() -> timedelta:
    raw = (request.form.get("ttl_hours") or "").strip()
    if not raw:
        return enrollment.DEFAULT_TTL
    try:
        hours = float(raw)
    except ValueError:
        raise InvalidInput(f"ttl_hours: must be a number of hours, got {raw!r}") from None
    if not math.isfinite(hours):
        raise InvalidInput(f"ttl_hours: must be a number of hours, got {raw!r}")
    return timedelta(hours=hours)


def _issued_page(issued: enrollment.IssuedToken, added: bool):
    hub_url = state().config.public_url.rstrip("/") or request.host_url.rstrip("/")
    return render_template("enroll/issued.html", issued=issued, added=added, hub_url=hub_url), 201


def _failed(exc: Exception, gateway_id: str | None = None):
    db().rollback()
    flash(gettext("Nothing was changed: %(error)s", error=error_message(exc)), "error")
    if gateway_id:
        return redirect(url_for("gateways.detail", gateway_id=gateway_id))
    return redirect(url_for("gateways.index"))


@bp.post("/enrollment/gateways")
@login_required
def add():
    """Register a gateway, create its broker login and show its first enrollment token."""
    form = request.form
    require(g.actor, "gateway.manage")
    try:
        department_id = enrollment.department_by_code(db(), form.get("department"))
        issued = enrollment.add_gateway(
            db(), broker_accounts(), gateway_id=(form.get("gateway_id") or "").strip(),
            name=form.get("name", ""), department_id=department_id, ttl=_ttl(), actor=g.actor,
            clock=state().clock)
    except (InvalidInput, BrokerUnavailable) as exc:
        return _failed(exc)
    commit()
    return _issued_page(issued, added=True)


@bp.post("/enrollment/gateways/<gateway_id>/token")
@login_required
def new_token(gateway_id: str):
    """Issue a new enrollment token (voiding unused ones) and show it once."""
    try:
        issued = enrollment.issue_token(db(), gateway_id=gateway_id, ttl=_ttl(), actor=g.actor,
                                        clock=state().clock)
    except InvalidInput as exc:
        return _failed(exc, gateway_id)
    commit()
    return _issued_page(issued, added=False)


def _switch(gateway_id: str, enabled: bool):
    try:
        exists = enrollment.set_enabled(db(), broker_accounts(), gateway_id, enabled, actor=g.actor,
                                        clock=state().clock)
    except (InvalidInput, BrokerUnavailable) as exc:
        return _failed(exc, gateway_id)
    commit()
    if enabled:
        flash(gettext("Gateway %(gateway)s enabled.", gateway=gateway_id) if exists else
              gettext("Gateway %(gateway)s enabled. It has no broker login: issue an enrollment token and enroll it "
                      "again.", gateway=gateway_id), "success")
    else:
        flash(gettext("Gateway %(gateway)s disabled: its broker login is off and it was disconnected.",
                      gateway=gateway_id), "success")
    return redirect(url_for("gateways.detail", gateway_id=gateway_id))


@bp.post("/enrollment/gateways/<gateway_id>/disable")
@login_required
def disable(gateway_id: str):
    """Disable a gateway: switch its broker login off and disconnect it."""
    return _switch(gateway_id, False)


@bp.post("/enrollment/gateways/<gateway_id>/enable")
@login_required
def enable(gateway_id: str):
    """Enable a gateway and switch its broker login back on."""
    return _switch(gateway_id, True)


@bp.post("/enrollment/gateways/<gateway_id>/revoke")
@login_required
def revoke(gateway_id: str):
    """Revoke a gateway: delete its broker login, disconnect it, void its tokens."""
    try:
        enrollment.revoke(db(), broker_accounts(), gateway_id, actor=g.actor, clock=state().clock)
    except (InvalidInput, BrokerUnavailable) as exc:
        return _failed(exc, gateway_id)
    commit()
    flash(gettext("Gateway %(gateway)s revoked: its broker login was deleted and it was disconnected. "
                  "To bring it back, enable it and enroll it with a new token.", gateway=gateway_id), "success")
    return redirect(url_for("gateways.detail", gateway_id=gateway_id))
