"""The register of requisitions: raise one, list, read.

A requisition goes from a requesting department (the requester's side) to an assigned
department that does the work. Its code is ``REQ-<year>-<serial>``, the serial counting from 1
in each local year of the site. The due date is a local date of the site of the assigned
department, included: a requisition is overdue from the next day while it is still open.

Who sees what: a person limited to a department sees the requisitions their department raised
and those assigned to it; everyone else sees all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Department, Requisition, RequisitionMovement
from wardlink.hub.db.models.requisitions import REQUISITION_STATES
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import WORK_ORDER_PRIORITIES
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.local_time import department_zone, hospital_zone
from wardlink.hub.services.people.permissions import can, department_scope, require, require_department
from wardlink.hub.services.validate import MAX_ID, choice, optional_date, optional_id, parse_fields, text
from wardlink.clock import Clock

#: The states a requisition is finished in: nothing more is expected of anyone.
FINISHED_STATES = ("rejected", "closed")
#: The states in which work is still owed (an overdue requisition in one of them escalates).
OWED_STATES = ("submitted", "received", "in_review", "approved", "in_execution")
#: The status filters of a list: a state, ``open`` (not finished) or ``all``.
STATUS_FILTERS = ("open", *REQUISITION_STATES, "all")
#: Most tries at a free serial when two requisitions are raised at once.
_CODE_TRIES = 5


def _required_date(name: str, value: Any) -> date:
    day = optional_date(name, value)
    if day is None:
        raise InvalidInput(N_("%(field)s: is required (a date as YYYY-MM-DD)"), field=name)
    return day


def _required_id(name: str, value: Any) -> int:
    found = optional_id(name, value)
    if found is None:
        raise InvalidInput(N_("%(field)s: is required (a department)"), field=name)
    return found


#: Every field of a new requisition and how to parse it.
FIELDS = {
    "title": text(200, required=True),
    "description": text(5000),
    "priority": choice(WORK_ORDER_PRIORITIES),
    "requesting_department_id": optional_id,
    "assigned_department_id": _required_id,
    "due_on": _required_date,
}
SNAPSHOT_FIELDS = ("code", "title", "description", "priority", "status", "requesting_department_id",
                   "requested_by_id", "assigned_department_id", "due_on", "work_order_id")


def snapshot(req: Requisition) -> dict[str, Any]:
    """Return the stored fields of ``req`` by name (for audit rows)."""
    return {name: getattr(req, name) for name in SNAPSHOT_FIELDS}


def site_zone(session: Session, department_id: int | None) -> ZoneInfo:
    """Return the zone a requisition's dates are local to: its assigned department's site's."""
    return department_zone(session, department_id) or hospital_zone(session)


def today(session: Session, clock: Clock, department_id: int | None = None) -> date:
    """Return the local date now at the site of ``department_id`` (the hospital's when None)."""
    return utc_now(clock).astimezone(site_zone(session, department_id)).date()


def is_overdue(req: Requisition, on: date) -> bool:
    """Return True when ``req`` still owes work after its due date on the local date ``on``."""
    return req.status not in FINISHED_STATES and req.status != "delivered" and on > req.due_on


def visible(stmt: Select, who: Actor) -> Select:
    """Limit ``stmt`` (over :class:`Requisition`) to what ``who`` may see."""
    scope = department_scope(who)
    if scope is None:
        return stmt
    return stmt.where(or_(Requisition.requesting_department_id == scope,
                          Requisition.assigned_department_id == scope))


def requisition_query(session: Session, *, actor: Actor | None, clock: Clock | None = None,
                      status: str = "open", department_id: Any = None, overdue: bool = False,
                      q: str | None = None) -> Select:
    """Return the query of the requisitions a list shows: ``status`` (a state, ``open`` or
    ``all``), ``department_id`` (raised by or assigned to it), only ``overdue`` ones, text ``q``
    in the code or title; oldest due first."""
    who = resolve_actor(actor)
    require(who, "requisition.view")
    choice(STATUS_FILTERS)("status", status)
    stmt = visible(select(Requisition), who)
    if status == "open":
        stmt = stmt.where(Requisition.status.not_in(FINISHED_STATES))
    elif status != "all":
        stmt = stmt.where(Requisition.status == status)
    dept = optional_id("department_id", department_id)
    if dept is not None:
        stmt = stmt.where(or_(Requisition.requesting_department_id == dept,
                              Requisition.assigned_department_id == dept))
    if overdue:
        day = today(session, resolve_clock(clock))
        stmt = stmt.where(Requisition.status.in_(OWED_STATES), Requisition.due_on < day)
    if q and q.strip():
        term = f"%{q.strip()[:100]}%"
        stmt = stmt.where(or_(Requisition.code.ilike(term), Requisition.title.ilike(term)))
    return stmt.order_by(Requisition.due_on, Requisition.id)


