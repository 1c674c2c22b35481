"""Cylinder movements: each one append-only row that sets the cylinder's status and place.

Which movement a cylinder may take depends on its status, and what it leaves it in is one
table (:data:`RULES`), not a chain of branches:

- *filled in* (from empty, in transit or quarantined): the cylinder arrives full at a
  department (and one of its storage places); status filled.
- *empty out* (from filled or in use): the empty cylinder leaves its department for refilling;
  status empty, no place; its capacity counts into the consumption of the department it left.
- *transfer*: to another department or storage place, status kept; without a destination the
  cylinder is on its way (in transit) until a transfer with one lands it in the status it had.
- *in use* (from filled): connected where it is.
- *quarantine* (from anything but quarantined): set aside where it is, with the reason in the
  notes; it comes back by being filled in.

Anything else is refused with :class:`MoveRefused` (the API's 409), nothing written. Each
movement locks the cylinder's row first, so two people scanning the same cylinder at once are
judged one after the other. Someone limited to a department records movements of cylinders at
their department, away (not at any), or coming to it. Audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Cylinder, CylinderMovement, Department, GasStorageArea
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import CYLINDER_MOVEMENT_KINDS
from wardlink.hub.errors import InvalidInput, PermissionDenied, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.oxygen import cylinders as register
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.local_time import department_zone, first_site_zone
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.validate import choice, optional_id, text
from wardlink.clock import Clock

NOTES = text(2000)


class MoveRefused(InvalidInput):
    """A movement the cylinder's status or place does not allow (nothing was written)."""


@dataclass(frozen=True)
class Rule:
    """A kind of movement: the statuses it may start from, the status it leaves (None: the one
    the cylinder had), whether it takes a destination (``required``, ``optional``, ``none``),
    whether the cylinder leaves its place, and whether the notes must say why."""

    kind: str
    sources: tuple[str, ...]
    target: str | None
    destination: str
    leaves: bool = False
    needs_notes: bool = False


RULES: dict[str, Rule] = {rule.kind: rule for rule in (
    Rule("filled_in", ("empty", "in_transit", "quarantined"), "filled", "required"),
    Rule("empty_out", ("filled", "in_use"), "empty", "none", leaves=True),
    Rule("transfer", ("filled", "in_use", "empty", "quarantined", "in_transit"), None, "optional"),
    Rule("in_use", ("filled",), "in_use", "none"),
    Rule("quarantine", ("filled", "in_use", "empty", "in_transit"), "quarantined", "none", needs_notes=True),
)}
assert tuple(RULES) == CYLINDER_MOVEMENT_KINDS


def allowed(cylinder: Cylinder) -> list[str]:
    """Return the kinds of movement the cylinder may take now, in the table's order."""
    return [r.kind for r in RULES.values() if cylinder.status in r.sources]


def _refuse(cylinder: Cylinder, kind: str) -> MoveRefused:
    return MoveRefused(N_("kind: cylinder %(tag)s is %(status)s, so it cannot be recorded as %(kind)s "
                          "(possible now: %(allowed)s)"), tag=cylinder.tag, status=Term(cylinder.status),
                       kind=Term(kind), allowed=", ".join(allowed(cylinder)) or "-")


def _status_before_dispatch(session: Session, cylinder: Cylinder) -> str:
    """Return the status the cylinder had when it was sent on its way (filled when unknown)."""
    last = session.scalar(select(CylinderMovement.status_before)
                          .where(CylinderMovement.cylinder_id == cylinder.id,
                                 CylinderMovement.status_after == "in_transit")
                          .order_by(CylinderMovement.id.desc()).limit(1))
    return last or "filled"


def _local_day(session: Session, department_id: int | None, clock: Clock) -> date:
    zone = department_zone(session, department_id) or first_site_zone(session)
    return utc_now(clock).astimezone(zone).date()


def _check_scope(who: Actor, cylinder: Cylinder, to_department: Department | None) -> None:
    scope = department_scope(who)
    if scope is None or cylinder.department_id in (None, scope) or (to_department and to_department.id == scope):
        return
    raise PermissionDenied(N_("cylinder %(tag)s is at another department than user '%(user)s'"), tag=cylinder.tag,
                           user=who.username)


def _destination(session: Session, who: Actor, rule: Rule, cylinder: Cylinder, department_id: Any,
                 area_id: Any) -> tuple[Department | None, GasStorageArea | None]:
    department_id = optional_id("to_department_id", department_id)
    area_id = optional_id("to_area_id", area_id)
    given = department_id is not None or area_id is not None
    if rule.destination == "none":
        if given:
            raise InvalidInput(N_("to_department_id: %(kind)s takes no destination"), kind=Term(rule.kind))
        return None, None
    if not given:
        if rule.destination == "required":
            raise InvalidInput(N_("to_department_id: say where the cylinder goes (a department or a storage place)"))
        if cylinder.status == "in_transit":
            raise _refuse(cylinder, rule.kind)  # already on its way: a transfer must say where it lands
        return None, None
    department, area = register.place(session, department_id, area_id)
    if rule.kind == "transfer" and cylinder.department_id == department.id and \
            cylinder.storage_area_id == (area.id if area else None):
        raise MoveRefused(N_("to_department_id: cylinder %(tag)s is already there"), tag=cylinder.tag)
    return department, area


