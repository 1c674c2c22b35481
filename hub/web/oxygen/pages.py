"""The gas cylinder pages: the register, a cylinder's page with the movements it may take now
as forms (made for a phone: a porter scans the cylinder's QR code and lands here), printable
labels with QR codes, storage places with what they hold against NFPA 99's limits, the
movement log, and consumption per department and month with its chart and files. Routes are
thin: the rules live in :mod:`wardlink.hub.services.oxygen`.

A cylinder label's QR code encodes the cylinder's page, ``<public_url>/oxygen/cylinders/<tag>``.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db.vocab import (CYLINDER_GASES, CYLINDER_MOVEMENT_KINDS, CYLINDER_STATUSES, GAS_STORAGE_KINDS,
                                   label)
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.oxygen import consumption, cylinders, limits, movements, storage
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.reports import tables
from wardlink.hub.services.validate import choice, optional_id, text
from wardlink.hub.web.api.oxygen import FORMATS, send_consumption
from wardlink.hub.web.assets.labels import qr_svg
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("oxygen", __name__, template_folder="templates", url_prefix="/oxygen")
PER_PAGE = 50
LOG_PAGE = 20


def _form() -> dict[str, str]:
    return {k: v for k, v in request.form.items() if k != CSRF_FIELD}


def label_url(tag: str) -> str:
    """Return the URL a cylinder label's QR code encodes: the cylinder's page."""
    return f"{state().config.resolved_public_url}/oxygen/cylinders/{quote(tag, safe='')}"


def _over_limit():
    return storage.list_areas(db(), actor=g.actor, over_only=True)


@bp.get("")
@login_required
def index():
    """List cylinders with their status and place (filters: status, department, tag)."""
    args = request.args
    status = args.get("status") or None
    department_id = optional_id("department", args.get("department"))
    page = cylinders.list_cylinders(db(), actor=g.actor, department_id=department_id,
                                    status=choice(CYLINDER_STATUSES)("status", status) if status else None,
                                    search=text(40)("q", args.get("q")), page=page_number(), per_page=PER_PAGE)
    return render_template("oxygen/list.html", page=page, status=status, department_id=department_id,
                           statuses=CYLINDER_STATUSES, departments=cylinders.departments(db(), actor=g.actor),
                           over=_over_limit())


@bp.get("/scan")
@login_required
def scan():
    """Open a cylinder by the tag printed on it (the QR code opens its page directly)."""
    require(g.actor, "oxygen.view")
    tag = text(40)("tag", request.args.get("tag"))
    if tag:
        return redirect(url_for("oxygen.cylinder", cylinder=tag.upper()), 303)
    return render_template("oxygen/scan.html")


# ------------------------------------------------------------------ a cylinder and its movements


def _cylinder_page(tag: str, *, error: str | None = None, status: int = 200, typed: dict | None = None):
    session = db()
    row = cylinders.get_cylinder(session, tag, actor=g.actor)
    history = movements.history(session, row.tag, actor=g.actor, page=page_number(), per_page=LOG_PAGE)
    areas = storage.destinations(session, actor=g.actor)
    standing = storage.standing(session, row.storage_area) if row.storage_area else None
    return render_template(
        "oxygen/cylinder.html", cylinder=row, history=history, allowed=movements.allowed(row),
        rules=movements.RULES, departments=cylinders.departments(session, actor=g.actor), areas=areas,
        standing=standing, cubic_feet=limits.to_cubic_feet(row.capacity_l), error=error, typed=typed or {}), status


@bp.get("/cylinders/<cylinder>")
@login_required
def cylinder(cylinder: str):
    """Show a cylinder: its status, place, the movements it may take now and its history."""
    return _cylinder_page(cylinder)


@bp.post("/cylinders/<cylinder>/move")
@login_required
def move(cylinder: str):
    """Record a movement from one of the cylinder page's forms."""
    form = _form()
    try:
        row = movements.record(db(), cylinder, kind=form.get("kind"), to_department_id=form.get("to_department_id"),
                               to_area_id=form.get("to_area_id"), notes=form.get("notes", ""), actor=g.actor,
                               clock=state().clock)
        area = storage.standing(db(), row.to_area) if row.to_area is not None else None
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _cylinder_page(cylinder, error=error_message(exc),
                              status=403 if isinstance(exc, PermissionDenied) else
                              409 if isinstance(exc, movements.MoveRefused) else 400, typed=form)
    tag = row.cylinder.tag
    commit()
    flash(gettext("%(tag)s recorded: %(kind)s.", tag=tag, kind=gettext(label(row.kind))), "success")
    if area is not None and area.over_limit:
        flash(gettext("%(code)s now holds %(held)s ft³ of gas, over its NFPA 99 limit of %(limit)s ft³.",
                      code=area.area.code, held=area.held_cubic_feet, limit=area.limit.cubic_feet), "warning")
    return redirect(url_for("oxygen.cylinder", cylinder=tag), 303)


# ------------------------------------------------------------------ registering and changing cylinders


def _edit_page(row, *, error: str | None = None, status: int = 200, values: dict | None = None):
    if values is None:
        values = {"gas": "oxygen", "status": "filled", "department_id": department_scope(g.actor) or ""}
        if row is not None:
            values = {k: ("" if v is None else v) for k, v in cylinders.snapshot(row).items()}
    return render_template("oxygen/cylinder_form.html", cylinder=row, error=error, values=values,
                           gases=CYLINDER_GASES, starts=cylinders.START_STATUSES,
                           departments=cylinders.departments(db(), actor=g.actor),
                           areas=storage.destinations(db(), actor=g.actor)), status


