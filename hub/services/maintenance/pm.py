"""Preventive maintenance plans: what to service, how often, and with which checklist.

A plan covers one asset, or every asset of one make and model. It is triggered by the
calendar, by a meter (run-hours from telemetry, or any counter read off the device), or by
whichever comes first; :mod:`wardlink.hub.services.maintenance.pm_schedule` says when each service falls due and
:mod:`wardlink.hub.services.maintenance.pm_generator` turns due services into work orders.

Risk (Fennigkoh-Smith, :mod:`wardlink.hub.db.risk`): an asset whose EM score is 12 or more belongs
in the planned-maintenance programme, and a calendar plan created for it without an
interval gets the interval :data:`SUGGESTED_INTERVALS` gives for its score. Life-support
and other high-risk equipment (:func:`is_high_risk`) is flagged on every service generated
for it and tracked for 100 % on-time completion.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Asset, ChecklistTemplate, Department, PmOccurrence, PmPlan, Site, User
from wardlink.hub.db.risk import needs_planned_maintenance
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import PM_TRIGGERS
from wardlink.hub.errors import InvalidInput, Message, NotFound, PermissionDenied, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets.register import find_asset, get_asset
from wardlink.hub.services.maintenance.compliance import Target
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.local_time import zone_named
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.maintenance import pm_parts
from wardlink.hub.services.maintenance.pm_meters import current_value
from wardlink.hub.services.maintenance.pm_fields import ASSIGNEE_FIELDS, PLAN_FIELDS, SNAPSHOT_FIELDS, TARGET_FIELDS
from wardlink.hub.services.maintenance.pm_schedule import Previous, Schedule, shift, upcoming
from wardlink.hub.services.maintenance.workorder_flow import ASSIGNABLE_ROLES
from wardlink.hub.services.validate import choice, parse_fields, text
from wardlink.clock import Clock

#: Lowest EM score -> interval suggested for it, highest first. A common reading of
#: Fennigkoh-Smith: the riskiest devices twice a year, the rest of the programme yearly.
SUGGESTED_INTERVALS: tuple[tuple[int, tuple[int, str]], ...] = ((19, (6, "month")), (12, (12, "month")))
#: Physical-risk factor from which equipment counts as high-risk (4 = patient or operator injury).
HIGH_RISK_PHYSICAL = 4
#: Assets in these states get no new services.
INACTIVE_STATUSES = frozenset({"retired"})
INACTIVE_STAGES = frozenset({"decommissioned", "disposed"})
# ------------------------------------------------------------------ risk


def suggest_interval(em_score: int | None) -> tuple[int, str] | None:
    """Return the (count, unit) interval suggested for an EM score, or None below the programme."""
    if not needs_planned_maintenance(em_score):
        return None
    return next(interval for floor, interval in SUGGESTED_INTERVALS if em_score >= floor)


def is_high_risk(asset: Asset) -> bool:
    """Return True for life-support equipment and equipment whose failure can injure or kill."""
    return bool(asset.life_support) or (asset.physical_risk or 0) >= HIGH_RISK_PHYSICAL


# ------------------------------------------------------------------ time


def site_zone(site: Site | None) -> ZoneInfo:
    """Return a site's time zone (UTC when unset or unknown)."""
    return zone_named(site.timezone if site is not None else None)


def asset_zone(session: Session, asset: Asset) -> ZoneInfo:
    """Return the time zone of the site an asset's department belongs to."""
    if asset.department_id is None:
        return ZoneInfo("UTC")
    site = session.scalar(select(Site).join(Department, Department.site_id == Site.id)
                          .where(Department.id == asset.department_id))
    return site_zone(site)


