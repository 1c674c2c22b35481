"""A real headless Chromium loads the asset page and watches live.js refresh the readings.

This covers what the Flask test client cannot: that the strict CSP lets the script run, that
it polls the API with the session cookie, and that it rewrites values and freshness badges.
"""

from __future__ import annotations

import pytest
from browser_support import served_hub, signed_in_browser
from relational_support import GATEWAY, clock, hub_config
from waiting import wait_for

from wardlink.hub.telemetry import Point
from wardlink.hub.telemetry.sqlite import SQLiteStore


@pytest.mark.timeout(90)
def test_live_readings_refresh_in_a_real_browser_and_turn_stale(tmp_path, clock, relational_url):
    (tmp_path / "web.toml").write_text("LIVE_POLL_MS = 200\n")
    store = SQLiteStore(tmp_path / "telemetry.db")
    tags = {"gateway": GATEWAY, "channel": "fridge1.temp", "asset": "VF-0001", "ward": "ICU", "site": "RGH"}

    def write(value, age_s=1.0):
        store.write([Point.of("temperature", tags, round((clock.now() - age_s) * 1000), value)])

    config = hub_config(tmp_path, database_url=relational_url)
    try:
        with served_hub(config, telemetry=store, clock=clock) as base, \
                signed_in_browser(tmp_path, base, "nurse") as browser:
            write(4.1)
            cell = f"document.querySelector('tr[data-live-key=\"{GATEWAY}/fridge1.temp\"]')"
            browser.open(f"{base}/assets/VF-0001", f"{cell} !== null", "the asset page")
            assert browser.js(f"{cell}.querySelector('[data-field=value]').textContent") == "4.1"

            clock.advance(2)  # a new reading has a new timestamp; the store keeps one value per instant
            write(5.37)  # a temperature is shown to 0.1 °C
            wait_for(lambda: browser.js(f"{cell}.querySelector('[data-field=value]').textContent") == "5.4",
                     20, "live.js to show the new reading", interval=0.05)
            badge = f"{cell}.querySelector('[data-field=state]')"
            assert browser.js(f"{badge}.textContent") == "Live"
            assert browser.js(f"{badge}.className") == "badge live-live"
            assert "updated" in browser.js("document.querySelector('[data-live-status]').textContent")

            clock.advance(600)  # ten minutes without a reading
            wait_for(lambda: browser.js(f"{badge}.textContent") == "Stale", 20, "the reading to turn stale",
                     interval=0.05)
            assert browser.js(f"{badge}.className") == "badge live-stale"
            assert browser.js(f"{cell}.querySelector('[data-field=age]').textContent") == "10 min ago"
            assert not browser.csp_complaints()
    finally:
        store.close()
