"""Maintenance-plan pages: the plans, one plan's assets and services, the plan form (create,
edit, pause, resume, retire) and the calendar of every projected service.

The plans service parses and checks every field (:mod:`wardlink.hub.services.maintenance.pm`);
the calendar's occurrences and their colours come from
:mod:`wardlink.hub.services.maintenance.pm_standing`. These views turn forms into service calls and
show a refused field next to its input.
"""

from __future__ import annotations

import re

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.i18n import N_

from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import PM_INTERVAL_UNITS, PM_TRIGGERS, WORK_ORDER_PRIORITIES
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.assets.register import find_asset
from wardlink.hub.services.maintenance import (checklists, pm, pm_calendar, pm_calendar_paging, pm_fields, pm_meters,
                                               pm_parts)
from wardlink.hub.services.people import org
from wardlink.hub.services.people.permissions import can, require
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.state import state

bp = Blueprint("pm", __name__, template_folder="templates", url_prefix="/maintenance")
PER_PAGE = 50
#: Blank part rows the plan form offers besides the plan's own.
SPARE_PART_ROWS = 3
_PART_ROW = re.compile(r"^parts-(\d+)-(part_number|description|quantity)$")
_VISIT_ROW = re.compile(r"^visit-(\d+)-(sku|quantity)$")
#: Form fields passed to the plans service as they are.
PLAN_FORM_FIELDS = ("name", "trigger", "interval_count", "interval_unit", "meter", "meter_interval", "meter_lead",
                    "anchor_date", "anchor_meter", "lead_days", "priority", "checklist_template_id",
                    "instructions", "assignee_id", "assignee_team", "assignee_vendor", "planned_minutes",
                    "assign_to")
TARGET_FORM_FIELDS = ("asset_tag", "make", "model")
#: What the calendar's colours mean, in words (colour only reinforces them).
STATUS_LABELS = {"due": N_("Due"), "in_window": N_("In window"), "overdue": N_("Overdue"), "done": N_("Done")}


def error_field(message: str) -> str | None:
    """Return the field a service's error names ("interval_count: required..." -> interval_count)."""
    head = message.split(":", 1)[0].strip()  # French writes "champ : ..."
    return head.split(".", 1)[0].split("[", 1)[0] if re.fullmatch(r"[a-z_]+(\[\d+\])?(\.[a-z_]+)?", head) else None


#: what the flash message calls a plan's state
PLAN_STATES = {"active": N_("active"), "paused": N_("paused"), "retired": N_("retired")}

@bp.get("")
@login_required
def index():
    """List maintenance plans."""
    number = page_number()
    page = pm.list_plans(db(), actor=g.actor, q=request.args.get("q") or None, page=number, per_page=PER_PAGE)
    return render_template("pm/list.html", page=page, can_manage=can(g.actor, "pm.manage"),
                           state_of=pm.plan_state)


@bp.get("/<int:plan_id>")
@login_required
def detail(plan_id: int):
    """Show a plan, where each covered asset stands, and its recent services."""
    plan = pm.get_plan(db(), plan_id, actor=g.actor)
    return render_template("pm/detail.html", plan=plan, outlook=pm.outlook(db(), plan, actor=g.actor),
                           services=pm.list_services(db(), plan.id, actor=g.actor, clock=state().clock,
                                                     per_page=25),
                           plan_state=pm.plan_state(plan), assignee=pm.assignee_text(plan),
                           visit_parts=pm_parts.of_plan(db(), plan.id),
                           can_manage=can(g.actor, "pm.manage"))


# ------------------------------------------------------------------ the plan form


def _parts_from_form(pattern: re.Pattern = _PART_ROW) -> list[dict]:
    rows: dict[int, dict] = {}
    for key, value in request.form.items():
        match = pattern.match(key)
        if match:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = value.strip()
    return [row for _, row in sorted(rows.items()) if any(row.values())]


def _plan_data(*, with_target: bool) -> dict:
    data = {k: request.form.get(k, "") for k in PLAN_FORM_FIELDS}
    if with_target:
        if request.form.get("target") == "make_model":
            data.update(make=request.form.get("make", ""), model=request.form.get("model", ""))
        else:
            data["asset_tag"] = request.form.get("asset_tag", "")
    data["planned_parts"] = _parts_from_form()
    data["visit_parts"] = _parts_from_form(_VISIT_ROW)
    return pm_fields.fields_for_trigger(data)


