"""A real headless Chromium shows a stalled gateway, with since when in the browser's time zone.

The server renders the time in UTC inside ``<time data-local>``; app.js rewrites it to the
browser's local time (kept strict by the CSP: no inline script). Chromium runs with
``TZ=Asia/Kolkata`` (UTC+05:30), so the local text differs from the UTC one in every field.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from browser_support import served_hub, signed_in_browser
from relational_support import GATEWAY, clock, hub_config

from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.telemetry.sqlite import SQLiteStore


@pytest.mark.timeout(90)
def test_a_stalled_gateway_shows_since_when_in_the_browsers_local_time(tmp_path, clock, relational_url,
                                                                        monkeypatch):
    db = open_engine(relational_url)
    heard = gateways.utc_now(clock)
    with session_scope(db) as session:  # its status says online
        gateways.record_status(session, gateway_id=GATEWAY, state="online", seen_at=heard)
    local = heard.astimezone(ZoneInfo("Asia/Kolkata"))
    clock.advance(200)  # silent for longer than its 90 s threshold
    store = SQLiteStore(tmp_path / "telemetry.db")
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # the browser's time zone
    try:
        with served_hub(hub_config(tmp_path, database_url=relational_url), telemetry=store, clock=clock) as base, \
                signed_in_browser(tmp_path, base, "manager") as browser:
            for path in ("/gateways", f"/gateways/{GATEWAY}"):
                shown = "document.querySelector('time[data-local=shown]')"
                browser.open(base + path, f"{shown} !== null", f"app.js to show the time on {path}")
                assert browser.js("document.querySelector('.badge.gateway-stalled').textContent") == "Stalled"
                assert browser.js(f"{shown}.getAttribute('datetime')") == heard.isoformat()
                assert browser.js(f"{shown}.title") == heard.strftime("%Y-%m-%d %H:%M:%S UTC")
                text = browser.js(f"{shown}.textContent")
                assert f"{local:%I:%M:%S}" in text and "UTC" not in text, (text, local)
            assert not browser.csp_complaints()
    finally:
        store.close()
        db.dispose()
