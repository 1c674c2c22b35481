"""The consumables log: receipts (stock came in, from which supplier, on which document) and
collections (the ward took some: when, how much, the collecting officer, notes).

Every entry is one append-only row; the balance is their sum, never stored. Each public
function first locks the item's row (``SELECT ... FOR UPDATE``), then reads the balance and
writes the entry in the same transaction, so the entries of one item happen one transaction
at a time: on PostgreSQL a second collection waits for the first to commit and then sees its
entry; SQLite has one writer at a time. A collection the balance does not cover is therefore
refused (:class:`NotEnoughStock`, nothing written) however many people collect at once.

Procurement records receipts (``consumable.manage``); ward staff, technicians and managers
record collections for their own department (``consumable.collect``). The collecting officer
is a user (``collected_by_id``, by default the person recording) or a person named in full
(``collected_by_name``) who has no account. ``on_date`` is the day at the department's site
(today by default); a day in the future is refused.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased, selectinload

from wardlink.hub.db.models import Consumable, ConsumableEntry, User
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import CONSUMABLE_ENTRY_KINDS
from wardlink.hub.i18n import N_
from wardlink.hub.errors import InvalidInput, Term
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.consumables import items as catalogue
from wardlink.hub.services.consumables import reorder
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.local_time import department_zone, first_site_zone
from wardlink.hub.services.people.permissions import require, require_department
from wardlink.hub.services.validate import optional_date, optional_id, stock_quantity, text
from wardlink.clock import Clock

QUANTITY = stock_quantity()
NOTES = text(2000)
SUPPLIER = text(200)
REFERENCE = text(100)
PERSON = text(200)


class NotEnoughStock(InvalidInput):
    """A collection larger than the balance (nothing was written)."""


def entry_snapshot(row: ConsumableEntry) -> dict[str, Any]:
    """Return an entry's fields (for audit rows and the API)."""
    return {"id": row.id, "consumable_id": row.consumable_id, "kind": row.kind, "quantity": number(row.quantity),
            "on_date": row.on_date.isoformat(), "supplier": row.supplier, "reference": row.reference,
            "collected_by_id": row.collected_by_id, "collected_by_name": row.collected_by_name,
            "notes": row.notes, "user": row.username, "created_at": row.created_at}


def local_today(session: Session, department_id: int, clock: Clock) -> date:
    """Return today's date at the department's site."""
    zone = department_zone(session, department_id) or first_site_zone(session)
    return utc_now(clock).astimezone(zone).date()


def _day(session: Session, item: Consumable, value: Any, clock: Clock) -> date:
    today = local_today(session, item.department_id, clock)
    day = optional_date("on_date", value) or today
    if day > today:
        raise InvalidInput(N_("on_date: %(day)s is in the future; today is %(today)s at the site"), day=day.isoformat(),
                           today=today.isoformat())
    return day


def _begin(session: Session, item_id: Any, permission: str, actor: Actor | None,
           clock: Clock | None) -> tuple[Consumable, Actor, Clock]:
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, permission)
    item = catalogue.get_item(session, item_id, actor=who, for_update=True)
    require_department(who, item.department_id, "the consumable")
    if not item.active:
        raise InvalidInput(N_("consumable: %(name)s is inactive; activate it first"), name=item.name)
    return item, who, clock


def _write(session: Session, item: Consumable, who: Actor, clock: Clock, balance: Decimal,
           **fields: Any) -> ConsumableEntry:
    row = ConsumableEntry(consumable_id=item.id, user_id=who.user_id, username=who.username[:100],
                          created_at=utc_now(clock), **fields)
    session.add(row)
    session.flush()
    after = balance + row.change
    audit.record(session, actor=who, action=f"consumable.{row.kind}", entity="consumable", entity_id=item.id,
                 after={**entry_snapshot(row), "balance": number(after)}, clock=clock)
    reorder.evaluate(session, item, after, clock=clock, cause=row.id)
    return row


def receive(session: Session, item_id: Any, *, quantity: Any, on_date: Any = None, supplier: Any = "",
            reference: Any = "", notes: Any = "", actor: Actor | None,
            clock: Clock | None = None) -> ConsumableEntry:
    """Record a delivery of an item to its department's stock; audited."""
    item, who, clock = _begin(session, item_id, "consumable.manage", actor, clock)
    fields = {"quantity": QUANTITY("quantity", quantity), "on_date": _day(session, item, on_date, clock),
              "supplier": SUPPLIER("supplier", supplier), "reference": REFERENCE("reference", reference),
              "notes": NOTES("notes", notes)}
    return _write(session, item, who, clock, catalogue.balance(session, item.id), kind="receipt", **fields)


