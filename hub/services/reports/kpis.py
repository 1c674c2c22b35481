"""Maintenance KPIs computed from stored data, per period and department.

The period is a range of local dates ``start``..``end`` (both included) in the site's time
zone (:func:`report_zone`: the department's site, else the zone every site shares), running
from local midnight to local midnight, so "April" on the reports page, in the exports, the PDF,
the monthly report and the API is the month people at the site call April; a month with a
change to or from summer time has 743 or 745 hours, and uptime and availability count the hours
that really passed. Facts are taken as they stood at the end of the period, or now if that is
earlier (``as_of``), so a report on a past quarter does not change when old work orders are
closed later.

- **PM completion** (:class:`~wardlink.hub.services.maintenance.compliance.Tally`): services due in the period
  (meter-only services by the day they were generated), judged on time, late or missed
  against their compliance window as of ``as_of``; services still inside their window are
  pending and not yet counted. Reported for all equipment and for high-risk equipment,
  whose target is 100 % on time.
- **PM overdue**: services not done by ``as_of`` whose window has closed.
- **Work orders overdue**: open at ``as_of`` past their resolution due time.
- **MTBF** (hours): asset operating hours in the period divided by the failures reported in
  it (corrective work orders opened, except cancelled ones and those resolved as no fault
  found or use error, which are not equipment failures).
- **MTTR** (hours): mean time from opening to completion of the corrective work orders
  completed in the period (time to restore service), failures only as above.
- **Uptime %** and **availability %**, per asset and department, from the equipment status
  history (:mod:`wardlink.hub.services.assets.history`): an asset is *in scope* from its
  registration, except while retired; uptime is the time it was in service, availability the
  time it was not down for a fault (faulty or tagged out: out of service for other reasons,
  e.g. stored, counts against uptime only), each divided by the time in scope. Asset hours
  are the hours in scope, downtime hours the hours in scope not in service.
- **Backlog**: work orders open at ``as_of``, by kind.
- **SLA breach rate**: of the work orders whose response (resolution) was due in the
  period, the share not responded to (resolved) by the due time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Asset, Department, PmOccurrence, Site
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import WORK_ORDER_KINDS
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.pagination import Page, check_paging
from wardlink.hub.services.maintenance.compliance import LATE, MISSED, Tally
from wardlink.hub.services.people import local_time
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.reports import kpi_facts
#: Resolutions that mean the equipment did not fail (kept with the queries that count failures).
from wardlink.hub.services.reports.kpi_facts import NOT_FAILURES as NOT_FAILURES
from wardlink.hub.services.maintenance.pm import occurrence_target
from wardlink.hub.services.maintenance.pm_standing import Judge
from wardlink.clock import Clock

#: Longest period one report may cover.
MAX_PERIOD_DAYS = 3 * 366
MIN_YEAR, MAX_YEAR = 2000, 2200
HOUR = timedelta(hours=1)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """Return the UTC instant ``day`` begins in ``zone`` (where a clock change skips midnight,
    the instant of the change, when the day's first local time begins)."""
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def check_days(start: date, end: date) -> None:
    """Raise :class:`InvalidInput` unless ``start``..``end`` is a period a report may cover."""
    for name, day in (("start", start), ("end", end)):
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            raise InvalidInput(N_("%(field)s: must be a date between %(min_year)s and %(max_year)s, got %(day)s"),
                               field=name, min_year=MIN_YEAR, max_year=MAX_YEAR, day=day.isoformat())
    if end < start:
        raise InvalidInput(N_("end: must not be before start (%(start)s), got %(end)s"),
                           start=start.isoformat(), end=end.isoformat())
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise InvalidInput(N_("end: a report covers at most %(max_period_days)s days, got %(days)s"),
                           max_period_days=MAX_PERIOD_DAYS, days=(end - start).days + 1)


@dataclass(frozen=True)
class Period:
    """Local dates ``start``..``end`` (both included) in ``zone``, as the UTC instants
    ``begins`` <= t < ``ends`` from the local midnight starting ``start`` to the one after ``end``."""

    start: date
    end: date
    zone: ZoneInfo

    def __post_init__(self) -> None:
        check_days(self.start, self.end)

    @property
    def begins(self) -> datetime:
        """Return the first instant of the period (UTC)."""
        return local_midnight(self.start, self.zone)

    @property
    def ends(self) -> datetime:
        """Return the instant just after the period (UTC)."""
        return local_midnight(self.end + timedelta(days=1), self.zone)

    @property
    def hours(self) -> float:
        """Return the hours that pass in the period (743 for a March with the spring change)."""
        return (self.ends - self.begins) / HOUR

    def local_day(self, moment: datetime) -> date:
        """Return the local date of ``moment`` in the period's zone."""
        return moment.astimezone(self.zone).date()


def report_zone(session: Session, actor: Actor | None, department_id: int | None = None) -> ZoneInfo:
    """Return the zone a report's days are read in: the site's of the department (the actor's own
    when their view is limited to it), else the zone every site shares (UTC where they differ)."""
    scope = department_scope(actor) if actor is not None else None
    department_id = scope if scope is not None else department_id
    zone = local_time.department_zone(session, department_id)
    return zone if zone is not None else local_time.hospital_zone(session)


def local_today(session: Session, actor: Actor | None, department_id: int | None, clock: Clock) -> date:
    """Return today's date in the zone a report of ``department_id`` is read in."""
    return utc_now(clock).astimezone(report_zone(session, actor, department_id)).date()


def over_everywhere(session: Session, start: date, end: date) -> datetime:
    """Return the instant the days ``start``..``end`` are over at every site (and in the zone of
    hospital-wide reports), so a report made from then on has final figures whatever its zone."""
    zones = {local_time.zone_named(name) for name in session.scalars(select(Site.timezone).distinct())}
    zones.add(local_time.hospital_zone(session))
    return max(Period(start, end, zone).ends for zone in zones)


@dataclass
class Kpis:
    """The KPIs of one selection of equipment over one period."""

    pm: Tally = field(default_factory=Tally)
    pm_high_risk: Tally = field(default_factory=Tally)
    pm_overdue: int = 0
    work_orders_overdue: int = 0
    failures: int = 0
    asset_hours: float = 0.0
    downtime_hours: float = 0.0
    #: Hours in scope that the equipment was down for a fault (faulty or tagged out).
    fault_hours: float = 0.0
    repairs: int = 0
    repair_hours: float = 0.0
    backlog: dict[str, int] = field(default_factory=lambda: {k: 0 for k in WORK_ORDER_KINDS})
    response_due: int = 0
    response_breached: int = 0
    resolution_due: int = 0
    resolution_breached: int = 0

    @property
    def uptime_hours(self) -> float:
        """Return operating hours: asset hours less downtime."""
        return self.asset_hours - self.downtime_hours

    @property
    def mtbf_hours(self) -> float | None:
        """Return mean time between failures in hours (None without failures)."""
        return None if not self.failures else round(self.uptime_hours / self.failures, 2)

    @property
    def mttr_hours(self) -> float | None:
        """Return mean time to restore in hours (None without completed repairs)."""
        return None if not self.repairs else round(self.repair_hours / self.repairs, 2)

    @property
    def uptime_pct(self) -> float | None:
        """Return the share of asset hours in service, in percent."""
        return None if not self.asset_hours else round(100.0 * self.uptime_hours / self.asset_hours, 3)

    @property
    def availability_pct(self) -> float | None:
        """Return the share of asset hours not down for a fault, in percent."""
        return (None if not self.asset_hours
                else round(100.0 * (self.asset_hours - self.fault_hours) / self.asset_hours, 3))

    @property
    def high_risk_target_met(self) -> bool:
        """Return True when every judged high-risk service was done on time."""
        return self.pm_high_risk.on_time == self.pm_high_risk.judged

    @staticmethod
    def _rate(breached: int, due: int) -> float | None:
        return None if not due else round(100.0 * breached / due, 2)

    def as_dict(self) -> dict[str, Any]:
        """Return every figure, rounded for people."""
        return {
            "pm": self.pm.as_dict(),
            "pm_high_risk": {**self.pm_high_risk.as_dict(), "target_pct": 100.0,
                             "target_met": self.high_risk_target_met},
            "pm_overdue": self.pm_overdue,
            "work_orders_overdue": self.work_orders_overdue,
            "failures": self.failures,
            "mtbf_hours": self.mtbf_hours,
            "repairs": self.repairs,
            "mttr_hours": self.mttr_hours,
            "asset_hours": round(self.asset_hours, 2),
            "downtime_hours": round(self.downtime_hours, 2),
            "uptime_pct": self.uptime_pct,
            "fault_hours": round(self.fault_hours, 2),
            "availability_pct": self.availability_pct,
            "backlog": {**self.backlog, "total": sum(self.backlog.values())},
            "sla": {
                "response": {"due": self.response_due, "breached": self.response_breached,
                             "breach_rate_pct": self._rate(self.response_breached, self.response_due)},
                "resolution": {"due": self.resolution_due, "breached": self.resolution_breached,
                               "breach_rate_pct": self._rate(self.resolution_breached, self.resolution_due)},
            },
        }


@dataclass(frozen=True)
class JudgedService:
    """A high-risk service and its verdict, for the follow-up list."""

    asset: str
    department: str | None
    plan: str
    due_date: date | None
    due_meter: float | None
    completed_on: date | None
    judgement: str


@dataclass(frozen=True)
class AssetUptime:
    """One asset's hours in scope, in service and down for a fault over the period."""

    tag: str
    name: str
    department: str | None
    scope_hours: float
    in_service_hours: float
    fault_hours: float

    @property
    def uptime_pct(self) -> float | None:
        """Return the share of the asset's hours in scope spent in service, in percent."""
        return None if not self.scope_hours else round(100.0 * self.in_service_hours / self.scope_hours, 3)

    @property
    def availability_pct(self) -> float | None:
        """Return the share of the asset's hours in scope not down for a fault, in percent."""
        return (None if not self.scope_hours
                else round(100.0 * (self.scope_hours - self.fault_hours) / self.scope_hours, 3))

    def as_dict(self) -> dict[str, Any]:
        """Return the figures, rounded for people."""
        return {"asset": self.tag, "name": self.name, "department": self.department,
                "scope_hours": round(self.scope_hours, 2), "in_service_hours": round(self.in_service_hours, 2),
                "fault_hours": round(self.fault_hours, 2), "uptime_pct": self.uptime_pct,
                "availability_pct": self.availability_pct}


@dataclass
class KpiReport:
    """KPIs for the whole selection and for each department in it."""

    period: Period
    as_of: datetime
    department: Department | None
    total: Kpis
    departments: list[tuple[Department | None, Kpis]]
    high_risk_services: list[JudgedService]
    assets: list[AssetUptime] = field(default_factory=list)
    #: How many assets were in scope for part of the period (the rows :func:`asset_uptimes` pages).
    assets_in_scope: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        def dept(d: Department | None) -> dict | None:
            return None if d is None else {"id": d.id, "code": d.code, "name": d.name}
        return {
            "start": self.period.start.isoformat(), "end": self.period.end.isoformat(),
            "time_zone": self.period.zone.key,
            "begins": self.period.begins.isoformat(timespec="seconds"),
            "ends": self.period.ends.isoformat(timespec="seconds"),
            "as_of": self.as_of.isoformat(timespec="seconds"),
            "department": dept(self.department),
            "kpis": self.total.as_dict(),
            "departments": [{"department": dept(d), "kpis": k.as_dict()} for d, k in self.departments],
            "high_risk_services": [
                {"asset": s.asset, "department": s.department, "plan": s.plan,
                 "due_date": s.due_date.isoformat() if s.due_date else None, "due_meter": s.due_meter,
                 "completed_on": s.completed_on.isoformat() if s.completed_on else None,
                 "judgement": s.judgement} for s in self.high_risk_services],
            "assets": [a.as_dict() for a in self.assets],
        }


# ------------------------------------------------------------------ the facts


def _hours(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a) / HOUR)


