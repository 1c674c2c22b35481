"""A requisition that becomes a work order.

The assigned department's staff (``requisition.handle`` and ``workorder.create``) may open a
corrective work order from an approved requisition or one in execution, once: the order takes
the requisition's title, description and priority, belongs to the assigned department (the one
doing the work) and is due at the end of the requisition's due date. The requisition keeps the
order (``work_order_id``) and the order's page names the requisition. A ``work_order``
movement and an audit row record it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy.orm import Session

from wardlink.hub.db.models import Requisition, WorkOrder
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people.permissions import can, require
from wardlink.hub.services.requisitions.flow import RequisitionConflict, check_side, may_act
from wardlink.hub.services.requisitions.register import get_requisition, movement, site_zone
from wardlink.clock import Clock

#: The states a requisition may become a work order in.
CONVERTIBLE_STATES = ("approved", "in_execution")


def can_convert(req: Requisition, who: Actor) -> bool:
    """Return True when ``who`` may make a work order of ``req`` now."""
    return (req.work_order_id is None and req.status in CONVERTIBLE_STATES and can(who, "workorder.create")
            and may_act(who, req, "assigned_staff"))


def to_work_order(session: Session, requisition_id: int, *, actor: Actor | None,
                  clock: Clock | None = None) -> WorkOrder:
    """Open a corrective work order from a requisition and link them; return the order."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    req = get_requisition(session, requisition_id, actor=who)
    if req.work_order_id is not None:
        raise RequisitionConflict(N_("action: requisition %(code)s already became work order %(order)s"), code=req.code,
                                  order=req.work_order.code if req.work_order else req.work_order_id)
    if req.status not in CONVERTIBLE_STATES:
        raise RequisitionConflict(N_("action: requisition %(code)s can become a work order only once approved or "
                                     "in execution, not while it is %(state)s"), code=req.code, state=Term(req.status))
    require(who, "workorder.create")
    check_side(who, req, "assigned_staff", N_("make a work order of"))
    zone = site_zone(session, req.assigned_department_id)
    due = datetime.combine(req.due_on + timedelta(days=1), time(0, 0), zone)
    order = workorders.create_work_order(
        session, {"kind": "corrective", "title": f"{req.code}: {req.title}"[:300],
                  "description": req.description, "priority": req.priority,
                  "department_id": req.assigned_department_id, "due_at": due.isoformat()},
        actor=who, clock=clock, source="request")
    req.work_order_id = order.id
    req.updated_at = utc_now(clock)
    session.flush()
    movement(session, req, action="work_order", from_role="assigned_staff", to_role="assigned_staff",
             from_status=req.status, remarks=f"Work order {order.code}", who=who, clock=clock)
    audit.record(session, actor=who, action="requisition.work_order", entity="requisition", entity_id=req.id,
                 before={"work_order_id": None}, after={"work_order_id": order.id, "work_order": order.code},
                 clock=clock)
    return order
