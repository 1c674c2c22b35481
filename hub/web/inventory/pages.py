"""The parts pages: the catalogue, a part with its stock per bin and its movements, moving stock,
picking a part for a work order (where a bin label's QR code leads), the reorder list and the
adjustments waiting for approval. Routes are thin: the rules live in
:mod:`wardlink.hub.services.inventory` and, for work orders, in
:mod:`wardlink.hub.services.maintenance.workorder_parts`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from markupsafe import Markup, escape

from wardlink.hub.db.vocab import PART_UNITS, STOCK_MOVEMENT_KINDS
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.i18n import N_
from wardlink.hub.services.inventory import (adjustments, catalogue, ledger, levels, low_stock, purchasing, storage,
                                             suppliers)
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.maintenance import parts_forecast, workorder_parts, workorders
from wardlink.hub.services.people.permissions import can, require
from wardlink.hub.services.validate import boolean, choice, optional_id, text
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("inventory", __name__, template_folder="templates", url_prefix="/inventory")
PER_PAGE = 50


def options_html(pairs: list[tuple[int, str]], chosen: Any = None) -> Markup:
    """Return ``<option>``s of (id, text) pairs, ``chosen`` selected: written in Python because a
    store may have a thousand bins, offered in several selects of one page."""
    wanted = None if chosen in (None, "") else str(chosen)
    return Markup("".join(f'<option value="{i}"{" selected" if str(i) == wanted else ""}>{escape(text)}</option>'
                          for i, text in pairs))


def _policy() -> adjustments.ApprovalPolicy:
    config = state().config
    return adjustments.ApprovalPolicy(value=config.stock_approval_value, quantity=config.stock_approval_quantity)


def _form() -> dict[str, str]:
    return {k: v for k, v in request.form.items() if k != CSRF_FIELD}


# ------------------------------------------------------------------ the catalogue


@bp.get("")
@login_required
def index():
    """Open the parts list."""
    return redirect(url_for("inventory.parts"))


@bp.get("/parts")
@login_required
def parts():
    """List parts with their stock: search, category, low stock only; ``order`` picks for a work order."""
    args = request.args
    order_id = optional_id("order", args.get("order"))
    page = catalogue.list_parts(db(), actor=g.actor, search=text(100)("q", args.get("q")),
                                category=text(100)("category", args.get("category")),
                                low=boolean("low", args.get("low")), page=page_number(), per_page=PER_PAGE)
    order = workorders.get_work_order(db(), order_id, actor=g.actor) if order_id else None
    return render_template("inventory/parts.html", page=page, categories=catalogue.categories(db(), actor=g.actor),
                           order=order)


def _part_page(part_id: int, *, error: str | None = None, status: int = 200, typed: dict | None = None):
    session = db()
    part = catalogue.get_part(session, part_id, actor=g.actor)
    bins = levels.bins_of(session, part.id)
    on_hand, held = levels.on_hand(session, [part.id])[part.id], levels.held(session, [part.id])[part.id]
    on_order = purchasing.on_order(session, [part.id])[part.id]
    chosen_bin = optional_id("bin", request.args.get("bin")) if request.method == "GET" else None
    orders = []
    if can(g.actor, "stock.issue") and can(g.actor, "workorder.record"):
        orders = workorders.list_work_orders(session, actor=g.actor, state="pending,assigned,in_progress,on_hold",
                                             sort="updated", per_page=50).items
    chosen_order = optional_id("order", request.args.get("order")) if request.method == "GET" else None
    return render_template(
        "inventory/part.html", part=part, bins=bins, on_hand=on_hand, held=held, on_order=on_order,
        chosen_bin=chosen_bin, chosen_order=chosen_order, orders=orders, error=error, typed=typed or {},
        options_html=options_html,
        stock_bins=[(b.bin.id, b.bin.label) for b in bins],
        default_bin=next((b.bin.label.replace(" / ", "/") for b in bins if b.bin.id == chosen_bin),
                         bins[0].bin.label.replace(" / ", "/") if bins else ""),
        recent=ledger.history(session, part.id, actor=g.actor, per_page=10).items,
        all_bins=storage.bin_choices(session, actor=g.actor),
        suppliers=suppliers.choices(session, actor=g.actor)), status


@bp.get("/parts/<int:part_id>")
@login_required
def part(part_id: int):
    """Show a part: stock per bin (with labels), recent movements, and the forms that move stock."""
    return _part_page(part_id)


@bp.get("/parts/<int:part_id>/movements")
@login_required
def movements(part_id: int):
    """Show a part's whole ledger, newest first (``bin`` and ``kind`` filter)."""
    part_row = catalogue.get_part(db(), part_id, actor=g.actor)
    kind = request.args.get("kind") or None
    page = ledger.history(db(), part_row.id, actor=g.actor, bin_id=optional_id("bin", request.args.get("bin")),
                          kind=choice(STOCK_MOVEMENT_KINDS)("kind", kind) if kind else None,
                          page=page_number(), per_page=PER_PAGE)
    return render_template("inventory/movements.html", part=part_row, page=page, kinds=STOCK_MOVEMENT_KINDS,
                           bins=levels.bins_of(db(), part_row.id))


