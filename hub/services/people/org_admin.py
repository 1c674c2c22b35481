"""Changing the organisation: sites (hospitals), their departments (wards) and locations.

Names are unique per parent without case: two sites cannot share a name or code, two
departments of a site cannot, and a site has each building / floor / room once. A code left
blank is made from the name. Something still in use (a department with assets, users or
gateways; a site with departments) is not deleted: the error says what still refers to it.
Every change is audited.

Who may do what: ``site.manage`` allows changes. An actor limited to a department may rename
that department and manage its locations; adding, changing or deleting sites, and adding or
deleting departments, needs an actor who is not limited (an administrator).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Department, Location, Site
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, Message, PermissionDenied
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.people.org_lookup import (DEPARTMENT_FIELDS, LOCATION_FIELDS, SITE_FIELDS, code_from,
                                                     department_snapshot, get_department, get_location, get_site,
                                                     location_snapshot, references, server_zone, site_snapshot,
                                                     taken)
from wardlink.hub.services.people.permissions import can, department_scope, require, require_department
from wardlink.hub.services.validate import parse_fields
from wardlink.clock import Clock


def _unscoped(who: Actor, what: str) -> None:
    require(who, "site.manage")
    if department_scope(who) is not None:
        raise PermissionDenied(N_("only an administrator may %(what)s (user '%(username)s' is limited to a "
                                  "department)"), what=Message(what), username=who.username)


def _code_or_name(fields: dict[str, Any], what: str, in_use) -> str:
    """Return the code given, or one made from the name that ``in_use(code)`` says is free
    (``IC``, then ``IC-2``, ``IC-3``...)."""
    if fields.get("code"):
        return fields["code"]
    made = code_from(fields["name"])
    if not made:
        raise InvalidInput(N_("code: give the %(what)s a code (letters and digits), as its name has none to make it "
                              "from"), what=Message(what))
    code, n = made, 2
    while in_use(code):
        code, n = f"{made[:28]}-{n}", n + 1
    return code


# ------------------------------------------------------------------ sites


def _check_site(session: Session, name: str, code: str, except_id: int | None) -> None:
    if (other := taken(session, Site, Site.name, name, except_id=except_id)) is not None:
        raise InvalidInput(N_("name: a site named '%(name)s' already exists"), name=other.name)
    if (other := taken(session, Site, Site.code, code, except_id=except_id)) is not None:
        raise InvalidInput(N_("code: site code '%(code)s' is already used by '%(name)s'"),
                           code=other.code, name=other.name)


def create_site(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                clock: Clock | None = None) -> Site:
    """Add a site (name, optional code, time zone: the server's when not given); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    _unscoped(who, N_("add sites"))
    fields = parse_fields(SITE_FIELDS, {"timezone": server_zone(), **data}, partial=False)
    code = _code_or_name(fields, N_("site"), lambda c: taken(session, Site, Site.code, c) is not None)
    _check_site(session, fields["name"], code, None)
    site = Site(code=code, name=fields["name"], timezone=fields["timezone"], language=fields.get("language"),
                created_at=utc_now(clock))
    session.add(site)
    session.flush()
    audit.record(session, actor=who, action="site.create", entity="site", entity_id=site.code,
                 after=site_snapshot(site), clock=clock)
    return site


def update_site(session: Session, site_id: int, changes: Mapping[str, Any], *, actor: Actor | None,
                clock: Clock | None = None) -> Site:
    """Rename a site, change its code or time zone; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    _unscoped(who, N_("change sites"))
    site = get_site(session, site_id)
    fields = parse_fields(SITE_FIELDS, changes, partial=True)
    if "code" in fields and not fields["code"]:
        raise InvalidInput(N_("code: is required"))
    before = site_snapshot(site)
    _check_site(session, fields.get("name", site.name), fields.get("code", site.code), site.id)
    for key, value in fields.items():
        setattr(site, key, value)
    old, new = audit.changes(before, site_snapshot(site))
    if new:
        session.flush()
        audit.record(session, actor=who, action="site.update", entity="site", entity_id=site.code,
                     before=old, after=new, clock=clock)
    return site


def delete_site(session: Session, site_id: int, *, actor: Actor | None, clock: Clock | None = None) -> None:
    """Delete a site nothing refers to any more; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    _unscoped(who, N_("delete sites"))
    site = get_site(session, site_id)
    uses = references(session, "sites", site.id)
    if uses:
        raise InvalidInput(N_("site '%(name)s' still has %(choices)s; delete or move them first"),
                           name=site.name, choices=', '.join(uses))
    before = site_snapshot(site)
    session.delete(site)
    session.flush()
    audit.record(session, actor=who, action="site.delete", entity="site", entity_id=before["code"],
                 before=before, clock=clock)


# ------------------------------------------------------------------ departments


def _check_department(session: Session, site: Site, name: str, code: str, except_id: int | None) -> None:
    parent = Department.site_id == site.id
    if (other := taken(session, Department, Department.name, name, parent=parent, except_id=except_id)):
        raise InvalidInput(N_("name: %(name)s already has a department named '%(name2)s'"),
                           name=site.name, name2=other.name)
    if (other := taken(session, Department, Department.code, code, parent=parent, except_id=except_id)):
        raise InvalidInput(N_("code: %(name)s already has department code '%(code)s' (%(name2)s)"),
                           name=site.name, code=other.code, name2=other.name)


def create_department(session: Session, site_id: int, data: Mapping[str, Any], *, actor: Actor | None,
                      clock: Clock | None = None) -> Department:
    """Add a department (ward) to a site: name and optional code; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    _unscoped(who, N_("add departments"))
    site = get_site(session, site_id)
    fields = parse_fields(DEPARTMENT_FIELDS, data, partial=False)
    code = _code_or_name(fields, N_("department"), lambda c: taken(
        session, Department, Department.code, c, parent=Department.site_id == site.id) is not None)
    _check_department(session, site, fields["name"], code, None)
    dept = Department(site_id=site.id, code=code, name=fields["name"], created_at=utc_now(clock))
    session.add(dept)
    session.flush()
    audit.record(session, actor=who, action="department.create", entity="department",
                 entity_id=f"{site.code}/{code}", after=department_snapshot(dept), clock=clock)
    return dept


def update_department(session: Session, department_id: int, changes: Mapping[str, Any], *,
                      actor: Actor | None, clock: Clock | None = None) -> Department:
    """Rename a department or change its code (a manager: only their own); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "site.manage")
    dept = get_department(session, department_id)
    require_department(who, dept.id, Message(N_("department '%(name)s'"), name=dept.name))
    fields = parse_fields(DEPARTMENT_FIELDS, changes, partial=True)
    if "code" in fields and not fields["code"]:
        raise InvalidInput(N_("code: is required"))
    before = department_snapshot(dept)
    _check_department(session, dept.site, fields.get("name", dept.name), fields.get("code", dept.code), dept.id)
    for key, value in fields.items():
        setattr(dept, key, value)
    old, new = audit.changes(before, department_snapshot(dept))
    if new:
        session.flush()
        audit.record(session, actor=who, action="department.update", entity="department",
                     entity_id=f"{dept.site.code}/{dept.code}", before=old, after=new, clock=clock)
    return dept