def _values_of(plan) -> dict:
    values = {k: getattr(plan, k) for k in pm_fields.PLAN_FIELDS}
    values["assign_to"] = ("user" if plan.assignee_id else "team" if plan.assignee_team
                           else "vendor" if plan.assignee_vendor else "")
    values["target"] = "asset" if plan.asset_id else "make_model"
    values.update(asset_tag=plan.asset.tag if plan.asset else "", make=plan.make or "", model=plan.model or "")
    values["visit_parts"] = pm_parts.snapshot(pm_parts.of_plan(db(), plan.id))
    return values


def _form_page(values: dict, *, plan=None, error: str | None = None, status: int = 200):
    session = db()
    asset = plan.asset if plan is not None else (find_asset(session, values.get("asset_tag") or "")
                                                 if values.get("asset_tag") else None)
    parts = list(values.get("planned_parts") or [])
    parts += [{}] * SPARE_PART_ROWS
    visit_parts = list(values.get("visit_parts") or []) + [{}] * SPARE_PART_ROWS
    return render_template(
        "pm/form.html", values=values, plan=plan, error=error, error_at=error_field(error) if error else None,
        triggers=PM_TRIGGERS, units=PM_INTERVAL_UNITS, priorities=WORK_ORDER_PRIORITIES, parts=parts,
        visit_parts=visit_parts,
        templates=checklists.list_templates(session, actor=g.actor),
        assignees=pm.assignee_candidates(session, actor=g.actor),
        meters=pm_meters.meter_choices(session, asset.id if asset is not None else None),
        meter_asset=asset), status


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Create a maintenance plan."""
    require(g.actor, "pm.manage")
    if request.method == "GET":
        return _form_page({"trigger": "calendar", "interval_unit": "month", "lead_days": 14, "target": "asset",
                           "asset_tag": request.args.get("asset", ""), "assign_to": ""})
    data = _plan_data(with_target=True)
    try:
        plan = pm.create_plan(db(), data, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        values = {**dict(request.form), **data, "target": request.form.get("target", "asset"),
                  "assign_to": request.form.get("assign_to", "")}
        return _form_page(values, error=error_message(exc), status=400)
    commit()
    flash(gettext("Maintenance plan '%(name)s' created.", name=plan.name), "success")
    return redirect(url_for("pm.detail", plan_id=plan.id), 303)


@bp.route("/<int:plan_id>/edit", methods=["GET", "POST"])
@login_required
def edit(plan_id: int):
    """Change a plan's schedule, checklist, assignment and planned work (not what it covers)."""
    require(g.actor, "pm.manage")
    plan = pm.get_plan(db(), plan_id, actor=g.actor)
    if request.method == "GET":
        return _form_page(_values_of(plan), plan=plan)
    data = _plan_data(with_target=False)
    try:
        plan = pm.update_plan(db(), plan_id, data, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        plan = pm.get_plan(db(), plan_id, actor=g.actor)
        values = {**_values_of(plan), **dict(request.form), **data, "assign_to": request.form.get("assign_to", "")}
        return _form_page(values, plan=plan, error=error_message(exc), status=400)
    commit()
    flash(gettext("Maintenance plan '%(name)s' saved.", name=plan.name), "success")
    return redirect(url_for("pm.detail", plan_id=plan.id), 303)


@bp.post("/<int:plan_id>/state")
@login_required
def change_state(plan_id: int):
    """Pause, resume or retire a plan."""
    action = request.form.get("action", "")
    try:
        plan = pm.change_plan_state(db(), plan_id, action, actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        db().rollback()
        flash(gettext("Not changed: %(error)s", error=error_message(exc)), "error")
        return redirect(url_for("pm.detail", plan_id=plan_id), 303)
    commit()
    flash(gettext("Maintenance plan '%(name)s' is now %(state)s.", name=plan.name,
                  state=gettext(PLAN_STATES[pm.plan_state(plan)])), "success")
    return redirect(url_for("pm.detail", plan_id=plan.id), 303)


# ------------------------------------------------------------------ the calendar


@bp.get("/calendar")
@login_required
def calendar():
    """Show every service of every plan, generated or projected: a month, a week (a list by day,
    for phones) or one day, with filters by department, category and assignee; or a year as
    counts per day, each day leading to its services."""
    require(g.actor, "pm.view")
    args = request.args
    shown = {"now": utc_now(state().clock), "day": args.get("date") or args.get("month"),
             "department_id": args.get("department"), "category": args.get("category"),
             "assignee": args.get("assignee")}
    if args.get("view") == "year":
        view = pm_calendar_paging.year_view(db(), actor=g.actor, **shown)
    else:
        view = pm_calendar.calendar_view(db(), actor=g.actor, view=args.get("view") or "month", **shown)
    return render_template("pm/calendar.html", cal=view, departments=org.list_departments(db()),
                           choices=pm_calendar.calendar_choices(db(), actor=g.actor),
                           status_labels=STATUS_LABELS)
