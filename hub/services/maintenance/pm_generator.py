"""The PM generator and the jobs around it: generate due services exactly once, follow their
work orders to completion, keep each asset's maintenance status, and escalate overdue ones.

Exactly once, twice over: generation runs under a database lock (a PostgreSQL transaction
advisory lock; on SQLite the write transaction itself, which ``BEGIN IMMEDIATE`` makes the
only writer), and each service is a row unique per plan, asset and sequence number and per
plan, asset and due date. Even a generator that skipped the lock cannot create a duplicate:
its insert fails inside a savepoint and it moves on to the next plan.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wardlink.hub.db.models import (Asset, ChecklistResult, ChecklistTemplate, MeterReading, PmOccurrence,
                           PmPlan, PmPlanPart, WorkOrder)
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import Message
from wardlink.hub.i18n import N_, default_locale, format_date, format_decimal, translate
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.people import language
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import pm_parts
from wardlink.hub.services.maintenance.compliance import meter_tolerance
from wardlink.hub.services.maintenance.pm import (covered_assets, is_high_risk, latest_occurrence, local_date,
                             occurrence_target, previous_of, schedule_of)
from wardlink.hub.services.maintenance.pm_meters import current_value
from wardlink.hub.services.maintenance.pm_schedule import MAX_CATCH_UP, Due, next_due
from wardlink.hub.services.maintenance.pm_standing import Judge, judged_statuses
from wardlink.hub.services.maintenance.workorder_flow import ASSIGNABLE_ROLES
from wardlink.clock import Clock

log = logging.getLogger(__name__)

SCHEDULER = Actor.system("scheduler")
# An arbitrary constant naming the PM generator's PostgreSQL advisory lock.
PG_LOCK_KEY = 0x574C_504D_4745_4E00
#: Work order states in which the service counts as done, or as abandoned.
DONE_STATES = frozenset({"completed", "closed"})
CANCELLED_STATES = frozenset({"cancelled"})
#: Priority an overdue service's work order is raised to (never lowered).
ESCALATED_PRIORITY = {True: "critical", False: "high"}
_PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def _try_lock(session: Session) -> bool:
    if session.get_bind().dialect.name == "postgresql":
        return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                    {"key": PG_LOCK_KEY}).scalar())
    return True  # SQLite: the session's BEGIN IMMEDIATE already made this the only writer


# ------------------------------------------------------------------ generation


@dataclass
class GenerationReport:
    """What one generator run did."""

    locked: bool = True
    plans: int = 0
    created: int = 0
    skipped: int = 0
    raced: int = 0
    work_order_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Return the counts (for the scheduler's job record)."""
        return {"locked": self.locked, "plans": self.plans, "created": self.created,
                "skipped": self.skipped, "raced": self.raced}


