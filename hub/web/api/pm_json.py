"""JSON forms of plans, services, checklists and meter readings returned by the PM API."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import object_session

from wardlink.hub.db.models import (ChecklistResult, ChecklistTemplate, ChecklistVersion, MeterReading, PmOccurrence,
                                    PmPlan)
from wardlink.hub.services.maintenance import pm_parts
from wardlink.hub.services.maintenance.compliance import Target, window_days
from wardlink.hub.services.maintenance.pm_calendar_paging import CalendarPage, Summary
from wardlink.hub.services.maintenance.pm import (AssetOutlook, ProgrammeEntry, assignee_text, is_high_risk, plan_state,
                                                  suggest_interval)
from wardlink.hub.services.maintenance.workorder_common import code_of
from wardlink.hub.web.api.serialize import jsonable


def interval_json(count: int | None, unit: str | None) -> dict | None:
    """Return an interval as {"count", "unit"} or None."""
    return None if count is None or unit is None else {"count": count, "unit": unit}


def plan_json(plan: PmPlan, outlook: list[AssetOutlook] | None = None) -> dict:
    """Return a plan; with ``outlook``, where each covered asset stands."""
    asset = plan.asset
    data = {
        "id": plan.id, "name": plan.name,
        "asset": asset.tag if asset else None, "make": plan.make, "model": plan.model,
        "trigger": plan.trigger, "interval": interval_json(plan.interval_count, plan.interval_unit),
        "interval_count": plan.interval_count, "interval_unit": plan.interval_unit,
        "meter": plan.meter, "meter_interval": plan.meter_interval, "meter_lead": plan.meter_lead,
        "anchor_date": jsonable(plan.anchor_date), "anchor_meter": plan.anchor_meter,
        "lead_days": plan.lead_days, "window_days": window_days(plan.interval_count, plan.interval_unit),
        "priority": plan.priority, "instructions": plan.instructions, "active": plan.active,
        "checklist_template_id": plan.checklist_template_id,
        "checklist": ({"id": plan.checklist_template.id, "name": plan.checklist_template.name,
                       "version": plan.checklist_template.current_version}
                      if plan.checklist_template else None),
        "state": plan_state(plan), "retired_at": jsonable(plan.retired_at),
        "assignee_id": plan.assignee_id, "assignee_team": plan.assignee_team,
        "assignee_vendor": plan.assignee_vendor, "assignee": assignee_text(plan) or None,
        "planned_parts": plan.planned_parts or [], "planned_minutes": plan.planned_minutes,
        "visit_parts": pm_parts.snapshot(pm_parts.of_plan(object_session(plan), plan.id)),
        "created_at": jsonable(plan.created_at), "updated_at": jsonable(plan.updated_at),
    }
    if asset is not None:
        suggested = suggest_interval(asset.em_score)
        data["risk"] = {"em_score": asset.em_score, "in_programme": asset.needs_planned_maintenance,
                        "suggested_interval": interval_json(*suggested) if suggested else None,
                        "high_risk": is_high_risk(asset), "life_support": asset.life_support}
    if outlook is not None:
        data["assets"] = [outlook_json(o) for o in outlook]
    return data


def outlook_json(o: AssetOutlook) -> dict:
    """Return one asset's standing on a plan."""
    return {"asset": o.asset.tag, "high_risk": o.high_risk, "maintenance_status": o.asset.maintenance_status,
            "meter_now": o.meter_now, "last": occurrence_json(o.last) if o.last else None,
            "next_due_date": jsonable(o.next_due_date), "next_due_meter": o.next_due_meter}


