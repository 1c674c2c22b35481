"""Asset finance on the asset page, in the asset form and in the API, through the real app.

A manager sets an asset's useful life, salvage value and replacement cost with the form (a
salvage above the purchase cost is refused and what was typed stays), and the asset page then
shows its book value and cost of ownership; a technician, who may not read costs, sees neither.
"""

from __future__ import annotations

import html
import re

from relational_support import clock, csrf_from, web

from wardlink.hub.db import session_scope
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.assets import register
from wardlink.hub.services.people import users


def _edit(web, client, tag: str, **changes) -> object:
    """Post the asset's edit form as a browser would: every field as it is, with ``changes``."""
    token = csrf_from(client.get(f"/assets/{tag}/edit").text)
    with session_scope(web.engine, readonly=True) as s:
        values = register.asset_snapshot(register.find_asset(s, tag))
    form = {k: "" if v is None else str(v) for k, v in values.items() if k not in ("tag", "em_score", "life_support")}
    if values["life_support"]:
        form["life_support"] = "on"
    return client.post(f"/assets/{tag}/edit", data={**form, **changes, "csrf_token": token})


def test_a_manager_sets_the_finance_figures_and_the_asset_page_shows_the_book_value(web):
    client = web.client("manager")
    refused = _edit(web, client, "VENT-0001", useful_life_years="10", salvage_value="40000")
    assert refused.status_code == 400
    text = html.unescape(refused.text)
    assert "salvage_value: must not be more than the purchase cost (38500.00), got 40000.00" in text
    assert 'name="useful_life_years" type="number" min="1" max="100" step="1" value="10"' in text
    saved = _edit(web, client, "VENT-0001", useful_life_years="10", salvage_value="3500",
                  replacement_cost="42000")
    assert saved.status_code == 302
    page = html.unescape(client.get("/assets/VENT-0001").text)
    # 35,000.00 over 3,652 days from 2 April 2020; 2,100 of them by 1 January 2026.
    assert '<dd id="book-value"><strong>18374.04</strong></dd>' in page
    assert "10 years, until 2030-04-02" in page and 'data-year="2026"' in page
    assert 'id="replace-flag"' not in page
    assert 'id="finance"' not in web.client("tech").get("/assets/VENT-0001").text


def test_an_asset_without_the_figures_says_what_depreciation_needs(web):
    page = re.sub(r"<[^>]+>", "", html.unescape(web.client("manager").get("/assets/ENV-ICU-1").text))
    assert "Book value needs the purchase cost, the purchase date, the useful life: set them." in page


def test_the_api_answers_the_finance_and_refuses_who_may_not_read_costs(web):
    with session_scope(web.engine) as s:
        manager = Actor.for_user(users.find_user(s, "manager"))
        register.update_asset(s, "VENT-0001", {"useful_life_years": 10, "salvage_value": "3500",
                                               "replacement_cost": "2000"}, actor=manager, clock=web.clock)
        _, token = users.create_api_token(s, name="t", actor=manager, clock=web.clock)
        _, tech_token = users.create_api_token(s, name="t", actor=Actor.for_user(users.find_user(s, "tech")),
                                               clock=web.clock)
    client = web.app.test_client()
    found = client.get("/api/v1/assets/VENT-0001/finance", headers={"Authorization": f"Bearer {token}"})
    assert found.status_code == 200, found.text
    body = found.json
    assert body["depreciation"]["book_value"] == "18374.04" and body["depreciation"]["per_year"] == "3500.00"
    assert body["depreciation"]["schedule"][0] == {"year": 2020, "opening": "38500.00", "depreciation": "2625.96",
                                                   "closing": "35874.04"}
    assert body["repair_or_replace"] == {"since": "2025-01-02", "repairs": "0.00", "orders": 0,
                                         "replacement": "2000.00", "basis": "replacement_cost", "percent": 50,
                                         "threshold": "1000.00", "share": "0.0", "flagged": False}
    refused = client.get("/api/v1/assets/VENT-0001/finance", headers={"Authorization": f"Bearer {tech_token}"})
    assert refused.status_code == 403
    missing = client.get("/api/v1/assets/NOPE/finance", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404
