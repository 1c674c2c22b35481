"""People administration: users and roles (the permission table); sites, departments and
locations are on the organisation page (:mod:`wardlink.hub.web.people.org_pages`)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db.vocab import ROLES
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.people import org
from wardlink.hub.services.people import users
from wardlink.hub.services.people.permissions import ACTION_TEXT, PERMISSIONS, require
from wardlink.hub.services.validate import optional_id
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.state import state

bp = Blueprint("admin", __name__, template_folder="templates", url_prefix="/admin")


def _users_page(*, error: str | None = None, new_password: tuple[str, str] | None = None,
                values: dict | None = None, status: int = 200):
    return render_template("admin/users.html", users=users.list_users(db(), actor=g.actor),
                           departments=org.list_departments(db()), roles=ROLES, error=error,
                           new_password=new_password, values=values or {}), status


@bp.get("/users")
@login_required
def users_index():
    """List every user with role, department and state."""
    return _users_page()


@bp.post("/users")
@login_required
def users_create():
    """Create a user with a generated password, shown once."""
    form = request.form
    try:
        user, secret = users.create_user_with_generated_password(
            db(), username=form.get("username", ""), role=form.get("role", ""),
            display_name=form.get("display_name") or None, email=form.get("email") or None,
            department_id=optional_id("department_id", form.get("department_id")),
            actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return _users_page(error=error_message(exc), values=form, status=400)
    commit()
    # Rendered into this response only: never flashed, since flash messages live in the cookie.
    return _users_page(new_password=(user.username, secret))


@bp.route("/users/<username>", methods=["GET", "POST"])
@login_required
def users_edit(username: str):
    """Change a user's name, e-mail, role or department."""
    require(g.actor, "user.manage")
    user = users.find_user(db(), username)
    if user is None:
        raise NotFound(N_("user '%(username)s' does not exist"), username=username)
    error = None
    if request.method == "POST":
        form = request.form
        try:
            users.update_user(db(), user.username, {
                "display_name": form.get("display_name", ""), "email": form.get("email", ""),
                "role": form.get("role", ""),
                "department_id": optional_id("department_id", form.get("department_id"))},
                actor=g.actor, clock=state().clock)
        except InvalidInput as exc:
            db().rollback()
            error = error_message(exc)
        else:
            commit()
            flash(gettext("User %(name)s updated.", name=user.username), "success")
            return redirect(url_for("admin.users_index"))
    return render_template("admin/user_edit.html", user=user, roles=ROLES, error=error,
                           departments=org.list_departments(db())), 400 if error else 200


@bp.post("/users/<username>/active")
@login_required
def users_active(username: str):
    """Enable or disable an account."""
    active = request.form.get("active") == "1"
    try:
        users.set_active(db(), username, active, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return _users_page(error=error_message(exc), status=400)
    commit()
    flash(gettext("User %(name)s enabled.", name=username) if active else
          gettext("User %(name)s disabled.", name=username), "success")
    return redirect(url_for("admin.users_index"))


@bp.post("/users/<username>/reset-password")
@login_required
def users_reset(username: str):
    """Give a user a new generated password (shown once) and clear a lockout."""
    secret = users.reset_password(db(), username=username, actor=g.actor, clock=state().clock)
    commit()
    return _users_page(new_password=(username, secret))


@bp.get("/roles")
@login_required
def roles():
    """Show which role may do what."""
    require(g.actor, "user.view")
    return render_template("admin/roles.html", roles=ROLES, permissions=PERMISSIONS, actions=ACTION_TEXT)
