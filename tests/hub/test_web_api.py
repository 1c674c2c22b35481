"""The JSON API: bearer tokens or sessions, JSON errors, live readings and reading ranges."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from relational_support import GATEWAY, T0_MS, clock, csrf_from, web

from wardlink.hub.db import session_scope
from wardlink.hub.db.types import to_ms, utc_now
from wardlink.hub.ingest import GatewayRecord, IngestRecords
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.people import users
from wardlink.hub.services.actor import Actor
from wardlink.hub.telemetry import Point


def _token(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="test", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def _write(web, channel, metric, tag, points):
    tags = {"gateway": GATEWAY, "channel": channel, "ward": "ICU", "site": "RGH"}
    if tag:
        tags["asset"] = tag
    web.store.write([Point.of(metric, tags, ts, value) for ts, value in points])


def _error(response, status):
    assert response.status_code == status, response.text
    body = response.json["error"]
    assert body["status"] == status and body["message"]
    return body


def test_health_answers_without_signing_in_and_says_little(web):
    response = web.app.test_client().get("/api/v1/health")
    assert response.status_code == 200
    # No ingest worker has reported to this database: nothing to judge, so not degraded.
    assert response.json == {"status": "ok", "database": "ok", "telemetry": "ok", "ingest": "not running"}


@pytest.mark.parametrize("headers, message", [
    ({}, "sign in, or send 'Authorization: Bearer <API token>'"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "must be 'Bearer <API token>'"),
    ({"Authorization": "Bearer wlt_not-a-real-token"}, "invalid or revoked API token"),
])
def test_requests_without_valid_credentials_get_401_json(web, headers, message):
    response = web.app.test_client().get("/api/v1/assets", headers=headers)
    body = _error(response, 401)
    assert body["code"] == "authentication_required" and message in body["message"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_lists_assets_with_filters_and_pages(web):
    headers = _token(web, "viewer")
    client = web.app.test_client()
    page = client.get("/api/v1/assets?per_page=5&page=2&sort=tag", headers=headers).json
    assert (page["total"], page["pages"], page["page"], len(page["items"])) == (14, 3, 2, 5)
    fridges = client.get("/api/v1/assets?category=Medical+refrigerator", headers=headers).json["items"]
    assert [a["tag"] for a in fridges] == ["VF-0001", "VF-0002"]
    assert fridges[0]["department"] == {"id": fridges[0]["department"]["id"], "code": "ICU",
                                        "name": "Intensive Care Unit"}
    assert fridges[0]["purchase_cost"] == "2350.00" and fridges[0]["purchase_date"] == "2021-03-15"
    body = _error(client.get("/api/v1/assets?per_page=500", headers=headers), 400)
    assert body["code"] == "invalid_input" and body["message"] == "per_page: must be 1..200, got 500"


def test_department_scope_applies_to_the_api(web):
    nurse = web.client("nurse")  # staff use the API through their browser session only
    items = nurse.get("/api/v1/assets?per_page=200").json["items"]
    assert items and {a["department"]["code"] for a in items} == {"ICU"}
    _error(nurse.get("/api/v1/assets/VF-0002"), 403)
    pharmacy = web.app.test_client().get("/api/v1/assets/VF-0002", headers=_token(web, "pharmtech"))
    assert pharmacy.status_code == 200 and pharmacy.json["tag"] == "VF-0002"


def test_roles_without_the_right_get_403_json(web):
    body = _error(web.app.test_client().get("/api/v1/alerts", headers=_token(web, "buyer")), 403)
    assert body["code"] == "permission_denied" and "may not view alerts" in body["message"]


def test_an_asset_with_its_bindings_and_404_for_unknown_tags(web):
    client, headers = web.app.test_client(), _token(web, "viewer")
    asset = client.get("/api/v1/assets/VF-0001", headers=headers).json
    assert asset["em_score"] == 7 and asset["needs_planned_maintenance"] is False
    assert {(b["channel"], b["metric"], b["valid_to"]) for b in asset["bindings"]} == {
        ("fridge1.temp", "temperature", None), ("fridge1.door", "door", None)}
    assert _error(client.get("/api/v1/assets/NOPE", headers=headers), 404)["code"] == "not_found"


def test_latest_readings_of_an_asset_carry_their_freshness(web):
    now = to_ms(utc_now(web.clock))
    _write(web, "fridge1.temp", "temperature", "VF-0001", [(now - 62_000, 4.0), (now - 2_000, 4.4)])
    _write(web, "fridge1.door", "door", "VF-0001", [(now - 300_000, 0.0)])
    body = web.client("nurse").get("/api/v1/assets/VF-0001/readings/latest").json
    readings = {r["channel"]: r for r in body["readings"]}
    assert body["now_ms"] == now
    temp, door = readings["fridge1.temp"], readings["fridge1.door"]
    assert (temp["value"], temp["ts_ms"], temp["age_s"], temp["state"], temp["unit"]) == (
        4.4, now - 2000, 2.0, "live", "degC")
    assert temp["ts"] == "2026-01-01T00:59:58.000+00:00"
    assert (door["state"], door["age_s"], door["stale_after_s"]) == ("stale", 300.0, 60.0)


def test_a_reading_from_the_old_asset_of_a_rebound_channel_is_not_shown_for_the_new_one(web):
    now = to_ms(utc_now(web.clock))
    _write(web, "spare.1", "temperature", None, [(now - 1000, 30.0)])
    with session_scope(web.engine) as s:
        gateways.bind_channel(s, gateway_id=GATEWAY, channel_id="spare.1", asset_tag="PM-0001",
                              actor=None, clock=web.clock)
    body = web.app.test_client().get("/api/v1/assets/PM-0001/readings/latest", headers=_token(web, "viewer")).json
    assert [(r["channel"], r["value"], r["state"]) for r in body["readings"]] == [("spare.1", None, "none")]


def test_a_channel_the_hub_has_no_record_of_is_listed_unbound_with_its_newest_reading(web):
    """A gateway configured on the Pi (or by its enrollment config) sends channels no hub row names."""
    now = to_ms(utc_now(web.clock))
    _write(web, "fresh.1", "unbound", None, [(now - 2000, 4.5), (now - 1000, 4.75)])
    _write(web, "gw.cpu_temp", "unbound", None, [(now - 1000, 51.0)])
    client, headers = web.app.test_client(), _token(web, "tech")
    body = client.get(f"/api/v1/gateways/{GATEWAY}/readings/latest", headers=headers).json
    readings = {r["channel"]: r for r in body["readings"]}
    assert "gw.cpu_temp" not in readings
    fresh = readings["fresh.1"]
    assert (fresh["value"], fresh["asset"], fresh["metric"], fresh["ts_ms"]) == (4.75, None, "unbound", now - 1000)
    with session_scope(web.engine) as s:
        registered = {c.channel_id for c, _ in gateways.channels_with_bindings(
            s, gateways.get_gateway(s, GATEWAY, actor=None), utc_now(web.clock))}
    assert "fresh.1" not in registered and registered <= set(readings)
    page = web.client("tech").get(f"/gateways/{GATEWAY}").get_data(as_text=True)
    row = page.split(f'data-live-key="{GATEWAY}/fresh.1"', 1)[1].split("</tr>", 1)[0]
    assert ">4.75<" in row or ">4.8<" in row, row


def test_binding_a_channel_the_hub_has_no_record_of_records_it_from_the_gateway_page(web):
    now = to_ms(utc_now(web.clock))
    _write(web, "fresh.1", "unbound", None, [(now - 1000, 4.75)])
    manager = web.client("manager")
    page = manager.get(f"/gateways/{GATEWAY}").get_data(as_text=True)
    action = f'/gateways/{GATEWAY}/channels/fresh.1/bind'
    assert f'action="{action}"' in page  # the new channel has a binding form like the others
    token = csrf_from(page)

    refused = manager.post(action, data={"csrf_token": token, "asset_tag": "VF-0001", "metric": ""})
    assert refused.status_code == 400
    assert "fresh.1 is new to the hub; say what it measures" in refused.get_data(as_text=True)
    answer = manager.post(action, data={"csrf_token": token, "asset_tag": "VF-0001", "metric": "temperature"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:400]
    with session_scope(web.engine, readonly=True) as s:
        rows = gateways.channels_with_bindings(s, gateways.get_gateway(s, GATEWAY, actor=None), utc_now(web.clock))
        bound = {c.channel_id: (c.metric, b.asset.tag if b else None) for c, b in rows}
    assert bound["fresh.1"] == ("temperature", "VF-0001")
    again = manager.get(f"/gateways/{GATEWAY}").get_data(as_text=True)
    assert again.count(f'action="{action}"') == 1  # listed once, now as a registered channel


def test_gateway_readings_use_what_ingest_heard_on_the_wire(web):
    now = to_ms(utc_now(web.clock))
    _write(web, "dock1.current", "current", "IPD-0001", [(now - 1000, 0.5)])
    _write(web, "spare.1", "unbound", None, [(now - 500, 19.5)])
    client, headers = web.app.test_client(), _token(web, "tech")
    body = client.get(f"/api/v1/gateways/{GATEWAY}/readings/latest", headers=headers).json
    assert body["status"] == "unknown"
    readings = {r["channel"]: r for r in body["readings"]}
    assert (readings["dock1.current"]["value"], readings["dock1.current"]["asset"]) == (0.5, "IPD-0001")
    assert (readings["spare.1"]["value"], readings["spare.1"]["asset"]) == (19.5, None)
    records = IngestRecords(web.engine)
    records.commit(gateway_rows=[asdict(GatewayRecord(gateway=GATEWAY, state="offline", last_seen_ms=now - 100,
                                                      buffer_depth=42, version="0.9"))])
    body = client.get(f"/api/v1/gateways/{GATEWAY}/readings/latest", headers=headers).json
    assert body["status"] == "offline"
    assert {r["state"] for r in body["readings"]} == {"offline"}
    listed = client.get("/api/v1/gateways", headers=headers).json["items"][0]
    assert (listed["status"], listed["buffer_depth"], listed["software_version"]) == ("offline", 42, "0.9")
    assert len(listed["channels"]) == 5


def test_reading_ranges_raw_and_per_window(web):
    points = [(T0_MS + i * 1000, float(i)) for i in range(120)]
    _write(web, "fridge1.temp", "temperature", "VF-0001", points)
    client, headers = web.app.test_client(), _token(web, "viewer")
    base = f"/api/v1/readings?gateway={GATEWAY}&channel=fridge1.temp"
    raw = client.get(f"{base}&start={T0_MS}&end={T0_MS + 10_000}", headers=headers).json
    assert [p["value"] for p in raw["points"]] == [float(i) for i in range(10)]
    windowed = client.get(f"{base}&start=2026-01-01T00:00:00Z&end=2026-01-01T00:02:00Z&window=1m",
                          headers=headers).json
    assert windowed["window_ms"] == 60_000
    assert [(p["ts_ms"], p["value"], p["min"], p["max"], p["count"]) for p in windowed["points"]] == [
        (T0_MS, 29.5, 0.0, 59.0, 60), (T0_MS + 60_000, 89.5, 60.0, 119.0, 60)]


@pytest.mark.parametrize("query, message", [
    ("channel=fridge1.temp", "gateway and channel: both are required"),
    ("gateway=gw-icu-01&channel=fridge1.temp&start=yesterday", "start: must be milliseconds since the epoch"),
    ("gateway=gw-icu-01&channel=fridge1.temp&start=1767225600000&end=1767225500000", "end: must be after start"),
    ("gateway=gw-icu-01&channel=fridge1.temp&start=0&end=1767225600000", "window: required for spans over 24 hours"),
    ("gateway=gw-icu-01&channel=fridge1.temp&window=0s", "window: must be a positive duration"),
    ("gateway=gw-icu-01&channel=fridge1.temp&start=0&end=1767225600000&window=1s", "gives more than 10000 windows"),
])
def test_bad_range_queries_get_400_with_the_reason(web, query, message):
    response = web.app.test_client().get(f"/api/v1/readings?{query}", headers=_token(web, "viewer"))
    assert message in _error(response, 400)["message"]


def test_unknown_channels_are_404(web):
    response = web.app.test_client().get(f"/api/v1/readings?gateway={GATEWAY}&channel=nope",
                                         headers=_token(web, "viewer"))
    assert "has no channel 'nope'" in _error(response, 404)["message"]


def test_without_a_telemetry_store_reading_endpoints_answer_503(tmp_path, clock, relational_url):
    from relational_support import hub_config

    from wardlink.hub.web import create_app

    app = create_app(hub_config(tmp_path, database_url=relational_url), clock=clock)
    try:
        client = app.test_client()
        assert client.get("/api/v1/health").json["telemetry"] == "not configured"
        from relational_support import login

        login(client, "viewer")
        body = _error(client.get("/api/v1/assets/VF-0001/readings/latest"), 503)
        assert body["code"] == "store_unavailable" and "no telemetry store" in body["message"]
    finally:
        app.extensions["wardlink"].close()


def test_alerts_are_listed_and_handled_with_a_token_without_csrf(web):
    with session_scope(web.engine) as s:
        alert_id = alerts.raise_alert(s, rule="fridge.temp_high", severity="critical", title="Fridge at 9 °C",
                                      asset_tag="VF-0001", value=9.0, actor=None, clock=web.clock).id
    client, headers = web.app.test_client(), _token(web, "tech")
    listed = client.get("/api/v1/alerts?state=open", headers=headers).json
    assert [(a["id"], a["asset"], a["value"]) for a in listed["items"]] == [(alert_id, "VF-0001", 9.0)]
    acked = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": "on my way"}, headers=headers)
    assert acked.status_code == 200 and acked.json["state"] == "acknowledged"
    body = _error(client.post(f"/api/v1/alerts/{alert_id}/resolve", json={}, headers=headers), 400)
    assert body["message"].startswith("note: is required")
    _error(client.post(f"/api/v1/alerts/{alert_id}/resolve", data="[1]", content_type="application/json",
                       headers=headers), 400)
    done = client.post(f"/api/v1/alerts/{alert_id}/resolve", json={"note": "compressor restarted"}, headers=headers)
    assert (done.json["state"], done.json["resolution_note"]) == ("resolved", "compressor restarted")


def test_a_browser_session_must_send_its_csrf_token_to_change_anything(web):
    with session_scope(web.engine) as s:
        alert_id = alerts.raise_alert(s, rule="r", severity="info", title="t", asset_tag="VF-0001",
                                      actor=None, clock=web.clock).id
    client = web.client("tech")
    refused = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={})
    assert _error(refused, 400)["code"] == "bad_request"
    token = csrf_from(client.get("/").text)
    accepted = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={}, headers={"X-CSRF-Token": token})
    assert accepted.status_code == 200
    assert client.get("/api/v1/assets/VF-0001/readings/latest").status_code == 200  # reads need no token


def test_an_unauthenticated_post_is_401_not_a_csrf_error(web):
    response = web.app.test_client().post("/api/v1/alerts/1/acknowledge", json={})
    assert _error(response, 401)["code"] == "authentication_required"


def test_a_failed_sensor_read_shows_as_a_fault_not_as_live(web):
    now = to_ms(utc_now(web.clock))
    web.store.write([Point.of("temperature", {"gateway": GATEWAY, "channel": "fridge1.temp", "asset": "VF-0001",
                                              "ward": "ICU", "site": "RGH"}, now - 1000, None, "bad")])
    body = web.app.test_client().get("/api/v1/assets/VF-0001/readings/latest", headers=_token(web, "viewer")).json
    temp = next(r for r in body["readings"] if r["channel"] == "fridge1.temp")
    assert (temp["value"], temp["quality"], temp["state"]) == (None, "bad", "fault")