def _edit_page(part_row, *, error: str | None = None, status: int = 200, values: dict | None = None):
    if values is None:
        values = {"unit": "each", "reorder_level": "0", "reorder_quantity": "0", "active": "yes"}
        if part_row is not None:
            snap = catalogue.snapshot(part_row)
            values = {k: ("" if v is None else v) for k, v in snap.items() if k != "models"}
            values["active"] = "yes" if part_row.active else "no"
            values["models"] = "\n".join(f"{m['make']}/{m['model']}" if m["make"] else m["model"]
                                         for m in snap["models"])
    return render_template("inventory/part_form.html", part=part_row, error=error, values=values,
                           units=PART_UNITS,
                           suppliers=suppliers.list_suppliers(db(), actor=g.actor, per_page=200).items), status


@bp.get("/parts/new")
@login_required
def part_new():
    """Show the form of a new part."""
    require(g.actor, "part.manage")
    return _edit_page(None)


@bp.get("/parts/<int:part_id>/edit")
@login_required
def part_edit(part_id: int):
    """Show the form that changes a part."""
    require(g.actor, "part.manage")
    return _edit_page(catalogue.get_part(db(), part_id, actor=g.actor))


@bp.post("/parts", defaults={"part_id": None})
@bp.post("/parts/<int:part_id>/edit")
@login_required
def part_save(part_id: int | None):
    """Add or change a part from the form."""
    form = _form()
    try:
        if part_id is None:
            part_id = catalogue.create_part(db(), form, actor=g.actor, clock=state().clock).id
        else:
            catalogue.update_part(db(), part_id, form, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        existing = catalogue.get_part(db(), part_id, actor=g.actor) if part_id else None
        return _edit_page(existing, error=error_message(exc), status=400, values=form)
    commit()
    flash(gettext("Part saved."), "success")
    return redirect(url_for("inventory.part", part_id=part_id), 303)


# ------------------------------------------------------------------ moving stock


def _outcome(outcome: adjustments.Outcome) -> str:
    if outcome.request is not None:
        return gettext("The adjustment is above the approval threshold: it waits for a manager.")
    return gettext("Stock count matches the books.") if outcome.movement is None else gettext("Stock adjusted.")


#: form action -> (service call, what the flash message says)
MOVES: dict[str, tuple[Callable[[int, dict[str, Any]], Any], str | Callable[[Any], str]]] = {
    "receive": (lambda pid, f: ledger.receive(db(), pid, bin_id=f.get("bin_id"), quantity=f.get("quantity"),
                                              unit_cost=f.get("unit_cost") or None,
                                              supplier_id=f.get("supplier_id") or None,
                                              reference=f.get("reference", ""), reason=f.get("reason", ""),
                                              actor=g.actor, clock=state().clock), N_("Stock received.")),
    "issue": (lambda pid, f: ledger.issue(db(), pid, bin_id=f.get("bin_id"), quantity=f.get("quantity"),
                                          reason=f.get("reason"), actor=g.actor, clock=state().clock),
              N_("Stock issued.")),
    "return": (lambda pid, f: ledger.return_stock(db(), pid, bin_id=f.get("bin_id"), quantity=f.get("quantity"),
                                                  reason=f.get("reason"), actor=g.actor, clock=state().clock),
               N_("Parts returned to stock.")),
    "transfer": (lambda pid, f: ledger.transfer(db(), pid, from_bin_id=f.get("from_bin_id"),
                                                to_bin_id=f.get("to_bin_id"), quantity=f.get("quantity"),
                                                reason=f.get("reason", ""), actor=g.actor, clock=state().clock),
                 N_("Stock moved.")),
    "adjust": (lambda pid, f: adjustments.adjust(db(), pid, bin_id=f.get("bin_id"), quantity=f.get("quantity"),
                                                 reason=f.get("reason"), actor=g.actor, clock=state().clock,
                                                 policy=_policy()), _outcome),
    "count": (lambda pid, f: adjustments.count(db(), pid, bin_id=f.get("bin_id"), counted=f.get("counted"),
                                               reason=f.get("reason", ""), actor=g.actor, clock=state().clock,
                                               policy=_policy()), _outcome),
}


@bp.post("/parts/<int:part_id>/<action>")
@login_required
def move(part_id: int, action: str):
    """Receive, issue, return, transfer, adjust or count stock of a part."""
    if action not in MOVES:
        abort(404)
    call, message = MOVES[action]
    form = _form()
    try:
        result = call(part_id, form)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _part_page(part_id, error=error_message(exc), status=403 if isinstance(exc, PermissionDenied) else 400,
                          typed={"action": action, **form})
    commit()
    flash(message(result) if callable(message) else gettext(message), "success")
    return redirect(url_for("inventory.part", part_id=part_id), 303)


@bp.post("/parts/<int:part_id>/pick")
@login_required
def pick(part_id: int):
    """Pick the part from a bin for a work order (held for it until the order is completed)."""
    form = _form()
    order_id = optional_id("order_id", form.get("order_id"))
    try:
        if order_id is None:
            raise InvalidInput(N_("order_id: choose the work order the part is for"))
        workorder_parts.pick_part(db(), order_id, part_id=part_id, bin_id=form.get("bin_id"),
                                  quantity=form.get("quantity"), actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _part_page(part_id, error=error_message(exc), status=403 if isinstance(exc, PermissionDenied) else 400,
                          typed={"action": "pick", **form})
    commit()
    flash(gettext("Part added to the work order; it leaves the stock when the order is completed."), "success")
    return redirect(url_for("workorders.detail", wo_id=order_id) + "#stock-parts", 303)


@bp.post("/work-orders/<int:wo_id>/kit")
@login_required
def pick_kit(wo_id: int):
    """Pick every part of a kit for a work order."""
    try:
        workorder_parts.pick_kit(db(), wo_id, kit_id=request.form.get("kit_id"), actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        flash(gettext("Kit not picked: %(error)s", error=error_message(exc)), "error")
        return redirect(url_for("workorders.detail", wo_id=wo_id) + "#stock-parts", 303)
    commit()
    flash(gettext("Kit added to the work order."), "success")
    return redirect(url_for("workorders.detail", wo_id=wo_id) + "#stock-parts", 303)


@bp.post("/work-orders/<int:wo_id>/picks/<int:pick_id>/put-back")
@login_required
def put_back(wo_id: int, pick_id: int):
    """Put back parts picked for a work order and not used."""
    try:
        workorder_parts.put_back(db(), wo_id, pick_id, actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        flash(gettext("Not put back: %(error)s", error=error_message(exc)), "error")
        return redirect(url_for("workorders.detail", wo_id=wo_id) + "#stock-parts", 303)
    commit()
    flash(gettext("Parts put back in stock."), "success")
    return redirect(url_for("workorders.detail", wo_id=wo_id) + "#stock-parts", 303)


# ------------------------------------------------------------------ reorder list and approvals


@bp.get("/reorder")
@login_required
def reorder():
    """List the parts at or below their reorder level, with what to order from whom."""
    supplier = optional_id("supplier", request.args.get("supplier"))
    page = low_stock.reorder_list(db(), actor=g.actor, supplier_id=supplier, page=page_number(), per_page=PER_PAGE)
    return render_template("inventory/reorder.html", page=page,
                           on_order=purchasing.on_order(db(), [line.part.id for line in page.items]),
                           suppliers=suppliers.list_suppliers(db(), actor=g.actor, per_page=200).items)


@bp.get("/forecast")
@login_required
def forecast():
    """Show the parts the PM plans will use in the next N days, the shortfalls and what to order."""
    try:
        found = parts_forecast.forecast(db(), actor=g.actor, now=utc_now(state().clock), days=request.args.get("days"))
        error = None
    except InvalidInput as exc:
        found = parts_forecast.forecast(db(), actor=g.actor, now=utc_now(state().clock))
        error = error_message(exc)
    return render_template("inventory/forecast.html", found=found, windows=parts_forecast.WINDOWS,
                           error=error), 400 if error else 200


@bp.get("/adjustments")
@login_required
def pending():
    """List the adjustments and counts waiting for a manager."""
    page = adjustments.pending(db(), actor=g.actor, page=page_number(), per_page=PER_PAGE)
    return render_template("inventory/adjustments.html", page=page)


@bp.post("/adjustments/<int:adjustment_id>/<decision>")
@login_required
def decide(adjustment_id: int, decision: str):
    """Approve or reject a waiting adjustment."""
    if decision not in ("approve", "reject"):
        abort(404)
    call = adjustments.approve if decision == "approve" else adjustments.reject
    try:
        call(db(), adjustment_id, note=request.form.get("note", ""), actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        flash(gettext("Not approved: %(error)s", error=error_message(exc)) if decision == "approve" else
              gettext("Not rejected: %(error)s", error=error_message(exc)), "error")
        return redirect(url_for("inventory.pending"), 303)
    commit()
    flash(gettext("Adjustment approved.") if decision == "approve" else gettext("Adjustment rejected."), "success")
    return redirect(url_for("inventory.pending"), 303)

