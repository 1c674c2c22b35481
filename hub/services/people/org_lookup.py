"""Finding and listing sites, departments and locations, and the values they are made of
(codes, time zones); the changes themselves are in :mod:`wardlink.hub.services.people.org_admin`.

Seeing them needs ``asset.view`` (where equipment is); a department-limited actor (see
:func:`~wardlink.hub.services.people.permissions.department_scope`) sees only their department,
its site and the department's locations.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wardlink.hub.db.base import Base
from wardlink.hub.db.models import Department, Location, Site
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import LANGUAGES, supported
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.validate import optional_id, text

_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """Return every IANA time zone name this machine knows, sorted."""
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


def server_zone() -> str:
    """Return the time zone of the machine the hub runs on (``TZ``, else /etc/localtime), or UTC."""
    names = set(zone_names())
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    target = str(Path("/etc/localtime").resolve())
    if "zoneinfo/" in target:
        candidates.append(target.split("zoneinfo/", 1)[1])
    zone = next((c for c in candidates if c in names), "UTC")
    return "UTC" if zone in ("Etc/UTC", "Etc/Universal", "Etc/Zulu", "Universal", "Zulu") else zone


def _zone(name: str, value: Any) -> str:
    zone = text(64, required=True)(name, value)
    if zone not in set(zone_names()):
        raise InvalidInput(N_("%(field)s: %(zone)r is not a known time zone; use an IANA name such as Europe/London"),
                           field=name, zone=zone)
    return zone


def _code(name: str, value: Any) -> str:
    code = text(32)(name, value)
    if code and not _CODE_RE.fullmatch(code):
        raise InvalidInput(N_("%(field)s: use letters, digits, '.', '-' and '_' only (no spaces), got %(code)r"),
                           field=name, code=code)
    return code


def code_from(name: str) -> str:
    """Return a code made from ``name``: one word in capitals ("Pharmacy" -> PHARMACY), or the
    initials of several ("Royal General Hospital" -> RGH)."""
    words = re.findall(r"[A-Za-z0-9]+", re.sub(r"['’]", "", name))
    code = words[0] if len(words) == 1 else "".join(w[0] for w in words)
    return code.upper()[:32]


def _language(name: str, value: Any) -> str | None:
    """A language the hub has (a locale code), or blank for the hub's default."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    code = value.strip() if isinstance(value, str) else value
    if supported(code) is None:
        raise InvalidInput(N_("%(field)s: must be one of %(choices)s (or blank for the hub's default), got %(value)r"),
                           field=name, choices=', '.join(LANGUAGES), value=value)
    return code


SITE_FIELDS = {"name": text(200, required=True), "code": _code, "timezone": _zone, "language": _language}
DEPARTMENT_FIELDS = {"name": text(200, required=True), "code": _code}
LOCATION_FIELDS = {"building": text(100, required=True), "floor": text(32), "room": text(100),
                   "department_id": optional_id}


def site_snapshot(site: Site) -> dict[str, Any]:
    """Return a site's fields (audit rows and the API)."""
    return {"id": site.id, "code": site.code, "name": site.name, "timezone": site.timezone,
            "language": site.language}


def department_snapshot(dept: Department) -> dict[str, Any]:
    """Return a department's fields (audit rows and the API)."""
    return {"id": dept.id, "site_id": dept.site_id, "code": dept.code, "name": dept.name}


def location_snapshot(loc: Location) -> dict[str, Any]:
    """Return a location's fields (audit rows and the API)."""
    return {"id": loc.id, "site_id": loc.site_id, "department_id": loc.department_id, "building": loc.building,
            "floor": loc.floor, "room": loc.room, "label": loc.label}


# ------------------------------------------------------------------ what an actor sees


def visible_sites(session: Session, *, actor: Actor | None) -> list[Site]:
    """Return the sites ``actor`` may see, by name."""
    who = resolve_actor(actor)
    require(who, "asset.view")
    stmt = select(Site).order_by(func.lower(Site.name))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Site.id.in_(select(Department.site_id).where(Department.id == scope)))
    return list(session.scalars(stmt))


def visible_departments(session: Session, *, actor: Actor | None, site_id: int | None = None) -> list[Department]:
    """Return the departments ``actor`` may see (of ``site_id`` when given), by site and name."""
    who = resolve_actor(actor)
    require(who, "asset.view")
    stmt = select(Department).join(Site).order_by(func.lower(Site.name), func.lower(Department.name))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Department.id == scope)
    if site_id is not None:
        stmt = stmt.where(Department.site_id == site_id)
    return list(session.scalars(stmt))