def occurrence_json(occ: PmOccurrence, judgement: str | None = None) -> dict:
    """Return one generated service."""
    window = Target(occ.due_date, occ.window_days).window if occ.due_date else None
    data = {
        "id": occ.id, "plan_id": occ.plan_id, "asset": occ.asset.tag, "seq": occ.seq,
        "state": occ.state, "due_date": jsonable(occ.due_date), "due_meter": occ.due_meter,
        "window": ({"opens": window.opens.isoformat(), "closes": window.closes.isoformat(),
                    "days": occ.window_days} if window else None),
        "meter_tolerance": occ.meter_tolerance, "high_risk": occ.high_risk,
        "work_order": ({"id": occ.work_order.id, "code": code_of(occ.work_order),
                        "state": occ.work_order.state} if occ.work_order else None),
        "checklist_version_id": occ.checklist_version_id,
        "generated_at": jsonable(occ.generated_at), "completed_on": jsonable(occ.completed_on),
        "completion_meter": occ.completion_meter, "escalated_at": jsonable(occ.escalated_at),
    }
    if judgement is not None:
        data["judgement"] = judgement
    return data


def version_json(version: ChecklistVersion) -> dict:
    """Return one checklist version with its items."""
    return {"id": version.id, "template_id": version.template_id, "version": version.version,
            "items": version.items, "created_at": jsonable(version.created_at),
            "created_by": version.created_by}


def template_json(template: ChecklistTemplate, current: ChecklistVersion | None = None) -> dict:
    """Return a checklist template; with ``current``, its newest items."""
    data = {"id": template.id, "name": template.name, "description": template.description,
            "version": template.current_version, "created_at": jsonable(template.created_at),
            "updated_at": jsonable(template.updated_at)}
    if current is not None:
        data["items"] = current.items
        data["version_id"] = current.id
    return data


def result_json(result: ChecklistResult | None) -> dict | None:
    """Return recorded checklist results."""
    if result is None:
        return None
    return {"results": result.results, "passed": result.passed, "complete": result.complete,
            "meter": result.meter_value, "recorded_by": result.recorded_by,
            "recorded_at": jsonable(result.recorded_at)}


def reading_json(reading: MeterReading) -> dict:
    """Return one meter reading."""
    return {"id": reading.id, "meter": reading.meter, "value": reading.value,
            "read_at": jsonable(reading.read_at), "work_order_id": reading.work_order_id,
            "entered_by": reading.entered_by, "note": reading.note}


def programme_json(entry: ProgrammeEntry) -> dict:
    """Return one asset of the planned-maintenance programme."""
    a = entry.asset
    return {"asset": a.tag, "name": a.name, "department": a.department.code if a.department else None,
            "em_score": a.em_score, "suggested_interval": interval_json(*entry.suggested),
            "high_risk": entry.high_risk, "life_support": a.life_support,
            "maintenance_status": a.maintenance_status,
            "plans": [{"id": p.id, "name": p.name} for p in entry.plans], "covered": bool(entry.plans)}


def iso_day(value: date | None) -> str | None:
    """Return a date as YYYY-MM-DD."""
    return None if value is None else value.isoformat()


def calendar_page_json(page: CalendarPage, following: str | None) -> dict:
    """Return a page of the PM calendar: its services (dates as date objects, for orjson), the
    range's total and where the next page starts (``next_cursor``, and ``next`` as a link)."""
    return {"start": page.first, "end": page.last, "total": page.total, "limit": page.limit,
            "has_next": page.next is not None, "next_cursor": page.next.encode() if page.next else None,
            "next": following, "items": [
                {"due_date": o.due_date, "plan_id": o.plan_id, "plan": o.plan, "asset": o.asset, "status": o.status,
                 "window": {"opens": o.opens, "closes": o.closes}, "work_order_id": o.work_order_id,
                 "projected": o.projected} for o in page.items]}


def calendar_summary_json(summary: Summary) -> dict:
    """Return the PM calendar's services counted per day and status (dates as date objects)."""
    return {"start": summary.first, "end": summary.last, "total": summary.total, "counts": summary.counts,
            "days": [{"date": d.day, "total": d.total, "counts": d.counts} for d in summary.days]}
