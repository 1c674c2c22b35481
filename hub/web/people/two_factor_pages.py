"""Two-factor sign-in pages: the code asked after the password, enrolment (during sign-in for
roles that must use it, or from the account page), recovery codes, and an administrator's reset.

The rules are in :mod:`wardlink.hub.services.people.two_factor`; between the password and the
code, the signed cookie holds only whose password was right and when
(:func:`wardlink.hub.web.people.auth.pending_user`): no session exists until the code is right.
"""

from __future__ import annotations

import segno
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db.models import User
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.errors import AccountLocked, AuthenticationFailed
from wardlink.hub.services.people import two_factor, users
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import (begin_session, client_ip, locked_out, login_required,
                                          pending_user)
from wardlink.hub.web.state import state

bp = Blueprint("twofactor", __name__, template_folder="templates")


def _expired():
    flash(gettext("Sign in again: the sign-in waited too long for its code."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/login/code", methods=["GET", "POST"])
def code():
    """Ask for the code of the authenticator app (or a recovery code) after the password."""
    user = pending_user()
    if user is None:
        return _expired()
    if not two_factor.is_enrolled(user):
        return redirect(url_for("twofactor.enrol"))
    if request.method == "GET":
        return render_template("auth/two_factor_code.html")
    try:
        method = two_factor.verify(db(), user, request.form.get("code", ""), clock=state().clock,
                                   source_ip=client_ip())
    except AccountLocked as exc:
        error, wait = locked_out(exc)
        return render_template("auth/two_factor_code.html", error=error), 429, {"Retry-After": str(wait)}
    except AuthenticationFailed:
        commit()  # keep the failure count and its audit row
        return render_template("auth/two_factor_code.html",
                               error=gettext("That code is not right. Enter the code your app shows now.")), 401
    users.finish_sign_in(db(), user, clock=state().clock, source_ip=client_ip(), second_factor=method)
    left = two_factor.recovery_codes_left(db(), user) if method == "recovery" else None
    response = begin_session(user)
    if left is not None:
        flash(gettext("You signed in with a recovery code; %(n)s codes are left. Each works once.", n=left),
              "info")
    return response


def _enrol_page(user: User, action: str, *, error: str | None = None, status: int = 200):
    secret = two_factor.start_enrolment(db(), user)
    commit()
    uri = two_factor.provisioning_uri(user, state().config.site_name)
    qr = segno.make(uri, error="m", micro=False).svg_data_uri(scale=5, border=4, dark="#000", light="#fff")
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("auth/two_factor_enrol.html", qr=qr, secret=grouped, action=action,
                           error=error, during_sign_in=action == url_for("twofactor.enrol")), status


def _confirm(user: User, action: str) -> tuple[list[str] | None, object]:
    try:
        codes = two_factor.confirm_enrolment(db(), user, request.form.get("code", ""),
                                             actor=Actor.for_user(user, client_ip()), clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return None, _enrol_page(user, action, error=error_message(exc), status=400)
    return codes, None


@bp.route("/login/enrol", methods=["GET", "POST"])
def enrol():
    """Set up the authenticator app during sign-in (roles that must use a second factor)."""
    user = pending_user()
    if user is None:
        return _expired()
    if two_factor.is_enrolled(user):
        return redirect(url_for("twofactor.code"))
    action = url_for("twofactor.enrol")
    if request.method == "GET":
        return _enrol_page(user, action)
    codes, failed = _confirm(user, action)
    if codes is None:
        return failed
    users.finish_sign_in(db(), user, clock=state().clock, source_ip=client_ip(), second_factor="totp")
    onward = begin_session(user)
    return render_template("auth/recovery_codes.html", codes=codes, onward=onward.location)


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def account():
    """Show whether the signed-in user uses a second factor, and let them set it up."""
    user = users.get_user(db(), g.actor.user_id)
    if two_factor.is_enrolled(user):
        return render_template("auth/two_factor_status.html", user=user,
                               left=two_factor.recovery_codes_left(db(), user))
    action = url_for("twofactor.account")
    if request.method == "GET":
        return _enrol_page(user, action)
    codes, failed = _confirm(user, action)
    if codes is None:
        return failed
    commit()
    return render_template("auth/recovery_codes.html", codes=codes, onward=url_for("auth.account"))


@bp.post("/admin/users/<username>/two-factor/reset")
@login_required
def reset(username: str):
    """Forget a user's authenticator and recovery codes and end their sessions."""
    user = two_factor.reset(db(), username, actor=g.actor, clock=state().clock)
    commit()
    flash(gettext("Two-factor sign-in of %(name)s has been reset; they set it up again at their next sign-in.",
                  name=user.username), "success")
    return redirect(url_for("admin.users_edit", username=user.username))