def visible_locations(session: Session, *, actor: Actor | None, site_id: int | None = None) -> list[Location]:
    """Return the locations ``actor`` may see (of ``site_id`` when given), by building, floor and room."""
    who = resolve_actor(actor)
    require(who, "asset.view")
    stmt = select(Location).order_by(Location.site_id, func.lower(Location.building), Location.floor,
                                     func.lower(Location.room))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Location.department_id == scope)
    if site_id is not None:
        stmt = stmt.where(Location.site_id == site_id)
    return list(session.scalars(stmt))


# ------------------------------------------------------------------ finding


def get_site(session: Session, site_id: int) -> Site:
    """Return site ``site_id`` or raise :class:`NotFound`."""
    site = session.get(Site, site_id) if isinstance(site_id, int) else None
    if site is None:
        raise NotFound(N_("site %(site_id)s does not exist"), site_id=site_id)
    return site


def find_site(session: Session, ref: str) -> Site:
    """Return the site named by ``ref``: its id, code or name (without case)."""
    ref = (ref or "").strip()
    if ref.isdigit() and (site := session.get(Site, int(ref))) is not None:
        return site
    found = session.scalar(select(Site).where(func.lower(Site.code) == ref.lower())) or session.scalar(
        select(Site).where(func.lower(Site.name) == ref.lower()))
    if found is None:
        known = ", ".join(s.code for s in session.scalars(select(Site).order_by(Site.code))) or "none yet"
        raise NotFound(N_("site %(ref)r does not exist (known: %(known)s)"), ref=ref, known=known)
    return found


def get_department(session: Session, department_id: int) -> Department:
    """Return department ``department_id`` or raise :class:`NotFound`."""
    dept = session.get(Department, department_id) if isinstance(department_id, int) else None
    if dept is None:
        raise NotFound(N_("department %(department_id)s does not exist"), department_id=department_id)
    return dept


def find_department(session: Session, ref: str) -> Department:
    """Return the department named by ``ref``: its id, ``SITE/CODE``, or a code or name (without
    case) that only one site has."""
    ref = (ref or "").strip()
    if ref.isdigit() and (dept := session.get(Department, int(ref))) is not None:
        return dept
    stmt = select(Department).join(Site)
    site_ref, _, key = ref.rpartition("/")
    if site_ref:
        stmt = stmt.where(Department.site_id == find_site(session, site_ref).id)
    key = key.lower()
    for column in (Department.code, Department.name):
        found = list(session.scalars(stmt.where(func.lower(column) == key)))
        if len(found) > 1:
            raise InvalidInput(N_("department: %(ref)r exists on several sites; write SITE/%(upper)s"),
                               ref=ref, upper=key.upper())
        if found:
            return found[0]
    raise NotFound(N_("department %(ref)r does not exist"), ref=ref)


def get_location(session: Session, location_id: int) -> Location:
    """Return location ``location_id`` or raise :class:`NotFound`."""
    loc = session.get(Location, location_id) if isinstance(location_id, int) else None
    if loc is None:
        raise NotFound(N_("location %(location_id)s does not exist"), location_id=location_id)
    return loc


def references(session: Session, table: str, row_id: int, *, skip: tuple[str, ...] = ()) -> list[str]:
    """Return 'N things' for every table with rows that refer to row ``row_id`` of ``table``."""
    uses = []
    for other in Base.metadata.sorted_tables:
        if other.name in skip:
            continue
        for fk in other.foreign_keys:
            if fk.column.table.name == table:
                n = session.scalar(select(func.count()).select_from(other).where(fk.parent == row_id)) or 0
                if n:
                    noun = other.name.replace("_", " ")
                    uses.append(f"{n} {noun.removesuffix('s') if n == 1 else noun}")
    return uses


def taken(session: Session, model, column, value: str, *, parent=None, except_id: int | None = None):
    """Return a row of ``model`` whose ``column`` equals ``value`` without case (under ``parent``,
    other than ``except_id``), or None."""
    stmt = select(model).where(func.lower(column) == value.lower())
    if parent is not None:
        stmt = stmt.where(parent)
    if except_id is not None:
        stmt = stmt.where(model.id != except_id)
    return session.scalar(stmt.limit(1))
