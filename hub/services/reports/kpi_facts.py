"""The stored facts the maintenance KPIs are made of, read in few queries and as plain columns.

:mod:`wardlink.hub.services.reports.kpis` defines the figures; this module reads what they need
without building an ORM object per row: the work-order counts as SQL aggregates grouped by
department and kind, the repair times and the equipment's status history as plain rows. The
conditions here are the KPI definitions written in SQL, so a report over tens of thousands of
work orders and assets is a handful of queries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, bindparam, case, func, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from wardlink.hub.db.models import Asset, AssetStatusChange, Department, WorkOrder
from wardlink.hub.db.types import UTCDateTime
from wardlink.hub.services.maintenance.pm import INACTIVE_STAGES, INACTIVE_STATUSES

#: Resolutions that mean the equipment did not fail.
NOT_FAILURES = frozenset({"no_fault_found", "user_error"})
#: Statuses that count as down for a fault (against availability).
FAULT_STATUSES = frozenset({"faulty", "tagged_out"})
#: Statuses outside the scope of uptime and availability.
OUT_OF_SCOPE = frozenset(INACTIVE_STATUSES)


def _at(moment: datetime, name: str) -> Any:
    return bindparam(name, moment, type_=UTCDateTime(), unique=True)


def _orders_in_view(begins: Any, as_of: Any) -> ColumnElement[bool]:
    """Return the condition on the work orders that can count in a report: opened before
    ``as_of`` and still open, or finished, due or back in service from ``begins`` on."""
    ended = func.coalesce(WorkOrder.completed_at, WorkOrder.closed_at, WorkOrder.cancelled_at)
    return and_(WorkOrder.created_at < as_of, or_(
        ended.is_(None), ended >= begins, WorkOrder.response_due_at >= begins,
        WorkOrder.resolution_due_at >= begins, WorkOrder.downtime_end >= begins))


def _failure() -> ColumnElement[bool]:
    """Return the condition of a corrective work order that counts as an equipment failure."""
    return and_(WorkOrder.kind == "corrective", WorkOrder.state != "cancelled",
                or_(WorkOrder.resolution_category.is_(None),
                    WorkOrder.resolution_category.not_in(sorted(NOT_FAILURES))))


def _within(value: Any, begins: Any, as_of: Any) -> ColumnElement[bool]:
    return and_(value.is_not(None), value >= begins, value < as_of)


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


@dataclass
class OrderCounts:
    """The work-order counts of one department and kind."""

    department_id: int | None
    kind: str
    open: int
    overdue: int
    failures: int
    repairs: int
    response_due: int
    response_breached: int
    resolution_due: int
    resolution_breached: int


def order_counts(session: Session, begins: datetime, as_of: datetime,
                 department_id: int | None) -> list[OrderCounts]:
    """Return the work-order counts by department and kind: open at ``as_of`` (and of those past
    their resolution due time), failures reported and repairs completed in ``begins``..``as_of``,
    and the response and resolution times due then and whether they were met."""
    b, a = _at(begins, "begins"), _at(as_of, "as_of")
    done = func.coalesce(WorkOrder.completed_at, WorkOrder.closed_at)
    gone = and_(WorkOrder.cancelled_at.is_not(None), WorkOrder.cancelled_at <= a)
    open_now = and_(WorkOrder.created_at <= a, not_(gone), or_(done.is_(None), done > a))
    kept = WorkOrder.state != "cancelled"
    responded = func.coalesce(WorkOrder.responded_at, WorkOrder.completed_at, WorkOrder.closed_at)
    response_due = and_(kept, _within(WorkOrder.response_due_at, b, a))
    resolution_due = and_(kept, _within(WorkOrder.resolution_due_at, b, a))
    stmt = (select(WorkOrder.department_id, WorkOrder.kind,
                   _count(open_now),
                   _count(and_(open_now, WorkOrder.resolution_due_at.is_not(None), WorkOrder.resolution_due_at < a)),
                   _count(and_(_failure(), WorkOrder.created_at >= b, WorkOrder.created_at < a)),
                   _count(and_(_failure(), _within(done, b, a))),
                   _count(response_due),
                   _count(and_(response_due, or_(responded.is_(None), responded > WorkOrder.response_due_at))),
                   _count(resolution_due),
                   _count(and_(resolution_due, or_(done.is_(None), done > WorkOrder.resolution_due_at))))
            .where(_orders_in_view(b, a))
            .group_by(WorkOrder.department_id, WorkOrder.kind))
    if department_id is not None:
        stmt = stmt.where(WorkOrder.department_id == department_id)
    return [OrderCounts(dept, kind, *(int(n) for n in figures)) for dept, kind, *figures in session.execute(stmt)]


def repair_times(session: Session, begins: datetime, as_of: datetime,
                 department_id: int | None) -> Iterator[tuple[int | None, datetime, datetime]]:
    """Yield (department id, opened, completed) of the failures repaired in ``begins``..``as_of``."""
    b, a = _at(begins, "begins"), _at(as_of, "as_of")
    done = func.coalesce(WorkOrder.completed_at, WorkOrder.closed_at)
    stmt = (select(WorkOrder.department_id, WorkOrder.created_at, WorkOrder.completed_at, WorkOrder.closed_at)
            .where(_orders_in_view(b, a), _failure(), _within(done, b, a)).order_by(WorkOrder.id))
    if department_id is not None:
        stmt = stmt.where(WorkOrder.department_id == department_id)
    for dept, opened, completed, closed in session.execute(stmt):
        finished = completed or closed
        if finished is not None:  # always, by the query's condition
            yield dept, opened, finished


def _assets_in_view(as_of: datetime, department_id: int | None) -> list[ColumnElement[bool]]:
    # Retired equipment counts until it was retired: the status history says when.
    where = [Asset.lifecycle_stage.not_in(INACTIVE_STAGES), Asset.created_at < _at(as_of, "as_of")]
    if department_id is not None:
        where.append(Asset.department_id == department_id)
    return where


# ------------------------------------------------------------------ uptime in SQL


class _hours_between(FunctionElement):
    """Hours from the second instant to the first (``later - earlier``), as a float."""

    type = Float()
    name = "hours_between"
    inherit_cache = True


@compiles(_hours_between)
def _hours_between_sql(element, compiler, **kw) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION) / 3600.0)"


@compiles(_hours_between, "sqlite")
def _hours_between_sqlite(element, compiler, **kw) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    # julianday() counts whole milliseconds; rounding its difference to them keeps whole hours exact.
    return f"(ROUND((julianday({later}) - julianday({earlier})) * 86400000.0) / 3600000.0)"


def per_asset_uptime(begins: datetime, as_of: datetime, department_id: int | None):
    """Return a subquery of each asset in view (``asset_id``, ``department_id``, ``tag``) and its
    hours over ``begins``..``as_of``: ``scope`` (not retired), ``in_service`` and ``fault`` (faulty
    or tagged out), summed from its status rows clipped to the period, or, for an asset without
    one there (no history kept), from its status now since its registration.

    The assets are read once, each joined to its rows in the period through the history's
    (asset, start) index, so the sums come out grouped in the assets' order without a sort."""
    history = AssetStatusChange
    b, a = _at(begins, "begins"), _at(as_of, "as_of")
    joined = (Asset.__table__.outerjoin(history, and_(
        history.asset_id == Asset.id, history.started_at < a,
        or_(history.ended_at.is_(None), history.ended_at > b))))
    status = func.coalesce(history.status, Asset.equipment_status)
    started = func.coalesce(history.started_at, Asset.created_at)
    start = case((started < b, b), else_=started)
    end = case((or_(history.ended_at.is_(None), history.ended_at > a), a), else_=history.ended_at)
    hours = case((end > start, _hours_between(end, start)), else_=0.0)

    def total(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, hours), else_=0.0)), 0.0)
    return (select(Asset.id.label("asset_id"), Asset.department_id.label("department_id"), Asset.tag.label("tag"),
                   total(status.not_in(sorted(OUT_OF_SCOPE))).label("scope"),
                   total(status == "in_service").label("in_service"),
                   total(status.in_(sorted(FAULT_STATUSES))).label("fault"))
            .select_from(joined).where(*_assets_in_view(as_of, department_id))
            .group_by(Asset.id, Asset.department_id, Asset.tag).subquery("uptime"))