def delete_department(session: Session, department_id: int, *, actor: Actor | None,
                      clock: Clock | None = None) -> None:
    """Delete a department nothing refers to any more; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    _unscoped(who, N_("delete departments"))
    dept = get_department(session, department_id)
    uses = references(session, "departments", dept.id)
    if uses:
        raise InvalidInput(N_("department '%(name)s' is still used by %(choices)s; move them to another department "
                              "first"), name=dept.name, choices=', '.join(uses))
    before, entity_id = department_snapshot(dept), f"{dept.site.code}/{dept.code}"
    session.delete(dept)
    session.flush()
    audit.record(session, actor=who, action="department.delete", entity="department", entity_id=entity_id,
                 before=before, clock=clock)


# ------------------------------------------------------------------ locations


def _place(session: Session, who: Actor, site: Site, fields: dict[str, Any], except_id: int | None) -> None:
    """Check a location's department (of the same site, the actor's own) and that the place is new."""
    dept_id = fields.get("department_id")
    if dept_id is not None:
        dept = session.get(Department, dept_id)
        if dept is None or dept.site_id != site.id:
            raise InvalidInput(N_("department_id: %(name)s has no department %(dept_id)s"),
                               name=site.name, dept_id=dept_id)
    require_department(who, dept_id, Message(N_("the location")))
    same = [loc for loc in session.scalars(select(Location).where(Location.site_id == site.id))
            if loc.id != except_id and (loc.building.lower(), loc.floor.lower(), loc.room.lower())
            == (fields["building"].lower(), fields["floor"].lower(), fields["room"].lower())]
    if same:
        raise InvalidInput(N_("room: %(name)s already has the location '%(label)s'"),
                           name=site.name, label=same[0].label)


def create_location(session: Session, site_id: int, data: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> Location:
    """Add a location (building, floor, room; optionally of a department) to a site; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "site.manage")
    site = get_site(session, site_id)
    fields = parse_fields(LOCATION_FIELDS, data, partial=False)
    _place(session, who, site, fields, None)
    loc = Location(site_id=site.id, created_at=utc_now(clock), **fields)
    session.add(loc)
    session.flush()
    audit.record(session, actor=who, action="location.create", entity="location", entity_id=loc.id,
                 after=location_snapshot(loc), clock=clock)
    return loc


