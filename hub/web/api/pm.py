"""The preventive-maintenance and KPI part of the JSON API under ``/api/v1``.

Plans (``/pm-plans``), their checklist and services, checklist templates, the checklist of
a work order, meter readings, the risk-based programme, and KPIs with CSV and Excel export.
Every route names the permission it needs in :data:`wardlink.hub.web.api.pm_permissions.ROUTE_PERMISSIONS`
(kept apart so the OpenAPI description reads it without importing the routes); the services check
it (and department scope) again, so the table documents the API and cannot loosen it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for

from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.maintenance import checklists
from wardlink.hub.services.reports import export
from wardlink.hub.services.reports import kpis
from wardlink.hub.services.maintenance import pm
from wardlink.hub.services.maintenance import pm_calendar
from wardlink.hub.services.maintenance import pm_calendar_paging
from wardlink.hub.services.maintenance import pm_generator
from wardlink.hub.services.maintenance import pm_meters
from wardlink.hub.services.maintenance import pm_work
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import boolean, optional_date, optional_id, text
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.pm_permissions import ROUTE_PERMISSIONS
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.api.openapi import check_request
from wardlink.hub.web.api.pm_json import (calendar_page_json, calendar_summary_json, occurrence_json, plan_json,
                                          programme_json, reading_json, result_json, template_json, version_json)
from wardlink.hub.web.query_args import int_arg, paging
from wardlink.hub.web.api.serialize import large_json, page_json
from wardlink.hub.web.state import state

bp = Blueprint("api_pm", __name__)

TAG = text(64)
#: Days a KPI report covers when no start is given.
DEFAULT_KPI_DAYS = 30


guard(bp, needs=ROUTE_PERMISSIONS)


# ------------------------------------------------------------------ arguments


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("body: must be a JSON object (Content-Type: application/json)")
    check_request(body)
    return body


def _bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    return None if raw in (None, "") else boolean(name, raw)


def _clock():
    return state().clock


# ------------------------------------------------------------------ plans


@bp.get("/pm-plans")
def plan_list():
    """List plans: q, asset (also make-and-model plans covering it), active, trigger, page, per_page."""
    page = pm.list_plans(db(), actor=g.actor, q=text(100)("q", request.args.get("q")) or None,
                         asset_tag=TAG("asset", request.args.get("asset")) or None, active=_bool_arg("active"),
                         trigger=request.args.get("trigger") or None, **paging())
    return jsonify(page_json(page, plan_json))


@bp.post("/pm-plans")
def plan_create():
    """Create a plan: asset_tag or make + model, trigger, interval or meter, lead_days, checklist..."""
    plan = pm.create_plan(db(), _body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(plan_json(plan, pm.outlook(db(), plan, actor=g.actor))), 201


@bp.get("/pm-plans/<int:plan_id>")
def plan_detail(plan_id: int):
    """Return a plan and, per covered asset, the last service and the next due date or reading."""
    plan = pm.get_plan(db(), plan_id, actor=g.actor)
    return jsonify(plan_json(plan, pm.outlook(db(), plan, actor=g.actor)))


@bp.patch("/pm-plans/<int:plan_id>")
def plan_update(plan_id: int):
    """Change a plan's fields (not its target); services already generated keep their dates."""
    plan = pm.update_plan(db(), plan_id, _body(), actor=g.actor, clock=_clock())
    commit()
    return jsonify(plan_json(plan, pm.outlook(db(), plan, actor=g.actor)))


@bp.post("/pm-plans/<int:plan_id>/state")
def plan_state(plan_id: int):
    """Pause, resume or retire a plan: {"action": "pause" | "resume" | "retire"}."""
    body = _body()
    plan = pm.change_plan_state(db(), plan_id, body.get("action"), actor=g.actor, clock=_clock())
    commit()
    return jsonify(plan_json(plan, pm.outlook(db(), plan, actor=g.actor)))


@bp.get("/pm-assignees")
def plan_assignees():
    """List the users a plan's services may be assigned to (technicians and vendors)."""
    people = pm.assignee_candidates(db(), actor=g.actor)
    return jsonify({"items": [{"id": u.id, "username": u.username, "display_name": u.display_name,
                               "role": u.role} for u in people]})


@bp.get("/pm-plans/<int:plan_id>/services")
def plan_services(plan_id: int):
    """List a plan's generated services, newest first, with their judgement: asset, page, per_page."""
    page = pm.list_services(db(), plan_id, actor=g.actor, clock=_clock(),
                            asset_tag=TAG("asset", request.args.get("asset")) or None, **paging())
    return jsonify(page_json(page, lambda pair: occurrence_json(*pair)))


