"""Kits: sets of parts used together (the filters, seals and battery of one PM), picked for a work
order in one go (:func:`wardlink.hub.services.inventory.picks.pick_kit`). Names are unique
without case; procurement keeps them (``part.manage``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Part, PartKit, PartKitItem
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import get_row, key_of, number, tidy
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import optional_id, parse_fields, stock_quantity, text
from wardlink.clock import Clock

FIELDS = {"name": text(200, required=True), "description": text(2000)}
MAX_ITEMS = 50


def snapshot(kit: PartKit) -> dict[str, Any]:
    """Return a kit's fields and items (for audit rows and the API)."""
    return {"id": kit.id, "name": kit.name, "description": kit.description,
            "items": [{"part_id": i.part_id, "sku": i.part.sku, "name": i.part.name, "unit": i.part.unit,
                       "quantity": number(i.quantity)} for i in kit.items]}


def list_kits(session: Session, *, actor: Actor | None) -> list[PartKit]:
    """Return every kit with its items, by name."""
    require(resolve_actor(actor), "part.view")
    return list(session.scalars(select(PartKit).options(selectinload(PartKit.items).selectinload(PartKitItem.part))
                                .order_by(PartKit.name_key)))


def get_kit(session: Session, kit_id: Any, *, actor: Actor | None) -> PartKit:
    """Return kit ``kit_id``."""
    require(resolve_actor(actor), "part.view")
    return get_row(session, PartKit, kit_id, "kit")


def _items(session: Session, raw: Any) -> list[PartKitItem]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(N_("items: must be a non-empty list of {part_id, quantity}"))
    if len(raw) > MAX_ITEMS:
        raise InvalidInput(N_("items: at most %(max_items)s, got %(count)s"), max_items=MAX_ITEMS, count=len(raw))
    seen: dict[int, PartKitItem] = {}
    for n, item in enumerate(raw):
        if not isinstance(item, Mapping) or set(item) - {"part_id", "quantity"}:
            raise InvalidInput(N_("items[%(n)s]: must be an object with part_id and quantity"), n=n)
        part_id = optional_id(f"items[{n}].part_id", item.get("part_id"))
        part = session.get(Part, part_id) if part_id is not None else None
        if part is None:
            raise InvalidInput(N_("items[%(n)s].part_id: no part %(value)r"), n=n, value=item.get('part_id'))
        if part.id in seen:
            raise InvalidInput(N_("items[%(n)s].part_id: %(sku)s is listed twice"), n=n, sku=part.sku)
        seen[part.id] = PartKitItem(part=part, part_id=part.id,
                                    quantity=stock_quantity()(f"items[{n}].quantity", item.get("quantity")))
    return list(seen.values())


def _apply(session: Session, kit: PartKit, data: Mapping[str, Any], *, partial: bool) -> None:
    data = dict(data)
    items = _items(session, data.pop("items")) if "items" in data or not partial else None
    fields = parse_fields(FIELDS, data, partial=partial)
    if "name" in fields:
        name = tidy(fields["name"])
        other = session.scalar(select(PartKit).where(PartKit.name_key == key_of(name)))
        if other is not None and other is not kit:
            raise InvalidInput(N_("name: there is already a kit '%(name)s'"), name=other.name)
        fields["name"], kit.name_key = name, key_of(name)
    for field, value in fields.items():
        setattr(kit, field, value)
    if items is not None:
        kit.items = items


def create_kit(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
               clock: Clock | None = None) -> PartKit:
    """Add a kit: a name, a description and its items (part_id, quantity); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "part.manage")
    now = utc_now(clock)
    kit = PartKit(created_at=now, updated_at=now, items=[])
    _apply(session, kit, data, partial=False)
    session.add(kit)
    session.flush()
    audit.record(session, actor=who, action="part_kit.create", entity="part_kit", entity_id=kit.id,
                 after=snapshot(kit), clock=clock)
    return kit


def update_kit(session: Session, kit_id: Any, changes: Mapping[str, Any], *, actor: Actor | None,
               clock: Clock | None = None) -> PartKit:
    """Change a kit (``items``, when given, replaces them); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "part.manage")
    kit = get_row(session, PartKit, kit_id, "kit", for_update=True)
    before = snapshot(kit)
    _apply(session, kit, changes, partial=True)
    session.flush()
    old, new = audit.changes(before, snapshot(kit))
    if new:
        kit.updated_at = utc_now(clock)
        audit.record(session, actor=who, action="part_kit.update", entity="part_kit", entity_id=kit.id,
                     before=old, after=new, clock=clock)
    return kit


def delete_kit(session: Session, kit_id: Any, *, actor: Actor | None, clock: Clock | None = None) -> None:
    """Remove a kit (the parts and what was picked stay); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "part.manage")
    kit = get_row(session, PartKit, kit_id, "kit", for_update=True)
    before = snapshot(kit)
    session.delete(kit)
    session.flush()
    audit.record(session, actor=who, action="part_kit.delete", entity="part_kit", entity_id=before["id"],
                 before=before, clock=clock)
