"""Admin pages: what they show, their forms, and the security and accessibility rules they keep."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from relational_support import GATEWAY, clock, csrf_from, password, web
from sqlalchemy import select, text

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.telemetry import Point

PAGES = ["/", "/assets", "/assets?q=fridge&equipment_status=in_service", "/assets/VF-0001",
         "/assets/VF-0001/edit", "/assets/new", "/gateways", f"/gateways/{GATEWAY}", "/alerts",
         "/alerts?state=all", "/audit", "/audit/verify", "/account", "/login"]


def _point(web, channel, metric, tag, value, age_s=1.0):
    ts = round((web.clock.now() - age_s) * 1000)
    web.store.write([Point.of(metric, {"gateway": GATEWAY, "channel": channel, "asset": tag, "ward": "ICU",
                                       "site": "RGH"}, ts, value)])


class _PageAudit(HTMLParser):
    """Collects what the CSP and accessibility rules forbid or require."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self.labels: set[str] = set()
        self.fields: list[tuple[str, str | None]] = []
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and "src" not in a:
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> element")
        if "style" in a:
            self.problems.append(f"style attribute on <{tag}>")
        self.problems += [f"{k} handler on <{tag}>" for k in a if k.startswith("on")]
        if tag == "label" and a.get("for"):
            self.labels.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.fields.append((a.get("name"), a.get("id")))
        if tag == "form":
            self.forms.append({"method": (a.get("method") or "get").lower(), "csrf": False})
        if tag == "input" and a.get("name") == "csrf_token" and self.forms:
            self.forms[-1]["csrf"] = True


@pytest.mark.parametrize("path", PAGES)
def test_every_page_keeps_the_csp_rules_labels_its_fields_and_protects_its_forms(web, path):
    _point(web, "fridge1.temp", "temperature", "VF-0001", 4.2)
    with session_scope(web.engine) as s:
        alerts.raise_alert(s, rule="r", severity="critical", title="Fridge warm", asset_tag="VF-0001",
                           actor=None, clock=web.clock)
    client = web.app.test_client() if path == "/login" else web.client("admin")
    response = client.get(path)
    assert response.status_code == 200, response.text
    page = _PageAudit()
    page.feed(response.text)
    assert page.problems == []
    unlabelled = [f for f in page.fields if f[1] is None or f[1] not in page.labels]
    assert unlabelled == []
    assert all(f["csrf"] for f in page.forms if f["method"] == "post")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_are_served_with_headers_but_may_be_cached(web):
    for name in ("wardlink.css", "live.js"):
        response = web.app.test_client().get(f"/static/{name}")
        assert response.status_code == 200 and response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers.get("Cache-Control") != "no-store"


def test_the_dashboard_sums_up_equipment_alerts_and_gateways(web):
    with session_scope(web.engine) as s:
        alerts.raise_alert(s, rule="r", severity="critical", title="Vaccine fridge above 8 °C",
                           asset_tag="VF-0002", actor=None, clock=web.clock)
        gateways.record_status(s, gateway_id=GATEWAY, state="online", seen_at=utc_now(web.clock), buffer_depth=7)
    _point(web, "dock1.current", "current", "IPD-0001", 0.42)
    html = web.client("manager").get("/").text
    assert "Vaccine fridge above 8 °C" in html
    assert '<span class="tile-number">1</span><span class="tile-label">critical alerts</span>' in html
    assert '<span class="tile-number">14</span><span class="tile-label">assets</span>' in html
    assert '<span class="tile-number">1/1</span><span class="tile-label">gateways online</span>' in html
    assert f'data-live-url="/api/v1/gateways/{GATEWAY}/readings/latest"' in html
    assert '<span class="reading" data-field="value">0.42</span>' in html


def test_the_asset_page_shows_live_readings_and_marks_old_ones_stale(web):
    _point(web, "fridge1.temp", "temperature", "VF-0001", 4.25, age_s=3)
    _point(web, "fridge1.door", "door", "VF-0001", 1.0, age_s=600)
    html = web.client("nurse").get("/assets/VF-0001").text
    assert 'data-live-url="/api/v1/assets/VF-0001/readings/latest"' in html
    temp_row = html.split(f'data-live-key="{GATEWAY}/fridge1.temp"')[1].split("</tr>")[0]
    door_row = html.split(f'data-live-key="{GATEWAY}/fridge1.door"')[1].split("</tr>")[0]
    # Shown in display units: a temperature to 0.1 °C, a door's level 1 as "Open".
    assert ">4.3<" in temp_row and ">°C<" in temp_row and "live-live" in temp_row and "3 s ago" in temp_row
    assert ">Open<" in door_row and "live-stale" in door_row and "10 min ago" in door_row
    assert "Recent readings" in html and "LH-39-771204" in html and "EM score" in html


