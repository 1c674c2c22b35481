"""Signing in and out, the account page, and who the current request acts as.

A browser signs in with a password and gets a signed session cookie; scripts send
``Authorization: Bearer <token>``. Either way the request gets ``g.actor`` (for services)
and ``g.user`` (for templates). The cookie carries only a session id that the database
must know (:mod:`wardlink.hub.services.people.signin`): signing out, a password change or reset, a disable or
a role change end sessions at once, and every session ends after :data:`SESSION_LIFETIME`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlsplit

from flask import (Blueprint, abort, flash, g, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext, refresh

from wardlink.hub.i18n import N_
from wardlink.hub.db import session_scope
from wardlink.hub.db.models import User
from wardlink.hub.errors import HubError, InvalidInput
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.people import directory_signin, signin, two_factor
from wardlink.hub.services.people.directory import DirectoryUnavailable
from wardlink.hub.services.people import users
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.errors import AccountLocked, AuthenticationFailed
from wardlink.hub.services.people import org_admin
from wardlink.hub.services.people.permissions import can
from wardlink.hub.web.db import SAFE_METHODS, commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.security import CSRF_FIELD, CSRF_HEADER, csrf_valid, rotate_csrf
from wardlink.hub.web.state import state

bp = Blueprint("auth", __name__, template_folder="templates")

SESSION_LIFETIME = signin.SESSION_LIFETIME
SESSION_KEY = "sid"
#: The cookie key of a sign-in waiting for its second factor, and for how long it waits.
PENDING_KEY = "pending_sign_in"
PENDING_S = 300


@dataclass(frozen=True)
class CurrentUser:
    """What templates may know about the signed-in user."""

    id: int
    username: str
    display_name: str
    role: str
    via: str  # "session" or "token"


# ------------------------------------------------------------------ identity


def client_ip() -> str | None:
    """Return the client's address (behind trusted proxies: the one they report)."""
    return request.remote_addr


def load_identity() -> None:
    """Set ``g.user``/``g.actor`` from the bearer token or the session cookie."""
    g.user = g.actor = g.auth_error = None
    header = request.headers.get("Authorization")
    if header is not None:
        _load_token(header)
        return
    session_id = session.get(SESSION_KEY)
    if session_id is None:
        if "uid" in session:
            session.clear()  # a cookie from before sessions were revocable
        return
    user = signin.session_user(db(), session_id, clock=state().clock)
    if user is None:  # signed out, ended, expired, or the user was disabled
        session.clear()
        return
    _set_identity(user, "session")


def _load_token(header: str) -> None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        g.auth_error = "the Authorization header must be 'Bearer <API token>'"
        return
    try:
        with session_scope(state().engine) as s:
            user = users.authenticate_token(s, token.strip(), clock=state().clock)
            _set_identity(user, "token")
    except AuthenticationFailed as exc:
        g.auth_error = str(exc)


def _set_identity(user: User, via: str) -> None:
    g.user = CurrentUser(user.id, user.username, user.display_name, user.role, via)
    g.actor = Actor.for_user(user, client_ip())


def check_csrf() -> None:
    """Refuse a state-changing request from a browser session without the right CSRF token."""
    if request.method in SAFE_METHODS or (g.user is not None and g.user.via == "token"):
        return
    if request.headers.get("Authorization") is not None or (
            g.user is None and request.path.startswith("/api/")):
        return  # nobody is signed in: the API answers 401 without touching anything
    submitted = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not csrf_valid(submitted):
        abort(400, description="The form's security token is missing or has expired. "
                               "Reload the page and try again (cookies must be enabled).")


def login_required(view):
    """Send visitors who are not signed in to the sign-in page."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.actor is None:
            if request.headers.get("HX-Request"):
                # A page fragment polled in the background: say "signed out" rather than
                # swapping the sign-in page into the middle of the page.
                return "Signed out", 401
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def user_can(action: str) -> bool:
    """Return True when the current user may perform ``action`` (for hiding buttons)."""
    return g.get("actor") is not None and can(g.actor, action)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never let ?next= send a user to another host after signing in.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("dashboard.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("dashboard.index")
    return target


# ------------------------------------------------------------------ views


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form and sign users in."""
    if g.actor is not None and g.user.via == "session" and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "GET":
        return render_template("auth/login.html", next=request.args.get("next", ""))
    next_url = request.form.get("next", "")
    username = request.form.get("username", "")
    clock = state().clock
    try:
        user = directory_signin.authenticate(
            db(), username, request.form.get("password", ""), directory=state().directory, clock=clock,
            source_ip=client_ip(), two_factor_roles=state().two_factor_roles)
    except DirectoryUnavailable:
        error = gettext("The hospital directory cannot be reached to check your password. Try again shortly.")
        return render_template("auth/login.html", next=next_url, username=username, error=error), 503
    except AccountLocked as exc:
        # One answer whether or not the user name exists: it says nothing about accounts.
        error, wait = locked_out(exc)
        return (render_template("auth/login.html", next=next_url, username=username, error=error),
                429, {"Retry-After": str(wait)})
    except AuthenticationFailed as exc:
        commit()  # keep the failure count and its audit row
        return render_template("auth/login.html", next=next_url, username=username,
                               error=gettext(SIGN_IN_ERRORS.get(str(exc), str(exc).capitalize() + "."))), 401
    if two_factor.needs_second_step(user, state().two_factor_roles):
        commit()
        return begin_second_step(user, next_url)
    return begin_session(user, next_url)


