"""The time zone people are shown times in: their site's.

Everything is stored and served by the API in UTC; pages, exports, label sheets, e-mails and
reports show local time. A user of a department sees the zone of that department's site; a
user without a department (an administrator, a biomedical engineer covering every ward) sees
the zone of the hospital's sites when they all share one, which is the usual case. Where the
sites disagree and nothing says which one is meant, UTC is shown and labelled so.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Integer, bindparam, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Department, Site
from wardlink.hub.services.actor import Actor

UTC_ZONE = ZoneInfo("UTC")


def zone_named(name: str | None) -> ZoneInfo:
    """Return the IANA zone ``name``; UTC when unset or unknown."""
    try:
        return ZoneInfo(name) if name else UTC_ZONE
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE


#: The statements of the two functions below, built once (they run for every notice and page).
_DEPARTMENT_ZONE = (select(Site.timezone).join(Department, Department.site_id == Site.id)
                    .where(Department.id == bindparam("department_id", type_=Integer)))
_FIRST_SITE_ZONE = select(Site.timezone).order_by(Site.id).limit(1)


def department_zone(session: Session, department_id: int | None) -> ZoneInfo | None:
    """Return the zone of a department's site (None for no department)."""
    if department_id is None:
        return None
    name = session.scalar(_DEPARTMENT_ZONE, {"department_id": department_id})
    return zone_named(name) if name is not None else None


def first_site_zone(session: Session) -> ZoneInfo:
    """Return the zone of the hub's first site (UTC when there is none): the default for records
    that belong to no department."""
    return zone_named(session.scalar(_FIRST_SITE_ZONE))


def hospital_zone(session: Session) -> ZoneInfo:
    """Return the zone every site shares; UTC when there is no site or they disagree."""
    names = set(session.scalars(select(Site.timezone).distinct().limit(2)))
    return zone_named(names.pop()) if len(names) == 1 else UTC_ZONE


def display_zone(session: Session, actor: Actor | None) -> ZoneInfo:
    """Return the zone ``actor`` is shown times in: their department's site's, else the hospital's."""
    zone = department_zone(session, actor.department_id if actor is not None else None)
    return zone if zone is not None else hospital_zone(session)


def local_text(moment: datetime | None, zone: ZoneInfo, *, seconds: bool = True) -> str:
    """Return ``moment`` as '2026-01-15 14:30:00 CET' in ``zone`` (an empty string for None)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC_ZONE)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")
