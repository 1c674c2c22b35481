"""Department consumables for the tests: an ICU item with some stock."""

from __future__ import annotations

from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Consumable, Department
from wardlink.hub.services.consumables import items, log


def department_id(session, code: str) -> int:
    """Return the id of the demo department ``code`` (ICU, PHARM...)."""
    return session.scalar(select(Department.id).where(Department.code == code))


def make_item(session, clock, *, name: str = "Examination gloves", code: str = "ICU", unit: str = "box",
              reorder_level: str = "2", received: str | None = "10") -> Consumable:
    """Add ``name`` to department ``code``'s list (and receive ``received`` of it)."""
    item = items.create_item(session, {"department_id": department_id(session, code), "name": name, "unit": unit,
                                       "reorder_level": reorder_level}, actor=None, clock=clock)
    if received:
        log.receive(session, item.id, quantity=received, supplier="Medsupply", reference="DN-1", actor=None,
                    clock=clock)
    return item


def matrix_item(engine, clock) -> int:
    """Add an ICU item with plenty of stock (for the RBAC matrix) and return its id."""
    with session_scope(engine) as s:
        found = s.scalar(select(Consumable.id).where(Consumable.name_key == "matrix swabs"))
        if found is not None:
            return found
        return make_item(s, clock, name="Matrix swabs", received="100000").id


def matrix_usage(engine, clock) -> dict[str, int]:
    """Add (once) a knowledge entry, a session of ENV-ICU-1 and a rental of VENT-0001 for the RBAC
    matrix, and return their ids by path parameter."""
    from wardlink.hub.db.models import KnowledgeEntry, Rental, UsageSession
    from wardlink.hub.services.usage import knowledge, rentals, sessions

    with session_scope(engine) as s:
        entry = s.scalar(select(KnowledgeEntry.id).where(KnowledgeEntry.category_key == "matrix category"))
        if entry is None:
            entry = knowledge.create_entry(s, {"category": "Matrix category"}, actor=None, clock=clock).id
            sessions.start(s, "ENV-ICU-1", reason="matrix", actor=None, clock=clock)
            rentals.register(s, {"asset_tag": "VENT-0001", "vendor": "Matrix", "expected_return_on": "2026-12-31"},
                             actor=None, clock=clock)
        return {"entry_id": entry,
                "session_id": s.scalar(select(UsageSession.id).order_by(UsageSession.id).limit(1)),
                "rental_id": s.scalar(select(Rental.id).order_by(Rental.id).limit(1))}
