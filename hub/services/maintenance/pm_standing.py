"""Where planned maintenance stands: the one place that judges a service due or overdue.

A generated service not yet done is **overdue** once it has run past its compliance window
or meter limit (:mod:`wardlink.hub.services.maintenance.compliance`: a monthly service due on the 5th is still
on time on the 10th), and **due** until then. An asset's maintenance status is the worst of
its open services, ``compliant`` when it has none. "Today" is the date at the site of the
asset's department.

Everything that shows "overdue" or "due" asks this module: the dashboard tiles, the asset
page and its JSON, the PM calendar, the KPIs (:mod:`wardlink.hub.services.reports.kpis` judges each service
with a :class:`Judge` as of the period's end), and the scheduler when it stores each asset's
status (:func:`wardlink.hub.services.maintenance.pm_generator.refresh_status`, every 5 minutes: the asset
register's column and filter) and escalates overdue services.

**Department scope of the counts.** The dashboard counts assets, judged live, within the
actor's asset scope: the assets of their department, or every asset for a role without a
department scope (:func:`wardlink.hub.services.people.permissions.department_scope`). The rule is the same
for every role that may see assets, so a procurement user and a manager of one
department see the same numbers for the same assets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Asset, PmOccurrence, PmPlan
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance.compliance import COMPLIANT, DUE, OVERDUE, Target, past_window, worst_status
from wardlink.hub.services.people.permissions import can, department_scope
from wardlink.hub.services.maintenance.pm import (INACTIVE_STAGES, INACTIVE_STATUSES, asset_zone, department_zones,
                                                  latest_occurrence, local_date, occurrence_target, previous_of,
                                                  schedule_of)
from wardlink.hub.services.maintenance.pm_meters import current_value
from wardlink.hub.services.maintenance.pm_schedule import upcoming


class Judge:
    """Judges open services as of one moment; zones and meter readings are looked up once."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session, self.now = session, now
        self._zones: dict[int | None, ZoneInfo] = {}
        self._meters: dict[tuple[int, str], float | None] = {}

    def zone(self, asset: Asset) -> ZoneInfo:
        """Return the time zone of ``asset``'s site."""
        if asset.department_id not in self._zones:
            self._zones[asset.department_id] = asset_zone(self.session, asset)
        return self._zones[asset.department_id]

    def today(self, asset: Asset) -> date:
        """Return today's date at ``asset``'s site."""
        return local_date(self.now, self.zone(asset))

    def meter_now(self, occ: PmOccurrence) -> float | None:
        """Return the asset's meter a meter-based service is measured on, or None."""
        if occ.due_meter is None or occ.plan.meter is None:
            return None
        key = (occ.asset_id, occ.plan.meter)
        if key not in self._meters:
            self._meters[key] = current_value(self.session, occ.asset_id, occ.plan.meter)
        return self._meters[key]

    def is_overdue(self, occ: PmOccurrence) -> bool:
        """Return True when an open service has run past its window or meter limit undone."""
        return occ.state == "open" and occurrence_target(occ).is_past(self.today(occ.asset), self.meter_now(occ))

    def status(self, occ: PmOccurrence) -> str:
        """Return what an open service makes its asset: ``overdue`` or ``due``."""
        return OVERDUE if self.is_overdue(occ) else DUE


def open_services(session: Session, *, department_id: int | None = None, asset_id: int | None = None,
                  plan_id: int | None = None) -> list[PmOccurrence]:
    """Return the generated services not yet done (of one department, asset or plan if given),
    oldest first."""
    stmt = (select(PmOccurrence).join(Asset, Asset.id == PmOccurrence.asset_id)
            .where(PmOccurrence.state == "open")
            .options(selectinload(PmOccurrence.asset), selectinload(PmOccurrence.plan)))
    if department_id is not None:
        stmt = stmt.where(Asset.department_id == department_id)
    if asset_id is not None:
        stmt = stmt.where(PmOccurrence.asset_id == asset_id)
    if plan_id is not None:
        stmt = stmt.where(PmOccurrence.plan_id == plan_id)
    return list(session.scalars(stmt.order_by(PmOccurrence.id)))


