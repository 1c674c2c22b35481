"""The organisation page (sites, their departments and locations) and the first-run setup
(rules in :mod:`wardlink.hub.services.people.org_admin`)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from flask_babel import gettext

from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.people import org_admin, org_lookup
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.validate import optional_id
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("org", __name__, template_folder="templates")


def _page(error: str | None = None, values: dict | None = None, status: int = 200):
    session = db()
    sites = org_lookup.visible_sites(session, actor=g.actor)
    departments = org_lookup.visible_departments(session, actor=g.actor)
    locations = org_lookup.visible_locations(session, actor=g.actor)
    return render_template("admin/organisation.html", sites=sites, departments=departments, locations=locations,
                           zones=org_lookup.zone_names(), server_zone=org_lookup.server_zone(),
                           unscoped=department_scope(g.actor) is None, error=error,
                           values=values or {}), status


@bp.get("/admin/organisation")
@login_required
def index():
    """Show the sites with their departments and locations, and the forms that change them."""
    require(g.actor, "site.manage")
    return _page()


def _form() -> dict:
    return {k: v for k, v in request.form.items() if k != CSRF_FIELD}


def _site_id(form: dict) -> int:
    site_id = optional_id("site_id", form.pop("site_id", None))
    if site_id is None:
        raise InvalidInput(N_("site_id: choose a site"))
    return site_id


def _add(kind: str, form: dict) -> None:
    clock = state().clock
    if kind == "site":
        org_admin.create_site(db(), form, actor=g.actor, clock=clock)
    elif kind == "department":
        org_admin.create_department(db(), _site_id(form), form, actor=g.actor, clock=clock)
    else:
        org_admin.create_location(db(), _site_id(form), form, actor=g.actor, clock=clock)


#: kind -> (update, delete)
CHANGES = {
    "site": (org_admin.update_site, org_admin.delete_site),
    "department": (org_admin.update_department, org_admin.delete_department),
    "location": (org_admin.update_location, org_admin.delete_location),
}
#: (kind, action) -> what the flash message says
DONE = {
    ("site", "add"): N_("Site added."), ("site", "update"): N_("Site saved."),
    ("site", "delete"): N_("Site deleted."),
    ("department", "add"): N_("Department added."), ("department", "update"): N_("Department saved."),
    ("department", "delete"): N_("Department deleted."),
    ("location", "add"): N_("Location added."), ("location", "update"): N_("Location saved."),
    ("location", "delete"): N_("Location deleted."),
}


@bp.post("/admin/organisation/<kind>/add", defaults={"item_id": None, "action": "add"})
@bp.post("/admin/organisation/<kind>/<int:item_id>/<action>")
@login_required
def change(kind: str, item_id: int | None, action: str):
    """Add, change or delete a site, department or location."""
    if kind not in CHANGES or action not in ("add", "update", "delete"):
        abort(404)
    update, delete = CHANGES[kind]
    form = _form()
    try:
        if action == "add":
            _add(kind, dict(form))
        elif action == "update":
            update(db(), item_id, form, actor=g.actor, clock=state().clock)
        else:
            delete(db(), item_id, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return _page(error_message(exc), {"kind": kind, "item_id": item_id, **form}, 400)
    commit()
    flash(gettext(DONE[kind, action]), "success")
    return redirect(url_for("org.index"), 303)


@bp.route("/setup", methods=["GET", "POST"])
@login_required
def setup():
    """The first-run setup: the hub's first site (name, time zone) and first department."""
    require(g.actor, "site.manage")
    if not org_admin.needs_setup(db()):
        return redirect(url_for("org.index"))
    error, form = None, _form()
    if request.method == "POST":
        try:
            org_admin.first_run(db(), form, actor=g.actor, clock=state().clock)
        except InvalidInput as exc:
            db().rollback()
            error = error_message(exc)
        else:
            commit()
            flash(gettext("Setup done: your site and first department exist. Add more departments and locations "
                          "here."), "success")
            return redirect(url_for("org.index"), 303)
    return render_template("admin/setup.html", zones=org_lookup.zone_names(), server_zone=org_lookup.server_zone(),
                           values=form, error=error), 400 if error else 200
