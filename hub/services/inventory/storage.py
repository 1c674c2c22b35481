"""Where parts are kept: stock locations (a store room, a cabinet) on a site, and their bins.

Codes are printed on labels and typed by people, so they are short and unique without case:
a location's across the hospital, a bin's within its location. A bin holding stock or named
by the ledger is deactivated, never deleted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Location, Part, Site, StockBin, StockLevel, StockLocation, StockMovement
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import get_row, key_of
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import boolean, optional_id, parse_fields, text
from wardlink.clock import Clock

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def code(name: str, value: Any) -> str:
    """Parse a label code: letters, digits, ``.``, ``_``, ``/`` and ``-``, at most 32 characters."""
    raw = text(32, required=True)(name, value)
    if not _CODE_RE.match(raw):
        raise InvalidInput(N_("%(field)s: must be letters, digits, '.', '_', '/' or '-' (no spaces), got %(raw)r"),
                           field=name, raw=raw)
    return raw


LOCATION_FIELDS = {"code": code, "name": text(200, required=True), "site_id": optional_id,
                   "location_id": optional_id, "active": boolean}
BIN_FIELDS = {"code": code, "active": boolean}


def location_snapshot(row: StockLocation) -> dict[str, Any]:
    """Return a stock location's fields."""
    return {"id": row.id, "code": row.code, "name": row.name, "site_id": row.site_id,
            "location_id": row.location_id, "active": row.active}


def bin_snapshot(row: StockBin) -> dict[str, Any]:
    """Return a bin's fields with its location's code."""
    return {"id": row.id, "code": row.code, "stock_location_id": row.stock_location_id,
            "location_code": row.stock_location.code, "label": row.label, "active": row.active}


def list_locations(session: Session, *, actor: Actor | None) -> list[StockLocation]:
    """Return every stock location with its bins, by code."""
    require(resolve_actor(actor), "part.view")
    return list(session.scalars(select(StockLocation).options(selectinload(StockLocation.bins))
                                .order_by(StockLocation.code_key)))


def bin_choices(session: Session, *, actor: Actor | None) -> list[tuple[int, str]]:
    """Return (id, ``LOCATION / BIN``) of every active bin of an active location, by label (for
    forms: plain rows, not objects, since a store may have a thousand bins)."""
    require(resolve_actor(actor), "part.view")
    rows = session.execute(select(StockBin.id, StockLocation.code, StockBin.code).join(StockLocation)
                           .where(StockBin.active.is_(True), StockLocation.active.is_(True))
                           .order_by(StockLocation.code_key, StockBin.code_key))
    return [(bin_id, f"{place} / {code}") for bin_id, place, code in rows]


def get_location(session: Session, location_id: Any, *, actor: Actor | None) -> StockLocation:
    """Return stock location ``location_id``."""
    require(resolve_actor(actor), "part.view")
    return get_row(session, StockLocation, location_id, "stock location")


def get_bin(session: Session, bin_id: Any, *, actor: Actor | None) -> StockBin:
    """Return bin ``bin_id``."""
    require(resolve_actor(actor), "part.view")
    return get_row(session, StockBin, bin_id, "bin")


def parts_in_bin(session: Session, bin_id: int) -> list[Part]:
    """Return the parts a bin holds or held, by SKU (the caller checked the actor may see parts)."""
    return list(session.scalars(select(Part).join(StockLevel, StockLevel.part_id == Part.id)
                                .where(StockLevel.bin_id == bin_id).order_by(Part.sku_key)))


def find_bin(session: Session, label: str) -> StockBin | None:
    """Return the bin a label ``LOCATION/BIN`` (or ``LOCATION / BIN``) names, if any."""
    location, _, bin_code = label.replace(" / ", "/").partition("/")
    if not bin_code:
        return None
    return session.scalar(select(StockBin).join(StockLocation).where(
        StockLocation.code_key == key_of(location), StockBin.code_key == key_of(bin_code)))


