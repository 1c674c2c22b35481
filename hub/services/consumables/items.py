"""The consumables lists: each department's items (name, unit, reorder level), kept by
procurement (``consumable.manage``); everyone who may see consumables sees their own
department's list (administrators and unscoped people every department's).

Names are unique in a department without case. An item with a log is deactivated, never
deleted. Changing an item's reorder level judges its balance again at once (:mod:`.reorder`).
Balances are read from the log (:func:`balances`), never stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Consumable, ConsumableEntry, Department
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import PART_UNITS
from wardlink.hub.i18n import N_
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.consumables import reorder
from wardlink.hub.services.inventory.common import get_row, key_of, number, tidy
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.validate import boolean, choice, optional_id, parse_fields, stock_quantity, text
from wardlink.clock import Clock

ZERO = Decimal("0")


def _unit(name: str, value: Any) -> str:
    """Parse a unit of :data:`PART_UNITS`; blank means ``each``."""
    return "each" if value is None or value == "" else choice(PART_UNITS)(name, value)


FIELDS = {
    "department_id": optional_id, "name": text(200, required=True), "unit": _unit,
    "reorder_level": stock_quantity(zero=True, required=False), "notes": text(2000), "active": boolean,
}


def snapshot(item: Consumable) -> dict[str, Any]:
    """Return an item's fields (for audit rows and the API)."""
    return {"id": item.id, "department_id": item.department_id, "name": item.name, "unit": item.unit,
            "reorder_level": number(item.reorder_level), "notes": item.notes, "active": item.active}


def balance_sum():
    """Return the SQL sum of log entries as they count: receipts add, collections take away."""
    return func.coalesce(func.sum(case((ConsumableEntry.kind == "receipt", ConsumableEntry.quantity),
                                       else_=-ConsumableEntry.quantity)), 0)


def balances(session: Session, item_ids: Iterable[int]) -> dict[int, Decimal]:
    """Return the balance of each item (0 for items without a log): receipts minus collections."""
    wanted = list(dict.fromkeys(item_ids))
    out = dict.fromkeys(wanted, ZERO)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        out.update(session.execute(select(ConsumableEntry.consumable_id, balance_sum())
                                   .where(ConsumableEntry.consumable_id.in_(chunk))
                                   .group_by(ConsumableEntry.consumable_id)).all())
    return {k: Decimal(v).quantize(Decimal("0.001")) for k, v in out.items()}


def balance(session: Session, item_id: int) -> Decimal:
    """Return one item's balance, read from its log."""
    return balances(session, [item_id])[item_id]


def get_item(session: Session, item_id: Any, *, actor: Actor | None, for_update: bool = False) -> Consumable:
    """Return item ``item_id`` for someone who may see it (their department's, unless unscoped)."""
    who = resolve_actor(actor)
    require(who, "consumable.view")
    item = get_row(session, Consumable, item_id, "consumable", for_update=for_update)
    scope = department_scope(who)
    if scope is not None and item.department_id != scope:
        raise NotFound(N_("consumable %(item_id)s does not exist"), item_id=item_id)
    return item


def _department(session: Session, who: Actor, department_id: int | None) -> Department:
    if department_id is None:
        department_id = department_scope(who)
    if department_id is None:
        raise InvalidInput(N_("department_id: is required"))
    row = session.get(Department, department_id)
    if row is None:
        raise InvalidInput(N_("department_id: no department %(department_id)s"), department_id=department_id)
    require_department(who, row.id, "the consumables list")
    return row


def _apply(session: Session, who: Actor, item: Consumable, data: Mapping[str, Any], *, partial: bool) -> None:
    fields = parse_fields(FIELDS, data, partial=partial)
    moved = "department_id" in fields or not partial
    if moved:
        item.department_id = _department(session, who, fields.pop("department_id", None)).id
    if fields.get("reorder_level", ZERO) is None:
        fields["reorder_level"] = ZERO
    if not partial and "active" not in data:
        fields["active"] = True
    if "name" in fields:
        fields["name"] = tidy(fields["name"])
        item.name_key = key_of(fields["name"])
    if moved or "name" in fields:
        other = session.scalar(select(Consumable).where(Consumable.department_id == item.department_id,
                                                        Consumable.name_key == item.name_key))
        if other is not None and other is not item:
            raise InvalidInput(N_("name: the department already lists '%(name)s'"), name=other.name)
    for field, value in fields.items():
        setattr(item, field, value)