def _collector(session: Session, who: Actor, user_id: Any, name: Any) -> tuple[int | None, str]:
    person = PERSON("collected_by_name", name)
    chosen = optional_id("collected_by_id", user_id)
    if chosen is not None and person:
        raise InvalidInput(N_("collected_by: give either a user (collected_by_id) or a name (collected_by_name), "
                              "not both"))
    if person:
        return None, person
    chosen = chosen if chosen is not None else who.user_id
    if chosen is None:
        raise InvalidInput(N_("collected_by: name the collecting officer (a user or a person's name)"))
    user = session.get(User, chosen)
    if user is None or not user.is_active:
        raise InvalidInput(N_("collected_by_id: no active user %(user_id)s"), user_id=chosen)
    return user.id, ""


def collect(session: Session, item_id: Any, *, quantity: Any, on_date: Any = None, collected_by_id: Any = None,
            collected_by_name: Any = "", notes: Any = "", actor: Actor | None,
            clock: Clock | None = None) -> ConsumableEntry:
    """Record what the ward collected; refused with :class:`NotEnoughStock` (nothing written)
    when the balance does not cover it. Audited; may send the reorder notice."""
    item, who, clock = _begin(session, item_id, "consumable.collect", actor, clock)
    amount = QUANTITY("quantity", quantity)
    day = _day(session, item, on_date, clock)
    user_id, person = _collector(session, who, collected_by_id, collected_by_name)
    have = catalogue.balance(session, item.id)
    if amount > have:
        raise NotEnoughStock(N_("quantity: not enough %(item)s in stock for %(department)s: %(have)s %(unit)s left, "
                                "%(wanted)s asked for"), item=item.name, department=item.department.name,
                             have=Decimal(number(have) or "0"), unit=Term(item.unit),
                             wanted=Decimal(number(amount) or "0"))
    return _write(session, item, who, clock, have, kind="collection", quantity=amount, on_date=day,
                  collected_by_id=user_id, collected_by_name=person, notes=NOTES("notes", notes))


def history(session: Session, item_id: Any, *, actor: Actor | None, kind: str | None = None,
            start: date | None = None, end: date | None = None, page: int = 1,
            per_page: int = 50) -> Page[ConsumableEntry]:
    """Return one page of an item's log, last recorded first (``kind``, ``start`` and ``end``, days
    at the site, filter)."""
    item = catalogue.get_item(session, item_id, actor=actor)
    stmt = (select(ConsumableEntry).where(ConsumableEntry.consumable_id == item.id)
            .options(selectinload(ConsumableEntry.collected_by)))
    if kind:
        if kind not in CONSUMABLE_ENTRY_KINDS:
            raise InvalidInput(N_("kind: must be one of %(kinds)s, got %(value)r"),
                               kinds=", ".join(CONSUMABLE_ENTRY_KINDS), value=kind)
        stmt = stmt.where(ConsumableEntry.kind == kind)
    if start is not None:
        stmt = stmt.where(ConsumableEntry.on_date >= start)
    if end is not None:
        stmt = stmt.where(ConsumableEntry.on_date <= end)
    if start is not None and end is not None and end < start:
        raise InvalidInput(N_("to: must be on or after from"))
    return paginate(session, stmt.order_by(ConsumableEntry.id.desc()), page, per_page)


def balances_after(session: Session, item_id: int, entry_ids: list[int]) -> dict[int, Decimal]:
    """Return the balance right after each of the item's entries ``entry_ids`` (the sum of its
    log up to and including that entry, in the order entries were recorded)."""
    if not entry_ids:
        return {}
    upto = aliased(ConsumableEntry)
    rows = session.execute(
        select(upto.id, catalogue.balance_sum())
        .join(ConsumableEntry, (ConsumableEntry.consumable_id == upto.consumable_id) & (ConsumableEntry.id <= upto.id))
        .where(upto.consumable_id == item_id, upto.id.in_(entry_ids)).group_by(upto.id)).all()
    return {entry_id: Decimal(total).quantize(Decimal("0.001")) for entry_id, total in rows}


def collectors(session: Session, item: Consumable) -> list[User]:
    """Return the active users who may be named as collecting an item: its department's people
    and those not limited to a department, by name."""
    stmt = select(User).where(User.is_active.is_(True), (User.department_id == item.department_id)
                              | User.department_id.is_(None), User.role != "vendor")
    return list(session.scalars(stmt.order_by(User.display_name, User.username)))
