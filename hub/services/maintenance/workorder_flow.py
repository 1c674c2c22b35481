"""The work-order state machine: one table of every allowed transition and who may make it.

::

    pending --assign--> assigned --start--> in_progress --complete--> completed --close--> closed
       |                   |                 ^      |                     |
       +--cancel--+--------+         resume  |      | hold                | return (rework)
                  v                          |      v                     v
              cancelled                      on_hold               in_progress

- Managers assign, return completed work for rework, approve and close (with an electronic
  signature), and cancel orders nobody has started.
- The assignee (technician or vendor) starts, holds, resumes and completes. Other technicians
  cannot move someone else's order. Administrators may act for the assignee; managers may
  not (they hold ``workorder.assign`` but not ``workorder.work``): they reassign the order
  instead, so whoever approves and closes the work is never the one who recorded doing it.
- Technicians cannot close. Closed and cancelled orders are frozen.

Any (from, to) pair missing from :data:`TRANSITIONS` is refused with
:class:`~wardlink.hub.services.maintenance.workorder_common.WorkOrderConflict` naming where the order can go.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import User, WorkOrder
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import SAFETY_CHECKS, WORK_ORDER_RESOLUTIONS, WORK_ORDER_STATES, label
from wardlink.hub.errors import InvalidInput, Message, PermissionDenied, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.assets import status
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory import picks as stock_picks
from wardlink.hub.services.maintenance import delays, esign
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.people.permissions import PERMISSIONS, can, department_scope, require
from wardlink.hub.services.validate import choice, optional_id, text
from wardlink.hub.services.maintenance.workorder_common import (WorkOrderConflict, code_of, ensure_not_frozen, load,
                                           system_note, touch)
from wardlink.clock import Clock

#: Roles a work order can be assigned to.
ASSIGNABLE_ROLES = ("technician", "vendor")

#: Resolution categories each kind of order may be completed with.
RESOLUTIONS_BY_KIND: Mapping[str, tuple[str, ...]] = {
    "corrective": ("repaired", "part_replaced", "adjusted", "software_updated", "no_fault_found",
                   "user_error", "damage", "vendor_repair", "beyond_repair", "other"),
    "pm": ("as_planned", "repaired", "part_replaced", "adjusted", "software_updated",
           "beyond_repair", "other"),
    "inspection": ("accepted", "rejected", "other"),
    "recall": ("as_planned", "software_updated", "part_replaced", "vendor_repair", "beyond_repair",
               "other"),
}
assert {c for cats in RESOLUTIONS_BY_KIND.values() for c in cats} == set(WORK_ORDER_RESOLUTIONS)

REASON = text(300, required=True)
NOTE = text(5000)


@dataclass(frozen=True)
class Transition:
    """One allowed move of the state machine."""

    source: str
    target: str
    verb: str
    permission: str
    #: Only the assignee may make it; a holder of both the step's permission and
    #: ``workorder.assign`` (an administrator) may act for them.
    assignee_only: bool = False
    needs: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


TRANSITIONS: tuple[Transition, ...] = (
    Transition("pending", "assigned", "assign", "workorder.assign", needs=("assignee_id",),
               optional=("note",)),
    Transition("assigned", "in_progress", "start", "workorder.work", assignee_only=True,
               optional=("note",)),
    Transition("in_progress", "on_hold", "hold", "workorder.work", assignee_only=True,
               needs=("reason",)),
    Transition("on_hold", "in_progress", "resume", "workorder.work", assignee_only=True,
               optional=("note",)),
    Transition("in_progress", "completed", "complete", "workorder.work", assignee_only=True,
               needs=("resolution_category",), optional=("resolution_note", "safety_check")),
    Transition("completed", "in_progress", "return", "workorder.close", needs=("reason",)),
    Transition("completed", "closed", "close", "workorder.close", needs=("password",),
               optional=("comment",)),
    Transition("pending", "cancelled", "cancel", "workorder.cancel", needs=("reason",)),
    Transition("assigned", "cancelled", "cancel", "workorder.cancel", needs=("reason",)),
)
BY_EDGE: Mapping[tuple[str, str], Transition] = {(t.source, t.target): t for t in TRANSITIONS}
#: The steps' verbs as refusals say them ("... may complete it"), for the catalogues.
VERBS = (N_("assign"), N_("start"), N_("hold"), N_("resume"), N_("complete"), N_("return"), N_("close"),
         N_("cancel"))
assert len(BY_EDGE) == len(TRANSITIONS)
assert {s for t in TRANSITIONS for s in (t.source, t.target)} == set(WORK_ORDER_STATES)


def targets_from(state: str) -> list[str]:
    """Return the states an order in ``state`` can move to (for anyone)."""
    return [t.target for t in TRANSITIONS if t.source == state]


def roles_for(transition: Transition) -> list[str]:
    """Return the roles whose permissions allow ``transition`` (from the permission table)."""
    return [role for role, allowed in PERMISSIONS.items()
            if transition.permission in allowed and role != "system"]


def may_make(transition: Transition, order: WorkOrder, who: Actor) -> bool:
    """Return True when ``who`` may make ``transition`` on ``order`` (ignoring its inputs)."""
    if not can(who, transition.permission):
        return False
    return not transition.assignee_only or can(who, "workorder.assign") or (
        who.user_id is not None and order.assigned_to_id == who.user_id)


def available(order: WorkOrder, who: Actor) -> list[Transition]:
    """Return the transitions ``who`` may make on ``order`` now."""
    return [t for t in TRANSITIONS if t.source == order.state and may_make(t, order, who)]


def _find(order: WorkOrder, to: str) -> Transition:
    choice(WORK_ORDER_STATES)("to", to)
    transition = BY_EDGE.get((order.state, to))
    if transition is None:
        onward = targets_from(order.state)
        where = (Message(N_("from %(state)s it can go to %(onward)s"), state=Term(order.state, label(order.state)),
                         onward=Message(", ".join(f"%(s{n})s" for n in range(len(onward))),
                                        **{f"s{n}": Term(s, label(s)) for n, s in enumerate(onward)}))
                 if onward else Message(N_("%(state)s is final"), state=Term(order.state, label(order.state))))
        raise WorkOrderConflict(N_("work order %(code)s cannot go from %(state)s to %(to)s; %(where)s"),
                                code=code_of(order), state=Term(order.state, label(order.state)),
                                to=Term(to, label(to)), where=where)
    return transition


def _may_ever_reach(who: Actor, to: str) -> None:
    # Refuse before looking the order up when no transition into ``to`` is open to the role,
    # so the answer does not depend on whether the actor can see the order.
    needed = sorted({t.permission for t in TRANSITIONS if t.target == to})
    if needed and not any(can(who, permission) for permission in needed):
        require(who, needed[0])


def _check_actor(transition: Transition, order: WorkOrder, who: Actor) -> None:
    require(who, transition.permission)
    if not may_make(transition, order, who):
        assignee = order.assigned_to.username if order.assigned_to else "nobody"
        raise PermissionDenied(N_("work order %(code)s is assigned to '%(assignee)s'; only the assignee or an "
                                  "administrator may %(verb)s it; a manager can reassign it (user '%(username)s')"),
                               code=code_of(order), assignee=assignee, verb=Message(transition.verb),
                               username=who.username)


def _inputs(transition: Transition, payload: Mapping[str, Any]) -> dict[str, Any]:
    allowed = set(transition.needs) | set(transition.optional)
    unknown = sorted(set(payload) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise InvalidInput(N_("%(unknown)s: not used to %(verb)s a work order; fields: %(known)s"),
                           unknown=unknown[0], verb=Message(transition.verb), known=known)
    missing = [name for name in transition.needs if payload.get(name) in (None, "")]
    if missing:
        raise InvalidInput(N_("%(missing)s: is required to %(verb)s a work order"),
                           missing=missing[0], verb=Message(transition.verb))
    return dict(payload)


# ------------------------------------------------------------------ effects


@dataclass
class _Context:
    session: Session
    order: WorkOrder
    who: Actor
    now: datetime
    clock: Clock
    inputs: dict[str, Any]


def assignee_user(session: Session, order: WorkOrder, raw: Any) -> User:
    """Return the active technician or vendor that ``raw`` (a user id) names, fit for ``order``."""
    user_id = optional_id("assignee_id", raw)
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active:
        raise InvalidInput(N_("assignee_id: no active user %(raw)r"), raw=raw)
    if user.role not in ASSIGNABLE_ROLES:
        raise InvalidInput(N_("assignee_id: user '%(username)s' is a %(role)s; work orders go to %(choices)s users"),
                           username=user.username, role=Term(user.role), choices=' or '.join(ASSIGNABLE_ROLES))
    if not may_take(user, order.department_id):
        raise InvalidInput(N_("assignee_id: user '%(username)s' works for another department"), username=user.username)
    return user


def _assign(ctx: _Context) -> dict[str, Any]:
    user = assignee_user(ctx.session, ctx.order, ctx.inputs["assignee_id"])
    ctx.order.assigned_to_id = user.id
    ctx.order.assigned_to = user
    notices.work_assigned(ctx.session, ctx.order, clock=ctx.clock)
    return {"assigned_to": user.username}


def _start(ctx: _Context) -> dict[str, Any]:
    if ctx.order.responded_at is None:
        ctx.order.responded_at = ctx.now
    return {}


def _hold(ctx: _Context) -> dict[str, Any]:
    ctx.order.on_hold_since = ctx.now
    ctx.order.hold_reason = REASON("reason", ctx.inputs["reason"])
    delays.start_hold(ctx.session, ctx.order, ctx.order.hold_reason, ctx.who, ctx.now)
    return {"reason": ctx.order.hold_reason}


def _resume(ctx: _Context) -> dict[str, Any]:
    order = ctx.order
    held = ctx.now - order.on_hold_since if order.on_hold_since else None
    if held is not None and order.resolution_due_at is not None and order.resolution_breached_at is None:
        order.resolution_due_at += held  # the resolution clock stood still while on hold
    order.on_hold_since, order.hold_reason = None, ""
    return {"held_seconds": round(held.total_seconds()) if held else 0,
            "resolution_due_at": order.resolution_due_at}


def _complete(ctx: _Context) -> dict[str, Any]:
    order = ctx.order
    category = choice(RESOLUTIONS_BY_KIND[order.kind])("resolution_category",
                                                       ctx.inputs["resolution_category"])
    order.resolution_category = category
    order.resolution_note = NOTE("resolution_note", ctx.inputs.get("resolution_note"))
    order.completed_at = ctx.now
    check = ctx.inputs.get("safety_check")
    if check in (None, "") and status.holds_tagout(order.asset, order.id):
        raise InvalidInput(N_("safety_check: %(tag)s is tagged out by this order; record the safety check (pass or "
                              "fail) to complete it"), tag=order.asset.tag)
    order.safety_check = None if check in (None, "") else choice(SAFETY_CHECKS)("safety_check", check)
    if order.downtime_start is not None and order.downtime_end is None:
        resolved = order.alert.resolved_at if order.alert is not None else None
        order.downtime_end = resolved if resolved is not None and resolved >= order.downtime_start else ctx.now
    # The parts picked for the work leave the stock now (the picks were held for it until then).
    issued = stock_picks.issue_for_order(ctx.session, order, actor=ctx.who, clock=ctx.clock, reference=code_of(order))
    details = {"resolution_category": category, "resolution_note": order.resolution_note,
               "downtime_end": order.downtime_end, "safety_check": order.safety_check}
    return details | ({"stock_movements": [m.id for m in issued]} if issued else {})


def _return(ctx: _Context) -> dict[str, Any]:
    ctx.order.completed_at = None
    return {"reason": REASON("reason", ctx.inputs["reason"])}


def _close(ctx: _Context) -> dict[str, Any]:
    comment = NOTE("comment", ctx.inputs.get("comment"))
    signature = esign.sign(ctx.session, ctx.order, ctx.who, ctx.inputs["password"],
                           meaning=esign.MEANING_CLOSE, comment=comment, now=ctx.now, clock=ctx.clock)
    ctx.order.closed_at = ctx.now
    ctx.order.closed_by_id = signature.user_id
    released = status.release_by_work(ctx.session, ctx.order.asset, ctx.order.id, ctx.order.safety_check,
                                      who=ctx.who, now=ctx.now, clock=ctx.clock, code=code_of(ctx.order))
    if released:
        system_note(ctx.session, ctx.order, f"Tag-out of {ctx.order.asset.tag} cleared: closed with a passing "
                                            "safety check", ctx.who, ctx.now)
    return {"signed_by": signature.username, "signature_id": signature.id, "tagout_cleared": released}


def _cancel(ctx: _Context) -> dict[str, Any]:
    ctx.order.cancelled_at = ctx.now
    # Parts held for the cancelled work are free again.
    released = stock_picks.release_for_order(ctx.session, ctx.order, actor=ctx.who, clock=ctx.clock)
    details = {"reason": REASON("reason", ctx.inputs["reason"])}
    return details | ({"picks_put_back": [p.id for p in released]} if released else {})


EFFECTS: Mapping[str, Callable[[_Context], dict[str, Any]]] = {
    "assign": _assign, "start": _start, "hold": _hold, "resume": _resume, "complete": _complete,
    "return": _return, "close": _close, "cancel": _cancel,
}
assert set(EFFECTS) == {t.verb for t in TRANSITIONS}


def transition(session: Session, order_id: int, to: str, payload: Mapping[str, Any] | None = None,
               *, actor: Actor | None, clock: Clock | None = None) -> WorkOrder:
    """Move order ``order_id`` to state ``to`` with the inputs that transition needs.

    Inputs by transition: assign ``assignee_id`` (+ ``note``); hold, return and cancel
    ``reason``; complete ``resolution_category`` (+ ``resolution_note``, + ``safety_check``
    pass or fail, required when the order holds its asset's tag-out); close ``password``
    (the signer's, re-entered) (+ ``comment``). A refused signature raises
    :class:`~wardlink.hub.services.maintenance.workorder_common.SignatureRefused` after recording the failed
    attempt: commit before reporting the error so the attempt counts.
    """
    who, clock = resolve_actor(actor), resolve_clock(clock)
    _may_ever_reach(who, to)
    order = load(session, order_id, who, for_update=True)
    step = _find(order, to)
    _check_actor(step, order, who)
    inputs = _inputs(step, payload or {})
    now = utc_now(clock)
    source = order.state
    details = EFFECTS[step.verb](_Context(session, order, who, now, clock, inputs))
    if source == "on_hold":
        delays.end_holds(session, order, now)
    order.state = step.target
    touch(order, now)
    text_parts = [f"{label(source)} -> {label(step.target)} ({step.verb})"]
    for key in ("reason", "note"):
        if inputs.get(key):
            text_parts.append(f"{key}: {str(inputs[key]).strip()}")
    system_note(session, order, "; ".join(text_parts), who, now)
    session.flush()
    audit.record(session, actor=who, action=f"workorder.{step.verb}", entity="work_order",
                 entity_id=order.id, before={"state": source},
                 after={"state": step.target, **details}, clock=clock)
    notices.reporter_status(session, order, clock=clock)
    return order


def reassign(session: Session, order_id: int, assignee_id: Any, *, actor: Actor | None,
             clock: Clock | None = None) -> WorkOrder:
    """Give an order to a technician or vendor: assigns a pending order, else changes the assignee."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "workorder.assign")
    order = load(session, order_id, who, for_update=True, related=True)
    if order.state == "pending":
        return transition(session, order_id, "assigned", {"assignee_id": assignee_id}, actor=who,
                          clock=clock)
    ensure_not_frozen(order, N_("reassign it"))
    if order.state == "completed":
        raise WorkOrderConflict(N_("work order %(code)s is completed; return it for rework before giving it to "
                                   "someone else"), code=code_of(order))
    user = assignee_user(session, order, assignee_id)
    before = order.assigned_to.username if order.assigned_to else None
    if user.id == order.assigned_to_id:
        return order
    now = utc_now(clock)
    order.assigned_to_id, order.assigned_to = user.id, user
    touch(order, now)
    system_note(session, order, f"Reassigned from {before or 'nobody'} to {user.username}", who, now)
    session.flush()
    audit.record(session, actor=who, action="workorder.reassign", entity="work_order", entity_id=order.id,
                 before={"assigned_to": before}, after={"assigned_to": user.username}, clock=clock)
    notices.work_assigned(session, order, clock=clock)
    return order


def may_take(user: User, department_id: int | None) -> bool:
    """Return True when ``user`` may be given an order of ``department_id``: an active
    technician of that department or of none, or any active vendor."""
    if not user.is_active or user.role not in ASSIGNABLE_ROLES:
        return False
    scope = department_scope(Actor.for_user(user))
    return scope is None or user.role == "vendor" or scope == department_id


def assignable_users(session: Session, *, actor: Actor | None, order_id: int | None = None,
                     department_id: int | None = None) -> list[User]:
    """Return the users who may take an order, by role and name: for order ``order_id`` (one
    the actor can see), else for an order of ``department_id``, else of the actor's own
    department when they have one (all departments otherwise)."""
    who = resolve_actor(actor)
    require(who, "workorder.assign")
    if order_id is not None:
        department_id = load(session, order_id, who).department_id
    elif department_id is None:
        department_id = department_scope(who)
    users = session.scalars(select(User).where(User.role.in_(ASSIGNABLE_ROLES), User.is_active.is_(True))
                            .order_by(User.role, User.display_name, User.username))
    if order_id is None and department_id is None:
        return list(users)
    return [u for u in users if may_take(u, department_id)]