def department_zones(session: Session) -> dict[int | None, ZoneInfo]:
    """Return the time zone of every department's site, read in one query; a department with no
    site (and ``None``, an asset without a department) gets UTC, as :func:`asset_zone` gives."""
    zones: dict[int | None, ZoneInfo] = defaultdict(lambda: ZoneInfo("UTC"))
    rows = session.execute(select(Department.id, Site.timezone).join(Site, Site.id == Department.site_id))
    for dept_id, name in rows:
        try:
            zones[dept_id] = ZoneInfo(name) if name else ZoneInfo("UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zones[dept_id] = ZoneInfo("UTC")
    return zones


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """Return the calendar date of ``moment`` in ``zone``."""
    return moment.astimezone(zone).date()


# ------------------------------------------------------------------ plans


def schedule_of(plan: PmPlan) -> Schedule:
    """Return the timing fields of a plan as a :class:`Schedule`."""
    return Schedule(trigger=plan.trigger, anchor_date=plan.anchor_date,
                    interval_count=plan.interval_count, interval_unit=plan.interval_unit,
                    meter_interval=plan.meter_interval, anchor_meter=plan.anchor_meter,
                    lead_days=plan.lead_days, meter_lead=plan.meter_lead or 0.0)


def plan_snapshot(plan: PmPlan) -> dict[str, Any]:
    """Return every stored field of a plan by name (for audit rows)."""
    return {name: getattr(plan, name) for name in SNAPSHOT_FIELDS}


def covered_assets(session: Session, plan: PmPlan) -> list[Asset]:
    """Return the assets a plan services now (retired and disposed ones excluded)."""
    stmt = select(Asset).options(selectinload(Asset.department))
    if plan.asset_id is not None:
        stmt = stmt.where(Asset.id == plan.asset_id)
    else:
        stmt = stmt.where(Asset.make == plan.make, Asset.model == plan.model)
    stmt = stmt.where(Asset.equipment_status.not_in(INACTIVE_STATUSES),
                      Asset.lifecycle_stage.not_in(INACTIVE_STAGES))
    return list(session.scalars(stmt.order_by(Asset.tag)))


def _check_consistent(plan: Mapping[str, Any], asset: Asset | None) -> dict[str, Any]:
    """Fill suggested defaults and refuse combinations that cannot be scheduled."""
    out = dict(plan)
    trigger = out["trigger"]
    uses_calendar = trigger in ("calendar", "whichever_first")
    uses_meter = trigger in ("meter", "whichever_first")
    if uses_calendar and out.get("interval_count") is None and out.get("interval_unit") is None:
        suggested = suggest_interval(asset.em_score) if asset is not None else None
        if suggested is None:
            if asset is not None:
                raise InvalidInput(N_("interval_count: required for %(trigger)s plans (the asset's EM score "
                                      "suggests none)"), trigger=Term(trigger))
            raise InvalidInput(N_("%(missing)s: required for %(trigger)s plans"), missing="interval_count",
                               trigger=Term(trigger))
        out["interval_count"], out["interval_unit"] = suggested
    if uses_calendar and (out.get("interval_count") is None or out.get("interval_unit") is None):
        missing = "interval_unit" if out.get("interval_unit") is None else "interval_count"
        raise InvalidInput(N_("%(missing)s: required for %(trigger)s plans"), missing=missing, trigger=Term(trigger))
    if not uses_calendar and (out.get("interval_count") is not None or out.get("interval_unit") is not None):
        raise InvalidInput(N_("interval_count: a meter plan has no calendar interval; use trigger whichever_first "
                              "for both"))
    if uses_meter and (out.get("meter") is None or out.get("meter_interval") is None):
        missing = "meter" if out.get("meter") is None else "meter_interval"
        raise InvalidInput(N_("%(missing)s: required for %(trigger)s plans"), missing=missing, trigger=Term(trigger))
    if not uses_meter and any(out.get(k) is not None for k in ("meter", "meter_interval", "anchor_meter")):
        raise InvalidInput(N_("meter: a calendar plan uses no meter; use trigger whichever_first for both"))
    if uses_meter and out.get("meter_lead", 0.0) >= out["meter_interval"]:
        raise InvalidInput(N_("meter_lead: must be less than meter_interval (%(meter_interval)s), got %(meter_lead)s"),
                           meter_interval=format(out['meter_interval'], 'g'),
                           meter_lead=format(out['meter_lead'], 'g'))
    if uses_calendar:
        span = (shift(date(2001, 1, 1), out["interval_count"], out["interval_unit"]) - date(2001, 1, 1)).days
        if out.get("lead_days", 0) >= span:
            raise InvalidInput(N_("lead_days: must be shorter than the interval (%(span)s days), got %(lead_days)s"),
                               span=span, lead_days=out['lead_days'])
    if not uses_meter:
        out["meter_lead"] = 0.0
    return out


def _target(session: Session, data: dict[str, Any], who: Actor) -> tuple[Asset | None, str | None, str | None]:
    tag = data.pop("asset_tag", None)
    make, model = (text(100)(k, data.pop(k, None)) or None for k in ("make", "model"))
    if tag:
        if make or model:
            raise InvalidInput(N_("asset_tag: give either an asset or a make and model, not both"))
        asset = get_asset(session, str(tag), actor=who)
        require_department(who, asset.department_id, Message(N_("asset '%(tag)s'"), tag=asset.tag))
        return asset, None, None
    if not (make and model):
        raise InvalidInput(N_("asset_tag: a plan needs an asset, or a make and a model"))
    if department_scope(who) is not None:
        raise PermissionDenied(N_("a make-and-model plan covers every department; user '%(username)s' is limited to "
                                  "one"), username=who.username)
    return None, make, model


def _check_template(session: Session, template_id: int | None) -> None:
    if template_id is not None and session.get(ChecklistTemplate, template_id) is None:
        raise InvalidInput(N_("checklist_template_id: no checklist template %(template_id)s"), template_id=template_id)


def _check_assignee(session: Session, fields: Mapping[str, Any], before: int | None = None) -> None:
    """Refuse more than one assignee, and a user who cannot take work orders."""
    given = [k for k in ASSIGNEE_FIELDS if fields.get(k) is not None]
    if len(given) > 1:
        raise InvalidInput(N_("%(given)s: a plan goes to one technician, one team or one vendor, not several"),
                           given=given[1])
    user_id = fields.get("assignee_id")
    if user_id is None or user_id == before:
        return
    user = session.get(User, user_id)
    if user is None or not user.is_active or user.role not in ASSIGNABLE_ROLES:
        raise InvalidInput(N_("assignee_id: user %(user_id)s is not an active %(choices)s user"),
                           user_id=user_id, choices=' or '.join(ASSIGNABLE_ROLES))


def assignee_candidates(session: Session, *, actor: Actor | None) -> list[User]:
    """Return the active users a plan's services may go to, by role and name."""
    require(resolve_actor(actor), "pm.view")
    return list(session.scalars(select(User).where(User.role.in_(ASSIGNABLE_ROLES), User.is_active.is_(True))
                                .order_by(User.role, User.display_name, User.username)))


def assignee_text(plan: PmPlan) -> str:
    """Return who a plan's services go to, in words ('' when nobody is named)."""
    if plan.assignee_id is not None:
        return plan.assignee.display_name if plan.assignee is not None else f"user {plan.assignee_id}"
    if plan.assignee_team:
        return f"team {plan.assignee_team}"
    if plan.assignee_vendor:
        return f"vendor {plan.assignee_vendor}"
    return ""


def create_plan(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                clock: Clock | None = None) -> PmPlan:
    """Create a plan from ``data`` (a target plus :data:`PLAN_FIELDS`) and return it."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "pm.manage")
    data = dict(data)
    asset, make, model = _target(session, data, who)
    visit = pm_parts.parse(session, data.pop("visit_parts", None))
    fields = parse_fields(PLAN_FIELDS, data, partial=False)
    fields = _check_consistent(fields, asset)
    _check_template(session, fields["checklist_template_id"])
    _check_assignee(session, fields)
    now = utc_now(clock)
    if fields["anchor_date"] is None:
        zone = asset_zone(session, asset) if asset is not None else ZoneInfo("UTC")
        fields["anchor_date"] = local_date(now, zone)
    if fields["meter"] is not None and fields["anchor_meter"] is None and asset is not None:
        fields["anchor_meter"] = current_value(session, asset.id, fields["meter"]) or 0.0
    if fields["priority"] is None:
        fields["priority"] = "high" if asset is not None and is_high_risk(asset) else "medium"
    plan = PmPlan(asset_id=asset.id if asset else None, make=make, model=model, created_at=now,
                  updated_at=now, **fields)
    session.add(plan)
    session.flush()
    _, visit_parts = pm_parts.replace(session, plan, visit)
    audit.record(session, actor=who, action="pm_plan.create", entity="pm_plan", entity_id=plan.id,
                 after=plan_snapshot(plan) | ({"visit_parts": visit_parts} if visit_parts else {}), clock=clock)
    return plan


def update_plan(session: Session, plan_id: int, changes: Mapping[str, Any], *, actor: Actor | None,
                clock: Clock | None = None) -> PmPlan:
    """Apply ``changes`` (a subset of :data:`PLAN_FIELDS`) to a plan and audit what changed.

    Services already generated keep their due dates and windows; the next ones follow the
    new schedule.
    """
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "pm.manage")
    plan = get_plan(session, plan_id, actor=who)
    if plan.asset_id is None and department_scope(who) is not None:
        raise PermissionDenied(N_("a make-and-model plan covers every department; user '%(username)s' is limited to "
                                  "one"), username=who.username)
    if plan.retired_at is not None:
        raise InvalidInput(N_("name: maintenance plan %(id)s is retired and can no longer change"), id=plan.id)
    moved = sorted(set(changes) & set(TARGET_FIELDS))
    if moved:
        raise InvalidInput(N_("%(moved)s: a plan's asset or make and model cannot change; deactivate it and create "
                              "a new plan"), moved=moved[0])
    changes = dict(changes)
    visit = pm_parts.parse(session, changes.pop("visit_parts")) if "visit_parts" in changes else None
    fields = parse_fields(PLAN_FIELDS, changes, partial=True)
    if "active" in changes and changes.get("active") in (None, ""):
        raise InvalidInput(N_("active: must be true or false"))
    merged = {k: getattr(plan, k) for k in PLAN_FIELDS} | fields
    if merged["priority"] is None:
        merged["priority"] = plan.priority
    merged = _check_consistent(merged, plan.asset)
    _check_template(session, merged["checklist_template_id"])
    _check_assignee(session, merged, before=plan.assignee_id)
    before = plan_snapshot(plan)
    for key in PLAN_FIELDS:
        if key == "anchor_date" and merged[key] is None:
            continue  # the anchor stays where it was
        setattr(plan, key, merged[key])
    old, new = audit.changes(before, plan_snapshot(plan))
    if visit is not None:
        parts_before, parts_after = pm_parts.replace(session, plan, visit)
        if parts_before != parts_after:
            old["visit_parts"], new["visit_parts"] = parts_before, parts_after
    if new:
        plan.updated_at = utc_now(clock)
        session.flush()
        audit.record(session, actor=who, action="pm_plan.update", entity="pm_plan", entity_id=plan.id,
                     before=old, after=new, clock=clock)
    return plan


#: What a person may do to a plan's state: pause it, resume it, or retire it for good.
PLAN_STATE_ACTIONS = ("pause", "resume", "retire")


def change_plan_state(session: Session, plan_id: int, action: str, *, actor: Actor | None,
                      clock: Clock | None = None) -> PmPlan:
    """Pause a plan (no new services until resumed), resume it, or retire it (never again).

    Services already generated stay as they are: their work orders are done or cancelled on
    their own.
    """
    who, clock = resolve_actor(actor), resolve_clock(clock)
    action = choice(PLAN_STATE_ACTIONS)("action", action)
    plan = get_plan(session, plan_id, actor=who)
    if plan.retired_at is not None:
        raise InvalidInput(N_("action: maintenance plan %(id)s is retired and can no longer change"), id=plan.id)
    if action == "retire":
        require(who, "pm.manage")
        if plan.asset_id is None and department_scope(who) is not None:
            raise PermissionDenied(N_("a make-and-model plan covers every department; user '%(username)s' is "
                                      "limited to one"), username=who.username)
        before = plan_snapshot(plan)
        plan.active, plan.retired_at = False, utc_now(clock)
        plan.updated_at = plan.retired_at
        session.flush()
        old, new = audit.changes(before, plan_snapshot(plan))
        audit.record(session, actor=who, action="pm_plan.retire", entity="pm_plan", entity_id=plan.id,
                     before=old, after=new, clock=clock)
        return plan
    wanted = action == "resume"
    if plan.active == wanted:
        raise InvalidInput(N_("action: maintenance plan %(id)s is already %(value)s"),
                           id=plan.id, value=Message(N_("active") if wanted else N_("paused")))
    return update_plan(session, plan.id, {"active": wanted}, actor=who, clock=clock)


def plan_state(plan: PmPlan) -> str:
    """Return ``active``, ``paused`` or ``retired``."""
    return "retired" if plan.retired_at is not None else "active" if plan.active else "paused"


def get_plan(session: Session, plan_id: int, *, actor: Actor | None) -> PmPlan:
    """Return a plan or raise :class:`NotFound` / :class:`PermissionDenied`."""
    who = resolve_actor(actor)
    require(who, "pm.view")
    plan = session.get(PmPlan, plan_id)
    if plan is None:
        raise NotFound(N_("maintenance plan %(plan_id)s does not exist"), plan_id=plan_id)
    if plan.asset is not None:
        require_department(who, plan.asset.department_id, Message(N_("maintenance plan %(plan_id)s"), plan_id=plan_id))
    return plan


def list_plans(session: Session, *, actor: Actor | None, asset_tag: str | None = None,
               active: bool | None = None, trigger: str | None = None, q: str | None = None,
               page: int = 1, per_page: int = 50) -> Page[PmPlan]:
    """Return one page of plans by name; ``asset_tag`` also finds make-and-model plans covering it."""
    who = resolve_actor(actor)
    require(who, "pm.view")
    stmt = select(PmPlan).outerjoin(Asset, PmPlan.asset_id == Asset.id).options(
        selectinload(PmPlan.asset), selectinload(PmPlan.checklist_template))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(or_(PmPlan.asset_id.is_(None), Asset.department_id == scope))
    if asset_tag:
        asset = find_asset(session, asset_tag)
        if asset is None:
            raise NotFound(N_("asset '%(asset_tag)s' does not exist"), asset_tag=asset_tag)
        stmt = stmt.where(or_(PmPlan.asset_id == asset.id,
                              and_(PmPlan.make == asset.make, PmPlan.model == asset.model)))
    if active is not None:
        stmt = stmt.where(PmPlan.active.is_(active))
    if trigger:
        stmt = stmt.where(PmPlan.trigger == choice(PM_TRIGGERS)("trigger", trigger))
    if q and q.strip():
        term = q.strip()[:100]
        stmt = stmt.where(or_(*(c.icontains(term, autoescape=True) for c in (
            PmPlan.name, PmPlan.make, PmPlan.model, Asset.tag))))
    return paginate(session, stmt.order_by(PmPlan.name, PmPlan.id), page, per_page)


# ------------------------------------------------------------------ outlook


@dataclass(frozen=True)
class AssetOutlook:
    """Where one asset stands on one plan."""

    asset: Asset
    high_risk: bool
    last: PmOccurrence | None
    meter_now: float | None
    next_due_date: date | None
    next_due_meter: float | None


def latest_occurrence(session: Session, plan_id: int, asset_id: int) -> PmOccurrence | None:
    """Return the newest service generated for a plan on an asset."""
    return session.scalar(select(PmOccurrence).where(
        PmOccurrence.plan_id == plan_id, PmOccurrence.asset_id == asset_id,
    ).order_by(PmOccurrence.seq.desc()).limit(1))


def previous_of(occurrence: PmOccurrence | None) -> Previous | None:
    """Return the scheduling facts of an occurrence."""
    if occurrence is None:
        return None
    return Previous(seq=occurrence.seq, state=occurrence.state, due_date=occurrence.due_date,
                    due_meter=occurrence.due_meter, completed_on=occurrence.completed_on,
                    completion_meter=occurrence.completion_meter)


def outlook(session: Session, plan: PmPlan, *, actor: Actor | None = None) -> list[AssetOutlook]:
    """Return, per covered asset the actor may see, the last service and when the next falls due."""
    scope = department_scope(resolve_actor(actor))
    schedule = schedule_of(plan)
    out = []
    for asset in covered_assets(session, plan):
        if scope is not None and asset.department_id != scope:
            continue
        last = latest_occurrence(session, plan.id, asset.id)
        meter_now = current_value(session, asset.id, plan.meter) if plan.meter else None
        start = local_date(plan.created_at, asset_zone(session, asset))
        nxt = upcoming(schedule, previous_of(last), start_on=start)
        out.append(AssetOutlook(asset, is_high_risk(asset), last, meter_now,
                                nxt.due_date if nxt else None, nxt.due_meter if nxt else None))
    return out


def occurrence_target(occ: PmOccurrence) -> Target:
    """Return what a generated service must meet to be on time."""
    return Target(occ.due_date, occ.window_days, occ.due_meter, occ.meter_tolerance)


def list_services(session: Session, plan_id: int, *, actor: Actor | None, clock: Clock | None = None,
                  asset_tag: str | None = None, page: int = 1,
                  per_page: int = 50) -> Page[tuple[PmOccurrence, str]]:
    """Return a plan's services, newest first, each with its judgement as of now."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    plan = get_plan(session, plan_id, actor=who)
    stmt = select(PmOccurrence).join(Asset, Asset.id == PmOccurrence.asset_id).where(
        PmOccurrence.plan_id == plan.id).options(selectinload(PmOccurrence.asset),
                                                selectinload(PmOccurrence.work_order))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Asset.department_id == scope)
    if asset_tag:
        stmt = stmt.where(Asset.tag == asset_tag)
    found = paginate(session, stmt.order_by(PmOccurrence.seq.desc(), Asset.tag), page, per_page)
    now, judged = utc_now(clock), []
    for occ in found.items:
        today = local_date(now, asset_zone(session, occ.asset))
        meter_now = current_value(session, occ.asset_id, plan.meter) if occ.due_meter is not None else None
        judged.append((occ, occurrence_target(occ).judge(
            completed_on=occ.completed_on, completion_meter=occ.completion_meter,
            today=today, meter_now=meter_now)))
    return replace(found, items=judged)


# ------------------------------------------------------------------ programme


@dataclass(frozen=True)
class ProgrammeEntry:
    """An asset the risk score puts in the planned-maintenance programme."""

    asset: Asset
    suggested: tuple[int, str]
    high_risk: bool
    plans: list[PmPlan]


def programme(session: Session, *, actor: Actor | None) -> list[ProgrammeEntry]:
    """Return every active asset with EM >= 12, its suggested interval and the plans covering it."""
    who = resolve_actor(actor)
    require(who, "pm.view")
    stmt = select(Asset).where(Asset.em_score >= 12, Asset.equipment_status.not_in(INACTIVE_STATUSES),
                               Asset.lifecycle_stage.not_in(INACTIVE_STAGES))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Asset.department_id == scope)
    assets = list(session.scalars(stmt.order_by(Asset.em_score.desc(), Asset.tag)))
    plans = list(session.scalars(select(PmPlan).where(PmPlan.active.is_(True))))
    entries = []
    for asset in assets:
        covering = [p for p in plans if p.asset_id == asset.id
                    or (p.asset_id is None and (p.make, p.model) == (asset.make, asset.model))]
        entries.append(ProgrammeEntry(asset, suggest_interval(asset.em_score), is_high_risk(asset), covering))
    return entries
