"""Equipment usage through the real app's JSON API: what applies before use, a start and an end,
a refusal answered 409 with its reasons and nothing written, the knowledge and its search, a
training record, a rental with its incoming inspection and cost, and the pages a nurse uses."""

from __future__ import annotations

from relational_support import clock, csrf_from, web
from sqlalchemy import func, select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import UsageSession
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people import users


def _headers(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="t", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def _sessions(web) -> int:
    with session_scope(web.engine, readonly=True) as s:
        return s.scalar(select(func.count()).select_from(UsageSession))


def test_scan_start_and_end_through_the_api(web):
    client, tech, manager = web.app.test_client(), _headers(web, "tech"), _headers(web, "manager")
    made = client.post("/api/v1/usage/knowledge", headers=manager, json={
        "category": "Infusion pump", "procedure": "1. Prime the line.\n\n<i>x</i>",
        "critical_warning": "Check the drug library.", "return_status": "needs_cleaning"})
    assert made.status_code == 201, made.text
    assert made.json["procedure_html"] == "<ol>\n<li>Prime the line.</li>\n</ol>\n<p>&lt;i&gt;x&lt;/i&gt;</p>\n"
    assert client.post("/api/v1/usage/knowledge", headers=_headers(web, "viewer"), json={"category": "X"}).status_code == 403
    found = client.get("/api/v1/usage/knowledge?q=drug", headers=tech).json["items"]
    assert [e["category"] for e in found] == ["Infusion pump"]
    scan = client.get("/api/v1/usage/assets/IP-0101", headers=tech).json
    assert scan["ready"] and scan["critical_warning"] == "Check the drug library." and scan["status"] == "available"
    started = client.post("/api/v1/usage/assets/IP-0101/sessions", headers=tech, json={"reason": "Bed 4"})
    assert started.status_code == 201, started.text
    assert started.json["source"] == "scanned" and started.json["ended_at"] is None
    again = client.post("/api/v1/usage/assets/IP-0101/sessions", headers=tech, json={})
    assert again.status_code == 409 and again.json["error"]["code"] == "usage_refused"
    assert again.json["error"]["refusals"] == ["IP-0101 is in_use"]
    ended = client.post(f"/api/v1/usage/sessions/{started.json['id']}/end", headers=tech)
    assert ended.status_code == 200 and ended.json["return_status"] == "needs_cleaning"
    assert client.post("/api/v1/usage/assets/IP-0101/ready", headers=tech).json["status"] == "available"
    unknown = client.get("/api/v1/usage/sessions?asset_tag=NO-SUCH-TAG", headers=tech)
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "not_found", unknown.text
    assert _sessions(web) == 1


def test_a_faulty_pump_is_refused_409_and_a_manager_overrides_it_with_a_reason(web):
    client, tech, manager = web.app.test_client(), _headers(web, "tech"), _headers(web, "manager")
    refused = client.post("/api/v1/usage/assets/IP-0102/sessions", headers=tech, json={"reason": "Bed 2"})
    assert refused.status_code == 409 and refused.json["error"]["holds"] == ["IP-0102 is in maintenance (faulty)"]
    assert _sessions(web) == 0
    forced = client.post("/api/v1/usage/assets/IP-0102/sessions", headers=manager,
                         json={"override_reason": "No other pump", "department_id": None})
    assert forced.status_code == 201 and forced.json["override_reason"] == "No other pump"


def test_a_rental_waits_for_its_inspection_and_shows_its_cost(web):
    client, buyer, tech = web.app.test_client(), _headers(web, "buyer"), _headers(web, "tech")
    made = client.post("/api/v1/usage/rentals", headers=buyer, json={
        "asset_tag": "PM-0001", "vendor": "MedEquip", "expected_return_on": "2026-02-01", "rate_per_day": "10"})
    assert made.status_code == 201, made.text
    assert made.json["inspection_passed"] is False and made.json["cost_to_date"] == "10.00"
    assert made.json["inspection_work_order_id"] is not None
    refused = client.post("/api/v1/usage/assets/PM-0001/sessions", headers=tech, json={})
    assert refused.status_code == 409 and "incoming inspection" in refused.json["error"]["refusals"][0]
    listed = client.get("/api/v1/usage/rentals?state=active", headers=tech).json["items"]
    assert [r["asset_tag"] for r in listed] == ["PM-0001"]
    back = client.post(f"/api/v1/usage/rentals/{made.json['id']}/returning", headers=buyer, json={"note": "End"})
    assert back.status_code == 200 and back.json["state"] == "returning"


def test_encounter_lookups_are_refused_without_a_site_key(web):
    client, tech = web.app.test_client(), _headers(web, "tech")
    answer = client.post("/api/v1/usage/encounters/sessions", headers=tech, json={"encounter": "ENC-1"})
    assert answer.status_code == 400 and "no encounter key" in answer.json["error"]["message"]


def test_the_scan_page_starts_and_ends_a_session_and_shows_a_refusal(web):
    client = web.client("nurse")
    page = client.get("/usage/assets/IP-0101")
    assert page.status_code == 200 and 'id="start-form"' in page.text
    started = client.post("/usage/assets/IP-0101/start", data={"reason": "Bed 4", "csrf_token": csrf_from(page.text)})
    assert started.status_code == 303
    page = client.get("/usage/assets/IP-0101")
    assert 'id="current-session"' in page.text and "Bed 4" in page.text
    refused = client.post("/usage/assets/IP-0102/start", data={"csrf_token": csrf_from(page.text)})
    assert refused.status_code == 400 and "IP-0102 cannot be started: IP-0102 is in maintenance" in refused.text
    for path in ("/usage", "/usage/knowledge", "/usage/training", "/usage/rentals"):
        assert client.get(path).status_code == 200, path
