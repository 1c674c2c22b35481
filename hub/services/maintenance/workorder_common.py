"""What every work-order service shares: who sees which orders, loading one, frozen states,
snapshots for the audit trail, system notes, and the work-order errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, false
from sqlalchemy.orm import Session, joinedload

from wardlink.hub.db.models import WorkOrder, WorkOrderNote
from wardlink.hub.db.vocab import label
from wardlink.hub.errors import InvalidInput, Message, NotFound, PermissionDenied, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.validate import MAX_ID

#: Closed and cancelled orders are part of the record: nothing on them changes any more.
FROZEN_STATES = frozenset({"closed", "cancelled"})
#: Roles that see only some orders, whatever their department: staff their own requests,
#: vendors the orders assigned to them. Everyone else sees their department's (or all).
ROW_SCOPE = {"staff": "requested_by_id", "vendor": "assigned_to_id"}


class WorkOrderConflict(InvalidInput):
    """The order's state does not allow this: a refused transition or a change to a closed order."""


class SignatureRefused(PermissionDenied):
    """An electronic signature was refused: wrong password, locked or disabled account."""


def code_of(order: WorkOrder) -> str:
    """Return the order's human reference, e.g. ``WO-000042``."""
    return order.code or f"WO-{order.id:06d}"


def scoped(stmt: Select, who: Actor) -> Select:
    """Limit a work-order query to the orders ``who`` may see."""
    column = ROW_SCOPE.get(who.role)
    if column is not None:
        if who.user_id is None:
            return stmt.where(false())
        return stmt.where(getattr(WorkOrder, column) == who.user_id)
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(WorkOrder.department_id == scope)
    return stmt


def can_see(order: WorkOrder, who: Actor) -> bool:
    """Return True when ``who`` may see ``order`` (given they may view work orders at all)."""
    column = ROW_SCOPE.get(who.role)
    if column is not None:
        return who.user_id is not None and getattr(order, column) == who.user_id
    scope = department_scope(who)
    return scope is None or order.department_id == scope


#: The order's relations that its notices and notes name: loaded with it by ``load(..., related=True)``.
_RELATED = (joinedload(WorkOrder.assigned_to), joinedload(WorkOrder.department), joinedload(WorkOrder.asset))


def load(session: Session, order_id: int, who: Actor, *, for_update: bool = False,
         related: bool = False) -> WorkOrder:
    """Return order ``order_id`` if ``who`` may see it; otherwise :class:`NotFound`.

    Orders outside the actor's scope answer exactly like missing ones, so a vendor cannot
    probe for other contractors' jobs. With ``related`` its assignee, department and asset come
    in the same statement (one round trip instead of four for a change that names them); only
    the order's row is locked ``for_update``.
    """
    require(who, "workorder.view")
    order = None
    if isinstance(order_id, int) and 1 <= order_id <= MAX_ID:
        lock = {"of": WorkOrder} if for_update else None
        order = session.get(WorkOrder, order_id, with_for_update=lock, options=_RELATED if related else None)
    if order is None or not can_see(order, who):
        raise NotFound(N_("work order %(order_id)s does not exist"), order_id=order_id)
    return order


def is_frozen(order: WorkOrder) -> bool:
    """Return True when ``order`` is closed or cancelled: part of the record, nothing changes."""
    return order.state in FROZEN_STATES


def ensure_not_frozen(order: WorkOrder, what: str) -> None:
    """Raise :class:`WorkOrderConflict` when ``order`` is closed or cancelled."""
    if is_frozen(order):
        raise WorkOrderConflict(N_("work order %(code)s is %(state)s; cannot %(what)s"),
                                code=code_of(order), state=Term(order.state, label(order.state).lower()),
                                what=Message(what))


def snapshot(order: WorkOrder) -> dict[str, Any]:
    """Return the audited fields of a work order."""
    return {
        "code": code_of(order), "kind": order.kind, "state": order.state, "priority": order.priority,
        "title": order.title, "description": order.description, "source": order.source,
        "asset": order.asset.tag if order.asset else None, "department_id": order.department_id,
        "alert_id": order.alert_id, "parent_id": order.parent_id,
        "requested_by_id": order.requested_by_id, "requester_name": order.requester_name,
        "assigned_to_id": order.assigned_to_id, "due_at": order.due_at,
        "response_due_at": order.response_due_at, "resolution_due_at": order.resolution_due_at,
        "resolution_category": order.resolution_category, "resolution_note": order.resolution_note,
        "downtime_start": order.downtime_start, "downtime_end": order.downtime_end,
    }


def system_note(session: Session, order: WorkOrder, body: str, who: Actor, now: datetime) -> WorkOrderNote:
    """Add a note written by the workflow itself (transitions, escalations) to ``order``."""
    note = WorkOrderNote(work_order_id=order.id, kind="system", author_id=who.user_id,
                         author=who.username[:100], body=body, created_at=now)
    session.add(note)
    return note


def touch(order: WorkOrder, now: datetime) -> None:
    """Mark ``order`` as changed at ``now``."""
    order.updated_at = now
