"""Why work orders were delayed: kept for the monthly repairs list.

Two kinds of reason, both rows of ``work_order_delays``:

- **hold**: putting an order on hold needs a reason (the hold form's "reason for delay"); the
  row keeps it with when the hold began, and the resume (or the cancellation) ends it. The
  order's own ``hold_reason`` is cleared on resume; the row stays.
- **sla_breach**: once an order has breached its response or resolution time, its assignee or
  a manager (``workorder.record``, within their department) gives the reason afterwards; an
  order may get several (each audited, none edited). A closed (signed) order is frozen.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import WorkOrder, WorkOrderDelay
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.maintenance.workorder_common import (code_of, ensure_not_frozen, is_frozen, load,
                                                                system_note, touch)
from wardlink.hub.services.people.permissions import can, require
from wardlink.hub.services.validate import text
from wardlink.clock import Clock

REASON = text(2000, required=True)


def start_hold(session: Session, order: WorkOrder, reason: str, who: Actor, now: datetime) -> WorkOrderDelay:
    """Record that ``order`` went on hold now for ``reason`` (called by the hold transition)."""
    row = WorkOrderDelay(work_order_id=order.id, kind="hold", reason=reason, started_at=now,
                         recorded_by_id=who.user_id, recorded_by=who.username[:100], recorded_at=now)
    session.add(row)
    return row


def end_holds(session: Session, order: WorkOrder, now: datetime) -> None:
    """End the holds of ``order`` still running (it resumed or was cancelled)."""
    for row in session.scalars(select(WorkOrderDelay).where(WorkOrderDelay.work_order_id == order.id,
                                                            WorkOrderDelay.kind == "hold",
                                                            WorkOrderDelay.ended_at.is_(None))):
        row.ended_at = now


def first_breach(order: WorkOrder) -> datetime | None:
    """Return when ``order`` first breached a service level (None when it never did)."""
    stamps = [t for t in (order.response_breached_at, order.resolution_breached_at) if t is not None]
    return min(stamps) if stamps else None


def explain_breach(session: Session, order_id: int, reason: Any, *, actor: Actor | None,
                   clock: Clock | None = None) -> WorkOrderDelay:
    """Record why order ``order_id`` breached its service level."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "workorder.record")
    order = load(session, order_id, who)
    ensure_not_frozen(order, "give a reason for delay")
    breached = first_breach(order)
    if breached is None:
        raise InvalidInput(N_("reason: work order %(order)s has not breached its service level; a delay "
                              "reason is given on hold, or after a breach"), order=code_of(order))
    reason = REASON("reason", reason).strip()
    now = utc_now(clock)
    row = WorkOrderDelay(work_order_id=order.id, kind="sla_breach", reason=reason, started_at=breached,
                         recorded_by_id=who.user_id, recorded_by=who.username[:100], recorded_at=now)
    session.add(row)
    touch(order, now)
    system_note(session, order, f"Reason for the SLA breach: {reason}", who, now)
    session.flush()
    audit.record(session, actor=who, action="workorder.delay_reason", entity="work_order", entity_id=order.id,
                 after={"delay_id": row.id, "kind": row.kind, "reason": reason}, clock=clock)
    return row


def of_orders(session: Session, order_ids: Iterable[int]) -> dict[int, list[WorkOrderDelay]]:
    """Return the delays of each of ``order_ids`` that has some, oldest first (the caller checked
    the orders may be seen)."""
    wanted, out = list(dict.fromkeys(order_ids)), {}
    for start in range(0, len(wanted), 500):
        for row in session.scalars(select(WorkOrderDelay).where(
                WorkOrderDelay.work_order_id.in_(wanted[start:start + 500]))
                .order_by(WorkOrderDelay.started_at, WorkOrderDelay.id)):
            out.setdefault(row.work_order_id, []).append(row)
    return out


def may_explain(order: WorkOrder, who: Actor) -> bool:
    """Return True when ``who`` may give a breach reason on ``order`` now."""
    return can(who, "workorder.record") and first_breach(order) is not None and not is_frozen(order)
