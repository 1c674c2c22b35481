"""A small store for the inventory tests: one supplier, a stock location with two bins, one part."""

from __future__ import annotations

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
