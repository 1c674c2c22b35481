"""Service contracts in the admin UI and the JSON API, through the real app on both stores.

Procurement adds a contract with the form (a refused form keeps what was typed), the list and
the contract's page show where its term stands, the work-order page of a covered asset shows
the contract and when the vendor should respond, and the API does the same operations.
"""

from __future__ import annotations

import html

from relational_support import clock, csrf_from, web
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import ServiceContract
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users
from wardlink.hub.services.actor import Actor

FORM = {"reference": "SC-77", "title": "Ventilator cover", "kind": "service", "vendor_name": "Hamilton Medical UK",
        "vendor_contact": "service@hamilton.example", "starts_on": "2025-07-01", "ends_on": "2026-03-31",
        "covers_parts": "1", "covers_labour": "1", "response_hours": "6", "cost": "5200.00",
        "asset_tags": "VENT-0001\nPM-0001", "notes": ""}


def _order(web, tag: str) -> int:
    with session_scope(web.engine) as s:
        manager = Actor.for_user(users.find_user(s, "manager"))
        return workorders.create_work_order(s, {"kind": "corrective", "title": "Fault", "asset_tag": tag},
                                            actor=manager, clock=web.clock).id


def test_procurement_adds_a_contract_with_the_form_and_a_refused_form_keeps_what_was_typed(web):
    client = web.client("buyer")
    form = client.get("/contracts/new")
    assert form.status_code == 200
    token = csrf_from(form.text)
    refused = client.post("/contracts/new", data={**FORM, "ends_on": "2025-01-01", "csrf_token": token})
    assert refused.status_code == 400
    text = html.unescape(refused.text)
    assert "ends_on: must not be before starts_on (2025-07-01)" in text and 'value="SC-77"' in text
    assert "VENT-0001\nPM-0001" in text
    added = client.post("/contracts/new", data={**FORM, "csrf_token": token})
    assert added.status_code == 303
    with session_scope(web.engine, readonly=True) as s:
        contract = s.scalar(select(ServiceContract))
        assert (contract.covers_parts, contract.covers_labour, contract.covers_pm) == (True, True, False)
        assert [a.tag for a in contract.assets] == ["PM-0001", "VENT-0001"]
        contract_id = contract.id
    assert added.headers["Location"].endswith(f"/contracts/{contract_id}")
    page = html.unescape(client.get(f"/contracts/{contract_id}").text)
    assert '<dd id="coverage">parts, labour</dd>' in page and '<dd id="response-time">6 h</dd>' in page
    assert "89 days left" in page  # 1 January to 31 March, both local dates
    listing = client.get("/contracts?state=expiring")
    assert 'data-contract="SC-77"' in listing.text
    assert 'data-contract="SC-77"' not in client.get("/contracts?state=expired").text
    edited = client.post(f"/contracts/{contract_id}/edit", data={**FORM, "ends_on": "2027-03-31",
                                                                 "csrf_token": token})
    assert edited.status_code == 303
    assert "454 days left" in client.get(f"/contracts/{contract_id}").text


def test_the_work_order_page_of_a_covered_asset_shows_the_contract_and_its_response_time(web):
    client = web.client("buyer")
    client.post("/contracts/new", data={**FORM, "csrf_token": csrf_from(client.get("/contracts/new").text)})
    covered, other = _order(web, "VENT-0001"), _order(web, "VF-0001")
    page = html.unescape(web.client("tech").get(f"/work-orders/{covered}").text)
    assert 'data-contract="SC-77"' in page and "covers parts, labour" in page
    assert "vendor responds within 6 h (by 2026-01-01 07:00:00 GMT)" in page
    assert "data-contract=" not in web.client("tech").get(f"/work-orders/{other}").text
    # Staff may not view contracts: their own request on a covered asset does not show one.
    assert "data-contract=" not in web.client("nurse").get(f"/work-orders/{covered}").text


def test_who_may_open_the_contract_pages(web):
    assert web.client("nurse").get("/contracts").status_code == 403
    assert web.client("tech").get("/contracts").status_code == 200
    assert web.client("tech").get("/contracts/new").status_code == 403
    assert web.client("manager").get("/contracts/new").status_code == 200
    assert web.client("manager").get("/contracts/999").status_code == 404
    assert web.client("manager").get("/contracts?state=bogus").status_code == 400


def _token(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="test", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def test_the_api_adds_changes_lists_and_reads_contracts_and_refuses_bad_input_with_400(web):
    client, headers = web.app.test_client(), _token(web, "buyer")
    body = {"reference": "W-1", "kind": "warranty", "title": "Pump warranty", "vendor_name": "B. Braun",
            "starts_on": "2022-06-10", "ends_on": "2027-06-09", "covers_parts": True, "covers_labour": True,
            "response_hours": 24, "asset_tags": ["IP-0101", "IP-0102"]}
    made = client.post("/api/v1/contracts", json=body, headers=headers)
    assert made.status_code == 201, made.text
    contract = made.json
    assert (contract["standing"], contract["days_left"], contract["coverage"]) == ("active", 524, "parts, labour")
    assert contract["asset_tags"] == ["IP-0101", "IP-0102"] and contract["cost"] is None
    for bad, message in (({**body, "reference": "w-1"}, "reference: 'w-1' is already used"),
                         ({**body, "reference": "W-2", "response_hours": "soon"}, "response_hours"),
                         ({**body, "reference": "W-3", "colour": "red"}, "colour: unknown field"),
                         ({**body, "reference": "W-4", "cost": "12.345"}, "cost: must have at most two decimals"),
                         ({**body, "reference": "W-5", "starts_on": "2022-13-01"}, "starts_on: must be a date")):
        refused = client.post("/api/v1/contracts", json=bad, headers=headers)
        assert refused.status_code == 400 and message in refused.json["error"]["message"], refused.text
    changed = client.patch(f"/api/v1/contracts/{contract['id']}", json={"asset_tags": ["IP-0101"]}, headers=headers)
    assert changed.status_code == 200 and changed.json["asset_tags"] == ["IP-0101"]
    listing = client.get("/api/v1/contracts?asset=IP-0101&state=active", headers=headers).json
    assert [c["reference"] for c in listing["items"]] == ["W-1"] and listing["total"] == 1
    assert client.get("/api/v1/contracts?asset=IP-0102", headers=headers).json["items"] == []
    order_id = _order(web, "IP-0101")
    cover = client.get(f"/api/v1/work-orders/{order_id}/contracts", headers=headers).json
    assert [(c["contract"]["reference"], c["respond_by"]) for c in cover["items"]] == [
        ("W-1", "2026-01-02T01:00:00.000+00:00")]
    assert client.get("/api/v1/contracts/424242", headers=headers).status_code == 404
