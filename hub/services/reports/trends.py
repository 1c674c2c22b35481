"""Trends for the dashboard: how the work-order backlog, PM compliance and alerts moved over the
last weeks and months, and how many gateways are online now.

Weeks run Monday to Sunday and months are calendar months, both in the site's time zone
(:func:`~wardlink.hub.services.people.local_time.display_zone`, or the chosen department's
site), so a week's bars match the dates people read on the pages. Each series is one grouped
query over a small table of period edges (:func:`_edges`), so the cost does not grow with the
number of weeks shown:

- **Work-order backlog**: orders open at the end of each week (at ``now`` for the current
  week), counted as the KPIs count the backlog (:mod:`~wardlink.hub.services.reports.kpis`):
  created by then, and neither finished (completed or closed) nor cancelled by then.
- **PM compliance**: per month, the share of the services due in it that were done on time,
  of those judged so far (as of ``now``; pending services are not counted yet). The verdicts
  are the KPIs' own (:func:`~wardlink.hub.services.reports.kpis.judged_services`).
- **Alerts opened** per week.
- **Gateways online**: online gateways of the total, now. The hub keeps no history of
  gateway links, so there is no trend of it.

Every series honours the caller's permissions and department scope; one the caller may not
see is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, and_, case, func, literal, or_, select, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Alert, Asset, Department, PmOccurrence, WorkOrder
from wardlink.hub.db.types import UTCDateTime, utc_now
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.maintenance.compliance import LATE, MISSED, ON_TIME, PENDING
from wardlink.hub.services.maintenance.workorder_common import scoped as scoped_orders
from wardlink.hub.services.people import local_time
from wardlink.hub.services.people.permissions import can, department_scope
from wardlink.hub.services.reports import kpis
from wardlink.clock import Clock

#: How many weeks and months a trend covers (the current one included).
WEEKS = 12
MONTHS = 12
#: Link states a gateway can be judged in, in the order they are shown.
GATEWAY_STATES = ("online", "stalled", "offline", "unknown")


@dataclass(frozen=True)
class Bucket:
    """One week or month: its first instant, the instant after it (UTC) and its local label."""

    starts: datetime
    ends: datetime
    label: str


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(local_time.UTC_ZONE)


def weeks(now: datetime, zone: ZoneInfo, count: int = WEEKS) -> list[Bucket]:
    """Return the last ``count`` weeks (Monday to Sunday in ``zone``), the current one last."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    firsts = [monday - timedelta(weeks=n) for n in range(count - 1, -1, -1)]
    return [Bucket(_local_midnight(d, zone), _local_midnight(d + timedelta(days=7), zone), d.isoformat())
            for d in firsts]


def _month(day: date, shift: int) -> date:
    index = day.year * 12 + day.month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def months(now: datetime, zone: ZoneInfo, count: int = MONTHS) -> list[Bucket]:
    """Return the last ``count`` calendar months in ``zone``, the current one last."""
    first = now.astimezone(zone).date().replace(day=1)
    firsts = [_month(first, -n) for n in range(count - 1, -1, -1)]
    return [Bucket(_local_midnight(d, zone), _local_midnight(_month(d, 1), zone), d.strftime("%Y-%m"))
            for d in firsts]


def _edges(buckets: list[Bucket], now: datetime):
    """Return the buckets as a derived table (n, starts, ends, at): ``at`` is when a level is
    read, the end of the bucket or ``now`` if that is earlier."""
    rows = [select(literal(n, Integer).label("n"), literal(b.starts, UTCDateTime()).label("starts"),
                   literal(b.ends, UTCDateTime()).label("ends"),
                   literal(min(b.ends, now), UTCDateTime()).label("at"))
            for n, b in enumerate(buckets)]
    return union_all(*rows).subquery("buckets")


def _points(buckets: list[Bucket], counts: dict[int, int]) -> list[dict[str, Any]]:
    return [{"label": b.label, "start": b.starts.isoformat(), "end": b.ends.isoformat(),
             "value": counts.get(n, 0)} for n, b in enumerate(buckets)]


def _first_bucket(column, moments: list[datetime]):
    """Return the index of the first of ``moments`` at or after ``column`` (len(moments) when
    none is, or the column is NULL), as one CASE over the column."""
    return case(*((column <= literal(m, UTCDateTime()), n) for n, m in enumerate(moments)), else_=len(moments))


