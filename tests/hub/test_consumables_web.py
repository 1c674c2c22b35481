"""Department consumables through the real app: the JSON API (lists, receipts, collections
refused below zero also under concurrent requests, department scope, consumption and its
files) and the pages (forms, errors, the chart's data)."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from decimal import Decimal

from consumables_support import department_id
from openpyxl import load_workbook
from relational_support import clock, csrf_from, web

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, ConsumableEntry
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.consumables import items
from wardlink.hub.services.people import users


def _headers(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="t", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def _icu(web) -> int:
    with session_scope(web.engine, readonly=True) as s:
        return department_id(s, "ICU")


def _item(web, client, buyer, **fields) -> dict:
    body = {"department_id": _icu(web), "name": "Examination gloves", "unit": "box", "reorder_level": 2, **fields}
    created = client.post("/api/v1/consumables", headers=buyer, json=body)
    assert created.status_code == 201, created.text
    return created.json


def test_the_api_lists_items_records_receipts_and_collections_and_shows_the_log(web):
    client = web.app.test_client()
    buyer, tech = _headers(web, "buyer"), _headers(web, "tech")
    item = _item(web, client, buyer)
    assert item["balance"] == "0" and item["department"] == "ICU" and item["low"] is True
    got = client.post(f"/api/v1/consumables/{item['id']}/receipts", headers=buyer,
                      json={"quantity": "20", "supplier": "Medsupply", "reference": "DN-77", "on_date": "2025-12-30"})
    assert got.status_code == 201 and got.json["balance_after"] == "20" and got.json["on_date"] == "2025-12-30"
    taken = client.post(f"/api/v1/consumables/{item['id']}/collections", headers=tech,
                        json={"quantity": 3, "collected_by_name": "Ama Mensah", "notes": "theatre 2"})
    assert taken.status_code == 201, taken.text
    assert taken.json["collector"] == "Ama Mensah" and taken.json["balance_after"] == "17"
    mine = client.post(f"/api/v1/consumables/{item['id']}/collections", headers=tech, json={"quantity": "0.5"})
    assert mine.json["collected_by_id"] == _user_id(web, "tech") and mine.json["collector"] == "Tech"
    detail = client.get(f"/api/v1/consumables/{item['id']}", headers=tech).json
    assert detail["balance"] == "16.5" and detail["low"] is False
    log = client.get(f"/api/v1/consumables/{item['id']}/entries", headers=tech).json
    assert [(e["kind"], e["quantity"], e["balance_after"]) for e in log["items"]] == [
        ("collection", "0.5", "16.5"), ("collection", "3", "17"), ("receipt", "20", "20")]
    only = client.get(f"/api/v1/consumables/{item['id']}/entries?kind=receipt", headers=tech).json
    assert [e["reference"] for e in only["items"]] == ["DN-77"]
    listed = client.get("/api/v1/consumables?q=glove", headers=tech).json
    assert [(i["name"], i["balance"]) for i in listed["items"]] == [("Examination gloves", "16.5")]


def _user_id(web, name: str) -> int:
    with session_scope(web.engine, readonly=True) as s:
        return users.find_user(s, name).id


def test_bad_requests_are_refused_with_a_message_and_change_nothing(web):
    client = web.app.test_client()
    buyer, tech = _headers(web, "buyer"), _headers(web, "tech")
    item = _item(web, client, buyer)
    path = f"/api/v1/consumables/{item['id']}"
    short = client.post(f"{path}/collections", headers=tech, json={"quantity": 1})
    assert short.status_code == 409 and short.json["error"]["code"] == "insufficient_stock"
    assert "0 box left, 1 asked for" in short.json["error"]["message"]
    for body, field in (({"quantity": -2}, "quantity"), ({"quantity": 1, "on_date": "2030-01-01"}, "on_date"),
                        ({"quantity": 1, "colour": "red"}, "colour")):
        answer = client.post(f"{path}/receipts", headers=buyer, json=body)
        assert answer.status_code == 400 and field in answer.json["error"]["message"], answer.text
    assert client.post(f"{path}/receipts", headers=tech, json={"quantity": 1}).status_code == 403
    twin = client.post("/api/v1/consumables", headers=buyer, json={"department_id": _icu(web),
                                                                   "name": "EXAMINATION gloves"})
    assert twin.status_code == 400 and "already lists" in twin.json["error"]["message"]
    with session_scope(web.engine, readonly=True) as s:
        assert s.query(ConsumableEntry).count() == 0


def test_another_departments_item_is_not_found_and_its_consumption_refused(web):
    client = web.app.test_client()
    buyer, pharmtech = _headers(web, "buyer"), _headers(web, "pharmtech")
    item = _item(web, client, buyer)
    client.post(f"/api/v1/consumables/{item['id']}/receipts", headers=buyer, json={"quantity": 5})
    assert client.get(f"/api/v1/consumables/{item['id']}", headers=pharmtech).status_code == 404
    assert client.post(f"/api/v1/consumables/{item['id']}/collections", headers=pharmtech,
                       json={"quantity": 1}).status_code == 404
    assert client.get("/api/v1/consumables", headers=pharmtech).json["items"] == []
    refused = client.get(f"/api/v1/consumables/consumption?department_id={_icu(web)}", headers=pharmtech)
    assert refused.status_code == 403


def test_twenty_concurrent_collections_of_the_last_five_leave_exactly_five_recorded(web):
    client = web.app.test_client()
    buyer, tech = _headers(web, "buyer"), _headers(web, "tech")
    item = _item(web, client, buyer, reorder_level=0)
    client.post(f"/api/v1/consumables/{item['id']}/receipts", headers=buyer, json={"quantity": 5})
    start, answers = threading.Barrier(20), []

    def take():
        own = web.app.test_client()
        start.wait()
        answers.append(own.post(f"/api/v1/consumables/{item['id']}/collections", headers=tech,
                                json={"quantity": 1}))

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201] * 5 + [409] * 15
    assert sorted(a.json["balance_after"] for a in answers if a.status_code == 201) == ["0", "1", "2", "3", "4"]
    with session_scope(web.engine, readonly=True) as s:
        assert items.balance(s, item["id"]) == Decimal("0")
        assert s.query(ConsumableEntry).filter_by(kind="collection").count() == 5


def test_consumption_as_json_csv_and_excel_with_the_export_audited(web):
    client = web.app.test_client()
    buyer, tech = _headers(web, "buyer"), _headers(web, "tech")
    item = _item(web, client, buyer)
    path = f"/api/v1/consumables/{item['id']}"
    client.post(f"{path}/receipts", headers=buyer, json={"quantity": 30, "on_date": "2025-11-02"})
    client.post(f"{path}/collections", headers=tech, json={"quantity": 4, "on_date": "2025-11-20"})
    client.post(f"{path}/collections", headers=tech, json={"quantity": 7, "on_date": "2025-12-05"})
    query = f"department_id={_icu(web)}&from=2025-11&to=2026-01"
    report = client.get(f"/api/v1/consumables/consumption?{query}", headers=tech).json
    assert report["months"] == ["2025-11", "2025-12", "2026-01"]
    assert report["items"] == [{"consumable_id": item["id"], "name": "Examination gloves", "unit": "box",
                                "collected": ["4", "7", "0"], "received": ["30", "0", "0"], "total_collected": "11"}]
    got = client.get(f"/api/v1/consumables/consumption/export?{query}", headers=tech)
    assert got.status_code == 200 and got.headers["Content-Type"].startswith("text/csv")
    assert 'filename="consumption-ICU-2025-11-2026-01.csv"' in got.headers["Content-Disposition"]
    assert list(csv.reader(io.StringIO(got.text)))[1:3] == [["ICU", "Examination gloves", "box", "2025-11", "4", "30"],
                                                             ["ICU", "Examination gloves", "box", "2025-12", "7", "0"]]
    book = client.get(f"/api/v1/consumables/consumption/export?{query}&format=xlsx", headers=tech)
    rows = list(load_workbook(io.BytesIO(book.data)).active.iter_rows(values_only=True))
    assert rows[2] == ("ICU", "Examination gloves", "box", "2025-12", 7, 0)
    bad = client.get(f"/api/v1/consumables/consumption/export?{query}&format=pdf", headers=tech)
    assert bad.status_code == 400 and "format" in bad.json["error"]["message"]
    with session_scope(web.engine, readonly=True) as s:
        assert s.query(AuditLog).filter_by(action="export.create", entity_id="consumables").count() == 2


def _post(client, path, page, data):
    return client.post(path, data={"csrf_token": csrf_from(page), **data})


def test_the_pages_record_a_receipt_and_a_collection_and_show_errors_without_losing_input(web):
    buyer = web.client("buyer")
    form = buyer.get("/consumables/items/new")
    assert form.status_code == 200
    saved = _post(buyer, "/consumables/items", form.text, {"department_id": _icu(web), "name": "Syringes 10 mL",
                                                          "unit": "box", "reorder_level": "3", "active": "yes"})
    assert saved.status_code == 303, saved.text
    item_path = saved.headers["Location"]
    page = buyer.get(item_path).text
    assert _post(buyer, f"{item_path}/receive", page, {"quantity": "12", "supplier": "Medsupply"}).status_code == 303
    nurse = web.client("nurse")
    page = nurse.get(item_path).text
    assert 'id="receive-form"' not in page and 'id="collect-form"' in page
    refused = _post(nurse, f"{item_path}/collect", page, {"quantity": "50", "notes": "ward round"})
    assert refused.status_code == 400 and "not enough Syringes 10 mL in stock" in refused.text
    assert 'value="ward round"' in refused.text
    done = _post(nurse, f"{item_path}/collect", page, {"quantity": "10", "collected_by_name": "Kofi Boateng"})
    assert done.status_code == 303
    page = nurse.get(item_path).text
    assert re.search(r'id="balance">2<', page) and "Kofi Boateng" in page and 'id="low-badge"' in page
    spec = json.loads(re.search(r"id=\"item-chart\" data-trend-data='([^']+)'", page).group(1))
    assert spec["labels"][-1] == "2026-01" and spec["series"][0]["values"][-1] == 10.0
    listing = nurse.get("/consumables").text
    assert "Syringes 10 mL" in listing
    report = nurse.get("/consumables/consumption").text
    assert 'id="consumption-chart"' in report and "Syringes 10 mL" in report
    csv_file = nurse.get(f"/consumables/consumption/export?format=csv&department={_icu(web)}")
    assert csv_file.status_code == 200 and "Syringes 10 mL,box,2026-01,10,12" in csv_file.text


def test_a_french_reader_gets_the_item_page_and_its_refusal_in_french(web):
    buyer = _headers(web, "buyer")
    client = web.app.test_client()
    item = _item(web, client, buyer)
    client.post(f"/api/v1/consumables/{item['id']}/receipts", headers=buyer, json={"quantity": "2.5"})
    nurse = web.client("nurse")
    page = nurse.get("/account")
    nurse.post("/account/language", data={"csrf_token": csrf_from(page.text), "locale": "fr"})
    page = nurse.get(f"/consumables/items/{item['id']}").text
    assert "Enregistrer un retrait" in page and "Agent ayant retiré" in page
    refused = _post(nurse, f"/consumables/items/{item['id']}/collect", page, {"quantity": "3"})
    assert refused.status_code == 400
    assert "pas assez de Examination gloves en stock pour" in refused.text and "il reste 2,5 " in refused.text