def _in_scope(stmt, department_id: int | None, asset_id: int | None):
    if department_id is not None:
        stmt = stmt.where(Asset.department_id == department_id)
    if asset_id is not None:
        stmt = stmt.where(Asset.id == asset_id)
    return stmt


def covered_ids(session: Session, department_id: int | None = None, asset_id: int | None = None) -> set[int]:
    """Return the ids of active assets an active plan covers (of one department or asset if given).

    Plans on one asset and plans on a make and model are read apart, each through its own
    join, which both databases answer from an index instead of pairing every plan with every
    asset."""
    live = (PmPlan.active.is_(True), Asset.equipment_status.not_in(INACTIVE_STATUSES),
            Asset.lifecycle_stage.not_in(INACTIVE_STAGES))
    one = select(Asset.id).join(PmPlan, PmPlan.asset_id == Asset.id).where(*live)
    many = select(Asset.id).join(PmPlan, and_(PmPlan.asset_id.is_(None), PmPlan.make == Asset.make,
                                              PmPlan.model == Asset.model)).where(*live)
    conn = session.connection()  # plain rows: no ORM work for thousands of ids
    return {key for stmt in (one, many) for key, in conn.execute(_in_scope(stmt, department_id, asset_id)).all()}


def open_statuses(session: Session, now: datetime, *, department_id: int | None = None,
                  asset_id: int | None = None) -> dict[int, str]:
    """Return the status of each asset with open services: the worst of them, due or overdue.

    The services are read as plain columns, not objects, and each is judged by its
    :class:`~wardlink.hub.services.maintenance.compliance.Target` as :class:`Judge` does: the
    dashboard asks this for every open service of the hospital on each request."""
    zones, today = department_zones(session), {}
    meters: dict[tuple[int, str], float | None] = {}
    found: dict[int, str] = {}
    stmt = (select(PmOccurrence.asset_id, Asset.department_id, PmOccurrence.due_date, PmOccurrence.window_days,
                   PmOccurrence.due_meter, PmOccurrence.meter_tolerance, PmPlan.meter)
            .join(Asset, Asset.id == PmOccurrence.asset_id).join(PmPlan, PmPlan.id == PmOccurrence.plan_id)
            .where(PmOccurrence.state == "open"))
    rows = session.connection().execute(_in_scope(stmt, department_id, asset_id)).all()  # plain rows, no ORM
    for key, dept, due, window, due_meter, tolerance, meter in rows:
        if found.get(key) == OVERDUE:
            continue
        if dept not in today:
            today[dept] = local_date(now, zones[dept])
        if due_meter is None:  # a date alone: judged without building its Target, thousands at a time
            found[key] = OVERDUE if due is not None and past_window(due, window, today[dept]) else DUE
            continue
        if meter is not None and (key, meter) not in meters:
            meters[(key, meter)] = current_value(session, key, meter)
        meter_now = meters[(key, meter)] if meter is not None else None
        found[key] = Target(due, window, due_meter, tolerance).status(today[dept], meter_now)
    return found


def judged_statuses(session: Session, now: datetime, *, department_id: int | None = None,
                    asset_id: int | None = None) -> dict[int, str]:
    """Return the maintenance status of each asset the plans speak for (of one department or
    asset if given): the worst of its open services, ``compliant`` when an active plan covers
    it and nothing is open. Other assets keep the status recorded on them (set by hand)."""
    statuses = {key: COMPLIANT for key in sorted(covered_ids(session, department_id, asset_id))}
    statuses.update(open_statuses(session, now, department_id=department_id, asset_id=asset_id))
    return statuses


def asset_status(session: Session, asset: Asset, now: datetime) -> str:
    """Return ``asset``'s maintenance status now (see :func:`judged_statuses`)."""
    return judged_statuses(session, now, asset_id=asset.id).get(asset.id, asset.maintenance_status)


