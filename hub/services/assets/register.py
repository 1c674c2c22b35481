"""The equipment register: search, read, create and update assets."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Asset
from wardlink.hub.db.models.assets import search_key
from wardlink.hub.db.risk import RISK_FIELDS
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import EQUIPMENT_STATUSES, LIFECYCLE_STAGES, MAINTENANCE_STATUSES, OWNER_TYPES
from wardlink.hub.errors import InvalidInput, Message, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.assets import categories as category_list
from wardlink.hub.services.assets.history import record_status
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.people.org import check_refs
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.validate import (boolean, choice, money, optional_date, optional_id, parse_fields,
                                   product_code, scored, text, whole_number)
from wardlink.clock import Clock

#: The "do not use" status, set and cleared only by :mod:`wardlink.hub.services.assets.status`.
TAGGED_OUT = "tagged_out"
TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

#: Every writable field of an asset and how to parse it.
ASSET_FIELDS = {
    "name": text(200, required=True),
    "category": text(100, required=True),
    "make": text(100),
    "model": text(100),
    "serial": text(100),
    "product_code": product_code,
    "department_id": optional_id,
    "location_id": optional_id,
    "owner_type": choice(OWNER_TYPES),
    "purchase_date": optional_date,
    "purchase_cost": money,
    "warranty_end": optional_date,
    "useful_life_years": whole_number(1, 100),
    "salvage_value": money,
    "replacement_cost": money,
    "install_date": optional_date,
    "lifecycle_stage": choice(LIFECYCLE_STAGES),
    "equipment_status": choice(EQUIPMENT_STATUSES),
    "maintenance_status": choice(MAINTENANCE_STATUSES),
    "life_support": boolean,
    **{name: scored(table) for name, table in RISK_FIELDS.items()},
    "notes": text(5000),
}
DEFAULTS = {"owner_type": "hospital", "lifecycle_stage": "in_use",
            "equipment_status": "in_service", "maintenance_status": "compliant"}

SORTS = {
    "tag": (Asset.tag,),
    "name": (Asset.name, Asset.tag),
    "category": (Asset.category, Asset.tag),
    "risk": (Asset.em_score.desc().nulls_last(), Asset.tag),
    "status": (Asset.equipment_status, Asset.tag),
}

SNAPSHOT_FIELDS = ("tag", *ASSET_FIELDS, "em_score")


def asset_snapshot(asset: Asset) -> dict[str, Any]:
    """Return every stored field of ``asset`` by name (for audit rows and the API)."""
    return {name: getattr(asset, name) for name in SNAPSHOT_FIELDS}


def _check_salvage(salvage: Decimal | None, cost: Decimal | None) -> None:
    if salvage is not None and cost is not None and salvage > cost:
        raise InvalidInput(N_("salvage_value: must not be more than the purchase cost (%(cost)s), got %(salvage)s"),
                           cost=cost, salvage=salvage)


def list_assets(session: Session, *, actor: Actor | None, q: str | None = None,
                department_id: int | None = None, category: str | None = None,
                equipment_status: str | None = None, maintenance_status: str | None = None,
                life_support: bool | None = None, sort: str = "tag", page: int = 1,
                per_page: int = 50) -> Page[Asset]:
    """Return one page of assets matching the filters, within the actor's department scope."""
    who = resolve_actor(actor)
    require(who, "asset.view")
    if sort not in SORTS:
        raise InvalidInput(N_("sort: must be one of %(choices)s, got %(sort)r"), choices=', '.join(SORTS), sort=sort)
    stmt = select(Asset).options(selectinload(Asset.department), selectinload(Asset.location))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Asset.department_id == scope)
    if department_id is not None:
        stmt = stmt.where(Asset.department_id == department_id)
    if q and q.strip():
        term = q.strip()[:100]
        # One folded column (tag, name, category, make, model, serial), not six lower() calls.
        stmt = stmt.where(Asset.search_text.contains(search_key(term), autoescape=True))
    for column, value, allowed, name in (
        (Asset.equipment_status, equipment_status, EQUIPMENT_STATUSES, "equipment_status"),
        (Asset.maintenance_status, maintenance_status, MAINTENANCE_STATUSES, "maintenance_status"),
    ):
        if value:
            choice(allowed)(name, value)
            stmt = stmt.where(column == value)
    if category:
        stmt = stmt.where(Asset.category == category)
    if life_support is not None:
        stmt = stmt.where(Asset.life_support.is_(life_support))
    return paginate(session, stmt.order_by(*SORTS[sort]), page, per_page)


def find_asset(session: Session, tag: str) -> Asset | None:
    """Return the asset with ``tag`` or None, without permission checks (internal use)."""
    return session.scalar(select(Asset).where(Asset.tag == tag))


def get_asset(session: Session, tag: str, *, actor: Actor | None) -> Asset:
    """Return the asset with ``tag``; raise :class:`NotFound` or :class:`PermissionDenied`."""
    who = resolve_actor(actor)
    require(who, "asset.view")
    asset = find_asset(session, tag)
    if asset is None:
        raise NotFound(N_("asset '%(tag)s' does not exist"), tag=tag)
    require_department(who, asset.department_id, Message(N_("asset '%(tag)s'"), tag=tag))
    return asset


