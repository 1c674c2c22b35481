"""The purchase order pages: the list (by state and supplier), drafting one (from the reorder
list too), changing a draft's lines, sending, cancelling, closing, receiving a line into a bin,
and the PDF for the supplier. The rules live in :mod:`wardlink.hub.services.inventory.purchasing`
and :mod:`wardlink.hub.services.inventory.receiving`; these views turn forms into calls.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db.vocab import PURCHASE_ORDER_STATES
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.i18n import N_
from wardlink.hub.services.audit import readable
from wardlink.hub.services.inventory import catalogue, po_pdf, purchasing, receiving, storage, suppliers
from wardlink.hub.services.people.permissions import can
from wardlink.hub.services.validate import optional_id
from wardlink.hub.web import files
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.filters import display_zone
from wardlink.hub.web.i18n import current_locale, error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("purchase_orders", __name__, template_folder="templates", url_prefix="/inventory/purchase-orders")
PER_PAGE = 50
HISTORY_ROWS = 20


def _form() -> dict[str, str]:
    return {k: v for k, v in request.form.items() if k != CSRF_FIELD}


def _status(exc: Exception) -> int:
    return 403 if isinstance(exc, PermissionDenied) else 400


@bp.get("")
@login_required
def index():
    """List purchase orders, newest first (``state`` and ``supplier`` filter)."""
    wanted = request.args.get("state") or ""
    supplier = optional_id("supplier", request.args.get("supplier"))
    page = purchasing.list_orders(db(), actor=g.actor, state=wanted or None, supplier_id=supplier,
                                  page=page_number(), per_page=PER_PAGE)
    return render_template("inventory/purchase_orders.html", page=page, states=PURCHASE_ORDER_STATES,
                           state_filter=wanted, suppliers=suppliers.choices(db(), actor=g.actor),
                           total=purchasing.total, error=None, values={})


@bp.post("")
@login_required
def create():
    """Draft an order from a supplier (with every part of it below its reorder level when asked)."""
    form = _form()
    try:
        order = purchasing.create_order(db(), form, actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        page = purchasing.list_orders(db(), actor=g.actor, per_page=PER_PAGE)
        return render_template("inventory/purchase_orders.html", page=page, states=PURCHASE_ORDER_STATES,
                               state_filter="", suppliers=suppliers.choices(db(), actor=g.actor),
                               total=purchasing.total, error=error_message(exc), values=form), _status(exc)
    commit()
    flash(gettext("Purchase order %(number)s drafted with %(count)s lines.", number=order.number,
                  count=len(order.lines)), "success")
    return redirect(url_for("purchase_orders.detail", order_id=order.id), 303)


def _detail(order_id: int, *, error: str | None = None, status: int = 200, typed: dict | None = None):
    session = db()
    order = purchasing.get_order(session, order_id, actor=g.actor)
    receiving_now = order.state in purchasing.OPEN_STATES
    return render_template(
        "inventory/purchase_order.html", order=order, error=error, typed=typed or {}, total=purchasing.total(order),
        bin_labels=[text.replace(" / ", "/") for _, text in storage.bin_choices(session, actor=g.actor)]
        if receiving_now else [],
        default_bins=receiving.usual_bins(session, [line.part_id for line in order.lines]) if receiving_now else {},
        suppliers=suppliers.choices(session, actor=g.actor),
        may_manage=can(g.actor, "purchase.manage"), may_receive=can(g.actor, "stock.receive"),
        history=readable.history(session, actor=g.actor, entity="purchase_order", entity_id=order.id,
                                 zone=display_zone(), limit=HISTORY_ROWS)), status


@bp.get("/<int:order_id>")
@login_required
def detail(order_id: int):
    """Show an order: its lines with what has arrived, and the forms its state allows."""
    return _detail(order_id)


def _act(order_id: int, action: str, call, message: str):
    form = _form()
    try:
        call(form)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _detail(order_id, error=error_message(exc), status=_status(exc), typed={"action": action, **form})
    commit()
    flash(message, "success")
    return redirect(url_for("purchase_orders.detail", order_id=order_id), 303)


@bp.post("/<int:order_id>/edit")
@login_required
def edit(order_id: int):
    """Change the supplier (a draft's), the expected delivery date or the notes."""
    return _act(order_id, "edit", lambda f: purchasing.update_order(db(), order_id, f, actor=g.actor,
                                                                    clock=state().clock),
                gettext("Purchase order saved."))


def _set_line(order_id: int, form: dict[str, str]) -> None:
    sku = (form.get("sku") or "").strip()
    part = catalogue.find_part(db(), sku) if sku else None
    if part is None:
        raise InvalidInput(gettext("sku: no part with SKU %(sku)s", sku=sku) if sku else gettext("sku: give a SKU"))
    purchasing.set_line(db(), order_id, part_id=part.id, quantity=form.get("quantity"),
                        unit_cost=form.get("unit_cost") or None, actor=g.actor, clock=state().clock)


@bp.post("/<int:order_id>/lines")
@login_required
def line_save(order_id: int):
    """Put a part on a draft, or change the quantity and cost of one on it."""
    return _act(order_id, "line", lambda f: _set_line(order_id, f), gettext("Line saved."))


@bp.post("/<int:order_id>/lines/<int:line_id>/remove")
@login_required
def line_remove(order_id: int, line_id: int):
    """Take a line off a draft."""
    return _act(order_id, "remove", lambda f: purchasing.remove_line(db(), order_id, line_id, actor=g.actor,
                                                                     clock=state().clock),
                gettext("Line removed."))


@bp.post("/<int:order_id>/below-reorder")
@login_required
def below_reorder(order_id: int):
    """Add every part of the supplier at or below its reorder level to a draft."""
    added: list = []
    response = _act(order_id, "below", lambda f: added.extend(purchasing.add_below_reorder(
        db(), order_id, actor=g.actor, clock=state().clock)), "")
    if response.status_code == 303:
        flash(gettext("%(count)s lines added.", count=len(added)), "success")
    return response


#: target state -> what the flash message says
DONE = {"sent": N_("Purchase order sent."), "cancelled": N_("Purchase order cancelled."),
        "closed": N_("Purchase order closed.")}


@bp.post("/<int:order_id>/transition")
@login_required
def transition(order_id: int):
    """Send, cancel or close an order."""
    to = request.form.get("to", "")
    if to not in DONE:
        abort(404)
    return _act(order_id, to, lambda f: purchasing.transition(db(), order_id, to, reason=f.get("reason", ""),
                                                             actor=g.actor, clock=state().clock),
                gettext(DONE[to]))


@bp.post("/<int:order_id>/lines/<int:line_id>/receive")
@login_required
def receive(order_id: int, line_id: int):
    """Receive part of a line (or all that is still to arrive) into a bin."""
    return _act(order_id, f"receive-{line_id}", lambda f: receiving.receive(
        db(), order_id, line_id, quantity=f.get("quantity"), bin_id=f.get("bin_id"),
        reference=f.get("reference", ""), actor=g.actor, clock=state().clock), gettext("Delivery received."))


@bp.get("/<int:order_id>.pdf")
@login_required
def pdf(order_id: int):
    """Download the order as a PDF for the supplier, in the reader's language."""
    order = purchasing.get_order(db(), order_id, actor=g.actor)
    data = po_pdf.order_pdf(order, site_name=state().config.site_name, zone=display_zone(), locale=current_locale())
    return files.send_bytes(data, sha256=hashlib.sha256(data).hexdigest(), content_type="application/pdf",
                            filename=f"{order.number}.pdf")