def _location_fields(session: Session, row: StockLocation, data: Mapping[str, Any], partial: bool) -> None:
    fields = parse_fields(LOCATION_FIELDS, data, partial=partial)
    if not partial and "active" not in data:
        fields["active"] = True
    if "site_id" in fields:
        if fields["site_id"] is None:
            raise InvalidInput(N_("site_id: is required"))
        if session.get(Site, fields["site_id"]) is None:
            raise InvalidInput(N_("site_id: no site %(site_id)s"), site_id=fields['site_id'])
    site_id = fields.get("site_id", row.site_id)
    if fields.get("location_id") is not None:
        place = session.get(Location, fields["location_id"])
        if place is None or place.site_id != site_id:
            raise InvalidInput(N_("location_id: no location %(location_id)s on site %(site_id)s"),
                               location_id=fields['location_id'], site_id=site_id)
    if "code" in fields:
        other = session.scalar(select(StockLocation).where(StockLocation.code_key == key_of(fields["code"])))
        if other is not None and other is not row:
            raise InvalidInput(N_("code: stock location '%(code)s' already has this code"), code=other.code)
        row.code_key = key_of(fields["code"])
    for field, value in fields.items():
        setattr(row, field, value)


def create_location(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> StockLocation:
    """Add a stock location (code, name, site_id, optional location_id); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "part.manage")
    row = StockLocation(created_at=utc_now(clock))
    _location_fields(session, row, data, partial=False)
    session.add(row)
    session.flush()
    audit.record(session, actor=who, action="stock_location.create", entity="stock_location", entity_id=row.id,
                 after=location_snapshot(row), clock=clock)
    return row


def update_location(session: Session, location_id: Any, changes: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> StockLocation:
    """Change a stock location; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "part.manage")
    row = get_row(session, StockLocation, location_id, "stock location", for_update=True)
    before = location_snapshot(row)
    _location_fields(session, row, changes, partial=True)
    session.flush()
    old, new = audit.changes(before, location_snapshot(row))
    if new:
        audit.record(session, actor=who, action="stock_location.update", entity="stock_location",
                     entity_id=row.id, before=old, after=new, clock=clock)
    return row


def create_bin(session: Session, location_id: Any, data: Mapping[str, Any], *, actor: Actor | None,
               clock: Clock | None = None) -> StockBin:
    """Add a bin to a stock location; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "part.manage")
    place = get_row(session, StockLocation, location_id, "stock location")
    fields = parse_fields(BIN_FIELDS, data, partial=False)
    if "active" not in data:
        fields["active"] = True
    if session.scalar(select(StockBin.id).where(StockBin.stock_location_id == place.id,
                                                StockBin.code_key == key_of(fields["code"]))) is not None:
        raise InvalidInput(N_("code: %(code)s already has a bin %(code2)s"), code=place.code, code2=fields['code'])
    row = StockBin(stock_location=place, code_key=key_of(fields["code"]), created_at=utc_now(clock), **fields)
    session.add(row)
    session.flush()
    audit.record(session, actor=who, action="stock_bin.create", entity="stock_bin", entity_id=row.id,
                 after=bin_snapshot(row), clock=clock)
    return row


def update_bin(session: Session, bin_id: Any, changes: Mapping[str, Any], *, actor: Actor | None,
               clock: Clock | None = None) -> StockBin:
    """Rename a bin or set it (in)active; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "part.manage")
    row = get_row(session, StockBin, bin_id, "bin", for_update=True)
    fields = parse_fields(BIN_FIELDS, changes, partial=True)
    before = bin_snapshot(row)
    if "code" in fields:
        other = session.scalar(select(StockBin).where(StockBin.stock_location_id == row.stock_location_id,
                                                      StockBin.code_key == key_of(fields["code"])))
        if other is not None and other is not row:
            raise InvalidInput(N_("code: %(code)s already has a bin %(code2)s"),
                               code=row.stock_location.code, code2=fields['code'])
        row.code_key = key_of(fields["code"])
    for field, value in fields.items():
        setattr(row, field, value)
    session.flush()
    old, new = audit.changes(before, bin_snapshot(row))
    if new:
        audit.record(session, actor=who, action="stock_bin.update", entity="stock_bin", entity_id=row.id,
                     before=old, after=new, clock=clock)
    return row


def delete_bin(session: Session, bin_id: Any, *, actor: Actor | None, clock: Clock | None = None) -> None:
    """Remove a bin that never held stock; one the ledger names is refused (deactivate it)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "part.manage")
    row = get_row(session, StockBin, bin_id, "bin", for_update=True)
    used = session.scalar(select(or_(exists().where(StockLevel.bin_id == row.id),
                                     exists().where(StockMovement.bin_id == row.id))))
    if used:
        raise InvalidInput(N_("bin: %(label)s has held stock; set it inactive instead"), label=row.label)
    before = bin_snapshot(row)
    session.delete(row)
    session.flush()
    audit.record(session, actor=who, action="stock_bin.delete", entity="stock_bin", entity_id=before["id"],
                 before=before, clock=clock)