#: A department's figures, made on first use.
PartOf = Callable[[int | None], Kpis]


def _count_orders(session: Session, total: Kpis, part: PartOf, period: Period, as_of: datetime,
                  department_id: int | None) -> None:
    """Add the work-order figures, counted in SQL by department and kind."""
    for c in kpi_facts.order_counts(session, period.begins, as_of, department_id):
        for kpis in (total, part(c.department_id)):
            if c.open:
                kpis.backlog[c.kind] = kpis.backlog.get(c.kind, 0) + c.open
            kpis.work_orders_overdue += c.overdue
            kpis.failures += c.failures
            kpis.repairs += c.repairs
            kpis.response_due += c.response_due
            kpis.response_breached += c.response_breached
            kpis.resolution_due += c.resolution_due
            kpis.resolution_breached += c.resolution_breached
    for dept_id, opened, done in kpi_facts.repair_times(session, period.begins, as_of, department_id):
        for kpis in (total, part(dept_id)):
            kpis.repair_hours += _hours(opened, done)


def _count_uptime(session: Session, total: Kpis, part: PartOf, period: Period, as_of: datetime,
                  department_id: int | None) -> int:
    """Add the uptime figures from the status history, summed by department in SQL; return how
    many assets were in scope."""
    in_scope = 0
    for t in kpi_facts.uptime_totals(session, period.begins, as_of, department_id):
        in_scope += t.assets
        for kpis in (total, part(t.department_id)):
            kpis.asset_hours += t.scope
            kpis.downtime_hours += t.scope - t.in_service
            kpis.fault_hours += t.fault
    return in_scope


