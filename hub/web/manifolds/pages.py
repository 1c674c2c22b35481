"""The oxygen manifold pages: every manifold with its bank pressures, the bank in use, the flow and
how long the gas lasts; one manifold with its changeover history; the set-up form. Routes are
thin: the rules live in :mod:`wardlink.hub.services.manifolds`.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.manifolds import register
from wardlink.hub.services.people.permissions import require
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("manifolds", __name__, template_folder="templates", url_prefix="/manifolds")
FIELDS = ("asset_tag", "gateway_id", "bank_a_channel", "bank_b_channel", "bank_capacity_l", "full_bar",
          "changeover_bar", "reserve_hours")


@bp.get("")
@login_required
def index():
    """List the manifolds with what each is doing now."""
    rows = [(m, register.supply(m)) for m in register.list_manifolds(db(), actor=g.actor)]
    return render_template("manifolds/list.html", rows=rows)


@bp.get("/<int:manifold_id>")
@login_required
def detail(manifold_id: int):
    """Show a manifold: bank pressures, bank in use, flow, time to empty and its changeovers."""
    manifold = register.get_manifold(db(), manifold_id, actor=g.actor)
    return render_template("manifolds/detail.html", manifold=manifold, supply=register.supply(manifold),
                           changeovers=register.changeovers(db(), manifold))


def _form_page(manifold, *, values: dict | None = None, error: str | None = None, status: int = 200):
    if values is None:
        values = register.snapshot(manifold) if manifold else {"full_bar": 200, "changeover_bar": 10,
                                                                "reserve_hours": 24}
    return render_template("manifolds/form.html", manifold=manifold, values=values, error=error), status


@bp.get("/new")
@login_required
def new():
    """Show the form that sets up a manifold."""
    require(g.actor, "manifold.manage")
    return _form_page(None)


@bp.get("/<int:manifold_id>/edit")
@login_required
def edit(manifold_id: int):
    """Show the form that changes a manifold's settings."""
    require(g.actor, "manifold.manage")
    return _form_page(register.get_manifold(db(), manifold_id, actor=g.actor))


@bp.post("", defaults={"manifold_id": None})
@bp.post("/<int:manifold_id>/edit")
@login_required
def save(manifold_id: int | None):
    """Set up or change a manifold from the form."""
    form = {k: v for k, v in request.form.items() if k != CSRF_FIELD and k in FIELDS}
    try:
        if manifold_id is None:
            manifold_id = register.create_manifold(db(), form, actor=g.actor, clock=state().clock).id
        else:
            register.update_manifold(db(), manifold_id, form, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        existing = register.get_manifold(db(), manifold_id, actor=g.actor) if manifold_id else None
        return _form_page(existing, values=form, error=error_message(exc), status=400)
    commit()
    flash(gettext("Manifold saved."), "success")
    return redirect(url_for("manifolds.detail", manifold_id=manifold_id), 303)