def backlog_by_week(session: Session, who: Actor, buckets: list[Bucket], now: datetime,
                    department_id: int | None) -> list[dict[str, Any]]:
    """Return how many work orders were open at the end of each week (now for this week).

    One pass over the orders, grouped by the first week end each was open at and the first
    it no longer was (finished or cancelled by then): an order counts at the week ends from
    the one to the other.
    """
    moments = [min(b.ends, now) for b in buckets]
    done = func.coalesce(WorkOrder.completed_at, WorkOrder.closed_at)
    ended = case((WorkOrder.cancelled_at.is_(None), done), (done.is_(None), WorkOrder.cancelled_at),
                 (WorkOrder.cancelled_at < done, WorkOrder.cancelled_at), else_=done)
    opened_n, ended_n = _first_bucket(WorkOrder.created_at, moments), _first_bucket(ended, moments)
    stmt = select(opened_n, ended_n, func.count()).where(WorkOrder.created_at <= moments[-1],
                                                         or_(ended.is_(None), ended > moments[0]))
    if department_id is not None:
        stmt = stmt.where(WorkOrder.department_id == department_id)
    counts = dict.fromkeys(range(len(buckets)), 0)
    for first, last, n in session.execute(scoped_orders(stmt, who).group_by(opened_n, ended_n)):
        for week in range(first, last):
            counts[week] += n
    return _points(buckets, counts)


def alerts_by_week(session: Session, who: Actor, buckets: list[Bucket], now: datetime,
                   department_id: int | None) -> list[dict[str, Any]]:
    """Return how many alerts were opened in each week."""
    edge = _edges(buckets, now)
    stmt = (select(edge.c.n, func.count(Alert.id)).select_from(edge)
            .join(Alert, and_(Alert.opened_at >= edge.c.starts, Alert.opened_at < edge.c.ends)))
    if department_id is not None and department_scope(who) is None:
        stmt = stmt.join(Asset, Alert.asset_id == Asset.id).where(Asset.department_id == department_id)
    counts = {n: c for n, c in session.execute(alerts.scoped(stmt, who).group_by(edge.c.n))}
    return _points(buckets, counts)


class _days_between(FunctionElement):
    """Whole days from the second date to the first (``later - earlier``)."""

    type = Integer()
    name = "days_between"
    inherit_cache = True


@compiles(_days_between)
def _days_between_sql(element, compiler, **kw) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"({later} - {earlier})"  # PostgreSQL: date - date is a number of days