@bp.get("/pm-plans/<int:plan_id>/checklist")
def plan_checklist(plan_id: int):
    """Return the plan's checklist template with its current items and every version."""
    plan = pm.get_plan(db(), plan_id, actor=g.actor)
    if plan.checklist_template is None:
        return jsonify({"plan_id": plan.id, "template": None, "versions": []})
    template = plan.checklist_template
    return jsonify({"plan_id": plan.id,
                    "template": template_json(template, checklists.current_version(db(), template)),
                    "versions": [version_json(v) for v in template.versions]})


@bp.put("/pm-plans/<int:plan_id>/checklist")
def plan_checklist_set(plan_id: int):
    """Set the plan's checklist: {"template_id": N} to use a template, or {"items": [...]} to
    give its template new items (a new version; a plan without one gets its own template)."""
    body, session, clock = _body(), db(), _clock()
    unknown = sorted(set(body) - {"template_id", "items", "name"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field; known: items, name, template_id")
    plan = pm.get_plan(session, plan_id, actor=g.actor)
    if ("template_id" in body) == ("items" in body):
        raise InvalidInput("template_id: give either template_id or items")
    if "template_id" in body:
        template_id = optional_id("template_id", body["template_id"])
        pm.update_plan(session, plan.id, {"checklist_template_id": template_id}, actor=g.actor, clock=clock)
    elif plan.checklist_template is None:
        template = checklists.create_template(session, name=body.get("name") or f"{plan.name} (plan {plan.id})",
                                              items=body["items"], actor=g.actor, clock=clock)
        pm.update_plan(session, plan.id, {"checklist_template_id": template.id}, actor=g.actor, clock=clock)
    else:
        checklists.update_template(session, plan.checklist_template_id, items=body["items"],
                                   name=body.get("name"), actor=g.actor, clock=clock)
    commit()
    return plan_checklist(plan_id)


@bp.post("/pm-plans/generate")
def generate():
    """Run the PM generator now (the scheduler also runs it); returns what it created."""
    require(g.actor, "pm.manage")
    report = pm_generator.generate_due(db(), clock=_clock())
    commit()
    return jsonify({**report.as_dict(), "work_order_ids": report.work_order_ids})


@bp.get("/pm-calendar")
def calendar():
    """The services due start..end (YYYY-MM-DD, at most 400 days), generated or projected, with
    their status (due, in_window, overdue, done) and compliance window, a page at a time
    (``limit``, ``cursor``), or counted per day (``summary=day``): department, category, assignee."""
    now = utc_now(_clock())
    first = (optional_date("start", request.args.get("start"))
             or pm_calendar.viewer_today(db(), g.actor, now))
    last = optional_date("end", request.args.get("end")) or first + timedelta(days=30)
    filters = pm_calendar.parse_filters(request.args.get("department"), request.args.get("category"),
                                        request.args.get("assignee"))
    summary = request.args.get("summary") or None
    if summary is not None:
        if summary != "day":
            raise InvalidInput(f"summary: must be day, got {summary!r}")
        return large_json(calendar_summary_json(pm_calendar_paging.day_summary(
            db(), actor=g.actor, first=first, last=last, now=now, filters=filters)))
    raw_cursor = request.args.get("cursor") or None
    page = pm_calendar_paging.calendar_page(
        db(), actor=g.actor, first=first, last=last, now=now, filters=filters,
        limit=int_arg("limit", pm_calendar_paging.DEFAULT_LIMIT, 1, pm_calendar_paging.MAX_LIMIT),
        cursor=pm_calendar_paging.Cursor.decode(raw_cursor) if raw_cursor is not None else None)
    following = None
    if page.next is not None:
        args = {name: value for name, value in request.args.items() if name not in ("cursor", "start", "end")}
        following = url_for("api_pm.calendar", start=first.isoformat(), end=last.isoformat(), **args,
                            cursor=page.next.encode())
    # Dates go out as date objects, written by orjson.
    return large_json(calendar_page_json(page, following))


@bp.get("/pm-programme")
def programme():
    """List assets with EM >= 12 (the risk-based programme), their suggested interval and plans."""
    return jsonify({"items": [programme_json(e) for e in pm.programme(db(), actor=g.actor)]})


# ------------------------------------------------------------------ checklist templates


@bp.get("/checklist-templates")
def template_list():
    """List checklist templates with their current version number."""
    return jsonify({"items": [template_json(t) for t in checklists.list_templates(db(), actor=g.actor)]})


@bp.post("/checklist-templates")
def template_create():
    """Create a checklist template: {"name", "description", "items": [...]}."""
    body = _body()
    unknown = sorted(set(body) - {"name", "description", "items"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field; known: description, items, name")
    template = checklists.create_template(db(), name=body.get("name"), items=body.get("items"),
                                          description=body.get("description", ""), actor=g.actor,
                                          clock=_clock())
    commit()
    return jsonify(template_json(template, checklists.current_version(db(), template))), 201


@bp.get("/checklist-templates/<int:template_id>")
def template_detail(template_id: int):
    """Return a template with its current items and every version."""
    template = checklists.get_template(db(), template_id, actor=g.actor)
    data = template_json(template, checklists.current_version(db(), template))
    data["versions"] = [version_json(v) for v in template.versions]
    return jsonify(data)


@bp.patch("/checklist-templates/<int:template_id>")
def template_update(template_id: int):
    """Rename or describe a template, or give it new items (creates a new version)."""
    body = _body()
    unknown = sorted(set(body) - {"name", "description", "items"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field; known: description, items, name")
    template = checklists.update_template(db(), template_id, name=body.get("name"),
                                          description=body.get("description"), items=body.get("items"),
                                          actor=g.actor, clock=_clock())
    commit()
    return jsonify(template_json(template, checklists.current_version(db(), template)))


# ------------------------------------------------------------------ work orders and meters


@bp.get("/work-orders/<int:work_order_id>/checklist")
def work_order_checklist(work_order_id: int):
    """Return the checklist version a PM work order carries and the results recorded so far."""
    sheet = pm_work.checklist_for(db(), work_order_id, actor=g.actor)
    return jsonify({"work_order_id": sheet.order.id, "version": version_json(sheet.version),
                    "result": result_json(sheet.result)})


@bp.put("/work-orders/<int:work_order_id>/checklist")
def work_order_checklist_record(work_order_id: int):
    """Record results: {"answers": {key: {"result"|"value"|"text", "comment"}}, "meter": 1234}."""
    body = _body()
    unknown = sorted(set(body) - {"answers", "meter"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field; known: answers, meter")
    result, opened = pm_work.record_results(db(), work_order_id, body.get("answers", {}),
                                            meter=body.get("meter"), actor=g.actor, clock=_clock())
    commit()
    return jsonify({"work_order_id": work_order_id, "result": result_json(result),
                    "corrective_work_orders": [o.id for o in opened]})


@bp.get("/assets/<tag>/meter-readings")
def meter_list(tag: str):
    """Return each meter's current value and the readings entered (newest first): meter."""
    asset, current, readings = pm_meters.asset_meters(db(), tag, meter=request.args.get("meter") or None,
                                                      actor=g.actor)
    return jsonify({"asset": asset.tag, "current": current, "items": [reading_json(r) for r in readings]})


@bp.post("/assets/<tag>/meter-readings")
def meter_record(tag: str):
    """Record a meter read off a device: {"meter": "run_hours", "value": 1234.5, "note": "..."}."""
    body = _body()
    unknown = sorted(set(body) - {"meter", "value", "note"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field; known: meter, note, value")
    reading = pm_meters.record_reading(db(), tag, meter=body.get("meter"), value=body.get("value"),
                                       note=body.get("note", ""), actor=g.actor, clock=_clock())
    commit()
    return jsonify(reading_json(reading)), 201


# ------------------------------------------------------------------ KPIs


def _report(assets: bool = True) -> kpis.KpiReport:
    department = optional_id("department", request.args.get("department"))
    today = kpis.local_today(db(), g.actor, department, _clock())
    end = optional_date("end", request.args.get("end")) or today
    start = optional_date("start", request.args.get("start")) or end - timedelta(days=DEFAULT_KPI_DAYS - 1)
    return kpis.compute(db(), start=start, end=end, department_id=department, actor=g.actor, clock=_clock(),
                        assets=assets)


@bp.get("/kpis")
def kpi_report():
    """Return KPIs for start..end (YYYY-MM-DD, both included: local dates at the site, midnight to
    midnight in its time zone; default the last 30 days): department. The assets' uptime comes a
    page at a time (``page``, ``per_page``; ``uptime_sort``, lowest uptime first by default), its
    paging facts in ``assets_page``."""
    paged = paging()
    report = _report(assets=False)
    uptime = kpis.uptime_page(db(), report, sort=request.args.get("uptime_sort") or "uptime", **paged)
    body = report.as_dict()
    listed = page_json(uptime, kpis.AssetUptime.as_dict)
    body["assets"] = listed.pop("items")
    body["assets_page"] = listed
    return jsonify(body)


@bp.get("/kpis/export")
def kpi_export():
    """Download the KPI table: format=csv or xlsx, with the same start, end and department."""
    fmt = request.args.get("format", "csv")
    if fmt not in export.WRITERS:
        raise InvalidInput(f"format: must be one of {', '.join(export.WRITERS)}, got {fmt!r}")
    report = _report()
    name = f"wardlink-kpis-{report.period.start.isoformat()}-{report.period.end.isoformat()}.{fmt}"
    return Response(export.WRITERS[fmt](report), mimetype=export.CONTENT_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
