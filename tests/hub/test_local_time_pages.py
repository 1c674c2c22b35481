"""Pages show times in the site's time zone: a hospital in Europe/Berlin reads CET, never UTC.

The clock stands at 2026-01-01 01:00 UTC, which is 02:00 CET in Berlin. The API keeps UTC
(ISO 8601 with an offset).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

from relational_support import GATEWAY, clock, csrf_from, web
from sqlalchemy import update

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Site
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import local_time, users
from wardlink.hub.telemetry import Point

#: A time as pages print it, with its zone abbreviation.
SHOWN_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)? ([A-Z]{2,5}|[+-]\d\d)")


class _Text(HTMLParser):
    """The text a person reads (not attributes, scripts or styles)."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style") and self._skip > 0

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def _berlin(web):
    with session_scope(web.engine) as s:
        s.execute(update(Site).values(timezone="Europe/Berlin"))
        nurse = users.find_user(s, "nurse")
        order = workorders.request_work(s, {"title": "Door seal torn", "asset_tag": "VF-0001"},
                                        actor=Actor.for_user(nurse), clock=web.clock)
        alert = alerts.raise_alert(s, rule="r", severity="warning", title="Fridge door open",
                                   asset_tag="VF-0001", actor=None, clock=web.clock)
        order_id, alert_id = order.id, alert.id
    ts = round(web.clock.now() * 1000) - 1000
    web.store.write([Point.of("temperature", {"gateway": GATEWAY, "channel": "fridge1.temp", "asset": "VF-0001",
                                              "ward": "ICU", "site": "RGH"}, ts, 4.56)])
    return order_id, alert_id


def test_the_display_zone_is_the_users_site_or_the_hospitals(web):
    _berlin(web)
    with session_scope(web.engine) as s:
        nurse = users.find_user(s, "nurse")
        assert local_time.display_zone(s, Actor.for_user(nurse)) == ZoneInfo("Europe/Berlin")
        assert local_time.display_zone(s, Actor(username="manager", role="manager")) == ZoneInfo("Europe/Berlin")
        assert local_time.display_zone(s, None) == ZoneInfo("Europe/Berlin")
        s.add(Site(code="NYC", name="Far away", timezone="America/New_York", created_at=utc_now(web.clock)))
        s.flush()
        # Two zones and no department to choose by: UTC, labelled so.
        assert local_time.display_zone(s, Actor(username="manager", role="manager")) == ZoneInfo("UTC")
        assert local_time.display_zone(s, Actor.for_user(nurse)) == ZoneInfo("Europe/Berlin")


def test_the_main_pages_show_local_times_for_a_berlin_site(web):
    order_id, _ = _berlin(web)
    pages = ["/", "/alerts", "/assets/VF-0001", "/gateways", f"/gateways/{GATEWAY}", "/work-orders",
             f"/work-orders/{order_id}", "/audit", "/jobs", "/ingest", "/maintenance", "/maintenance/calendar",
             "/rules", "/reports", "/admin/users", "/assets", "/account"]
    for username in ("manager", "nurse"):
        client = web.client(username)
        for path in pages:
            response = client.get(path)
            if response.status_code == 403:
                continue
            assert response.status_code == 200, (username, path)
            assert '<meta name="wardlink-tz" content="Europe/Berlin">' in response.text
            shown = SHOWN_TIME.findall(_text(response.text))
            assert all(zone in ("CET", "CEST") for zone in shown), (username, path, shown)
    manager = web.client("manager")
    # The alert opened and the order was requested at 01:00 UTC: 02:00 in Berlin.
    assert "2026-01-01 02:00:00 CET" in _text(manager.get("/alerts").text)
    assert "2026-01-01 02:00:00 CET" in _text(manager.get(f"/work-orders/{order_id}").text)
    asset = _text(manager.get("/assets/VF-0001").text)
    assert "2026-01-01 01:59:59 CET" in asset  # the newest reading, one second before now
    assert "4.6" in asset and "°C" in asset and "degC" not in asset
    # The API keeps UTC, with its offset.
    body = manager.get("/api/v1/assets/VF-0001/readings/latest").get_json()
    stamps = [r["ts"] for r in body["readings"] if r["ts"]]
    assert stamps and all(t.endswith("+00:00") for t in stamps)
    assert {r["unit"] for r in body["readings"]} >= {"degC"}


def test_times_typed_into_forms_are_the_sites_local_time(web):
    order_id, _ = _berlin(web)
    client = web.client("manager")
    page = client.get(f"/work-orders/{order_id}").text
    assert "Out of use from (local time)" in page
    response = client.post(f"/work-orders/{order_id}/records/downtime", data={
        "csrf_token": csrf_from(page), "start": "2026-01-01T01:30", "reason": "compressor failed"})
    assert response.status_code in (302, 303), response.text
    with session_scope(web.engine) as s:
        order = workorders.get_work_order(s, order_id, actor=None)
        # 01:30 in Berlin (CET, UTC+1) is 00:30 UTC.
        assert order.downtime_start == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    page = client.get(f"/work-orders/{order_id}").text
    assert 'value="2026-01-01T01:30"' in page and "From 2026-01-01 01:30:00 CET" in _text(page)