@compiles(_days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def _calendar_verdicts(session: Session, first: date, last: date, as_of_day: date, month_starts: list[date],
                       department_id: int | None) -> list[tuple[int, str, int]]:
    """Return (month index, judgement, count) of the date-only services due in ``first..last``,
    judged in SQL as :meth:`~wardlink.hub.services.maintenance.compliance.Target.judge` does."""
    occ = PmOccurrence
    done = and_(occ.completed_on.is_not(None), occ.completed_on <= as_of_day)
    verdict = case((and_(done, _days_between(occ.completed_on, occ.due_date) <= occ.window_days), ON_TIME),
                   (done, LATE),
                   (_days_between(literal(as_of_day, Date()), occ.due_date) > occ.window_days, MISSED),
                   else_=PENDING)
    month = case(*((occ.due_date < literal(m, Date()), n - 1) for n, m in enumerate(month_starts[1:], 1)),
                 else_=len(month_starts) - 1)
    stmt = (select(month, verdict, func.count()).join(Asset, Asset.id == occ.asset_id)
            .where(occ.due_date.between(first, last), occ.due_meter.is_(None)))
    if department_id is not None:
        stmt = stmt.where(Asset.department_id == department_id)
    return [(n, v, c) for n, v, c in session.execute(stmt.group_by(month, verdict))]


def pm_compliance_by_month(session: Session, who: Actor, clock: Clock, buckets: list[Bucket], zone: ZoneInfo,
                           department_id: int | None) -> list[dict[str, Any]]:
    """Return, per month, the services due in it that were judged and done on time, and the
    share on time in percent (None while none is judged).

    Date-only services (nearly all) are judged by one grouped query; the few with a meter
    limit need the meter's reading and are judged one by one as the KPIs judge them.
    """
    first = buckets[0].starts.astimezone(zone).date()
    today = utc_now(clock).astimezone(zone).date()
    last = min((buckets[-1].ends.astimezone(zone) - timedelta(days=1)).date(), today)
    metered = kpis.judged_services(session, start=first, end=last, department_id=department_id, actor=who,
                                   clock=clock, meters_only=True)
    as_of_day = metered.as_of_day
    month_starts = [b.starts.astimezone(zone).date() for b in buckets]
    rows = _calendar_verdicts(session, first, last, as_of_day, month_starts, department_id)
    labels = {b.label: n for n, b in enumerate(buckets)}
    for verdict in metered.verdicts:
        occ = verdict.occurrence
        day = occ.due_date or occ.generated_at.astimezone(zone).date()
        if day.strftime("%Y-%m") in labels:
            rows.append((labels[day.strftime("%Y-%m")], verdict.judgement, 1))
    tallies = [[0, 0] for _ in buckets]  # judged, on time
    for n, judgement, count in rows:
        if judgement in (ON_TIME, LATE, MISSED) and 0 <= n < len(buckets):
            tallies[n][0] += count
            tallies[n][1] += count if judgement == ON_TIME else 0
    return [{"label": b.label, "start": b.starts.isoformat(), "end": b.ends.isoformat(), "judged": j,
             "on_time": t, "value": None if not j else round(100.0 * t / j, 1)}
            for b, (j, t) in zip(buckets, tallies, strict=True)]


def gateways_online(session: Session, engine: Engine, who: Actor, now: datetime, department_id: int | None,
                    stall_min_s: float) -> dict[str, Any]:
    """Return how many gateways are online now of how many, and the count in each link state."""
    found = [gw for gw in gateways.list_gateways(session, actor=who)
             if department_id is None or gw.department_id == department_id]
    states = gateways.gateway_states(engine, found, now=now, stall_min_s=stall_min_s)
    counts = dict.fromkeys(GATEWAY_STATES, 0)
    for link in states.values():
        counts[link.status if link.status in counts else "unknown"] += 1
    return {"online": counts["online"], "total": len(found), "by_state": counts, "history": None}


def _department(session: Session, who: Actor, department_id: int | None) -> Department | None:
    scope = department_scope(who)
    if scope is not None:
        if department_id not in (None, scope):
            raise PermissionDenied(N_("user '%(username)s' may only see trends of their own department"),
                                   username=who.username)
        department_id = scope
    if department_id is None:
        return None
    department = session.get(Department, department_id)
    if department is None:
        raise InvalidInput(N_("department: no department %(department_id)s"), department_id=department_id)
    return department


def dashboard_trends(session: Session, *, engine: Engine, actor: Actor | None, clock: Clock | None = None,
                     department_id: int | None = None, stall_min_s: float = gateways.STALL_MIN_S) -> dict[str, Any]:
    """Return the dashboard's series the actor may see, for one department or all in scope."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    department = _department(session, who, department_id)
    dept_id = department.id if department is not None else None
    zone = (local_time.department_zone(session, dept_id) if dept_id is not None else None) \
        or local_time.display_zone(session, who)
    now = utc_now(clock)
    by_week, by_month = weeks(now, zone), months(now, zone)
    series: dict[str, Any] = {}
    if can(who, "workorder.view"):
        series["backlog"] = {"period": "week", "unit": "work orders",
                             "points": backlog_by_week(session, who, by_week, now, dept_id)}
    if can(who, "kpi.view"):
        series["pm_compliance"] = {"period": "month", "unit": "%",
                                   "points": pm_compliance_by_month(session, who, clock, by_month, zone, dept_id)}
    if can(who, "alert.view"):
        series["alerts"] = {"period": "week", "unit": "alerts",
                            "points": alerts_by_week(session, who, by_week, now, dept_id)}
    if can(who, "gateway.view"):
        series["gateways"] = gateways_online(session, engine, who, now, dept_id, stall_min_s)
    return {"as_of": now.isoformat(timespec="seconds"), "zone": zone.key,
            "department": None if department is None else {"id": department.id, "code": department.code,
                                                           "name": department.name},
            "series": series}
