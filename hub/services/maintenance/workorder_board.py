"""The work-order board: the newest orders of each state, filtered as the list filters them.

Each column holds the newest ``limit`` orders of its state and says how many there are
(counted exactly up to :data:`~wardlink.hub.services.pagination.COUNT_LIMIT`, as a list page
counts). The columns are read together rather than as five lists: one statement picks every
column's orders (newest first in each, from the state index), one reads those orders and one
each their asset, department and people, and one counts the columns that hold more than they
show. That is seven statements for the whole board where five list pages took about 25, which
on a busy PostgreSQL server, where each statement waits its turn, is most of the board's time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import literal, select, union_all
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import WorkOrder
from wardlink.hub.services.pagination import COUNT_LIMIT, Page, bounded_count
from wardlink.hub.services.maintenance.workorders import work_order_query


def board(session: Session, *, actor: Any, states: Sequence[str], limit: int,
          **filters: Any) -> list[tuple[str, Page[WorkOrder]]]:
    """Return each of ``states`` with a page of its newest ``limit`` orders the actor may see,
    filtered (any filter of :func:`~wardlink.hub.services.maintenance.workorders.list_work_orders`
    but ``state`` and ``sort``), and how many orders it has."""
    queries = {state: work_order_query(session, actor=actor, **{**filters, "state": state, "sort": "newest"})
               for state in states}
    arms = []
    for index, query in enumerate(queries.values()):
        newest = query.with_only_columns(WorkOrder.id).limit(limit + 1).subquery()
        arms.append(select(literal(index).label("column"), newest.c.id))
    picked = session.execute(union_all(*arms)).all()
    read = select(WorkOrder).where(WorkOrder.id.in_([i for _, i in picked])).options(
        selectinload(WorkOrder.asset), selectinload(WorkOrder.department), selectinload(WorkOrder.assigned_to),
        selectinload(WorkOrder.requested_by))
    orders = {o.id: o for o in session.scalars(read)} if picked else {}
    chosen: list[list[WorkOrder]] = [[] for _ in queries]
    for index, order_id in picked:
        chosen[index].append(orders[order_id])
    for rows in chosen:  # a union keeps no order: newest first again, as the list's "newest" sorts
        rows.sort(key=lambda o: (o.created_at, o.id), reverse=True)
    full = [index for index, rows in enumerate(chosen) if len(rows) > limit]
    bound = max(COUNT_LIMIT, limit)
    counted = dict(zip(full, session.execute(select(*(bounded_count(list(queries.values())[i], bound)
                                                      for i in full))).one())) if full else {}
    out = []
    for index, state in enumerate(queries):
        rows = chosen[index]
        if index in counted:
            out.append((state, Page(rows[:limit], 1, limit, min(counted[index], bound), counted[index] <= bound)))
        else:
            out.append((state, Page(rows, 1, limit, len(rows))))
    return out
