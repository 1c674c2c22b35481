"""Figures for the dashboard: gateway link counts and the maintenance overview."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from wardlink.hub.services.maintenance import pm_standing
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.gateways.registry import GatewayState
from wardlink.hub.services.people.permissions import can


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


def maintenance_overview(session: Session, actor: Actor, now: datetime) -> dict:
    """Return the maintenance counts (assets overdue and due, judged by the services) and the
    work-order backlog, as far as the actor may see."""
    counts = pm_standing.maintenance_counts(session, actor=actor, now=now)
    return {"maintenance_counts": counts,
            "wo_backlog": workorders.backlog_counts(session, actor=actor) if can(actor, "workorder.view") else None,
            "kpis": None}
