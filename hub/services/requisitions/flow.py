"""A requisition's flow: Submitted -> Received -> In review -> Approved / Rejected -> In
execution -> Delivered -> Closed, each step by the side it belongs to.

The sides: the **requester** (a person of the requesting department with
``requisition.request``) raises a requisition and closes it once delivered; the assigned
department's **staff** (``requisition.handle``: technicians, procurement, managers) receive it,
put it in review, start the work and deliver it; the assigned department's **manager**
(``requisition.approve``) approves or rejects it (a rejection says why). A person limited to a
department acts for a side only when it is their department; administrators act for any. Every
step writes one movement row (from which side to which, remarks, who, when) and an audit row;
a step the flow does not allow from the current state is refused with
:class:`RequisitionConflict` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from wardlink.hub.db.models import Requisition
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, Message, PermissionDenied, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.people.permissions import can, department_scope, require
from wardlink.hub.services.requisitions.register import get_requisition, movement, snapshot
from wardlink.hub.services.validate import text
from wardlink.clock import Clock

REMARKS = text(2000)


class RequisitionConflict(InvalidInput):
    """The requisition's state does not allow this step (nothing was changed)."""


@dataclass(frozen=True)
class Step:
    """One step of the flow: from which states, to which, by which side, handing to which."""

    action: str
    sources: tuple[str, ...]
    target: str
    side: str
    to_side: str
    remarks_required: bool = False


#: The flow, in order. ``side`` is who takes the step; ``to_side`` who moves next.
STEPS: dict[str, Step] = {s.action: s for s in (
    Step("receive", ("submitted",), "received", "assigned_staff", "assigned_staff"),
    Step("review", ("received",), "in_review", "assigned_staff", "assigned_manager"),
    Step("approve", ("in_review",), "approved", "assigned_manager", "assigned_staff"),
    Step("reject", ("in_review",), "rejected", "assigned_manager", "requester", remarks_required=True),
    Step("execute", ("approved",), "in_execution", "assigned_staff", "assigned_staff"),
    Step("deliver", ("in_execution",), "delivered", "assigned_staff", "requester"),
    Step("close", ("delivered",), "closed", "requester", "requester"),
)}
#: The steps as verbs in messages ("cannot deliver requisition ..."), for the catalogues.
VERBS = {"receive": N_("receive"), "review": N_("review"), "approve": N_("approve"), "reject": N_("reject"),
         "execute": N_("execute"), "deliver": N_("deliver"), "close": N_("close")}
#: The permission each side needs.
SIDE_PERMISSION = {"requester": "requisition.request", "assigned_staff": "requisition.handle",
                   "assigned_manager": "requisition.approve"}
SIDE_TEXT = {"requester": N_("the requesting department"), "assigned_staff": N_("the assigned department's staff"),
             "assigned_manager": N_("the assigned department's manager")}


def _side_department(req: Requisition, side: str) -> int:
    return req.requesting_department_id if side == "requester" else req.assigned_department_id


def may_act(who: Actor, req: Requisition, side: str) -> bool:
    """Return True when ``who`` may act for ``side`` of ``req``."""
    if not can(who, SIDE_PERMISSION[side]):
        return False
    scope = department_scope(who)
    return scope is None or scope == _side_department(req, side)


def allowed_actions(req: Requisition, who: Actor) -> list[Step]:
    """Return the steps ``who`` may take on ``req`` now, in flow order."""
    return [s for s in STEPS.values() if req.status in s.sources and may_act(who, req, s.side)]


def _check(req: Requisition, step: Step, who: Actor) -> None:
    if req.status not in step.sources:
        allowed = ", ".join(s.action for s in STEPS.values() if req.status in s.sources) or "none"
        raise RequisitionConflict(N_("action: cannot %(action)s requisition %(code)s while it is %(state)s "
                                     "(allowed now: %(allowed)s)"), action=Message(VERBS[step.action]), code=req.code,
                                  state=Term(req.status), allowed=allowed)
    check_side(who, req, step.side, step.action)


def check_side(who: Actor, req: Requisition, side: str, verb: str) -> None:
    """Raise :class:`PermissionDenied` unless ``who`` may act for ``side`` of ``req``."""
    require(who, SIDE_PERMISSION[side])
    if not may_act(who, req, side):
        raise PermissionDenied(N_("only %(side)s may %(verb)s requisition %(code)s (user '%(user)s')"),
                               side=Message(SIDE_TEXT[side]), verb=Message(VERBS.get(verb, verb)), code=req.code,
                               user=who.username)


def move(session: Session, requisition_id: int, action: Any, *, remarks: Any = "", actor: Actor | None,
         clock: Clock | None = None) -> Requisition:
    """Take step ``action`` on a requisition, with ``remarks``; write its movement and audit row."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    req = get_requisition(session, requisition_id, actor=who)
    if not isinstance(action, str) or action not in STEPS:
        raise InvalidInput(N_("action: must be one of %(choices)s, got %(action)r"), choices=", ".join(STEPS),
                           action=action)
    step = STEPS[action]
    note = REMARKS("remarks", remarks)
    _check(req, step, who)
    if step.remarks_required and not note:
        raise InvalidInput(N_("remarks: say why when you %(action)s a requisition"), action=Message(VERBS[step.action]))
    before, was = snapshot(req), req.status
    req.status = step.target
    req.updated_at = utc_now(clock)
    session.flush()
    movement(session, req, action=step.action, from_role=step.side, to_role=step.to_side, from_status=was,
             remarks=note, who=who, clock=clock)
    old, new = audit.changes(before, snapshot(req))
    audit.record(session, actor=who, action=f"requisition.{step.action}", entity="requisition", entity_id=req.id,
                 before=old, after={**new, "remarks": note}, clock=clock)
    return req