def test_an_offline_gateway_marks_its_readings_offline(web):
    _point(web, "fridge1.temp", "temperature", "VF-0001", 4.25, age_s=1)
    with session_scope(web.engine) as s:
        gateways.record_status(s, gateway_id=GATEWAY, state="offline", seen_at=utc_now(web.clock))
    html = web.client("viewer").get("/assets/VF-0001").text
    row = html.split(f'data-live-key="{GATEWAY}/fridge1.temp"')[1].split("</tr>")[0]
    assert "live-offline" in row and "Gateway offline" in row


def test_the_asset_page_says_when_no_telemetry_store_is_connected(tmp_path, clock, relational_url):
    from relational_support import hub_config, login

    from wardlink.hub.web import create_app

    app = create_app(hub_config(tmp_path, database_url=relational_url), clock=clock)
    try:
        client = app.test_client()
        login(client, "viewer")
        assert "No telemetry store is connected" in client.get("/assets/VF-0001").text
    finally:
        app.extensions["wardlink"].close()


def test_editing_an_asset_through_the_form_saves_and_audits_it(web):
    client = web.client("tech")
    form = client.get("/assets/IP-0102/edit").text
    with session_scope(web.engine, readonly=True) as s:
        snapshot = assets.asset_snapshot(assets.find_asset(s, "IP-0102"))
        data = {k: ("" if v is None else str(v)) for k, v in snapshot.items()
                if k not in ("tag", "em_score", "life_support")}
    data.update(csrf_token=csrf_from(form), equipment_status="in_service", notes="Repaired: new occlusion sensor.")
    response = client.post("/assets/IP-0102/edit", data=data, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 302 and response.headers["Location"] == "/assets/IP-0102"
    assert "Asset IP-0102 updated." in client.get(response.headers["Location"]).text
    with session_scope(web.engine, readonly=True) as s:
        asset = assets.find_asset(s, "IP-0102")
        assert (asset.equipment_status, asset.notes) == ("in_service", "Repaired: new occlusion sensor.")
        row = s.scalars(select(AuditLog).where(AuditLog.action == "asset.update")).one()
        assert (row.actor, row.source_ip) == ("tech", "10.1.2.3")
        assert json.loads(row.after_json) == {"equipment_status": "in_service",
                                              "notes": "Repaired: new occlusion sensor."}


def test_a_rejected_form_is_shown_again_with_the_reason(web):
    client = web.client("manager")
    token = csrf_from(client.get("/assets/new").text)
    response = client.post("/assets/new", data={"csrf_token": token, "tag": "DEF-0002", "name": "Defibrillator",
                                                "category": "Defibrillator", "purchase_cost": "lots"})
    assert response.status_code == 400
    assert "purchase_cost: must be an amount" in response.text and 'value="DEF-0002"' in response.text
    response = client.post("/assets/new", data={"csrf_token": token, "tag": "DEF-0002", "name": "Defibrillator",
                                                "category": "Defibrillator", "purchase_cost": "9800",
                                                "life_support": "1", "equipment_function": "10"})
    assert response.status_code == 302
    with session_scope(web.engine, readonly=True) as s:
        created = assets.find_asset(s, "DEF-0002")
        assert created.life_support and created.equipment_function == 10 and created.em_score is None


def test_roles_without_the_right_get_403_pages(web):
    client = web.client("viewer")
    response = client.get("/assets/VF-0001/edit")
    assert response.status_code == 403 and "may not change assets" in response.text
    token = csrf_from(client.get("/").text)
    response = client.post("/assets/VF-0001/edit", data={"csrf_token": token, "name": "x"})
    assert response.status_code == 403
    assert web.client("vendor").get("/assets").status_code == 403
    assert 'href="/assets"' not in web.client("vendor").get("/").text  # the menu hides it too


def test_a_channel_is_rebound_from_the_gateway_page(web):
    client = web.client("tech")
    page = client.get(f"/gateways/{GATEWAY}").text
    response = client.post(f"/gateways/{GATEWAY}/channels/spare.1/bind",
                           data={"csrf_token": csrf_from(page), "asset_tag": "VF-0002", "metric": "temperature",
                                 "valid_from": "2026-01-01T00:30"})
    assert response.status_code == 302
    page = client.get(f"/gateways/{GATEWAY}").text
    assert "Channel spare.1 now measures VF-0002 (temperature)." in page
    refused = client.post(f"/gateways/{GATEWAY}/channels/spare.1/bind",
                          data={"csrf_token": csrf_from(page), "asset_tag": "PM-0001",
                                "valid_from": "2026-01-01T00:10"})
    assert refused.status_code == 400 and "a new binding must start after that" in refused.text
    refused = client.post(f"/gateways/{GATEWAY}/channels/spare.1/bind",
                          data={"csrf_token": csrf_from(page), "asset_tag": "PM-0001", "valid_from": "yesterday"})
    assert refused.status_code == 400 and "valid_from: must be a date and time" in refused.text
    response = client.post(f"/gateways/{GATEWAY}/channels/spare.1/unbind", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    with session_scope(web.engine, readonly=True) as s:
        assert [b for b in gateways.bindings_at(s, utc_now(web.clock)) if b.channel.channel_id == "spare.1"] == []


def test_alerts_are_acknowledged_and_resolved_from_the_list(web):
    with session_scope(web.engine) as s:
        alert_id = alerts.raise_alert(s, rule="r", severity="warning", title="Door open 10 min",
                                      asset_tag="VF-0001", actor=None, clock=web.clock).id
    nurse = web.client("nurse")
    page = nurse.get("/alerts").text
    assert "Door open 10 min" in page and f"/alerts/{alert_id}/acknowledge" in page
    assert f"/alerts/{alert_id}/resolve" not in page  # staff cannot resolve
    response = nurse.post(f"/alerts/{alert_id}/acknowledge",
                          data={"csrf_token": csrf_from(page), "note": "Closed the door", "next": "/alerts"})
    assert response.headers["Location"] == "/alerts"
    tech = web.client("tech")
    page = tech.get("/alerts").text
    no_note = tech.post(f"/alerts/{alert_id}/resolve", data={"csrf_token": csrf_from(page), "note": ""})
    assert no_note.status_code == 400 and "note: is required" in no_note.text
    tech.post(f"/alerts/{alert_id}/resolve", data={"csrf_token": csrf_from(page), "note": "Seal replaced"})
    resolved = tech.get("/alerts?state=resolved").text
    assert "Ack: Closed the door" in resolved and "Resolved: Seal replaced" in resolved


#: SQL that removes the trigger refusing UPDATEs of audit rows, as someone with database access could.
_DROP_UPDATE_GUARD = {"sqlite": "DROP TRIGGER audit_log_no_update",
                      "postgresql": "DROP TRIGGER audit_log_append_only ON audit_log"}


def test_the_audit_page_verifies_the_chain_and_reports_tampering(web):
    client = web.client("manager")
    assert "The chain is intact" in client.get("/audit/verify").text
    with web.engine.begin() as conn:
        conn.exec_driver_sql(_DROP_UPDATE_GUARD[web.engine.dialect.name])
        victim = conn.execute(text("SELECT id FROM audit_log WHERE seq = 3")).scalar_one()
        conn.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE id = :id"), {"id": victim})
    assert f"The chain is broken at row id {victim}" in client.get("/audit/verify").text
    assert web.client("tech").get("/audit").status_code == 403


def test_unknown_pages_and_assets_give_404_pages(web):
    client = web.client("viewer")
    assert client.get("/assets/NOPE").status_code == 404
    assert "does not exist" in client.get("/assets/NOPE").text
    assert client.get("/nowhere").status_code == 404


@pytest.mark.timeout(120)
def test_the_ui_runs_on_postgresql(postgres_url, tmp_path, clock):
    from relational_support import DEMO_CHANNELS, T0_S, hub_config, login

    from wardlink.hub.db import open_engine, upgrade
    from wardlink.hub.seed import seed_demo_site
    from wardlink.hub.services.people import users
    from wardlink.hub.web import create_app
    from wardlink.clock import ManualClock

    upgrade(postgres_url)
    engine = open_engine(postgres_url)
    with session_scope(engine) as s:
        seed_demo_site(s, gateway_id=GATEWAY, channels=DEMO_CHANNELS, clock=ManualClock(T0_S))
        _, secret = users.create_first_admin(s, clock=clock)
    engine.dispose()
    app = create_app(hub_config(tmp_path, database_url=postgres_url), clock=clock)
    try:
        client = app.test_client()
        assert login(client, "admin", secret).status_code == 302
        assert "LH-39-771204" in client.get("/assets/VF-0001").text
        token = csrf_from(client.get("/assets/VF-0001/edit").text)
        assert client.post("/assets/VF-0001/edit", data={"csrf_token": token, "name": "Fridge",
                                                         "category": "Medical refrigerator"}).status_code == 302
        assert client.get("/api/v1/assets/VF-0001").json["name"] == "Fridge"
        assert "The chain is intact" in client.get("/audit/verify").text
    finally:
        app.extensions["wardlink"].close()