def list_requisitions(session: Session, *, actor: Actor | None, clock: Clock | None = None, page: int = 1,
                      per_page: int = 50, **filters: Any) -> Page[Requisition]:
    """Return one page of the requisitions the actor may see (see :func:`requisition_query`)."""
    stmt = requisition_query(session, actor=actor, clock=clock, **filters).options(
        selectinload(Requisition.requesting_department), selectinload(Requisition.assigned_department),
        selectinload(Requisition.requested_by))
    return paginate(session, stmt, page, per_page)


def get_requisition(session: Session, requisition_id: int, *, actor: Actor | None) -> Requisition:
    """Return requisition ``requisition_id`` if the actor may see it; otherwise :class:`NotFound`."""
    who = resolve_actor(actor)
    require(who, "requisition.view")
    found = None
    if isinstance(requisition_id, int) and 1 <= requisition_id <= MAX_ID:
        found = session.scalar(visible(select(Requisition).where(Requisition.id == requisition_id), who))
    if found is None:
        raise NotFound(N_("requisition %(id)s does not exist"), id=requisition_id)
    return found


def find_by_code(session: Session, code: str, *, actor: Actor | None) -> Requisition:
    """Return the requisition with ``code`` (any case) if the actor may see it."""
    who = resolve_actor(actor)
    require(who, "requisition.view")
    found = session.scalar(visible(select(Requisition).where(Requisition.code == code.strip().upper()[:32]), who))
    if found is None:
        raise NotFound(N_("requisition %(code)r does not exist"), code=code)
    return found


def for_work_order(session: Session, order_id: int, *, actor: Actor | None) -> Requisition | None:
    """Return the requisition work order ``order_id`` was made from, if the actor may see it."""
    who = resolve_actor(actor)
    if not can(who, "requisition.view"):
        return None
    return session.scalar(visible(select(Requisition).where(Requisition.work_order_id == order_id), who))


def _department(session: Session, name: str, department_id: int) -> Department:
    found = session.get(Department, department_id)
    if found is None:
        raise InvalidInput(N_("%(field)s: no department %(id)s"), field=name, id=department_id)
    return found


def _next_serial(session: Session, year: int) -> int:
    return (session.scalar(select(func.max(Requisition.serial)).where(Requisition.year == year)) or 0) + 1


def movement(session: Session, req: Requisition, *, action: str, from_role: str, to_role: str,
             from_status: str, remarks: str, who: Actor, clock: Clock) -> RequisitionMovement:
    """Append one movement row of ``req`` (internal: the caller checked who may do it)."""
    row = RequisitionMovement(requisition_id=req.id, action=action, from_role=from_role, to_role=to_role,
                              from_status=from_status, to_status=req.status, remarks=remarks, by_id=who.user_id,
                              by_name=who.username[:100], at=utc_now(clock))
    session.add(row)
    session.flush()
    session.expire(req, ["movements"])
    return row


def create_requisition(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                       clock: Clock | None = None) -> Requisition:
    """Raise a requisition from ``data`` (:data:`FIELDS`); it starts ``submitted`` with its first
    movement, requester to the assigned department's staff."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "requisition.request")
    raw = dict(data)
    if raw.get("priority") in (None, ""):
        raw["priority"] = "medium"
    fields = parse_fields(FIELDS, raw, partial=False)
    if fields["requesting_department_id"] is None:
        fields["requesting_department_id"] = who.department_id
    if fields["requesting_department_id"] is None:
        raise InvalidInput(N_("requesting_department_id: is required (the department asking for the work)"))
    _department(session, "requesting_department_id", fields["requesting_department_id"])
    _department(session, "assigned_department_id", fields["assigned_department_id"])
    require_department(who, fields["requesting_department_id"], "the requesting department")
    if fields["assigned_department_id"] == fields["requesting_department_id"]:
        raise InvalidInput(N_("assigned_department_id: must be another department than the requesting one"))
    day = today(session, clock, fields["assigned_department_id"])
    if fields["due_on"] < day:
        raise InvalidInput(N_("due_on: must not be before today (%(today)s), got %(day)s"), today=day.isoformat(),
                           day=fields["due_on"].isoformat())
    now = utc_now(clock)
    for _try in range(_CODE_TRIES):
        serial = _next_serial(session, day.year)
        req = Requisition(code=f"REQ-{day.year}-{serial:05d}", year=day.year, serial=serial, status="submitted",
                          requested_by_id=who.user_id, created_at=now, updated_at=now, **fields)
        try:
            with session.begin_nested():
                session.add(req)
                session.flush()
            break
        except IntegrityError:
            continue  # someone took this serial in the meantime
    else:
        raise InvalidInput(N_("code: could not find a free requisition number; try again"))
    movement(session, req, action="submit", from_role="requester", to_role="assigned_staff", from_status="submitted",
             remarks="", who=who, clock=clock)
    audit.record(session, actor=who, action="requisition.create", entity="requisition", entity_id=req.id,
                 after=snapshot(req), clock=clock)
    return req
