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

from sqlalchemy import Integer, and_, func, literal, or_, select, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Alert, Asset, Department, WorkOrder
from wardlink.hub.db.types import UTCDateTime, utc_now
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.maintenance.compliance import LATE, MISSED, ON_TIME
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


def backlog_by_week(session: Session, who: Actor, buckets: list[Bucket], now: datetime,
                    department_id: int | None) -> list[dict[str, Any]]:
    """Return how many work orders were open at the end of each week (now for this week)."""
    edge = _edges(buckets, now)
    done = func.coalesce(WorkOrder.completed_at, WorkOrder.closed_at)
    stmt = (select(edge.c.n, func.count(WorkOrder.id)).select_from(edge)
            .join(WorkOrder, and_(WorkOrder.created_at <= edge.c.at,
                                  or_(WorkOrder.cancelled_at.is_(None), WorkOrder.cancelled_at > edge.c.at),
                                  or_(done.is_(None), done > edge.c.at))))
    if department_id is not None:
        stmt = stmt.where(WorkOrder.department_id == department_id)
    counts = {n: c for n, c in session.execute(scoped_orders(stmt, who).group_by(edge.c.n))}
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


def pm_compliance_by_month(session: Session, who: Actor, clock: Clock, buckets: list[Bucket], zone: ZoneInfo,
                           department_id: int | None) -> list[dict[str, Any]]:
    """Return, per month, the services due in it that were judged and done on time, and the
    share on time in percent (None while none is judged)."""
    first = buckets[0].starts.astimezone(zone).date()
    last = (buckets[-1].ends.astimezone(zone) - timedelta(days=1)).date()
    today = utc_now(clock).date()
    judged = kpis.judged_services(session, start=first, end=min(last, today), department_id=department_id,
                                  actor=who, clock=clock)
    labels = {b.label: n for n, b in enumerate(buckets)}
    tallies = [[0, 0] for _ in buckets]  # judged, on time
    for verdict in judged.verdicts:
        occ = verdict.occurrence
        day = occ.due_date or occ.generated_at.astimezone(zone).date()
        n = labels.get(day.strftime("%Y-%m"))
        if n is None or verdict.judgement not in (ON_TIME, LATE, MISSED):
            continue
        tallies[n][0] += 1
        tallies[n][1] += verdict.judgement == ON_TIME
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
            raise PermissionDenied(f"user '{who.username}' may only see trends of their own department")
        department_id = scope
    if department_id is None:
        return None
    department = session.get(Department, department_id)
    if department is None:
        raise InvalidInput(f"department: no department {department_id}")
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