def record(session: Session, tag: Any, *, kind: Any, to_department_id: Any = None, to_area_id: Any = None,
           notes: Any = "", actor: Actor | None, clock: Clock | None = None) -> CylinderMovement:
    """Record a movement of the cylinder tagged ``tag``; refused with :class:`MoveRefused`
    when its status does not allow it. Audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "oxygen.move")
    rule = RULES[choice(CYLINDER_MOVEMENT_KINDS)("kind", kind)]
    cylinder = register.get_cylinder(session, tag, actor=who, for_update=True)
    if cylinder.status not in rule.sources:
        raise _refuse(cylinder, rule.kind)
    remark = NOTES("notes", notes)
    if rule.needs_notes and not remark:
        raise InvalidInput(N_("notes: say why the cylinder is set aside"))
    department, area = _destination(session, who, rule, cylinder, to_department_id, to_area_id)
    _check_scope(who, cylinder, department)
    after = rule.target or (_status_before_dispatch(session, cylinder) if cylinder.status == "in_transit"
                            else cylinder.status)
    if rule.kind == "transfer" and department is None:
        after = "in_transit"
    row = CylinderMovement(
        cylinder_id=cylinder.id, kind=rule.kind, status_before=cylinder.status, status_after=after,
        from_department_id=cylinder.department_id, from_area_id=cylinder.storage_area_id,
        to_department_id=department.id if department else None, to_area_id=area.id if area else None,
        volume_l=cylinder.capacity_l, moved_at=utc_now(clock), notes=remark, user_id=who.user_id,
        username=who.username[:100],
        local_day=_local_day(session, cylinder.department_id or (department.id if department else None), clock))
    session.add(row)
    cylinder.status = after
    if department is not None or rule.leaves or after == "in_transit":
        cylinder.department_id = department.id if department else None
        cylinder.storage_area_id = area.id if area else None
    cylinder.updated_at = row.moved_at
    session.flush()
    audit.record(session, actor=who, action=f"cylinder.{rule.kind}", entity="cylinder", entity_id=cylinder.tag,
                 after=movement_snapshot(row), clock=clock)
    return row


def movement_snapshot(row: CylinderMovement) -> dict[str, Any]:
    """Return a movement's fields (for audit rows and the API)."""
    return {"id": row.id, "cylinder_id": row.cylinder_id, "kind": row.kind, "status_before": row.status_before,
            "status_after": row.status_after, "from_department_id": row.from_department_id,
            "from_area_id": row.from_area_id, "to_department_id": row.to_department_id,
            "to_area_id": row.to_area_id, "volume_l": number(row.volume_l), "moved_at": row.moved_at,
            "local_day": row.local_day.isoformat(), "notes": row.notes, "user": row.username}


def _loaded(stmt):
    return stmt.options(selectinload(CylinderMovement.cylinder), selectinload(CylinderMovement.from_department),
                        selectinload(CylinderMovement.to_department), selectinload(CylinderMovement.from_area),
                        selectinload(CylinderMovement.to_area))


def history(session: Session, tag: Any, *, actor: Actor | None, page: int = 1,
            per_page: int = 50) -> Page[CylinderMovement]:
    """Return one page of a cylinder's movements, last recorded first."""
    cylinder = register.get_cylinder(session, tag, actor=actor)
    stmt = _loaded(select(CylinderMovement).where(CylinderMovement.cylinder_id == cylinder.id))
    return paginate(session, stmt.order_by(CylinderMovement.id.desc()), page, per_page)


def list_movements(session: Session, *, actor: Actor | None, department_id: int | None = None,
                   kind: str | None = None, page: int = 1, per_page: int = 50) -> Page[CylinderMovement]:
    """Return one page of every cylinder's movements, last recorded first; ``department_id``:
    those from or to a department (someone limited to a department sees only theirs)."""
    who = resolve_actor(actor)
    require(who, "oxygen.view")
    stmt = _loaded(select(CylinderMovement))
    for wanted in (department_scope(who), department_id):
        if wanted is not None:
            stmt = stmt.where(or_(CylinderMovement.from_department_id == wanted,
                                  CylinderMovement.to_department_id == wanted))
    if kind:
        stmt = stmt.where(CylinderMovement.kind == choice(CYLINDER_MOVEMENT_KINDS)("kind", kind))
    return paginate(session, stmt.order_by(CylinderMovement.id.desc()), page, per_page)
