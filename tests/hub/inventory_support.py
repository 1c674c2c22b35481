"""A small store for the inventory tests: one supplier, a stock location with two bins, one part."""

from __future__ import annotations

import itertools
from decimal import Decimal
from dataclasses import dataclass

from relational_support import actor

from wardlink.hub.db.models import Site
from wardlink.hub.services.inventory import catalogue, storage, suppliers


@dataclass(frozen=True)
class Store:
    """Ids of what :func:`make_store` created."""

    supplier_id: int
    location_id: int
    bin_a: int
    bin_b: int
    part_id: int


def make_store(session, clock, *, reorder_level="2", reorder_quantity="10", unit_cost="12.50") -> Store:
    """Create a supplier, store room BME-STORE with bins A-1 and A-2, and part FLT-100 (as ``buyer``)."""
    buyer = actor(session, "buyer")
    supplier = suppliers.create_supplier(session, {"name": "Medparts Ltd", "lead_time_days": 7,
                                                   "payment_terms": "30 days net"}, actor=buyer, clock=clock)
    site_id = session.query(Site.id).order_by(Site.id).first()[0]
    place = storage.create_location(session, {"code": "BME-STORE", "name": "Biomedical store", "site_id": site_id},
                                    actor=buyer, clock=clock)
    bin_a = storage.create_bin(session, place.id, {"code": "A-1"}, actor=buyer, clock=clock)
    bin_b = storage.create_bin(session, place.id, {"code": "A-2"}, actor=buyer, clock=clock)
    part = catalogue.create_part(session, {
        "sku": "FLT-100", "name": "Air filter, ventilator intake", "unit": "each", "unit_cost": unit_cost,
        "reorder_level": reorder_level, "reorder_quantity": reorder_quantity, "preferred_supplier_id": supplier.id,
        "models": [{"make": "Hamilton", "model": "C6"}]}, actor=buyer, clock=clock)
    return Store(supplier.id, place.id, bin_a.id, bin_b.id, part.id)


_serial = itertools.count(1)


def matrix_store(engine, clock) -> Store:
    """Make a store as :func:`make_store` does, with unique codes and five units in bin A-1 (for
    tests that share one database)."""
    from wardlink.hub.db import session_scope
    from wardlink.hub.services.actor import Actor
    from wardlink.hub.services.inventory import ledger

    n = next(_serial)
    system = Actor.system("inventory-tests")
    with session_scope(engine) as s:
        site_id = s.query(Site.id).order_by(Site.id).first()[0]
        supplier = suppliers.create_supplier(s, {"name": f"Supplier {n}"}, actor=system, clock=clock)
        place = storage.create_location(s, {"code": f"ST-{n}", "name": f"Store {n}", "site_id": site_id},
                                        actor=system, clock=clock)
        bin_a = storage.create_bin(s, place.id, {"code": "A-1"}, actor=system, clock=clock)
        bin_b = storage.create_bin(s, place.id, {"code": "A-2"}, actor=system, clock=clock)
        part = catalogue.create_part(s, {"sku": f"MX-{n}", "name": f"Matrix part {n}", "unit_cost": "1.00",
                                         "preferred_supplier_id": supplier.id}, actor=system, clock=clock)
        ledger.receive(s, part.id, bin_id=bin_a.id, quantity=5, actor=system, clock=clock)
        return Store(supplier.id, place.id, bin_a.id, bin_b.id, part.id)


def matrix_kit(engine, clock) -> int:
    """Make a kit of one new part and return its id."""
    from wardlink.hub.db import session_scope
    from wardlink.hub.services.actor import Actor
    from wardlink.hub.services.inventory import kits

    store = matrix_store(engine, clock)
    with session_scope(engine) as s:
        return kits.create_kit(s, {"name": f"Kit {store.part_id}", "items": [{"part_id": store.part_id,
                                                                               "quantity": 1}]},
                               actor=Actor.system("inventory-tests"), clock=clock).id


def matrix_adjustment(engine, clock) -> int:
    """Make an adjustment waiting for approval (asked by the buyer) and return its id."""
    from wardlink.hub.db import session_scope
    from wardlink.hub.services.actor import Actor
    from wardlink.hub.services.inventory import adjustments
    from wardlink.hub.services.people import users

    store = matrix_store(engine, clock)
    with session_scope(engine) as s:
        buyer = Actor.for_user(users.find_user(s, "buyer"))
        outcome = adjustments.adjust(s, store.part_id, bin_id=store.bin_a, quantity="-4", reason="damaged",
                                     actor=buyer, clock=clock, policy=adjustments.ApprovalPolicy(value=Decimal("1")))
        return outcome.request.id


def matrix_pick(engine, clock, order_id: int) -> tuple[int, int]:
    """Pick one unit of a new part for work order ``order_id``; return (order id, pick id)."""
    from wardlink.hub.db import session_scope
    from wardlink.hub.services.actor import Actor
    from wardlink.hub.services.maintenance import workorder_parts

    store = matrix_store(engine, clock)
    with session_scope(engine) as s:
        row = workorder_parts.pick_part(s, order_id, part_id=store.part_id, bin_id=store.bin_a, quantity=1,
                                        actor=Actor.system("inventory-tests"), clock=clock)
        return order_id, row.id


def matrix_purchase_order(engine, clock, *, sent: bool = False) -> tuple[int, int, Store]:
    """Draft (or send) an order of three units of a new part; return (order id, line id, store)."""
    from wardlink.hub.db import session_scope
    from wardlink.hub.services.actor import Actor
    from wardlink.hub.services.inventory import purchasing

    store = matrix_store(engine, clock)
    system = Actor.system("inventory-tests")
    with session_scope(engine) as s:
        order = purchasing.create_order(s, {"supplier_id": store.supplier_id}, actor=system, clock=clock)
        line = purchasing.set_line(s, order.id, part_id=store.part_id, quantity=3, actor=system, clock=clock)
        if sent:
            purchasing.transition(s, order.id, "sent", actor=system, clock=clock)
        return order.id, line.id, store