@dataclass(frozen=True)
class UptimeTotal:
    """The hours of a department's equipment in view over a period, and how many were in scope."""

    department_id: int | None
    scope: float
    in_service: float
    fault: float
    assets: int


def uptime_totals(session: Session, begins: datetime, as_of: datetime,
                  department_id: int | None) -> list[UptimeTotal]:
    """Return the equipment hours by department over ``begins``..``as_of``, summed in SQL."""
    u = per_asset_uptime(begins, as_of, department_id)
    stmt = (select(u.c.department_id, func.sum(u.c.scope), func.sum(u.c.in_service), func.sum(u.c.fault),
                   func.sum(case((u.c.scope > 0, 1), else_=0)))
            .group_by(u.c.department_id))
    return [UptimeTotal(dept, float(scope or 0), float(in_service or 0), float(fault or 0), int(n or 0))
            for dept, scope, in_service, fault, n in session.execute(stmt)]


#: How the per-asset uptime list may be ordered: the worst first, or by tag.
UPTIME_SORTS = ("uptime", "availability", "downtime", "asset")


def uptime_rows(session: Session, begins: datetime, as_of: datetime, department_id: int | None, *,
                sort: str = "uptime", offset: int = 0, limit: int | None = None) -> list[tuple]:
    """Return (tag, name, department code, scope, in service, fault hours) of the assets in
    scope for part of the period, ordered by ``sort`` (lowest uptime or availability first,
    most hours down first, or by tag), rows ``offset`` to ``offset + limit``."""
    u = per_asset_uptime(begins, as_of, department_id)
    order = {"uptime": (u.c.in_service / u.c.scope,), "availability": ((u.c.scope - u.c.fault) / u.c.scope,),
             "downtime": ((u.c.in_service - u.c.scope),), "asset": ()}[sort]
    stmt = (select(u.c.tag, Asset.name, Department.code, u.c.scope, u.c.in_service, u.c.fault)
            .join(Asset, Asset.id == u.c.asset_id).outerjoin(Department, Department.id == u.c.department_id)
            .where(u.c.scope > 0).order_by(*order, u.c.tag).offset(offset))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [tuple(row) for row in session.execute(stmt)]