def asset_uptimes(session: Session, period: Period, as_of: datetime, department_id: int | None, *,
                  sort: str = "uptime", offset: int = 0, limit: int | None = None) -> list[AssetUptime]:
    """Return the uptime of the assets in scope over the period, lowest first (or as ``sort``
    says: see :data:`~wardlink.hub.services.reports.kpi_facts.UPTIME_SORTS`), rows ``offset``
    to ``offset + limit``. An asset is in scope from its registration except while retired or
    disposed of; its hours come from its status history clipped to the period (its status now
    since registration when no history was kept), computed in SQL."""
    if sort not in kpi_facts.UPTIME_SORTS:
        raise InvalidInput(N_("sort: must be one of %(choices)s, got %(sort)r"),
                           choices=', '.join(kpi_facts.UPTIME_SORTS), sort=sort)
    return [AssetUptime(tag, name, code, float(scope), float(in_service), float(fault))
            for tag, name, code, scope, in_service, fault in kpi_facts.uptime_rows(
                session, period.begins, as_of, department_id, sort=sort, offset=offset, limit=limit)]


#: Assets per page of the uptime table.
UPTIME_PAGE = 50


def uptime_page(session: Session, report: KpiReport, *, sort: str = "uptime", page: int = 1,
                per_page: int = UPTIME_PAGE) -> Page[AssetUptime]:
    """Return one page of the uptime of the assets in scope over ``report``'s period and
    department (the selection :func:`compute` checked), lowest uptime first or as ``sort`` says
    (a page number past the last shows the last page)."""
    check_paging(page, per_page)
    pages = max(1, -(-report.assets_in_scope // per_page))
    page = min(page, pages)
    department_id = report.department.id if report.department is not None else None
    items = asset_uptimes(session, report.period, report.as_of, department_id, sort=sort,
                          offset=(page - 1) * per_page, limit=per_page)
    return Page(items, page, per_page, report.assets_in_scope)


def _verdict(occ: PmOccurrence, as_of_day: date, judge: Judge) -> tuple[str, date | None]:
    """Return how a service stands as of the end of ``as_of_day``, and the completion counted."""
    done_by_then = occ.completed_on is not None and occ.completed_on <= as_of_day
    completed = occ.completed_on if done_by_then else None
    judgement = occurrence_target(occ).judge(completed_on=completed,
                                             completion_meter=occ.completion_meter if done_by_then else None,
                                             today=as_of_day, meter_now=judge.meter_now(occ))
    return judgement, completed


def _last_day(period: Period, as_of: datetime) -> date:
    """Return the local date the period's facts are taken on (the last day before ``as_of``)."""
    return period.local_day(as_of - timedelta(microseconds=1))


def _judge_services(session: Session, total: Kpis, part: PartOf, period: Period, as_of: datetime,
                    department_id: int | None) -> list[JudgedService]:
    """Add the PM figures; return the high-risk services done late or missed."""
    as_of_day, judge = _last_day(period, as_of), Judge(session, as_of)
    follow_up: list[JudgedService] = []
    for occ in session.scalars(_service_stmt(period, department_id)):
        judgement, completed = _verdict(occ, as_of_day, judge)
        if occ.high_risk and judgement in (LATE, MISSED):
            follow_up.append(JudgedService(
                occ.asset.tag, occ.asset.department.code if occ.asset.department else None,
                occ.plan.name, occ.due_date, occ.due_meter, completed, judgement))
        for kpis in (total, part(occ.asset.department_id)):
            kpis.pm.add(judgement)
            if occ.high_risk:
                kpis.pm_high_risk.add(judgement)
            if judgement == MISSED and occ.generated_at <= as_of:
                kpis.pm_overdue += 1
    return follow_up


# ------------------------------------------------------------------ entry point


def _service_stmt(period: Period, department_id: int | None):
    """Return the query of the PM services due in ``period`` (meter-only ones by the day they
    were generated), by due date."""
    stmt = (select(PmOccurrence).join(Asset, Asset.id == PmOccurrence.asset_id)
            .options(selectinload(PmOccurrence.plan), selectinload(PmOccurrence.asset)
                     .selectinload(Asset.department))
            .where(PmOccurrence.due_date.between(period.start, period.end)
                   | (PmOccurrence.due_date.is_(None)
                      & (PmOccurrence.generated_at >= period.begins)
                      & (PmOccurrence.generated_at < period.ends))))
    if department_id is not None:
        stmt = stmt.where(Asset.department_id == department_id)
    return stmt.order_by(PmOccurrence.due_date, PmOccurrence.id)


def _selection(session: Session, who: Actor, clock: Clock, start: date, end: date,
               department_id: int | None) -> tuple[Department | None, Period, datetime]:
    """Check a report's department (within the actor's scope) and period; return the
    department, the period and the moment its facts are taken at."""
    require(who, "kpi.view")
    scope = department_scope(who)
    if scope is not None:
        if department_id not in (None, scope):
            raise PermissionDenied(N_("user '%(username)s' may only see KPIs of their own department"),
                                   username=who.username)
        department_id = scope
    department = None
    if department_id is not None:
        department = session.get(Department, department_id)
        if department is None:
            raise InvalidInput(N_("department: no department %(department_id)s"), department_id=department_id)
    check_days(start, end)
    period = Period(start, end, report_zone(session, who, department_id))
    as_of = min(period.ends, utc_now(clock))
    if as_of <= period.begins:
        raise InvalidInput(N_("start: the period must have begun; %(start)s is in the future (%(key)s)"),
                           start=start.isoformat(), key=period.zone.key)
    return department, period, as_of


#: The department and period of a report, checked (public name of :func:`_selection` for the
#: other reports of this package).
select_period = _selection


@dataclass(frozen=True)
class ServiceVerdict:
    """One PM service due in a report's period and how it was judged (as the KPIs count it)."""

    occurrence: PmOccurrence
    judgement: str
    completed_on: date | None


@dataclass(frozen=True)
class JudgedPeriod:
    """The PM services due in a report's period: how many, and their verdicts one by one."""

    department: Department | None
    period: Period
    as_of: datetime
    total: int
    verdicts: Iterator[ServiceVerdict]

    @property
    def as_of_day(self) -> date:
        """Return the local date the services are judged on (the last day before ``as_of``)."""
        return _last_day(self.period, self.as_of)


def judged_services(session: Session, *, start: date, end: date, department_id: int | None = None,
                    actor: Actor | None, clock: Clock | None = None, batch: int = 500,
                    meters_only: bool = False) -> JudgedPeriod:
    """Return the PM services due in ``start``..``end`` with the verdicts the KPIs give them
    (the same selection, scope and judging as :func:`compute`), by due date, read in batches;
    with ``meters_only``, only those with a due meter reading."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    department, period, as_of = _selection(session, who, clock, start, end, department_id)
    stmt = _service_stmt(period, department.id if department else None)
    if meters_only:
        stmt = stmt.where(PmOccurrence.due_meter.is_not(None))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    judge, as_of_day = Judge(session, as_of), _last_day(period, as_of)

    def verdicts() -> Iterator[ServiceVerdict]:
        for occ in session.scalars(stmt.execution_options(yield_per=batch)):
            yield ServiceVerdict(occ, *_verdict(occ, as_of_day, judge))
    return JudgedPeriod(department, period, as_of, total, verdicts())


def compute(session: Session, *, start: date, end: date, department_id: int | None = None,
            actor: Actor | None, clock: Clock | None = None, assets: bool = True) -> KpiReport:
    """Return the KPIs of ``start``..``end`` for one department or all the actor may see; with
    ``assets``, every asset's uptime too, lowest first (a page shows them a page at a time
    through :func:`asset_uptimes` instead)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    department, period, as_of = _selection(session, who, clock, start, end, department_id)
    department_id = department.id if department else None
    total, parts = Kpis(), {}

    def part(dept_id: int | None) -> Kpis:
        return parts.setdefault(dept_id, Kpis())
    in_scope = _count_uptime(session, total, part, period, as_of, department_id)
    _count_orders(session, total, part, period, as_of, department_id)
    follow_up = _judge_services(session, total, part, period, as_of, department_id)
    names = {d.id: d for d in session.scalars(select(Department).where(Department.id.in_(
        [d for d in parts if d is not None])))}
    departments = [(names.get(dept_id), kpis) for dept_id, kpis in parts.items()]
    departments.sort(key=lambda pair: (pair[0] is None, pair[0].code if pair[0] else ""))
    return KpiReport(period, as_of, department, total, departments, follow_up,
                     asset_uptimes(session, period, as_of, department_id) if assets else [], in_scope)
