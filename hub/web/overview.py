"""Figures for the dashboard: gateway link counts and the maintenance overview."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from flask import current_app, url_for
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.db.models import Asset, WorkOrder
from hub.db.models.pm import PmOccurrence
from hub.services.actor import Actor
from hub.services.gateways import GatewayState
from hub.services.permissions import can, department_scope, require
from hub.services.workorder_common import scoped
from hub.services.workorders import STATE_GROUPS

#: Work-order states counted as backlog, in board order.
BACKLOG_STATES = ("pending", "assigned", "in_progress", "on_hold", "completed")
OPEN_STATES = STATE_GROUPS["open"]
#: How far ahead the dashboard counts PM as "due".
PM_HORIZON_DAYS = 14


def gateway_counts(states: Iterable[GatewayState]) -> dict[str, int]:
    """Return how many gateways are online, stalled (online but silent), offline, and online but
    still sending a backlog."""
    counts = {"online": 0, "stalled": 0, "offline": 0, "buffering": 0, "unknown": 0}
    for link in states:
        key = link.status if link.status in counts else "unknown"
        counts[key] += 1
        if link.status == "online" and (link.buffer_depth or 0) > 0:
            counts["buffering"] += 1
    return counts


def _pm_counts(session: Session, actor: Actor, today) -> dict:
    base = (select(func.count()).select_from(PmOccurrence).join(Asset, Asset.id == PmOccurrence.asset_id)
            .where(PmOccurrence.state == "open"))
    scope = department_scope(actor)
    if scope is not None:
        base = base.where(Asset.department_id == scope)
    overdue = session.scalar(base.where(PmOccurrence.due_date < today)) or 0
    due = session.scalar(base.where(PmOccurrence.due_date >= today,
                                    PmOccurrence.due_date <= today + timedelta(days=PM_HORIZON_DAYS))) or 0
    url = url_for("pm.calendar") if "pm.calendar" in current_app.view_functions else "#"
    return {"overdue": overdue, "due": due, "horizon_days": PM_HORIZON_DAYS, "overdue_url": url, "due_url": url}


def _backlog(session: Session, actor: Actor) -> dict:
    # Counts only: one GROUP BY on the state index, within what the actor may see. (Listing
    # pages of each state just to read their totals made the planner walk every order.)
    require(actor, "workorder.view")
    counts = dict(session.execute(scoped(
        select(WorkOrder.state, func.count()).where(WorkOrder.state.in_(BACKLOG_STATES)), actor)
        .group_by(WorkOrder.state)).all())
    by_state = [(state, counts.get(state, 0)) for state in BACKLOG_STATES]
    overdue = session.scalar(scoped(select(func.count()).select_from(WorkOrder).where(
        WorkOrder.state.in_(OPEN_STATES),
        or_(WorkOrder.response_breached_at.is_not(None), WorkOrder.resolution_breached_at.is_not(None))),
        actor)) or 0
    return {"open": sum(n for s, n in by_state if s in OPEN_STATES), "overdue": overdue, "by_state": by_state}


def maintenance_overview(session: Session, actor: Actor, now: datetime) -> dict:
    """Return PM due/overdue counts and the work-order backlog, as far as the actor may see."""
    return {"pm_counts": _pm_counts(session, actor, now.date()) if can(actor, "pm.view") else None,
            "wo_backlog": _backlog(session, actor) if can(actor, "workorder.view") else None,
            "kpis": None}