def begin_second_step(user: User, next_url: str):
    """Remember (in the signed cookie) whose password was right, and ask for the second factor."""
    session.clear()
    session[PENDING_KEY] = {"uid": user.id, "at": state().clock.now(), "next": next_url}
    rotate_csrf()
    target = "twofactor.code" if two_factor.is_enrolled(user) else "twofactor.enrol"
    return redirect(url_for(target))


def pending_user() -> User | None:
    """Return the user half-way through signing in (right password, no code yet), or None."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("uid"), int):
        return None
    if not isinstance(pending.get("at"), (int, float)) or state().clock.now() - pending["at"] > PENDING_S:
        return None
    user = db().get(User, pending["uid"])
    return user if user is not None and user.is_active else None


def begin_session(user: User, next_url: str | None = None):
    """Start a revocable session for ``user``, whose sign-in is complete, and go on."""
    if next_url is None:
        pending = session.get(PENDING_KEY)
        next_url = pending.get("next", "") if isinstance(pending, dict) else ""
    session_id = signin.start_session(db(), user, clock=state().clock, source_ip=client_ip())
    session.clear()
    session.permanent = True
    session[SESSION_KEY] = session_id
    rotate_csrf()
    commit()
    if org_admin.setup_pending_for(db(), Actor.for_user(user)):
        return redirect(url_for("org.setup"))
    return redirect(_safe_next(next_url))


@bp.post("/logout")
def logout():
    """Sign out and forget the session."""
    if g.actor is not None:
        if g.user.via == "session":
            signin.end_session(db(), session.get(SESSION_KEY))
        audit.record(db(), actor=g.actor, action="user.logout", entity="user",
                     entity_id=g.actor.username, clock=state().clock)
        commit()
    session.clear()
    flash(gettext("You have signed out."), "info")
    return redirect(url_for("auth.login"))


def locked_out(exc: AccountLocked) -> tuple[str, int]:
    """Return what a locked-out client reads and the seconds it must wait."""
    wait = max(1, math.ceil((exc.until - utc_now(state().clock)).total_seconds()))
    minutes = math.ceil(wait / 60)
    if wait <= 60:
        return gettext("Too many failed sign-in attempts from here. Try again in %(n)s minute.", n=minutes), wait
    return gettext("Too many failed sign-in attempts from here. Try again in %(n)s minutes.", n=minutes), wait


#: The sign-in failures people read, as the services word them (one answer whatever went wrong).
SIGN_IN_ERRORS = {"invalid username or password": N_("Invalid username or password.")}


@bp.get("/account")
@login_required
def account():
    """Show the password form and the user's API tokens."""
    return _account_page()


def _account_page(*, status: int = 200, new_token: str | None = None, error: str | None = None,
                  password_error: str | None = None, language_error: str | None = None):
    tokens = users.list_api_tokens(db(), actor=g.actor) if user_can("token.own") else []
    me = users.get_user(db(), g.actor.user_id)
    return render_template("auth/account.html", tokens=tokens, new_token=new_token, error=error,
                           password_error=password_error, language_error=language_error,
                           chosen_locale=me.locale, two_factor_on=two_factor.is_enrolled(me)), status


@bp.post("/account/password")
@login_required
def change_password():
    """Change the signed-in user's password."""
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return _account_page(status=400, password_error=gettext("The new passwords do not match."))
    try:
        users.change_password(db(), current=request.form.get("current_password", ""), new=new,
                              actor=g.actor, clock=state().clock,
                              keep_session=session.get(SESSION_KEY))  # this one survives; others end
    except InvalidInput as exc:
        return _account_page(status=400, password_error=error_message(exc))
    commit()
    flash(gettext("Your password has been changed."), "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/language")
@login_required
def change_language():
    """Set the signed-in user's own language (blank: their site's)."""
    try:
        users.set_language(db(), request.form.get("locale"), actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        return _account_page(status=400, language_error=error_message(exc))
    commit()
    refresh()  # this request's flash message is already in the new language
    flash(gettext("Your language has been saved."), "success")
    return redirect(url_for("auth.account"), 303)


@bp.post("/account/tokens")
@login_required
def create_token():
    """Issue an API token and show it once."""
    try:
        _, token = users.create_api_token(db(), name=request.form.get("name", ""), actor=g.actor,
                                          clock=state().clock)
    except HubError as exc:
        return _account_page(status=400, error=error_message(exc))
    commit()
    # Rendered straight into the page, never flashed: flash messages live in the cookie.
    return _account_page(new_token=token)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of the user's API tokens."""
    users.revoke_api_token(db(), token_id, actor=g.actor, clock=state().clock)
    commit()
    flash(gettext("The token has been revoked."), "success")
    return redirect(url_for("auth.account"))