def create_item(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                clock: Clock | None = None) -> Consumable:
    """Add an item to a department's list (``department_id``: the actor's own department when
    left out); audited. A new item starts with a balance of 0 (receive stock to fill it)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "consumable.manage")
    now = utc_now(clock)
    item = Consumable(created_at=now, updated_at=now, name_key="")
    _apply(session, who, item, data, partial=False)
    session.add(item)
    session.flush()
    audit.record(session, actor=who, action="consumable.create", entity="consumable", entity_id=item.id,
                 after=snapshot(item), clock=clock)
    reorder.evaluate(session, item, balance(session, item.id), clock=clock, announce=False)
    return item


def update_item(session: Session, item_id: Any, changes: Mapping[str, Any], *, actor: Actor | None,
                clock: Clock | None = None) -> Consumable:
    """Change an item (a department may change only while it has no log); a new reorder level
    judges the balance again. Audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "consumable.manage")
    item = get_item(session, item_id, actor=who, for_update=True)
    before = snapshot(item)
    moving = "department_id" in changes and optional_id("department_id", changes["department_id"]) not in (
        None, item.department_id)
    if moving and session.scalar(select(exists().where(ConsumableEntry.consumable_id == item.id))):
        raise InvalidInput(N_("department_id: the item has a log in its department; add a new item to the other "
                              "department instead"))
    _apply(session, who, item, changes, partial=True)
    session.flush()
    old, new = audit.changes(before, snapshot(item))
    if new:
        item.updated_at = utc_now(clock)
        audit.record(session, actor=who, action="consumable.update", entity="consumable", entity_id=item.id,
                     before=old, after=new, clock=clock)
        reorder.evaluate(session, item, balance(session, item.id), clock=clock)
    return item


@dataclass(frozen=True)
class ItemRow:
    """An item as lists show it: with its balance from the log."""

    item: Consumable
    balance: Decimal

    @property
    def low(self) -> bool:
        """Return True when the balance is at or below the reorder level."""
        return reorder.is_low(self.item, self.balance)


def list_items(session: Session, *, actor: Actor | None, department_id: int | None = None, search: str = "",
               low: bool = False, active: bool | None = True, page: int = 1,
               per_page: int = 50) -> Page[ItemRow]:
    """Return one page of items by department and name, with their balances; a person limited
    to a department sees only its list."""
    who = resolve_actor(actor)
    require(who, "consumable.view")
    stmt = select(Consumable).options(selectinload(Consumable.department))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Consumable.department_id == scope)
    if department_id is not None:
        stmt = stmt.where(Consumable.department_id == department_id)
    needle = text(100)("q", search)
    if needle:
        stmt = stmt.where(Consumable.name_key.contains(key_of(needle), autoescape=True))
    if low:
        stmt = stmt.where(Consumable.low_since.is_not(None))
    if active is not None:
        stmt = stmt.where(Consumable.active.is_(active))
    result = paginate(session, stmt.join(Department).order_by(Department.name, Consumable.name_key,
                                                             Consumable.id), page, per_page)
    amounts = balances(session, [i.id for i in result.items])
    rows = [ItemRow(i, amounts[i.id]) for i in result.items]
    return Page(rows, result.page, result.per_page, result.total, result.total_exact)


def departments(session: Session, *, actor: Actor | None) -> list[Department]:
    """Return the departments whose lists ``actor`` may see, by name."""
    who = resolve_actor(actor)
    require(who, "consumable.view")
    stmt = select(Department).order_by(Department.name, Department.id)
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Department.id == scope)
    return list(session.scalars(stmt))