def create_asset(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                 clock: Clock | None = None) -> Asset:
    """Create an asset from ``data`` (``tag`` plus :data:`ASSET_FIELDS`) and return it."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "asset.create")
    data = dict(data)
    tag = str(data.pop("tag", "") or "").strip()
    if not TAG_RE.match(tag):
        raise InvalidInput(N_("tag: must be 1-64 characters of A-Z a-z 0-9 _ . - , got %(tag)r"), tag=tag)
    if find_asset(session, tag) is not None:
        raise InvalidInput(N_("tag: '%(tag)s' is already used by another asset"), tag=tag)
    for key, value in DEFAULTS.items():
        if data.get(key) in (None, ""):
            data[key] = value
    fields = parse_fields(ASSET_FIELDS, data, partial=False)
    check_refs(session, fields["department_id"], fields["location_id"])
    _check_salvage(fields["salvage_value"], fields["purchase_cost"])
    require_department(who, fields["department_id"], Message(N_("asset '%(tag)s'"), tag=tag))
    category = category_list.canonical(session, fields["category"], who=who, clock=clock)
    fields["category"] = category.name
    for key in category_list.DEFAULT_FIELDS:  # unscored: the category's Fennigkoh-Smith default
        if fields[key] is None:
            fields[key] = getattr(category, key)
    if fields["equipment_status"] == TAGGED_OUT:
        raise InvalidInput(N_("equipment_status: a new asset cannot start tagged out; register it, then tag it out"))
    now = utc_now(clock)
    status = fields.pop("equipment_status")
    asset = Asset(tag=tag, created_at=now, updated_at=now, equipment_status=status, **fields)
    session.add(asset)
    session.flush()
    record_status(session, asset, status, at=now, who=who, reason="registered")
    audit.record(session, actor=who, action="asset.create", entity="asset", entity_id=tag,
                 after=asset_snapshot(asset), clock=clock)
    return asset


def update_asset(session: Session, tag: str, changes: Mapping[str, Any], *, actor: Actor | None,
                 clock: Clock | None = None) -> Asset:
    """Apply ``changes`` (a subset of :data:`ASSET_FIELDS`) to an asset and audit what changed."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "asset.update")
    asset = get_asset(session, tag, actor=who)
    fields = parse_fields(ASSET_FIELDS, changes, partial=True)
    check_refs(session, fields.get("department_id"), fields.get("location_id"))
    _check_salvage(fields.get("salvage_value", asset.salvage_value), fields.get("purchase_cost", asset.purchase_cost))
    if "department_id" in fields:
        require_department(who, fields["department_id"], Message(N_("asset '%(tag)s'"), tag=tag))
    if "category" in fields:
        fields["category"] = category_list.canonical(session, fields["category"], who=who, clock=clock).name
    status = fields.pop("equipment_status", asset.equipment_status)
    if status != asset.equipment_status and TAGGED_OUT in (status, asset.equipment_status):
        raise InvalidInput(N_("equipment_status: tag-out is set and cleared with its own step (who, when and why "
                              "are recorded), not by editing the asset"))
    before = asset_snapshot(asset)
    for key, value in fields.items():
        setattr(asset, key, value)
    now = utc_now(clock)
    record_status(session, asset, status, at=now, who=who, reason="changed on the asset record")
    old, new = audit.changes(before, asset_snapshot(asset))
    if new:
        asset.updated_at = now
        session.flush()
        old, new = audit.changes(before, asset_snapshot(asset))
        audit.record(session, actor=who, action="asset.update", entity="asset", entity_id=tag,
                     before=old, after=new, clock=clock)
    return asset


def categories(session: Session) -> list[str]:
    """Return the distinct asset categories in use, in order.

    Read by stepping through the category index from one value to the next (a recursive
    query, one index probe per category) rather than reading every asset: a few dozen
    categories of 50,000 assets, on every filtered page."""
    step = select(func.min(Asset.category).label("category")).cte("used", recursive=True)
    following = select(Asset.category).where(Asset.category > step.c.category).order_by(Asset.category).limit(1)
    step = step.union_all(select(following.scalar_subquery()).where(step.c.category.is_not(None)))
    return list(session.scalars(select(step.c.category).where(step.c.category.is_not(None))))


def status_counts(session: Session, *, actor: Actor | None) -> dict[str, Any]:
    """Return the number of assets in total and per equipment and maintenance status."""
    who = resolve_actor(actor)
    require(who, "asset.view")
    out: dict[str, Any] = {"total": 0}
    for column, values in ((Asset.equipment_status, EQUIPMENT_STATUSES),
                           (Asset.maintenance_status, MAINTENANCE_STATUSES)):
        stmt = select(column, func.count()).group_by(column)
        scope = department_scope(who)
        if scope is not None:
            stmt = stmt.where(Asset.department_id == scope)
        counts = {key: n for key, n in session.execute(stmt)}
        out[column.key] = {value: counts.get(value, 0) for value in values}
        out["total"] = sum(counts.values())
    return out