@bp.get("/cylinders/new")
@login_required
def cylinder_new():
    """Show the form that registers a cylinder."""
    require(g.actor, "oxygen.manage")
    return _edit_page(None)


@bp.get("/cylinders/<cylinder>/edit")
@login_required
def cylinder_edit(cylinder: str):
    """Show the form that changes a cylinder."""
    require(g.actor, "oxygen.manage")
    return _edit_page(cylinders.get_cylinder(db(), cylinder, actor=g.actor))


@bp.post("/cylinders", defaults={"cylinder": None})
@bp.post("/cylinders/<cylinder>/edit")
@login_required
def cylinder_save(cylinder: str | None):
    """Register or change a cylinder from the form."""
    form = _form()
    try:
        if cylinder is None:
            tag = cylinders.create_cylinder(db(), form, actor=g.actor, clock=state().clock).tag
        else:
            changes = {k: form.get(k, "") for k in cylinders.FIELDS}
            tag = cylinders.update_cylinder(db(), cylinder, changes, actor=g.actor, clock=state().clock).tag
    except InvalidInput as exc:
        db().rollback()
        existing = cylinders.get_cylinder(db(), cylinder, actor=g.actor) if cylinder else None
        return _edit_page(existing, error=error_message(exc), status=400, values=form)
    commit()
    flash(gettext("Cylinder saved."), "success")
    return redirect(url_for("oxygen.cylinder", cylinder=tag), 303)


# ------------------------------------------------------------------ labels


@bp.get("/labels")
@login_required
def labels():
    """Show printable labels with QR codes: one cylinder's (``tag``) or those of a status or department."""
    args = request.args
    tag = text(40)("tag", args.get("tag"))
    if tag:
        rows = [cylinders.get_cylinder(db(), tag, actor=g.actor)]
    else:
        rows = cylinders.list_cylinders(db(), actor=g.actor, department_id=optional_id("department",
                                                                                       args.get("department")),
                                        page=page_number(), per_page=PER_PAGE).items
    return render_template("oxygen/labels.html", labels=[(r, label_url(r.tag)) for r in rows])


@bp.get("/cylinders/<cylinder>/qr.svg")
@login_required
def qr(cylinder: str):
    """Return the QR code of a cylinder's label as SVG."""
    row = cylinders.get_cylinder(db(), cylinder, actor=g.actor)
    return Response(qr_svg(label_url(row.tag)), mimetype="image/svg+xml",
                    headers={"Content-Disposition": f'inline; filename="{row.tag}-qr.svg"'})


# ------------------------------------------------------------------ storage places


def _storage_page(*, error: str | None = None, status: int = 200, values: dict | None = None):
    return render_template("oxygen/storage.html", areas=storage.list_areas(db(), actor=g.actor), error=error,
                           values=values or {"kind": "smoke_compartment",
                                             "department_id": department_scope(g.actor) or ""},
                           kinds=GAS_STORAGE_KINDS, limits=limits.LIMITS,
                           departments=cylinders.departments(db(), actor=g.actor)), status


@bp.get("/storage")
@login_required
def storage_index():
    """List storage places with what they hold against their NFPA 99 limits; a form to add one."""
    return _storage_page()


@bp.post("/storage")
@login_required
def storage_save():
    """Add a storage place from the form."""
    form = _form()
    try:
        storage.create_area(db(), form, actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _storage_page(error=error_message(exc), status=403 if isinstance(exc, PermissionDenied) else 400,
                             values=form)
    commit()
    flash(gettext("Storage place saved."), "success")
    return redirect(url_for("oxygen.storage_index"), 303)


# ------------------------------------------------------------------ the movement log and consumption


@bp.get("/movements")
@login_required
def movement_log():
    """List every cylinder's movements, last first (filters: department, kind)."""
    args = request.args
    kind = args.get("kind") or None
    department_id = optional_id("department", args.get("department"))
    page = movements.list_movements(db(), actor=g.actor, department_id=department_id,
                                    kind=choice(CYLINDER_MOVEMENT_KINDS)("kind", kind) if kind else None,
                                    page=page_number(), per_page=PER_PAGE)
    return render_template("oxygen/movements.html", page=page, kind=kind, kinds=CYLINDER_MOVEMENT_KINDS,
                           department_id=department_id, departments=cylinders.departments(db(), actor=g.actor))


def _report() -> consumption.OxygenConsumption:
    args = request.args
    return consumption.compute(db(), actor=g.actor, department_id=optional_id("department", args.get("department")),
                               start=args.get("from") or None, end=args.get("to") or None, clock=state().clock)


@bp.get("/consumption")
@login_required
def consumption_page():
    """Show the gas each department used per month: the chart and the table."""
    report = _report()
    return render_template("oxygen/consumption.html", report=report, formats=FORMATS,
                           chart=report.chart(unit=gettext("litres")),
                           departments=consumption.departments(db(), actor=g.actor))


@bp.get("/consumption/export")
@login_required
def consumption_export():
    """Download the gas used per department and month as CSV or Excel."""
    return send_consumption(_report(), tables.check_format(request.args.get("format") or "csv"))
