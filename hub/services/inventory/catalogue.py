"""The parts catalogue: what each spare part is, what it costs, which equipment it fits, and
when to order more.

SKUs are unique without case. Procurement manages the catalogue (``part.manage``); anyone who
may see parts may search it. A part with stock or history is deactivated, never deleted.
Changing a part's reorder level judges its stock again at once (:mod:`.low_stock`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Part, PartModel, StockLevel, StockMovement, Supplier, WorkOrderPick
from wardlink.hub.db.models.assets import search_key
from wardlink.hub.db.models.inventory import part_search_text
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import PART_UNITS
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory import low_stock
from wardlink.hub.services.inventory.common import amount, get_row, key_of, number, tidy
from wardlink.hub.services.inventory.levels import held, on_hand
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import boolean, choice, money, optional_id, parse_fields, stock_quantity, text
from wardlink.clock import Clock

def _unit(name: str, value: Any) -> str:
    """Parse a unit of :data:`PART_UNITS`; blank means ``each``."""
    return "each" if value is None or value == "" else choice(PART_UNITS)(name, value)


FIELDS = {
    "sku": text(64, required=True), "name": text(200, required=True), "description": text(5000),
    "manufacturer": text(100), "manufacturer_part_number": text(64), "category": text(100),
    "unit": _unit, "unit_cost": money, "reorder_level": stock_quantity(zero=True, required=False),
    "reorder_quantity": stock_quantity(zero=True, required=False), "preferred_supplier_id": optional_id,
    "active": boolean,
}
DEFAULTS = {"reorder_level": Decimal("0"), "reorder_quantity": Decimal("0")}
MAX_MODELS = 50


def snapshot(part: Part) -> dict[str, Any]:
    """Return a part's catalogue fields (for audit rows and the API)."""
    out = {"id": part.id, **{k: getattr(part, k) for k in FIELDS}}
    out["unit_cost"] = amount(part.unit_cost)
    for key in ("reorder_level", "reorder_quantity"):
        out[key] = number(out[key])
    out["models"] = [{"make": m.make, "model": m.model} for m in part.models]
    return out


def find_part(session: Session, sku: str) -> Part | None:
    """Return the part with SKU ``sku`` (without case), if any."""
    return session.scalar(select(Part).where(Part.sku_key == key_of(sku)))


def get_part(session: Session, part_id: Any, *, actor: Actor | None) -> Part:
    """Return part ``part_id`` for someone who may see parts."""
    require(resolve_actor(actor), "part.view")
    return get_row(session, Part, part_id, "part")


def _model_text(value: str) -> dict[str, str]:
    """Read ``Make/Model`` (``Draeger/Evita V500``), else ``Make Model`` (first word the make),
    else a model alone."""
    value = tidy(value)
    if "/" in value:
        make, _, model = value.partition("/")
    else:
        make, _, model = value.partition(" ") if " " in value else ("", "", value)
    return {"make": make.strip(), "model": model.strip()}


def _models(raw: Any) -> list[tuple[str, str]]:
    """Parse compatible models: a list of {make, model} objects or of ``Make/Model`` texts, or one
    text of them separated by ``;`` or new lines."""
    if isinstance(raw, str):
        raw = [line for line in raw.replace(";", "\n").splitlines() if line.strip()]
    if not isinstance(raw, list):
        raise InvalidInput(N_("models: must be a list of {make, model}"))
    if len(raw) > MAX_MODELS:
        raise InvalidInput(N_("models: at most %(max_models)s, got %(count)s"), max_models=MAX_MODELS, count=len(raw))
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for n, item in enumerate(raw):
        if isinstance(item, str):
            item = _model_text(item)
        if not isinstance(item, Mapping) or set(item) - {"make", "model"}:
            raise InvalidInput(N_("models[%(n)s]: must be an object with make and model"), n=n)
        make = tidy(text(100)(f"models[{n}].make", item.get("make")))
        model = tidy(text(100, required=True)(f"models[{n}].model", item.get("model")))
        out.setdefault((key_of(make), key_of(model)), (make, model))
    return list(out.values())


def _apply(session: Session, part: Part, data: Mapping[str, Any], *, partial: bool) -> None:
    data = dict(data)
    models = _models(data.pop("models")) if "models" in data else None
    fields = parse_fields(FIELDS, data, partial=partial)
    for key, default in DEFAULTS.items():
        if key in fields and fields[key] is None:
            fields[key] = default
    if not partial and "active" not in data:
        fields["active"] = True
    if "sku" in fields:
        other = find_part(session, fields["sku"])
        if other is not None and other is not part:
            raise InvalidInput(N_("sku: part %(sku)s (%(name)s) already has this SKU"), sku=other.sku, name=other.name)
        fields["sku"] = tidy(fields["sku"])
        part.sku_key = key_of(fields["sku"])
    supplier = fields.get("preferred_supplier_id")
    if supplier is not None and session.get(Supplier, supplier) is None:
        raise InvalidInput(N_("preferred_supplier_id: no supplier %(supplier)s"), supplier=supplier)
    for field, value in fields.items():
        setattr(part, field, value)
    if models is not None:
        part.models = [PartModel(make=make, model=model, make_key=key_of(make), model_key=key_of(model))
                       for make, model in models]
    part.search_text = part_search_text(part, [(m.make, m.model) for m in part.models])


