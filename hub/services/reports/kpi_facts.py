"""The stored facts the maintenance KPIs are made of, read in few queries and as plain columns.

:mod:`wardlink.hub.services.reports.kpis` defines the figures; this module reads what they need
without building an ORM object per row: the work-order counts as SQL aggregates grouped by
department and kind, the repair times and the equipment's status history as plain rows. The
conditions here are the KPI definitions written in SQL, so a report over tens of thousands of
work orders and assets is a handful of queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, not_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from wardlink.hub.db.models import Asset, AssetStatusChange, WorkOrder
from wardlink.hub.db.types import UTCDateTime
from wardlink.hub.services.maintenance.pm import INACTIVE_STAGES

#: Resolutions that mean the equipment did not fail.
NOT_FAILURES = frozenset({"no_fault_found", "user_error"})


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


@dataclass(frozen=True)
class AssetRow:
    """What the uptime figures need of one asset."""

    id: int
    tag: str
    name: str
    department_id: int | None
    equipment_status: str
    created_at: datetime


def _assets_in_view(as_of: datetime, department_id: int | None) -> list[ColumnElement[bool]]:
    # Retired equipment counts until it was retired: the status history says when.
    where = [Asset.lifecycle_stage.not_in(INACTIVE_STAGES), Asset.created_at < _at(as_of, "as_of")]
    if department_id is not None:
        where.append(Asset.department_id == department_id)
    return where


def asset_rows(session: Session, as_of: datetime, department_id: int | None) -> list[AssetRow]:
    """Return the equipment registered before ``as_of`` and not disposed of, by id."""
    stmt = (select(Asset.id, Asset.tag, Asset.name, Asset.department_id, Asset.equipment_status, Asset.created_at)
            .where(*_assets_in_view(as_of, department_id)).order_by(Asset.id))
    return [AssetRow(*row) for row in session.execute(stmt)]


def status_stretches(session: Session, begins: datetime, as_of: datetime, department_id: int | None,
                     ids: Iterable[int]) -> dict[int, list[tuple[str, datetime, datetime | None]]]:
    """Return each asset's status rows overlapping ``begins``..``as_of``, oldest first, as
    (status, started, ended), for the assets ``ids`` (those :func:`asset_rows` returns)."""
    out: dict[int, list[tuple[str, datetime, datetime | None]]] = {i: [] for i in ids}
    if not out:
        return out
    stmt = (select(AssetStatusChange.asset_id, AssetStatusChange.status, AssetStatusChange.started_at,
                   AssetStatusChange.ended_at)
            .join(Asset, Asset.id == AssetStatusChange.asset_id)
            .where(*_assets_in_view(as_of, department_id), AssetStatusChange.started_at < _at(as_of, "ends"),
                   or_(AssetStatusChange.ended_at.is_(None), AssetStatusChange.ended_at > _at(begins, "begins")))
            .order_by(AssetStatusChange.asset_id, AssetStatusChange.started_at, AssetStatusChange.id))
    for asset_id, value, started, ended in session.execute(stmt):
        if asset_id in out:
            out[asset_id].append((value, started, ended))
    return out