def maintenance_counts(session: Session, *, actor: Actor, now: datetime) -> dict[str, int] | None:
    """Return how many assets in ``actor``'s scope are overdue and due now (see the module
    docstring for the scope), or None when the actor may not see assets.

    The same statuses as :func:`judged_statuses`, without reading every asset: the assets with
    open services, plus those recorded due or overdue that no plan speaks for."""
    if not can(actor, "asset.view"):
        return None
    scope = department_scope(actor)
    statuses = list(open_statuses(session, now, department_id=scope).values())
    by_hand = _recorded_by_hand(session, scope)
    return {OVERDUE: statuses.count(OVERDUE) + by_hand.get(OVERDUE, 0), DUE: statuses.count(DUE) + by_hand.get(DUE, 0)}


def _recorded_by_hand(session: Session, department_id: int | None) -> dict[str, int]:
    """Return how many assets (of one department if given) are recorded due or overdue with no
    open service and no active plan covering them (as :func:`covered_ids` reads a cover), by
    status: one count in the database instead of every flagged asset and every covered one."""
    open_service = exists().where(PmOccurrence.asset_id == Asset.id, PmOccurrence.state == "open")
    covers = or_(exists().where(PmPlan.asset_id == Asset.id, PmPlan.active.is_(True)),
                 exists().where(PmPlan.asset_id.is_(None), PmPlan.make == Asset.make, PmPlan.model == Asset.model,
                                PmPlan.active.is_(True)))
    planned = and_(Asset.equipment_status.not_in(INACTIVE_STATUSES), Asset.lifecycle_stage.not_in(INACTIVE_STAGES),
                   covers)
    stmt = (select(Asset.maintenance_status, func.count())
            .where(Asset.maintenance_status.in_((DUE, OVERDUE)), ~open_service, ~planned)
            .group_by(Asset.maintenance_status))
    return dict(session.connection().execute(_in_scope(stmt, department_id, None)).all())


# ------------------------------------------------------------------ one plan on one asset


@dataclass(frozen=True)
class PlanStanding:
    """Where an asset stands on one maintenance plan."""

    id: int
    name: str
    next_due: date | None
    last_done: date | None
    status: str  # compliant, due, overdue


def plan_standing(session: Session, plan: PmPlan, asset: Asset, now: datetime) -> PlanStanding:
    """Return where ``asset`` stands on ``plan``: the worst of its open services (due on the
    oldest one's date), else compliant with the next date the schedule gives."""
    judge = Judge(session, now)
    last = latest_occurrence(session, plan.id, asset.id)
    pending = open_services(session, asset_id=asset.id, plan_id=plan.id)
    if pending:
        due_date, status = pending[0].due_date, worst_status(judge.status(occ) for occ in pending)
    else:
        nxt = upcoming(schedule_of(plan), previous_of(last), start_on=local_date(plan.created_at, judge.zone(asset)))
        due_date, status = (nxt.due_date if nxt else None), COMPLIANT
    done = last.completed_on if last is not None and last.completed_on else None
    return PlanStanding(plan.id, plan.name, due_date, done, status)


# ------------------------------------------------------------------ the PM calendar

#: What the calendar shows of a service: done, overdue (its window closed undone, or a skipped
#: one), in its compliance window now, or due later (the window not yet open).
DONE, IN_WINDOW = "done", "in_window"
CALENDAR_STATUSES = (DUE, IN_WINDOW, OVERDUE, DONE)


def calendar_status(target: Target, *, state: str | None, today: date, meter_now: float | None = None) -> str:
    """Return how the calendar colours a service: ``state`` is the generated service's (None
    for one the schedule projects but the generator has not made yet)."""
    if state == "completed":
        return DONE
    if state == "skipped" or target.is_past(today, meter_now):
        return OVERDUE
    window = target.window
    if window is not None and today >= window.opens:
        return IN_WINDOW
    return DUE


def date_status(due: date, window_days: int, today: date, state: str | None = None) -> str:
    """Return :func:`calendar_status` of a service with a due date and no meter, without building
    its :class:`Target` (the calendar judges thousands at a time)."""
    if state == "completed":
        return DONE
    if state == "skipped":
        return OVERDUE
    if past_window(due, window_days, today):
        return OVERDUE
    return IN_WINDOW if (today - due).days >= -window_days else DUE
