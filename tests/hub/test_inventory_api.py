"""The inventory API: the catalogue, stock movements with "not enough stock" under concurrent
requests, parts on work orders, costs and the parts import, through the real app."""

from __future__ import annotations

import io
import threading
from decimal import Decimal

from relational_support import clock, web

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Site, StockLevel, StockMovement
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.inventory import ledger
from wardlink.hub.services.people import users


def _headers(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="t", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def _store(web, client, buyer) -> dict:
    with session_scope(web.engine, readonly=True) as s:
        site_id = s.query(Site.id).order_by(Site.id).first()[0]
    supplier = client.post("/api/v1/suppliers", headers=buyer, json={
        "name": "Medparts Ltd", "lead_time_days": 7, "payment_terms": "30 days net",
        "contacts": [{"name": "Ana Ruiz", "role": "sales", "email": "ana@medparts.example"}]})
    assert supplier.status_code == 201, supplier.text
    place = client.post("/api/v1/stock-locations", headers=buyer,
                        json={"code": "BME-STORE", "name": "Biomedical store", "site_id": site_id})
    assert place.status_code == 201, place.text
    bin_ = client.post(f"/api/v1/stock-locations/{place.json['id']}/bins", headers=buyer, json={"code": "A-1"})
    part = client.post("/api/v1/parts", headers=buyer, json={
        "sku": "FLT-100", "name": "Air filter", "unit_cost": "12.50", "reorder_level": 2, "reorder_quantity": "10",
        "preferred_supplier_id": supplier.json["id"], "models": [{"make": "Hamilton", "model": "C6"}]})
    assert part.status_code == 201, part.text
    return {"part": part.json["id"], "bin": bin_.json["id"], "supplier": supplier.json["id"]}


def test_twenty_concurrent_issues_of_the_last_five_units_leave_exactly_five_issued(web):
    client = web.app.test_client()
    buyer, tech = _headers(web, "buyer"), _headers(web, "tech")
    ids = _store(web, client, buyer)
    received = client.post(f"/api/v1/parts/{ids['part']}/receive", headers=buyer,
                           json={"bin_id": ids["bin"], "quantity": 5, "reference": "DN-1"})
    assert received.status_code == 201 and received.json["balance"] == "5"
    start, answers = threading.Barrier(20), []

    def take():
        own = web.app.test_client()
        start.wait()
        answers.append(own.post(f"/api/v1/parts/{ids['part']}/issue", headers=tech,
                                json={"bin_id": ids["bin"], "quantity": 1, "reason": "ward stock"}))

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 5 + [409] * 15
    refused = [a.json["error"] for a in answers if a.status_code == 409]
    assert all(e["code"] == "insufficient_stock" and "not enough stock of FLT-100" in e["message"] for e in refused)
    assert sorted(a.json["balance"] for a in answers if a.status_code == 201) == ["0", "1", "2", "3", "4"]
    with session_scope(web.engine, readonly=True) as s:
        level = s.query(StockLevel).filter_by(part_id=ids["part"]).one()
        moves = s.query(StockMovement).filter_by(part_id=ids["part"]).all()
        assert level.quantity == 0
        assert sum((m.quantity for m in moves), Decimal(0)) == level.quantity
        assert sorted(m.kind for m in moves) == ["issue"] * 5 + ["receive"]
        assert ledger.ledger_totals(s, ids["part"]) == {ids["bin"]: Decimal("0.000")}
    part = client.get(f"/api/v1/parts/{ids['part']}", headers=tech).json
    assert (part["on_hand"], part["low_since"] is not None) == ("0", True)
    reorder = client.get("/api/v1/reorder-list", headers=buyer).json["items"]
    assert [(r["part"]["sku"], r["suggested"], r["supplier"]["name"]) for r in reorder] == [
        ("FLT-100", "10", "Medparts Ltd")]


def test_picks_cost_and_permissions_through_the_api(web):
    client = web.app.test_client()
    admin, buyer, tech = _headers(web, "admin"), _headers(web, "buyer"), _headers(web, "tech")
    ids = _store(web, client, buyer)
    client.post(f"/api/v1/parts/{ids['part']}/receive", headers=buyer, json={"bin_id": ids["bin"], "quantity": "3"})
    tech_id = client.get("/api/v1/work-orders/assignees", headers=admin).json["items"]
    tech_id = next(u["id"] for u in tech_id if u["username"] == "tech")
    order = client.post("/api/v1/work-orders", headers=admin, json={
        "kind": "corrective", "title": "Filter alarm", "asset_tag": "VF-0001", "assignee_id": tech_id}).json
    assert client.post(f"/api/v1/work-orders/{order['id']}/picks", headers=buyer,
                       json={"part_id": ids["part"], "bin_id": ids["bin"], "quantity": 1}).status_code == 403
    short = client.post(f"/api/v1/work-orders/{order['id']}/picks", headers=tech,
                        json={"part_id": ids["part"], "bin_id": ids["bin"], "quantity": 4})
    assert short.status_code == 409 and short.json["error"]["code"] == "insufficient_stock"
    pick = client.post(f"/api/v1/work-orders/{order['id']}/picks", headers=tech,
                       json={"part_id": ids["part"], "bin_id": ids["bin"], "quantity": 2})
    assert pick.status_code == 201 and (pick.json["state"], pick.json["cost"]) == ("picked", "25.00")
    charge = client.post(f"/api/v1/work-orders/{order['id']}/charges", headers=tech,
                         json={"vendor": "Hamilton service", "description": "Call-out", "amount": "80.00"})
    assert charge.status_code == 201
    cost = client.get(f"/api/v1/work-orders/{order['id']}/cost", headers=buyer).json
    assert (cost["parts"], cost["vendor"], cost["total"]) == ("25.00", "80.00", "105.00")
    assert client.get(f"/api/v1/work-orders/{order['id']}/cost", headers=tech).status_code == 403
    bad = client.post(f"/api/v1/parts/{ids['part']}/adjust", headers=buyer,
                      json={"bin_id": ids["bin"], "quantity": "-1", "reason": "", "extra": 1})
    assert bad.status_code == 400 and bad.json["error"]["code"] == "invalid_input"


def test_the_import_keeps_good_rows_and_reports_each_refused_one(web):
    client = web.app.test_client()
    buyer = _headers(web, "buyer")
    _store(web, client, buyer)
    table = ("sku,name,unit,unit_cost,reorder_level,preferred_supplier,models,bin,quantity\n"
             "BAT-9,Battery pack,each,80,1,Medparts Ltd,Philips/MX450,BME-STORE/A-1,3\n"
             "FLT-100,Air filter (pack of 1),,13.00,,,,,\n"
             ",No SKU,each,,,,,,\n"
             "SEN-1,SpO2 sensor,dozen,,,,,,\n"
             "TUB-2,Tubing,m,1.20,,Nobody Inc,,,\n"
             "LED-3,Lamp,each,,,,,NOWHERE/X,1\n")
    answer = client.post("/api/v1/parts/import", headers=buyer,
                         data={"file": (io.BytesIO(table.encode()), "parts.csv")}, content_type="multipart/form-data")
    assert answer.status_code == 200, answer.text
    report = answer.json
    assert (report["created"], report["updated"]) == (1, 1)
    assert [(e["row"], e["sku"]) for e in report["errors"]] == [(4, ""), (5, "SEN-1"), (6, "TUB-2"), (7, "LED-3")]
    assert "sku: is required" in report["errors"][0]["error"]
    assert "unit: must be one of" in report["errors"][1]["error"]
    assert "no supplier named 'Nobody Inc'" in report["errors"][2]["error"]
    assert "no bin 'NOWHERE/X'" in report["errors"][3]["error"]
    parts = {p["sku"]: p for p in client.get("/api/v1/parts", headers=buyer).json["items"]}
    assert set(parts) == {"BAT-9", "FLT-100"}
    assert (parts["BAT-9"]["on_hand"], parts["BAT-9"]["models"]) == ("3", [{"make": "Philips", "model": "MX450"}])
    assert parts["FLT-100"]["unit_cost"] == "13.00"
