"""A real headless Chromium shows a stalled gateway, with since when in the site's time zone.

The server renders the time in the site's zone inside ``<time data-local>``, with the UTC
instant in ``datetime`` and the tooltip. The site is moved to Asia/Kolkata (UTC+05:30) while
Chromium runs in ``TZ=America/New_York``, so the text differs from both the UTC and the
browser's time in every field: the page follows the site, not the browser.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from browser_support import served_hub, signed_in_browser
from relational_support import GATEWAY, clock, hub_config

from sqlalchemy import update

from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.db.models import Site
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.telemetry.sqlite import SQLiteStore


@pytest.mark.timeout(90)
def test_a_stalled_gateway_shows_since_when_in_the_sites_local_time(tmp_path, clock, relational_url,
                                                                        monkeypatch):
    db = open_engine(relational_url)
    heard = gateways.utc_now(clock)
    with session_scope(db) as session:  # its status says online
        gateways.record_status(session, gateway_id=GATEWAY, state="online", seen_at=heard)
        session.execute(update(Site).values(timezone="Asia/Kolkata"))
    local = heard.astimezone(ZoneInfo("Asia/Kolkata"))
    clock.advance(200)  # silent for longer than its 90 s threshold
    store = SQLiteStore(tmp_path / "telemetry.db")
    monkeypatch.setenv("TZ", "America/New_York")  # the browser's time zone, not the site's
    try:
        with served_hub(hub_config(tmp_path, database_url=relational_url), telemetry=store, clock=clock) as base, \
                signed_in_browser(tmp_path, base, "manager") as browser:
            for path in ("/gateways", f"/gateways/{GATEWAY}"):
                shown = "document.querySelector('time[data-local]')"
                browser.open(base + path, f"{shown} !== null", f"the time on {path}")
                assert browser.js("document.querySelector('.badge.gateway-stalled').textContent") == "Stalled"
                assert browser.js(f"{shown}.getAttribute('datetime')") == heard.isoformat()
                assert browser.js(f"{shown}.title") == heard.strftime("%Y-%m-%d %H:%M:%S UTC")
                text = browser.js(f"{shown}.textContent")
                assert text == f"{local:%Y-%m-%d %H:%M:%S} IST", (text, local)
            assert not browser.csp_complaints()
    finally:
        store.close()
        db.dispose()
