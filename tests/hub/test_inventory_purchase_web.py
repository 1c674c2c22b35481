"""The purchase order pages: procurement drafts an order from the reorder list, changes a line,
sends it and receives it in two parts; a technician may read orders and do nothing else;
bad input answers 400 with the form's error and changes nothing."""

from __future__ import annotations

from decimal import Decimal

from inventory_support import make_store
from relational_support import clock, csrf_from, web

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import PurchaseOrder
from wardlink.hub.services.inventory import ledger, levels

__all__ = ["clock", "web"]


def _seed(web):
    with session_scope(web.engine) as s:
        store = make_store(s, web.clock, reorder_level="3")
        ledger.receive(s, store.part_id, bin_id=store.bin_a, quantity=2, actor=None, clock=web.clock)
        return store


def test_procurement_drafts_from_the_reorder_list_sends_and_receives_in_two_parts(web):
    store = _seed(web)
    buyer = web.client("buyer")
    reorder = buyer.get("/inventory/reorder")
    assert 'data-draft-for="Medparts Ltd"' in reorder.text and 'data-on-order="0"' in reorder.text
    drafted = buyer.post("/inventory/purchase-orders", data={
        "csrf_token": csrf_from(reorder.text), "supplier_id": store.supplier_id, "add_below_reorder": "yes"})
    assert drafted.status_code == 303
    page = buyer.get(drafted.headers["Location"])
    assert 'data-sku="FLT-100"' in page.text and "PO-00001" in page.text
    token = csrf_from(page.text)
    changed = buyer.post("/inventory/purchase-orders/1/lines", data={
        "csrf_token": token, "sku": "flt-100", "quantity": "8", "unit_cost": "11.00"})
    assert changed.status_code == 303
    unknown = buyer.post("/inventory/purchase-orders/1/lines", data={"csrf_token": token, "sku": "NOPE",
                                                                     "quantity": "1"})
    assert unknown.status_code == 400 and "no part with SKU NOPE" in unknown.text
    assert buyer.post("/inventory/purchase-orders/1/transition", data={"csrf_token": token, "to": "sent"}
                      ).status_code == 303
    part_page = buyer.get(f"/inventory/parts/{store.part_id}")
    assert '<dd id="on-order">8 each' in part_page.text
    too_many = buyer.post("/inventory/purchase-orders/1/lines/1/receive", data={
        "csrf_token": token, "quantity": "9", "bin_id": "BME-STORE/A-1"})
    assert too_many.status_code == 400 and "only 8 each of FLT-100 are still to arrive" in too_many.text
    for quantity in ("5", "3"):
        done = buyer.post("/inventory/purchase-orders/1/lines/1/receive", data={
            "csrf_token": token, "quantity": quantity, "bin_id": "BME-STORE/A-1", "reference": "DN-7"})
        assert done.status_code == 303
    with session_scope(web.engine, readonly=True) as s:
        assert s.get(PurchaseOrder, 1).state == "received"
        assert levels.on_hand(s, [store.part_id]) == {store.part_id: Decimal("10")}
        assert ledger.ledger_totals(s, store.part_id) == {store.bin_a: Decimal("10")}
    listed = buyer.get("/inventory/purchase-orders?state=received")
    assert 'data-order="PO-00001" data-state="received"' in listed.text
    pdf = buyer.get("/inventory/purchase-orders/1.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")


def test_a_technician_reads_orders_but_may_not_draft_or_receive(web):
    store = _seed(web)
    tech = web.client("tech")
    listing = tech.get("/inventory/purchase-orders")
    assert listing.status_code == 200 and 'id="new-order"' not in listing.text
    refused = tech.post("/inventory/purchase-orders", data={"csrf_token": csrf_from(listing.text),
                                                            "supplier_id": store.supplier_id})
    assert refused.status_code == 403
    with session_scope(web.engine, readonly=True) as s:
        assert s.query(PurchaseOrder).count() == 0
