"""The consumables pages: each department's list with balances, an item with its log and the
receipt and collection forms (made to be quick on a phone), adding and changing items, and
monthly consumption per department with its chart and files. Routes are thin: the rules live
in :mod:`wardlink.hub.services.consumables`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db.vocab import CONSUMABLE_ENTRY_KINDS, PART_UNITS, label
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.reports import tables
from wardlink.hub.services.consumables import consumption, items, log
from wardlink.hub.services.people.permissions import can, department_scope, require
from wardlink.hub.services.validate import boolean, choice, optional_id, text
from wardlink.hub.web.api.consumables import FORMATS, send_consumption
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("consumables", __name__, template_folder="templates", url_prefix="/consumables")
PER_PAGE = 50
LOG_PAGE = 20


def _form() -> dict[str, str]:
    return {k: v for k, v in request.form.items() if k != CSRF_FIELD}


@bp.get("")
@login_required
def index():
    """List the departments' items with their balances (a scoped person sees their own)."""
    args = request.args
    department_id = optional_id("department", args.get("department"))
    page = items.list_items(db(), actor=g.actor, department_id=department_id, search=text(100)("q", args.get("q")),
                            low=boolean("low", args.get("low")), page=page_number(), per_page=PER_PAGE)
    return render_template("consumables/list.html", page=page, department_id=department_id,
                           departments=items.departments(db(), actor=g.actor))


# ------------------------------------------------------------------ an item and its log


def _chart(report: consumption.Consumption, item) -> dict[str, Any]:
    unit = gettext(label(item.unit))
    return report.chart(unit=unit, names={str(item.id): gettext("Collected")})


def _item_page(item_id: int, *, error: str | None = None, status: int = 200, typed: dict | None = None):
    session = db()
    item = items.get_item(session, item_id, actor=g.actor)
    kind = request.args.get("kind") or None
    history = log.history(session, item.id, actor=g.actor, page=page_number(), per_page=LOG_PAGE,
                          kind=choice(CONSUMABLE_ENTRY_KINDS)("kind", kind) if kind else None)
    report = consumption.compute(session, item.department_id, actor=g.actor, clock=state().clock,
                                 consumable_id=item.id)
    return render_template(
        "consumables/item.html", item=item, balance=items.balance(session, item.id), history=history, kind=kind,
        after=log.balances_after(session, item.id, [e.id for e in history.items]),
        collectors=log.collectors(session, item) if can(g.actor, "consumable.collect") else [],
        today=log.local_today(session, item.department_id, state().clock), chart=_chart(report, item),
        months=report.labels, error=error, typed=typed or {}), status


@bp.get("/items/<int:item_id>")
@login_required
def item(item_id: int):
    """Show an item: its balance, the collection and receipt forms, its monthly chart and its log."""
    return _item_page(item_id)


def _record(item_id: int, action: str, call, message: str):
    form = _form()
    try:
        call(form)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _item_page(item_id, error=error_message(exc), status=403 if isinstance(exc, PermissionDenied) else 400,
                          typed={"action": action, **form})
    commit()
    flash(message, "success")
    return redirect(url_for("consumables.item", item_id=item_id), 303)


@bp.post("/items/<int:item_id>/collect")
@login_required
def collect(item_id: int):
    """Record a collection from the form (a typed name wins over the chosen user)."""
    def call(form: dict[str, str]):
        named = (form.get("collected_by_name") or "").strip()
        return log.collect(db(), item_id, quantity=form.get("quantity"), on_date=form.get("on_date"),
                           collected_by_id=None if named else form.get("collected_by_id") or None,
                           collected_by_name=named, notes=form.get("notes", ""), actor=g.actor,
                           clock=state().clock)
    return _record(item_id, "collect", call, gettext("Collection recorded."))


@bp.post("/items/<int:item_id>/receive")
@login_required
def receive(item_id: int):
    """Record a receipt from the form."""
    def call(form: dict[str, str]):
        return log.receive(db(), item_id, quantity=form.get("quantity"), on_date=form.get("on_date"),
                           supplier=form.get("supplier", ""), reference=form.get("reference", ""),
                           notes=form.get("notes", ""), actor=g.actor, clock=state().clock)
    return _record(item_id, "receive", call, gettext("Receipt recorded."))


# ------------------------------------------------------------------ adding and changing items


def _edit_page(item_row, *, error: str | None = None, status: int = 200, values: dict | None = None):
    if values is None:
        values = {"unit": "each", "reorder_level": "0", "active": "yes",
                  "department_id": request.args.get("department") or department_scope(g.actor) or ""}
        if item_row is not None:
            values = {k: ("" if v is None else v) for k, v in items.snapshot(item_row).items()}
            values["active"] = "yes" if item_row.active else "no"
    return render_template("consumables/item_form.html", item=item_row, error=error, values=values, units=PART_UNITS,
                           departments=items.departments(db(), actor=g.actor)), status


@bp.get("/items/new")
@login_required
def item_new():
    """Show the form of a new item."""
    require(g.actor, "consumable.manage")
    return _edit_page(None)


@bp.get("/items/<int:item_id>/edit")
@login_required
def item_edit(item_id: int):
    """Show the form that changes an item."""
    require(g.actor, "consumable.manage")
    return _edit_page(items.get_item(db(), item_id, actor=g.actor))


@bp.post("/items", defaults={"item_id": None})
@bp.post("/items/<int:item_id>/edit")
@login_required
def item_save(item_id: int | None):
    """Add or change an item from the form."""
    form = _form()
    form["active"] = form.get("active", "no")
    try:
        if item_id is None:
            item_id = items.create_item(db(), form, actor=g.actor, clock=state().clock).id
        else:
            items.update_item(db(), item_id, form, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        existing = items.get_item(db(), item_id, actor=g.actor) if item_id else None
        return _edit_page(existing, error=error_message(exc), status=400, values=form)
    commit()
    flash(gettext("Item saved."), "success")
    return redirect(url_for("consumables.item", item_id=item_id), 303)


# ------------------------------------------------------------------ monthly consumption


def _report():
    args = request.args
    department_id = optional_id("department", args.get("department"))
    if department_id is None:
        department_id = department_scope(g.actor)
    if department_id is None:
        first = items.departments(db(), actor=g.actor)
        department_id = first[0].id if first else None
    return consumption.compute(db(), department_id, actor=g.actor, start=args.get("from") or None,
                               end=args.get("to") or None, clock=state().clock)


@bp.get("/consumption")
@login_required
def consumption_page():
    """Show a department's consumption per item and month: the chart and the table."""
    require(g.actor, "consumable.view")
    report = _report()
    names = {str(r.item.id): f"{r.item.name} ({gettext(label(r.item.unit))})" for r in report.items}
    return render_template("consumables/consumption.html", report=report, formats=FORMATS,
                           chart=report.chart(unit=gettext("quantity"), names=names),
                           departments=items.departments(db(), actor=g.actor))


@bp.get("/consumption/export")
@login_required
def consumption_export():
    """Download a department's consumption as CSV or Excel."""
    require(g.actor, "consumable.view")
    return send_consumption(_report(), tables.check_format(request.args.get("format") or "csv"))
