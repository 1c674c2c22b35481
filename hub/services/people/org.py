"""Sites, departments and locations."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Department, Location, Site
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import text
from wardlink.clock import Clock

CODE = text(32, required=True)
NAME = text(200, required=True)


def ensure_site(session: Session, *, code: str, name: str, timezone: str = "UTC",
                actor: Actor | None, clock: Clock | None = None) -> Site:
    """Return the site with ``code``, creating it first if needed."""
    site = session.scalar(select(Site).where(Site.code == CODE("code", code)))
    if site is not None:
        return site
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "site.manage")
    site = Site(code=CODE("code", code), name=NAME("name", name),
                timezone=text(64, required=True)("timezone", timezone), created_at=utc_now(clock))
    session.add(site)
    session.flush()
    audit.record(session, actor=who, action="site.create", entity="site", entity_id=site.code,
                 after={"code": site.code, "name": site.name, "timezone": site.timezone}, clock=clock)
    return site


def ensure_department(session: Session, site: Site, *, code: str, name: str,
                      actor: Actor | None, clock: Clock | None = None) -> Department:
    """Return ``site``'s department with ``code``, creating it first if needed."""
    code = CODE("code", code)
    dept = session.scalar(select(Department).where(Department.site_id == site.id,
                                                   Department.code == code))
    if dept is not None:
        return dept
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "site.manage")
    dept = Department(site_id=site.id, code=code, name=NAME("name", name), created_at=utc_now(clock))
    session.add(dept)
    session.flush()
    audit.record(session, actor=who, action="department.create", entity="department",
                 entity_id=f"{site.code}/{code}", after={"name": dept.name}, clock=clock)
    return dept


def ensure_location(session: Session, site: Site, *, building: str, floor: str = "",
                    room: str = "", department: Department | None = None,
                    actor: Actor | None, clock: Clock | None = None) -> Location:
    """Return ``site``'s location at building/floor/room, creating it first if needed."""
    building = text(100, required=True)("building", building)
    floor, room = text(32)("floor", floor), text(100)("room", room)
    loc = session.scalar(select(Location).where(Location.site_id == site.id,
                                                Location.building == building,
                                                Location.floor == floor, Location.room == room))
    if loc is not None:
        return loc
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "site.manage")
    loc = Location(site_id=site.id, building=building, floor=floor, room=room,
                   department_id=department.id if department else None, created_at=utc_now(clock))
    session.add(loc)
    session.flush()
    audit.record(session, actor=who, action="location.create", entity="location", entity_id=loc.id,
                 after={"site": site.code, "label": loc.label}, clock=clock)
    return loc


def list_sites(session: Session) -> list[Site]:
    """Return every site, by code."""
    return list(session.scalars(select(Site).order_by(Site.code)))


def list_departments(session: Session) -> list[Department]:
    """Return every department, by site and name."""
    return list(session.scalars(select(Department).join(Site).order_by(Site.code, Department.name)))


def list_locations(session: Session) -> list[Location]:
    """Return every location, by building, floor and room."""
    return list(session.scalars(select(Location).order_by(Location.building, Location.floor,
                                                          Location.room)))


def get_department(session: Session, department_id: int) -> Department:
    """Return the department with ``department_id`` or raise :class:`NotFound`."""
    dept = session.get(Department, department_id)
    if dept is None:
        raise NotFound(N_("department %(department_id)s does not exist"), department_id=department_id)
    return dept


def check_refs(session: Session, department_id: int | None, location_id: int | None) -> None:
    """Raise :class:`InvalidInput` when a referenced department or location does not exist."""
    if department_id is not None and session.get(Department, department_id) is None:
        raise InvalidInput(N_("department_id: no department %(department_id)s"), department_id=department_id)
    if location_id is not None and session.get(Location, location_id) is None:
        raise InvalidInput(N_("location_id: no location %(location_id)s"), location_id=location_id)
