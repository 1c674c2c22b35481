"""The utilities pages: monthly use per department of one kind (electricity, water, diesel,
oxygen) with its chart, the same months last year and its files; the meters; a meter with its
hand reading form (quick on a phone), its monthly chart, its days and alerts; adding and
changing meters. Routes are thin: the rules live in :mod:`wardlink.hub.services.utilities`.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.db.vocab import UTILITY_KINDS, UTILITY_SOURCES, UTILITY_UNITS
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.reports import tables
from wardlink.hub.services.utilities import baseline, meters, readings, usage
from wardlink.hub.services.validate import choice
from wardlink.hub.web.api.utilities import send_usage
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.security import CSRF_FIELD
from wardlink.hub.web.state import state

bp = Blueprint("utilities", __name__, template_folder="templates", url_prefix="/utilities")
PER_PAGE = 50
READINGS_PAGE = 20
DAYS_SHOWN = 31


def _form() -> dict[str, str]:
    return {k: v for k, v in request.form.items() if k != CSRF_FIELD}


def _kind() -> str:
    return choice(UTILITY_KINDS)("kind", request.args.get("kind") or "electricity")


def _usage(kind: str) -> usage.Usage:
    args = request.args
    return usage.compute(db(), kind, actor=g.actor, clock=state().clock, start=args.get("from") or None,
                         end=args.get("to") or None)


def _chart(report: usage.Usage):
    return report.chart(site_label=gettext("Whole site"), last_year_label=gettext("Same month last year"))


@bp.get("")
@login_required
def index():
    """Show the monthly use of one kind per department (chart and table) and its meters."""
    require(g.actor, "utility.view")
    kind = _kind()
    report = _usage(kind)
    page = meters.list_meters(db(), actor=g.actor, kind=kind, page=page_number(), per_page=PER_PAGE)
    return render_template("utilities/index.html", report=report, kinds=UTILITY_KINDS, kind=kind, page=page,
                           chart=_chart(report), formats=tables.FORMATS, change=usage.change_percent)


@bp.get("/export")
@login_required
def export():
    """Download the monthly use of one kind per department as CSV or Excel."""
    require(g.actor, "utility.view")
    return send_usage(_usage(_kind()), tables.check_format(request.args.get("format") or "csv"))


def _meter_page(meter_id: int, *, error: str | None = None, status: int = 200, typed: dict | None = None):
    session = db()
    meter = meters.get_meter(session, meter_id, actor=g.actor)
    report = usage.compute(session, meter.kind, actor=g.actor, clock=state().clock, meter_id=meter.id)
    today = readings.site_today(meter, state().clock)
    days = usage.meter_days(session, meter, today - timedelta(days=DAYS_SHOWN), today) \
        if meter.source == "pulse" else []
    history = readings.list_readings(session, meter.id, actor=g.actor, page=page_number(), per_page=READINGS_PAGE)
    alerts = baseline.recent_alerts(session, meter)
    return render_template("utilities/meter.html", meter=meter, report=report, chart=_chart(report), today=today,
                           days=list(reversed(days)), history=history, alerts={a.day: a for a in alerts},
                           alert_list=alerts, error=error, typed=typed or {}), status


@bp.get("/meters/<int:meter_id>")
@login_required
def meter(meter_id: int):
    """Show a meter: the reading form (hand-read meters), its monthly chart, days and readings."""
    return _meter_page(meter_id)


@bp.post("/meters/<int:meter_id>/readings")
@login_required
def reading_add(meter_id: int):
    """Enter a hand reading from the form."""
    form = _form()
    try:
        readings.record_reading(db(), meter_id, form, actor=g.actor, clock=state().clock)
    except (InvalidInput, PermissionDenied) as exc:
        db().rollback()
        return _meter_page(meter_id, error=error_message(exc), typed=form,
                           status=403 if isinstance(exc, PermissionDenied) else 400)
    commit()
    flash(gettext("Reading saved."), "success")
    return redirect(url_for("utilities.meter", meter_id=meter_id), 303)


def _edit_page(row, *, error: str | None = None, status: int = 200, values: dict | None = None):
    if values is None:
        values = {"kind": request.args.get("kind") or "electricity", "source": "manual", "baseline_weeks": "4",
                  "active": "yes", "department_id": department_scope(g.actor) or ""}
        if row is not None:
            values = {k: ("" if v is None else v) for k, v in meters.snapshot(row).items()}
            values["active"] = "yes" if row.active else "no"
    return render_template("utilities/meter_form.html", meter=row, error=error, values=values, kinds=UTILITY_KINDS,
                           units=UTILITY_UNITS, sources=UTILITY_SOURCES,
                           departments=meters.departments(db(), actor=g.actor)), status


@bp.get("/meters/new")
@login_required
def meter_new():
    """Show the form of a new meter."""
    require(g.actor, "utility.manage")
    return _edit_page(None)


@bp.get("/meters/<int:meter_id>/edit")
@login_required
def meter_edit(meter_id: int):
    """Show the form that changes a meter."""
    require(g.actor, "utility.manage")
    return _edit_page(meters.get_meter(db(), meter_id, actor=g.actor))


@bp.post("/meters", defaults={"meter_id": None})
@bp.post("/meters/<int:meter_id>/edit")
@login_required
def meter_save(meter_id: int | None):
    """Add or change a meter from the form."""
    form = _form()
    form["active"] = form.get("active", "no")
    try:
        if meter_id is None:
            meter_id = meters.create_meter(db(), form, actor=g.actor, clock=state().clock).id
        else:
            meters.update_meter(db(), meter_id, form, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        existing = meters.get_meter(db(), meter_id, actor=g.actor) if meter_id else None
        return _edit_page(existing, error=error_message(exc), status=400, values=form)
    commit()
    flash(gettext("Meter saved."), "success")
    return redirect(url_for("utilities.meter", meter_id=meter_id), 303)
