"""The managed list of equipment categories, with Fennigkoh-Smith defaults per category.

Each category exists once, compared without case, so "defibrillator" and "Defibrillator"
cannot both be in the register: an asset saved with a known category takes the list's
spelling, and one with a new category adds it to the list (audited). A new asset that
leaves its equipment function, physical risk or maintenance requirement unscored starts
with its category's. Managers merge duplicates: the assets of one category move to another
and the first is removed, audited with the assets moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset, AssetCategory
from wardlink.hub.db.models.assets import category_key
from wardlink.hub.db.risk import EQUIPMENT_FUNCTION, MAINTENANCE_REQUIREMENT, PHYSICAL_RISK
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import parse_fields, scored, text
from wardlink.clock import Clock

NAME = text(100, required=True)
#: The scores a category gives its new assets (incident history is the asset's own).
DEFAULT_FIELDS = {"equipment_function": scored(EQUIPMENT_FUNCTION), "physical_risk": scored(PHYSICAL_RISK),
                  "maintenance_requirement": scored(MAINTENANCE_REQUIREMENT)}
FIELDS = {"name": NAME, **DEFAULT_FIELDS}


def snapshot(category: AssetCategory) -> dict[str, Any]:
    """Return a category's fields (for audit rows and the API)."""
    return {"id": category.id, "name": category.name, **{k: getattr(category, k) for k in DEFAULT_FIELDS}}


def find(session: Session, name: str) -> AssetCategory | None:
    """Return the category named ``name`` (without case), if listed."""
    return session.scalar(select(AssetCategory).where(AssetCategory.name_key == category_key(name)))


def canonical(session: Session, name: str, *, who: Actor, clock: Clock) -> AssetCategory:
    """Return the listed category for ``name``, adding it to the list when it is new (internal)."""
    found = find(session, name)
    if found is not None:
        return found
    now = utc_now(clock)
    category = AssetCategory(name=" ".join(name.split()), name_key=category_key(name), created_at=now,
                             updated_at=now)
    session.add(category)
    session.flush()
    audit.record(session, actor=who, action="category.create", entity="category", entity_id=category.id,
                 after=snapshot(category), clock=clock)
    return category


def list_categories(session: Session, *, actor: Actor | None) -> list[tuple[AssetCategory, int]]:
    """Return every category with how many assets it has, by name."""
    require(resolve_actor(actor), "asset.view")
    counts = dict(session.execute(select(Asset.category, func.count()).group_by(Asset.category)).all())
    return [(c, counts.get(c.name, 0))
            for c in session.scalars(select(AssetCategory).order_by(AssetCategory.name_key))]


def get_category(session: Session, category_id: int) -> AssetCategory:
    """Return category ``category_id`` or raise :class:`NotFound`."""
    category = session.get(AssetCategory, category_id) if isinstance(category_id, int) else None
    if category is None:
        raise NotFound(N_("category %(category_id)s does not exist"), category_id=category_id)
    return category


def create_category(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> AssetCategory:
    """Add a category with its default scores; refuse a name already listed (in any case)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "category.manage")
    fields = parse_fields(FIELDS, data, partial=False)
    if find(session, fields["name"]) is not None:
        raise InvalidInput(N_("name: '%(name)s' is already in the list"), name=find(session, fields['name']).name)
    category = canonical(session, fields.pop("name"), who=who, clock=clock)
    for key, value in fields.items():
        setattr(category, key, value)
    session.flush()
    return category


def update_category(session: Session, category_id: int, changes: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> AssetCategory:
    """Rename a category (its assets follow) or change its default scores; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "category.manage")
    category = get_category(session, category_id)
    fields = parse_fields(FIELDS, changes, partial=True)
    before = snapshot(category)
    if "name" in fields:
        name = " ".join(fields.pop("name").split())
        other = find(session, name)
        if other is not None and other.id != category.id:
            raise InvalidInput(N_("name: '%(name)s' is already in the list; merge the two instead"), name=other.name)
        session.execute(update(Asset).where(Asset.category == category.name).values(category=name))
        category.name, category.name_key = name, category_key(name)
    for key, value in fields.items():
        setattr(category, key, value)
    old, new = audit.changes(before, snapshot(category))
    if new:
        category.updated_at = utc_now(clock)
        session.flush()
        audit.record(session, actor=who, action="category.update", entity="category", entity_id=category.id,
                     before=old, after=new, clock=clock)
    return category


def merge(session: Session, category_id: int, into_id: int, *, actor: Actor | None,
          clock: Clock | None = None) -> tuple[AssetCategory, list[str]]:
    """Move every asset of category ``category_id`` to ``into_id`` and remove the first;
    return the kept category and the tags of the assets moved (audited, per asset too)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "category.manage")
    source, target = get_category(session, category_id), get_category(session, into_id)
    if source.id == target.id:
        raise InvalidInput(N_("into_id: a category cannot be merged into itself"))
    moved = list(session.scalars(select(Asset).where(Asset.category == source.name).order_by(Asset.tag)))
    now = utc_now(clock)
    for asset in moved:
        asset.category, asset.updated_at = target.name, now
        audit.record(session, actor=who, action="asset.update", entity="asset", entity_id=asset.tag,
                     before={"category": source.name}, after={"category": target.name}, clock=clock)
    before = snapshot(source)
    session.delete(source)
    session.flush()
    audit.record(session, actor=who, action="category.merge", entity="category", entity_id=before["id"],
                 before=before, after={"into": snapshot(target), "assets": [a.tag for a in moved]}, clock=clock)
    return target, [a.tag for a in moved]
