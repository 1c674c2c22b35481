"""Suppliers of parts: who they are, whom to call, how long they take to deliver, their terms.

Names are unique without case. Procurement manages the list (``supplier.manage``); everyone
who may see parts may see it. A supplier a part prefers or a movement names is deactivated,
never deleted, so the history keeps its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Part, StockMovement, Supplier, SupplierContact
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import get_row, key_of, tidy
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import boolean, email_address, parse_fields, text, whole_number
from wardlink.clock import Clock

FIELDS = {
    "name": text(200, required=True), "email": email_address, "phone": text(64), "address": text(2000),
    "website": text(300), "lead_time_days": whole_number(0, 3650), "payment_terms": text(200),
    "notes": text(5000), "active": boolean,
}
CONTACT_FIELDS = {"name": text(200, required=True), "role": text(100), "email": email_address,
                  "phone": text(64)}
MAX_CONTACTS = 20


def contact_snapshot(contact: SupplierContact) -> dict[str, Any]:
    """Return a contact's fields."""
    return {"name": contact.name, "role": contact.role, "email": contact.email, "phone": contact.phone}


def snapshot(supplier: Supplier) -> dict[str, Any]:
    """Return a supplier's fields (for audit rows and the API)."""
    return {"id": supplier.id, **{k: getattr(supplier, k) for k in FIELDS},
            "contacts": [contact_snapshot(c) for c in supplier.contacts]}


def find_supplier(session: Session, name: str) -> Supplier | None:
    """Return the supplier named ``name`` (without case), if any."""
    return session.scalar(select(Supplier).where(Supplier.name_key == key_of(name)))


def get_supplier(session: Session, supplier_id: Any, *, actor: Actor | None) -> Supplier:
    """Return supplier ``supplier_id`` for someone who may see parts."""
    require(resolve_actor(actor), "part.view")
    return get_row(session, Supplier, supplier_id, "supplier")


def list_suppliers(session: Session, *, actor: Actor | None, search: str = "", active: bool | None = None,
                   page: int = 1, per_page: int = 50) -> Page[Supplier]:
    """Return one page of suppliers by name; ``search`` matches the name, e-mail or phone."""
    require(resolve_actor(actor), "part.view")
    stmt = select(Supplier)
    needle = text(100)("search", search)
    if needle:
        like = f"%{needle.casefold()}%"
        stmt = stmt.where(or_(Supplier.name_key.like(like), Supplier.email.ilike(like), Supplier.phone.like(like)))
    if active is not None:
        stmt = stmt.where(Supplier.active.is_(active))
    return paginate(session, stmt.order_by(Supplier.name_key), page, per_page)


def choices(session: Session, *, actor: Actor | None) -> list[tuple[int, str]]:
    """Return (id, name) of every active supplier, by name (for forms)."""
    require(resolve_actor(actor), "part.view")
    return [(i, name) for i, name in session.execute(select(Supplier.id, Supplier.name)
                                                     .where(Supplier.active.is_(True)).order_by(Supplier.name_key))]


def _contacts(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise InvalidInput(N_("contacts: must be a list of {name, role, email, phone}"))
    if len(raw) > MAX_CONTACTS:
        raise InvalidInput(N_("contacts: at most %(max_contacts)s, got %(count)s"),
                           max_contacts=MAX_CONTACTS, count=len(raw))
    out = []
    for n, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise InvalidInput(N_("contacts[%(n)s]: must be an object with name, role, email, phone"), n=n)
        try:
            out.append(parse_fields(CONTACT_FIELDS, item, partial=False))
        except InvalidInput as exc:
            raise InvalidInput(N_("contacts[%(n)s].%(exc)s"), n=n, exc=exc) from None
    return out


def _apply(session: Session, supplier: Supplier, data: Mapping[str, Any], *, partial: bool) -> None:
    data = dict(data)
    contacts = _contacts(data.pop("contacts")) if "contacts" in data else None
    fields = parse_fields(FIELDS, data, partial=partial)
    if not partial and "active" not in data:
        fields["active"] = True
    if "name" in fields:
        name = tidy(fields["name"])
        other = find_supplier(session, name)
        if other is not None and other is not supplier:
            raise InvalidInput(N_("name: there is already a supplier '%(name)s'"), name=other.name)
        fields["name"], supplier.name_key = name, key_of(name)
    for field, value in fields.items():
        setattr(supplier, field, value)
    if contacts is not None:
        supplier.contacts = [SupplierContact(**c) for c in contacts]


def create_supplier(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> Supplier:
    """Add a supplier (``contacts`` is an optional list of people); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "supplier.manage")
    now = utc_now(clock)
    supplier = Supplier(created_at=now, updated_at=now, contacts=[])
    _apply(session, supplier, data, partial=False)
    session.add(supplier)
    session.flush()
    audit.record(session, actor=who, action="supplier.create", entity="supplier", entity_id=supplier.id,
                 after=snapshot(supplier), clock=clock)
    return supplier


def update_supplier(session: Session, supplier_id: Any, changes: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> Supplier:
    """Change a supplier's fields (``contacts``, when given, replaces the list); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "supplier.manage")
    supplier = get_row(session, Supplier, supplier_id, "supplier", for_update=True)
    before = snapshot(supplier)
    _apply(session, supplier, changes, partial=True)
    session.flush()
    old, new = audit.changes(before, snapshot(supplier))
    if new:
        supplier.updated_at = utc_now(clock)
        audit.record(session, actor=who, action="supplier.update", entity="supplier", entity_id=supplier.id,
                     before=old, after=new, clock=clock)
    return supplier


def delete_supplier(session: Session, supplier_id: Any, *, actor: Actor | None, clock: Clock | None = None) -> None:
    """Remove a supplier nothing refers to; one in use is refused (deactivate it instead)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "supplier.manage")
    supplier = get_row(session, Supplier, supplier_id, "supplier", for_update=True)
    used = session.scalar(select(or_(exists().where(Part.preferred_supplier_id == supplier.id),
                                     exists().where(StockMovement.supplier_id == supplier.id))))
    if used:
        raise InvalidInput(N_("supplier: '%(name)s' is named by parts or stock movements; set it inactive instead"),
                           name=supplier.name)
    before = snapshot(supplier)
    session.delete(supplier)
    session.flush()
    audit.record(session, actor=who, action="supplier.delete", entity="supplier", entity_id=before["id"],
                 before=before, clock=clock)
