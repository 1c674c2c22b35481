"""The suppliers pages: the list, adding one, and changing one with its contacts
(rules in :mod:`wardlink.hub.services.inventory.suppliers`)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.inventory import suppliers
from wardlink.hub.services.people.permissions import require
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.state import state

bp = Blueprint("suppliers", __name__, template_folder="templates", url_prefix="/inventory/suppliers")
#: Contact rows the form offers (blank rows are left out).
CONTACT_ROWS = 4
FIELDS = ("name", "email", "phone", "address", "website", "lead_time_days", "payment_terms", "notes", "active")


@bp.get("")
@login_required
def index():
    """List suppliers by name (``q`` searches)."""
    page = suppliers.list_suppliers(db(), actor=g.actor, search=request.args.get("q") or "", page=page_number(),
                                    per_page=50)
    return render_template("inventory/suppliers.html", page=page)


def _form_page(supplier, *, error: str | None = None, status: int = 200, values: dict | None = None):
    if values is None:
        values = suppliers.snapshot(supplier) if supplier else {"active": True, "contacts": []}
    contacts = list(values.get("contacts", [])) + [{}] * CONTACT_ROWS
    return render_template("inventory/supplier_form.html", supplier=supplier, values=values,
                           contacts=contacts[:max(CONTACT_ROWS, len(values.get("contacts", [])) + 1)],
                           error=error), status


@bp.get("/new")
@login_required
def new():
    """Show the form of a new supplier."""
    require(g.actor, "supplier.manage")
    return _form_page(None)


@bp.get("/<int:supplier_id>")
@login_required
def edit(supplier_id: int):
    """Show a supplier (and, for procurement, the form that changes it)."""
    return _form_page(suppliers.get_supplier(db(), supplier_id, actor=g.actor))


def _typed() -> dict:
    data = {k: request.form.get(k, "") for k in FIELDS}
    data["active"] = request.form.get("active", "yes")
    contacts = []
    for n in range(int(request.form.get("contact_rows", CONTACT_ROWS) or CONTACT_ROWS)):
        row = {k: request.form.get(f"contact-{n}-{k}", "") for k in ("name", "role", "email", "phone")}
        if any(v.strip() for v in row.values()):
            contacts.append(row)
    data["contacts"] = contacts
    return data


@bp.post("", defaults={"supplier_id": None})
@bp.post("/<int:supplier_id>")
@login_required
def save(supplier_id: int | None):
    """Add or change a supplier from the form."""
    data = _typed()
    try:
        if supplier_id is None:
            supplier_id = suppliers.create_supplier(db(), data, actor=g.actor, clock=state().clock).id
        else:
            suppliers.update_supplier(db(), supplier_id, data, actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        current = suppliers.get_supplier(db(), supplier_id, actor=g.actor) if supplier_id else None
        return _form_page(current, error=error_message(exc), status=403 if isinstance(exc, PermissionDenied) else 400,
                          values=data)
    commit()
    flash(gettext("Supplier saved."), "success")
    return redirect(url_for("suppliers.edit", supplier_id=supplier_id), 303)