def _midnight(day, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(ZoneInfo("UTC"))


def _service_levels(plan: PmPlan, occ: PmOccurrence, zone: ZoneInfo, now: datetime):
    """Return the service levels of a PM order: started by the end of its due date, done by the
    end of its compliance window. A meter-only service has no date and gets the ordinary
    levels of its priority."""
    from wardlink.hub.services.maintenance.sla import DEFAULT_POLICY, SlaPolicy, SlaTarget

    if occ.due_date is None:
        return DEFAULT_POLICY, None
    starts_by = _midnight(occ.due_date + timedelta(days=1), zone)
    closes = _midnight(occ.due_date + timedelta(days=occ.window_days + 1), zone)
    target = SlaTarget(response=max(timedelta(0), starts_by - now), resolution=max(timedelta(0), closes - now),
                       escalate_to=DEFAULT_POLICY.target(plan.priority).escalate_to)
    return SlaPolicy(targets={**DEFAULT_POLICY.targets, plan.priority: target},
                     warn_fraction=DEFAULT_POLICY.warn_fraction), max(now, closes)


def _describe(plan: PmPlan, occ: PmOccurrence, locale: str | None,
              visit_parts: Sequence[PmPlanPart] = ()) -> str:
    def number(value: float) -> str:
        return format_decimal(f"{value:g}", locale)

    lines = []
    if occ.due_date is not None:
        window = occurrence_target(occ).window
        lines.append(translate(locale, "Due %(date)s; on time from %(opens)s to %(closes)s.",
                               date=format_date(occ.due_date, locale), opens=format_date(window.opens, locale),
                               closes=format_date(window.closes, locale)))
    if occ.due_meter is not None:
        lines.append(translate(locale, "Due at %(value)s on meter '%(meter)s'; on time up to %(limit)s.",
                               value=number(occ.due_meter), meter=plan.meter,
                               limit=number(occurrence_target(occ).meter_limit)))
    if occ.high_risk:
        lines.append(translate(locale, "High-risk equipment: %(share)s on-time completion required.", share="100 %"))
    if plan.assignee_team:
        lines.append(translate(locale, "Team: %(team)s.", team=plan.assignee_team))
    if plan.assignee_vendor:
        lines.append(translate(locale, "Vendor: %(vendor)s.", vendor=plan.assignee_vendor))
    if plan.planned_minutes:
        lines.append(translate(locale, "Planned time: %(minutes)s minutes.", minutes=plan.planned_minutes))
    for part in plan.planned_parts or ():
        lines.append(translate(locale, "Part: %(quantity)s x %(number)s %(description)s",
                               quantity=number(part["quantity"]), number=part["part_number"],
                               description=part["description"]).rstrip() + ".")
    for row in visit_parts:
        lines.append(translate(locale, "Part from stock: %(quantity)s x %(sku)s %(name)s",
                               quantity=number(float(row.quantity)), sku=row.part.sku, name=row.part.name) + ".")
    if plan.instructions:
        lines.append(plan.instructions)
    return "\n".join(lines)


def _assignee_id(plan: PmPlan) -> int | None:
    # A technician who has left (deactivated) gets nothing; the order waits to be assigned.
    user = plan.assignee
    if user is None or not user.is_active or user.role not in ASSIGNABLE_ROLES:
        return None
    return user.id


def _create_work_order(session: Session, plan: PmPlan, asset: Asset, occ: PmOccurrence, zone: ZoneInfo,
                       now: datetime, clock: Clock) -> WorkOrder:
    from wardlink.hub.services.maintenance.workorders import create_work_order

    # Written in the language of the asset's site: the order is read by whoever takes it on.
    locale = language.site_language(session, asset.department_id, default=default_locale())
    due = translate(locale, "due %(date)s", date=format_date(occ.due_date, locale)) if occ.due_date else \
        translate(locale, "due at %(value)s %(meter)s", value=format_decimal(f"{occ.due_meter:g}", locale),
                  meter=plan.meter)
    policy, deadline = _service_levels(plan, occ, zone, now)
    return create_work_order(
        session, {"kind": "pm", "title": translate(locale, "PM: %(plan)s - %(tag)s (%(due)s)", plan=plan.name,
                                                   tag=asset.tag, due=due)[:300],
                  "description": _describe(plan, occ, locale, pm_parts.of_plan(session, plan.id))[:5000],
                  "priority": plan.priority,
                  "asset_tag": asset.tag, "due_at": deadline, "assignee_id": _assignee_id(plan)},
        actor=SCHEDULER, clock=clock, source="pm", policy=policy)


def _insert(session: Session, plan: PmPlan, asset: Asset, due: Due, version_id: int | None,
            zone: ZoneInfo, now: datetime, clock: Clock) -> PmOccurrence | None:
    schedule = schedule_of(plan)
    occ = PmOccurrence(plan_id=plan.id, asset_id=asset.id, seq=due.seq, due_date=due.due_date,
                       due_meter=due.due_meter, window_days=schedule.window_days,
                       meter_tolerance=meter_tolerance(plan.meter_interval) if due.due_meter is not None else None,
                       high_risk=is_high_risk(asset), state="skipped" if due.skipped else "open",
                       checklist_version_id=None if due.skipped else version_id, generated_at=now)
    try:
        with session.begin_nested():
            session.add(occ)
            session.flush()
    except IntegrityError:
        return None  # another generator created this service first
    if not due.skipped:
        occ.work_order_id = _create_work_order(session, plan, asset, occ, zone, now, clock).id
        session.flush()
    audit.record(session, actor=SCHEDULER, action="pm.skip" if due.skipped else "pm.generate",
                 entity="pm_plan", entity_id=plan.id,
                 after={"asset": asset.tag, "seq": occ.seq, "due_date": occ.due_date,
                        "due_meter": occ.due_meter, "work_order": occ.work_order_id}, clock=clock)
    return occ


def _version_id(session: Session, plan: PmPlan) -> int | None:
    if plan.checklist_template_id is None:
        return None
    from wardlink.hub.services.maintenance.checklists import current_version

    return current_version(session, session.get(ChecklistTemplate, plan.checklist_template_id)).id


def generate_due(session: Session, *, clock: Clock, lock: bool = True) -> GenerationReport:
    """Create the services (and their PM work orders) that are due now, each exactly once.

    With ``lock`` (the default) the run holds the generator's database lock and does nothing
    when another run holds it; ``lock=False`` relies on the unique constraints alone.
    """
    report = GenerationReport()
    if lock and not _try_lock(session):
        report.locked = False
        return report
    sync_completions(session, clock=clock)
    now = utc_now(clock)
    judge = Judge(session, now)  # time zones per department, looked up once per run
    plans = session.scalars(select(PmPlan).where(PmPlan.active.is_(True)).order_by(PmPlan.id)).all()
    for plan in plans:
        report.plans += 1
        schedule, version_id = schedule_of(plan), _version_id(session, plan)
        for asset in covered_assets(session, plan):
            zone = judge.zone(asset)
            today, start = local_date(now, zone), local_date(plan.created_at, zone)
            meter_now = current_value(session, asset.id, plan.meter) if plan.meter else None
            last = previous_of(latest_occurrence(session, plan.id, asset.id))
            for _ in range(MAX_CATCH_UP):
                due = next_due(schedule, last, today=today, meter_now=meter_now, start_on=start)
                if due is None:
                    break
                occ = _insert(session, plan, asset, due, version_id, zone, now, clock)
                if occ is None:
                    report.raced += 1
                    break
                if due.skipped:
                    report.skipped += 1
                else:
                    report.created += 1
                    report.work_order_ids.append(occ.work_order_id)
                last = previous_of(occ)
    return report


# ------------------------------------------------------------------ completion


def _completion_meter(session: Session, occ: PmOccurrence, plan: PmPlan) -> float | None:
    if plan.meter is None:
        return None
    result = session.scalar(select(ChecklistResult.meter_value).where(
        ChecklistResult.work_order_id == occ.work_order_id))
    if result is not None:
        return result
    reading = session.scalar(select(MeterReading.value).where(
        MeterReading.work_order_id == occ.work_order_id, MeterReading.meter == plan.meter,
    ).order_by(MeterReading.read_at.desc()).limit(1))
    return reading if reading is not None else current_value(session, occ.asset_id, plan.meter)


def sync_completions(session: Session, *, clock: Clock) -> int:
    """Copy completions (and cancellations, and reopenings) of PM work orders onto their services."""
    judge, changed = Judge(session, utc_now(clock)), 0
    done, cancelled = tuple(DONE_STATES), tuple(CANCELLED_STATES)
    rows = session.execute(
        select(PmOccurrence, WorkOrder).join(WorkOrder, WorkOrder.id == PmOccurrence.work_order_id)
        .where(or_(
            and_(PmOccurrence.state == "open", WorkOrder.state.in_(done + cancelled)),
            and_(PmOccurrence.state == "completed", WorkOrder.state.not_in(done)),
            and_(PmOccurrence.state == "cancelled", WorkOrder.state.not_in(cancelled)),
        )).order_by(PmOccurrence.id)).all()
    for occ, order in rows:
        done, cancelled = order.state in DONE_STATES, order.state in CANCELLED_STATES
        wanted = "completed" if done else "cancelled" if cancelled else "open"
        if wanted == occ.state:
            continue
        before = occ.state
        occ.state = wanted
        if wanted == "completed":
            finished = order.completed_at or order.closed_at or order.updated_at
            occ.completed_at = finished
            occ.completed_on = local_date(finished, judge.zone(occ.asset))
            occ.completion_meter = _completion_meter(session, occ, occ.plan)
        else:
            occ.completed_at = occ.completed_on = occ.completion_meter = None
        changed += 1
        audit.record(session, actor=SCHEDULER, action="pm.sync", entity="pm_plan", entity_id=occ.plan_id,
                     before={"seq": occ.seq, "asset": occ.asset.tag, "state": before},
                     after={"seq": occ.seq, "asset": occ.asset.tag, "state": wanted,
                            "completed_on": occ.completed_on, "completion_meter": occ.completion_meter},
                     clock=clock)
    session.flush()
    return changed


# ------------------------------------------------------------------ status and escalation


def refresh_status(session: Session, *, clock: Clock) -> dict[str, int]:
    """Recompute the maintenance status of every asset with plans or open services.

    An asset is ``overdue`` when a service has run past its window or meter limit undone,
    ``due`` while a generated service awaits completion, ``compliant`` otherwise. Assets no
    plan covers and with nothing open keep the status they have.
    """
    statuses = judged_statuses(session, utc_now(clock))
    counts = {"compliant": 0, "due": 0, "overdue": 0, "changed": 0}
    for asset_id, status in statuses.items():
        asset = session.get(Asset, asset_id)
        counts[status] += 1
        if asset.maintenance_status != status:
            before, asset.maintenance_status = asset.maintenance_status, status
            counts["changed"] += 1
            session.flush()
            audit.record(session, actor=SCHEDULER, action="asset.maintenance_status", entity="asset",
                         entity_id=asset.tag, before={"maintenance_status": before},
                         after={"maintenance_status": status}, clock=clock)
    return counts


def _overdue_text(occ: PmOccurrence, due: str) -> dict:
    """Return the title and detail of the notice about an overdue service, in each reader's language."""
    def title(locale: str | None) -> str:
        return translate(locale, "Planned maintenance overdue: %(tag)s - %(plan)s", tag=occ.asset.tag,
                         plan=occ.plan.name)

    def detail(locale: str | None) -> str:
        return translate(locale, "Service %(n)s of plan '%(plan)s' was due %(due)s and is not done.", n=occ.seq + 1,
                         plan=occ.plan.name, due=due)
    return {"title": title, "detail": detail}


def escalate_overdue_pm(session: Session, *, clock: Clock) -> int:
    """Escalate each service that has run past its limits undone, once: raise its work order's
    priority (critical for high-risk equipment) and open an alert saying so."""
    from wardlink.hub.services.alerts import records as alerts

    now, escalated = utc_now(clock), 0
    judge = Judge(session, now)
    rows = session.scalars(select(PmOccurrence).where(PmOccurrence.state == "open",
                                                      PmOccurrence.escalated_at.is_(None))).all()
    for occ in rows:
        if not judge.is_overdue(occ):
            continue
        occ.escalated_at = now
        order = occ.work_order
        wanted = ESCALATED_PRIORITY[occ.high_risk]
        if order is not None and _PRIORITY_RANK[order.priority] < _PRIORITY_RANK[wanted]:
            before, order.priority, order.updated_at = order.priority, wanted, now
            session.flush()
            audit.record(session, actor=SCHEDULER, action="workorder.escalate", entity="work_order",
                         entity_id=order.id, before={"priority": before},
                         after={"priority": wanted, "reason": "planned maintenance overdue"}, clock=clock)
        due = occ.due_date.isoformat() if occ.due_date else f"{occ.due_meter:g} {occ.plan.meter}"
        text = _overdue_text(occ, due)
        # Stored in English with its messages: each reader's page and e-mail write it in their language.
        title = Message(N_("Planned maintenance overdue: %(tag)s - %(plan)s"), tag=occ.asset.tag, plan=occ.plan.name)
        lines = [Message(N_("Service %(n)s of plan '%(plan)s' was due %(due)s and is not done."), n=occ.seq + 1,
                         plan=occ.plan.name, due=due)]
        if order is not None:
            lines.append(Message(N_("Work order %(id)s."), id=order.id))
        if occ.high_risk:
            lines.append(Message(N_("High-risk equipment.")))
        alerts.raise_alert(
            session, rule="pm_overdue", severity="critical" if occ.high_risk else "warning",
            title=str(title)[:300], detail="\n".join(str(line) for line in lines),
            title_message=title if len(str(title)) <= 300 else None, detail_message=lines,
            asset_tag=occ.asset.tag, actor=SCHEDULER, clock=clock)
        notices.pm_overdue(session, order, **text, key=f"pm:{occ.id}:overdue",
                           department_id=occ.asset.department_id, clock=clock)
        escalated += 1
    session.flush()
    return escalated
