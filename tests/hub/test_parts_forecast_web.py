"""The parts forecast page and API, and the plan form's parts per visit, through the real app on
SQLite and PostgreSQL (the hand-computed fixture of forecast_support)."""

from __future__ import annotations

import re

from forecast_support import NOW, make_forecast
from relational_support import clock, csrf_from, web

from wardlink.hub.db import session_scope
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import pm_parts
from wardlink.hub.services.people import users

__all__ = ["clock", "web"]


def _seed(web):
    web.clock.set(NOW.timestamp())
    with session_scope(web.engine) as s:
        _, monthly, quarterly = make_forecast(s, web.clock)
        return monthly.id, quarterly.id


def _headers(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="t", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def _cells(html: str, sku: str) -> dict[str, str]:
    row = re.search(rf'<tr data-sku="{sku}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    return {label: re.sub(r"<[^>]+>", "", value).strip()
            for label, value in re.findall(r'data-label="([^"]+)"[^>]*>(.*?)</td>', row, re.S)}


def test_the_page_shows_needs_shortfalls_and_orders_per_supplier(web):
    _seed(web)
    manager = web.client("manager")
    page = manager.get("/inventory/forecast")
    assert page.status_code == 200
    flt = _cells(page.text, "FLT-100")
    assert (flt["Needed"], flt["On hand"], flt["Shortfall"], flt["Order"]) == ("9 each", "4", "5", "10")
    assert "Pump quarterly (1 × 3); Ventilator monthly (3 × 2)" in flt["Plans (services × per visit)"]
    assert _cells(page.text, "GAS-1")["Shortfall"] == "0"
    orders = re.findall(r'<section class="card supplier-order" data-supplier="([^"]*)"', page.text)
    assert orders == ["Medparts Ltd", ""]
    assert 'id="forecast-range">From 2026-03-01 to 2026-05-29: 4 services' in page.text
    short = manager.get("/inventory/forecast?days=30")
    assert _cells(short.text, "FLT-100")["Needed"] == "2 each" and 'id="no-orders"' in short.text
    bad = manager.get("/inventory/forecast?days=999")
    assert bad.status_code == 400 and "days: must be 1..365, got 999" in bad.text
    french = web.client("buyer")
    french.post("/account/language", data={"locale": "fr", "csrf_token": csrf_from(french.get("/inventory/forecast").text)})
    assert "Prévision de pièces" in french.get("/inventory/forecast").text
    assert web.client("nurse").get("/inventory/forecast").status_code == 403


def test_the_api_gives_the_same_forecast_and_sets_parts_per_visit(web):
    monthly_id, _ = _seed(web)
    client = web.app.test_client()
    buyer, manager = _headers(web, "buyer"), _headers(web, "manager")
    found = client.get("/api/v1/parts-forecast", headers=buyer)
    assert found.status_code == 200, found.text
    body = found.json
    assert (body["days"], body["start"], body["end"], body["services"]) == (90, "2026-03-01", "2026-05-29", 4)
    flt = next(p for p in body["parts"] if p["part"]["sku"] == "FLT-100")
    assert (flt["needed"], flt["on_hand"], flt["on_order"], flt["shortfall"], flt["suggested"], flt["value"]) == (
        "9", "4", "0", "5", "10", "125.00")
    assert [(o["supplier"] and o["supplier"]["name"], [(x["sku"], x["quantity"]) for x in o["lines"]])
            for o in body["orders"]] == [("Medparts Ltd", [("FLT-100", "10")]), (None, [("BAT-9", "1")])]
    assert client.get("/api/v1/parts-forecast?days=0", headers=buyer).status_code == 400
    changed = client.patch(f"/api/v1/pm-plans/{monthly_id}", headers=manager,
                           json={"visit_parts": [{"sku": "FLT-100", "quantity": 1}]})
    assert changed.status_code == 200, changed.text
    assert [(p["sku"], p["quantity"]) for p in changed.json["visit_parts"]] == [("FLT-100", "1")]
    bad = client.patch(f"/api/v1/pm-plans/{monthly_id}", headers=manager, json={"visit_parts": [{"sku": "NOPE"}]})
    assert bad.status_code == 400 and "no SKU 'NOPE'" in bad.json["error"]["message"]
    assert client.get("/api/v1/parts-forecast?days=90", headers=buyer).json["parts"][1]["needed"] == "6"


def test_the_plan_form_edits_parts_per_visit(web):
    monthly_id, _ = _seed(web)
    manager = web.client("manager")
    form = manager.get(f"/maintenance/{monthly_id}/edit")
    assert 'name="visit-0-sku" maxlength="64" value="FLT-100"' in form.text
    fields = {k: v for k, v in re.findall(r'<input id="[^"]+" name="([^"]+)"[^>]*value="([^"]*)"', form.text)}
    fields.update({"csrf_token": csrf_from(form.text), "trigger": "calendar", "interval_unit": "month",
                   "priority": "medium", "assign_to": "", "visit-0-sku": "GAS-1", "visit-0-quantity": "2",
                   "visit-1-sku": "", "visit-1-quantity": ""})
    saved = manager.post(f"/maintenance/{monthly_id}/edit", data=fields)
    assert saved.status_code == 303, saved.text
    with session_scope(web.engine, readonly=True) as s:
        assert [(r.part.sku, str(r.quantity.normalize())) for r in pm_parts.of_plan(s, monthly_id)] == [("GAS-1", "2")]
    assert "2 × " in manager.get(f"/maintenance/{monthly_id}").text
    fields["visit-0-sku"] = "NOPE"
    refused = manager.post(f"/maintenance/{monthly_id}/edit", data=fields)
    assert refused.status_code == 400 and "no SKU &#39;NOPE&#39; in the catalogue" in refused.text