def create_part(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                clock: Clock | None = None) -> Part:
    """Add a part to the catalogue (``models``: the equipment it fits); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "part.manage")
    now = utc_now(clock)
    part = Part(created_at=now, updated_at=now, models=[])
    _apply(session, part, data, partial=False)
    session.add(part)
    session.flush()
    audit.record(session, actor=who, action="part.create", entity="part", entity_id=part.id,
                 after=snapshot(part), clock=clock)
    low_stock.evaluate(session, part, clock=clock, announce=False)
    return part


def update_part(session: Session, part_id: Any, changes: Mapping[str, Any], *, actor: Actor | None,
                clock: Clock | None = None) -> Part:
    """Change a part (``models``, when given, replaces the list); a new reorder level judges the
    stock again. Audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "part.manage")
    part = get_row(session, Part, part_id, "part", for_update=True)
    before = snapshot(part)
    _apply(session, part, changes, partial=True)
    session.flush()
    old, new = audit.changes(before, snapshot(part))
    if new:
        part.updated_at = utc_now(clock)
        audit.record(session, actor=who, action="part.update", entity="part", entity_id=part.id,
                     before=old, after=new, clock=clock)
        low_stock.evaluate(session, part, clock=clock)
    return part


def delete_part(session: Session, part_id: Any, *, actor: Actor | None, clock: Clock | None = None) -> None:
    """Remove a part that never had stock; one with stock or history is refused (deactivate it)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "part.manage")
    part = get_row(session, Part, part_id, "part", for_update=True)
    used = session.scalar(select(or_(exists().where(StockLevel.part_id == part.id),
                                     exists().where(StockMovement.part_id == part.id),
                                     exists().where(WorkOrderPick.part_id == part.id))))
    if used:
        raise InvalidInput(N_("part: %(sku)s has stock or history; set it inactive instead"), sku=part.sku)
    before = snapshot(part)
    session.delete(part)
    session.flush()
    audit.record(session, actor=who, action="part.delete", entity="part", entity_id=before["id"],
                 before=before, clock=clock)


# ------------------------------------------------------------------ finding parts


@dataclass(frozen=True)
class PartRow:
    """A part as lists show it: with its stock on hand and what is held for work orders."""

    part: Part
    on_hand: Decimal
    held: Decimal

    @property
    def available(self) -> Decimal:
        """Return what may still be taken."""
        return self.on_hand - self.held


def list_parts(session: Session, *, actor: Actor | None, search: str = "", category: str = "",
               supplier_id: int | None = None, fits: tuple[str, str] | None = None, low: bool = False,
               active: bool | None = True, page: int = 1, per_page: int = 50) -> Page[PartRow]:
    """Return one page of parts by name with their stock.

    ``search`` matches SKU, name, manufacturer, manufacturer part number, category or a
    compatible model; ``fits`` is an
    asset's (make, model) and keeps the parts listed for that model; ``low`` keeps parts at or
    below their reorder level.
    """
    require(resolve_actor(actor), "part.view")
    stmt = select(Part).options(selectinload(Part.preferred_supplier))
    needle = text(100)("search", search)
    if needle:
        # One folded column (SKU, name, manufacturer, part number, category, models).
        stmt = stmt.where(Part.search_text.contains(search_key(needle), autoescape=True))
    if category:
        stmt = stmt.where(Part.category == text(100)("category", category))
    if supplier_id is not None:
        stmt = stmt.where(Part.preferred_supplier_id == supplier_id)
    if fits is not None:
        make, model = (key_of(v or "") for v in fits)
        stmt = stmt.where(exists().where(PartModel.part_id == Part.id, PartModel.model_key == model,
                                         or_(PartModel.make_key == "", and_(PartModel.make_key == make))))
    if low:
        stmt = stmt.where(Part.low_since.is_not(None))
    if active is not None:
        stmt = stmt.where(Part.active.is_(active))
    result = paginate(session, stmt.order_by(Part.name, Part.id), page, per_page)
    ids = [p.id for p in result.items]
    stock, picked = on_hand(session, ids), held(session, ids)
    rows = [PartRow(p, stock[p.id], picked[p.id]) for p in result.items]
    return Page(rows, result.page, result.per_page, result.total, result.total_exact)


def categories(session: Session, *, actor: Actor | None) -> list[str]:
    """Return the categories parts use, by name."""
    require(resolve_actor(actor), "part.view")
    return [c for c in session.scalars(select(Part.category).where(Part.category != "").distinct()
                                       .order_by(Part.category))]
