"""Service contract and warranty pages: the list (soonest to end first), one contract with the
assets it covers, and the form that adds or changes one.

What a contract covers, where it stands and who may change it are judged in
:mod:`wardlink.hub.services.contracts`; these views turn forms into service calls.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db.models.contracts import CONTRACT_KINDS
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.audit import readable
from wardlink.hub.services.contracts import register as contracts
from wardlink.hub.services.inventory import suppliers
from wardlink.hub.services.people.permissions import can, require
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.filters import display_zone
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.i18n import current_locale
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("contracts", __name__, template_folder="templates", url_prefix="/contracts")

PER_PAGE = 25
HISTORY_ROWS = 20
#: The checkboxes of the form (a box left unticked sends nothing).
FLAGS = ("covers_parts", "covers_labour", "covers_pm")


@bp.get("")
@login_required
def index():
    """List the contracts, filtered by state and text, soonest to end first."""
    wanted = request.args.get("state") or "active"
    try:
        page = contracts.list_contracts(db(), actor=g.actor, clock=state().clock, q=request.args.get("q"),
                                        state=wanted, asset_tag=request.args.get("asset") or None,
                                        page=page_number(), per_page=PER_PAGE)
    except InvalidInput as exc:
        db().rollback()
        return render_template("contracts/list.html", page=None, error=error_message(exc), states=contracts.STATES,
                               state_filter=wanted), 400
    today = contracts.today(db(), state().clock)
    return render_template("contracts/list.html", page=page, states=contracts.STATES, state_filter=wanted,
                           standing={c.id: contracts.standing(c, today) for c in page.items},
                           coverage=lambda c: contracts.coverage_text(c, current_locale()), error=None)


@bp.get("/<int:contract_id>")
@login_required
def detail(contract_id: int):
    """Show one contract, the assets it covers and its history."""
    contract = contracts.get_contract(db(), contract_id, actor=g.actor)
    today = contracts.today(db(), state().clock)
    return render_template(
        "contracts/detail.html", contract=contract, standing=contracts.standing(contract, today),
        coverage=contracts.coverage_text(contract, current_locale()), warning_days=contracts.WARNING_DAYS,
        history=readable.history(db(), actor=g.actor, entity="contract", entity_id=contract.id,
                                 zone=display_zone(), limit=HISTORY_ROWS))


def _form_data() -> dict:
    data = {k: v for k, v in request.form.items() if k != CSRF_FIELD and k not in FLAGS}
    data.update({flag: flag in request.form for flag in FLAGS})
    return data


def _form(contract, values: dict, error: str | None = None, status: int = 200):
    listed = suppliers.list_suppliers(db(), actor=g.actor, active=True, per_page=200).items \
        if can(g.actor, "part.view") else []
    return render_template("contracts/form.html", contract=contract, values=values, error=error,
                           kinds=CONTRACT_KINDS, suppliers=listed), status


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Add a contract or warranty."""
    require(g.actor, "contract.manage")
    if request.method == "GET":
        return _form(None, {"kind": "service", "asset_tags": request.args.get("asset", "")})
    data = _form_data()
    try:
        contract = contracts.create_contract(db(), data, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return _form(None, data, error_message(exc), 400)
    commit()
    flash(gettext("Contract %(reference)s added.", reference=contract.reference), "success")
    return redirect(url_for("contracts.detail", contract_id=contract.id), 303)


@bp.route("/<int:contract_id>/edit", methods=["GET", "POST"])
@login_required
def edit(contract_id: int):
    """Change a contract: its terms, what it covers and the assets it covers."""
    require(g.actor, "contract.manage")
    contract = contracts.get_contract(db(), contract_id, actor=g.actor)
    if request.method == "GET":
        values = contracts.snapshot(contract)
        values["asset_tags"] = "\n".join(values["asset_tags"])
        return _form(contract, values)
    data = _form_data()
    try:
        contracts.update_contract(db(), contract_id, data, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        return _form(contracts.get_contract(db(), contract_id, actor=g.actor), data, error_message(exc), 400)
    commit()
    flash(gettext("Contract %(reference)s saved.", reference=contract.reference), "success")
    return redirect(url_for("contracts.detail", contract_id=contract_id), 303)
