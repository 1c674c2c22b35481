"""The categories page: the managed list of equipment categories, their Fennigkoh-Smith
defaults, renaming and merging duplicates (rules in :mod:`wardlink.hub.services.assets.categories`)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.i18n import N_

from wardlink.hub.db.risk import RISK_FIELDS
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.assets import categories
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("categories", __name__, template_folder="templates", url_prefix="/categories")


def _page(error: str | None = None, values: dict | None = None, status: int = 200):
    return render_template("categories/index.html", rows=categories.list_categories(db(), actor=g.actor),
                           fields=categories.DEFAULT_FIELDS, tables=RISK_FIELDS, error=error,
                           values=values or {}), status


@bp.get("")
@login_required
def index():
    """List the categories with their defaults and how many assets each has."""
    return _page()


def _form() -> dict:
    return {k: v for k, v in request.form.items() if k not in (CSRF_FIELD, "into_id")}


#: action -> (service call, what the flash message says)
ACTIONS = {
    "add": (lambda form, _id: categories.create_category(db(), form, actor=g.actor, clock=state().clock),
            N_("Category added.")),
    "update": (lambda form, cid: categories.update_category(db(), cid, form, actor=g.actor, clock=state().clock),
               N_("Category saved.")),
    "merge": (lambda form, cid: categories.merge(db(), cid, int(request.form.get("into_id") or 0),
                                                 actor=g.actor, clock=state().clock),
              N_("Categories merged: the assets moved.")),
}


@bp.post("/<action>", defaults={"category_id": None})
@bp.post("/<int:category_id>/<action>")
@login_required
def change(action: str, category_id: int | None):
    """Add, change or merge a category."""
    if action not in ACTIONS or (action == "add") != (category_id is None):
        abort(404)
    call, message = ACTIONS[action]
    form = _form()
    try:
        call(form, category_id)
    except (InvalidInput, ValueError) as exc:
        db().rollback()
        return _page(error_message(exc), {"category_id": category_id, **form}, 400)
    commit()
    flash(gettext(message), "success")
    return redirect(url_for("categories.index"), 303)
