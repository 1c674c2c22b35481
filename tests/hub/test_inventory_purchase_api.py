"""Purchase orders through the JSON API: drafted with everything below reorder level, sent,
received in two parts (the ledger reconciles), refused moves answer 409, over-receiving 400,
the PDF is a PDF; the reorder list shows what is on order."""

from __future__ import annotations

from decimal import Decimal

from inventory_support import make_store
from relational_support import clock, web

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.inventory import ledger, levels, receiving
from wardlink.hub.services.people import users

__all__ = ["clock", "web"]


def _headers(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="t", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def test_an_order_is_drafted_sent_and_received_in_two_parts(web):
    with session_scope(web.engine) as s:
        store = make_store(s, web.clock)  # FLT-100: level 2, reorder 10, no stock: on the reorder list
    client, buyer = web.app.test_client(), _headers(web, "buyer")
    drafted = client.post("/api/v1/purchase-orders", headers=buyer,
                          json={"supplier_id": store.supplier_id, "add_below_reorder": True, "notes": "Urgent"})
    assert drafted.status_code == 201, drafted.text
    order = drafted.json
    assert order["state"] == "draft" and order["number"] == f"PO-{order['id']:05d}"
    assert [(line["sku"], line["quantity"], line["unit_cost"]) for line in order["lines"]] == [
        ("FLT-100", "10", "12.50")]
    base = f"/api/v1/purchase-orders/{order['id']}"
    line_id = order["lines"][0]["id"]
    early = client.post(f"{base}/lines/{line_id}/receive", headers=buyer, json={"quantity": 1, "bin_id": store.bin_a})
    assert early.status_code == 409 and early.json["error"]["code"] == "invalid_transition"
    changed = client.post(f"{base}/lines", headers=buyer, json={"part_id": store.part_id, "quantity": "8"})
    assert changed.status_code == 200 and changed.json["total"] == "100.00"
    sent = client.post(f"{base}/transition", headers=buyer, json={"to": "sent"})
    assert sent.status_code == 200 and sent.json["state"] == "sent" and sent.json["expected_on"]
    again = client.post(f"{base}/transition", headers=buyer, json={"to": "sent"})
    assert again.status_code == 409 and "is sent; it cannot be sent" in again.json["error"]["message"]
    reorder = client.get("/api/v1/reorder-list", headers=buyer).json["items"]
    assert [(r["part"]["sku"], r["on_order"]) for r in reorder] == [("FLT-100", "8")]
    assert client.get(f"/api/v1/parts/{store.part_id}", headers=buyer).json["on_order"] == "8"
    over = client.post(f"{base}/lines/{line_id}/receive", headers=buyer, json={"quantity": 9, "bin_id": store.bin_a})
    assert over.status_code == 400 and "only 8 each of FLT-100 are still to arrive" in over.json["error"]["message"]
    tech = client.post(f"{base}/lines/{line_id}/receive", headers=_headers(web, "tech"),
                       json={"quantity": 1, "bin_id": store.bin_a})
    assert tech.status_code == 403
    first = client.post(f"{base}/lines/{line_id}/receive", headers=buyer,
                        json={"quantity": "5", "bin_id": "BME-STORE/A-1", "reference": "DN-1"})
    assert first.status_code == 201, first.text
    assert first.json["order"]["state"] == "partially_received"
    assert client.get(f"/api/v1/parts/{store.part_id}", headers=buyer).json["on_order"] == "3"
    assert first.json["movement"]["kind"] == "receive" and first.json["movement"]["reference"].startswith("PO-")
    second = client.post(f"{base}/lines/{line_id}/receive", headers=buyer, json={"quantity": 3, "bin_id": store.bin_b})
    assert second.status_code == 201 and second.json["order"]["state"] == "received"
    assert second.json["order"]["lines"][0]["outstanding"] == "0"
    assert client.get(f"/api/v1/parts/{store.part_id}", headers=buyer).json["on_order"] == "0"
    with session_scope(web.engine, readonly=True) as s:
        assert levels.on_hand(s, [store.part_id]) == {store.part_id: Decimal("8")}
        assert ledger.ledger_totals(s, store.part_id) == {store.bin_a: Decimal("5"), store.bin_b: Decimal("3")}
        assert receiving.received_by_ledger(s, line_id) == Decimal("8")
        assert s.query(AuditLog).filter_by(entity="purchase_order", action="purchase_order.receive").count() == 2
    closed = client.post(f"{base}/transition", headers=buyer, json={"to": "closed"})
    assert closed.status_code == 200 and closed.json["state"] == "closed"
    listed = client.get("/api/v1/purchase-orders?state=closed", headers=buyer).json
    assert [o["number"] for o in listed["items"]] == [order["number"]]
    pdf = client.get(f"{base}/pdf", headers=buyer)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")


def test_bad_input_is_a_400_with_a_message_and_changes_nothing(web):
    with session_scope(web.engine) as s:
        store = make_store(s, web.clock)
    client, buyer = web.app.test_client(), _headers(web, "buyer")
    unknown = client.post("/api/v1/purchase-orders", headers=buyer, json={"supplier_id": 999})
    assert unknown.status_code == 400 and "no supplier 999" in unknown.json["error"]["message"]
    order = client.post("/api/v1/purchase-orders", headers=buyer, json={"supplier_id": store.supplier_id}).json
    empty = client.post(f"/api/v1/purchase-orders/{order['id']}/transition", headers=buyer, json={"to": "sent"})
    assert empty.status_code == 400 and "has no lines" in empty.json["error"]["message"]
    no_reason = client.post(f"/api/v1/purchase-orders/{order['id']}/transition", headers=buyer,
                            json={"to": "cancelled"})
    assert no_reason.status_code == 400 and "say why" in no_reason.json["error"]["message"]
    bad_date = client.patch(f"/api/v1/purchase-orders/{order['id']}", headers=buyer, json={"expected_on": "soon"})
    assert bad_date.status_code == 400
    assert client.get(f"/api/v1/purchase-orders/{order['id']}", headers=buyer).json["state"] == "draft"