def update_location(session: Session, location_id: int, changes: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> Location:
    """Change a location's building, floor, room or department; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "site.manage")
    loc = get_location(session, location_id)
    require_department(who, loc.department_id, Message(N_("location '%(label)s'"), label=loc.label))
    fields = {**{k: getattr(loc, k) for k in LOCATION_FIELDS},
              **parse_fields(LOCATION_FIELDS, changes, partial=True)}
    _place(session, who, loc.site, fields, loc.id)
    before = location_snapshot(loc)
    for key, value in fields.items():
        setattr(loc, key, value)
    session.flush()
    old, new = audit.changes(before, location_snapshot(loc))
    if new:
        audit.record(session, actor=who, action="location.update", entity="location", entity_id=loc.id,
                     before=old, after=new, clock=clock)
    return loc


def delete_location(session: Session, location_id: int, *, actor: Actor | None,
                    clock: Clock | None = None) -> None:
    """Delete a location nothing refers to any more; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "site.manage")
    loc = get_location(session, location_id)
    require_department(who, loc.department_id, Message(N_("location '%(label)s'"), label=loc.label))
    uses = references(session, "locations", loc.id)
    if uses:
        raise InvalidInput(N_("location '%(label)s' is still used by %(choices)s; move them first"),
                           label=loc.label, choices=', '.join(uses))
    before = location_snapshot(loc)
    session.delete(loc)
    session.flush()
    audit.record(session, actor=who, action="location.delete", entity="location", entity_id=before["id"],
                 before=before, clock=clock)


# ------------------------------------------------------------------ first run


def needs_setup(session: Session) -> bool:
    """Return True while the hub has no site (the first-run setup has not been done)."""
    return session.scalar(select(Site.id).limit(1)) is None


def setup_pending_for(session: Session, actor: Actor) -> bool:
    """Return True when ``actor`` should be led to the first-run setup: the hub has no site yet
    and they may create one (an administrator)."""
    return can(actor, "site.manage") and department_scope(actor) is None and needs_setup(session)


def first_run(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
              clock: Clock | None = None) -> tuple[Site, Department]:
    """Create the first site and its first department from the setup form; refused once a site exists."""
    if not needs_setup(session):
        raise InvalidInput(N_("setup: the hub has a site already; change it on the organisation page"))
    site = create_site(session, {"name": data.get("site_name"), "timezone": data.get("timezone"),
                                 "code": data.get("site_code")}, actor=actor, clock=clock)
    dept = create_department(session, site.id, {"name": data.get("department_name"),
                                                "code": data.get("department_code")}, actor=actor, clock=clock)
    return site, dept
