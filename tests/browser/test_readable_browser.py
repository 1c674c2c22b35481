"""The vaccine fridge's asset page in a real Chromium, desktop and phone, for a hospital in Berlin.

A person opens VF-0001 and reads: the temperature in °C, times in Central European Time, the
temperature chart with the 2–8 °C alert band of the fridge rule behind it, and the door as a
step chart with Closed / Open levels and how long it stood open in the period.

The hub's clock stands at 2026-01-01 01:00 UTC (02:00 CET); the channels were bound an hour
earlier, so the charts open on the last hour. The door, hand-counted over that hour: unknown
until the first reading at 01:10 CET, then closed, open 01:20-01:23 and 01:50-01:51: open
4 min in 2 openings, closed 46 min, no data for 10 min.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from sqlalchemy import update
from test_ui_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, Hub, Session, _require_tools, shots

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Site
from wardlink.hub.rules.spec import parse_rules, sync_rules
from wardlink.hub.telemetry import Point
from relational_support import GATEWAY

pytestmark = pytest.mark.timeout(120)

RULES = """
[[rules]]
name = "fridge-temperature"
kind = "threshold"
severity = "critical"
match = { metric = "temperature", category = "Medical refrigerator" }
below = 2.0
above = 8.0
for_s = 300
"""
MIN_MS = 60_000
#: minutes before now -> door level
DOOR = {50: 0.0, 40: 1.0, 37: 0.0, 10: 1.0, 9: 0.0}
#: The page's charts run on from the server's time as the browser's clock ticks, so the door
#: has been closed a few seconds longer by the time a chart loads.
SUMMARY = re.compile(r"Open 4 min, closed 46 min( \d+ s)? in this period \(open 2 times\); no data for 10 min")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    _require_tools()
    server = Hub(tmp_path_factory.mktemp("readable-browser"))
    with session_scope(server.engine) as s:
        s.execute(update(Site).values(timezone="Europe/Berlin"))
        sync_rules(s, parse_rules(tomllib.loads(RULES)).rules, clock=server.clock)
    now_ms = round(server.clock.now() * 1000)
    tags = {"gateway": GATEWAY, "asset": "VF-0001", "ward": "ICU", "site": "RGH"}
    points = [Point.of("temperature", {**tags, "channel": "fridge1.temp"}, now_ms - m * MIN_MS, 4.0 + (m % 7) / 10)
              for m in range(0, 56, 5)]
    points += [Point.of("door", {**tags, "channel": "fridge1.door"}, now_ms - m * MIN_MS, v) for m, v in DOOR.items()]
    server.store.write(points)
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser(hub):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _fridge_page(session: Session):
    page = session.open("/assets/VF-0001")
    temp = page.locator(f'figure.chart[data-chart-key="{GATEWAY}/fridge1.temp"]')
    door = page.locator(f'figure.chart[data-chart-key="{GATEWAY}/fridge1.door"]')
    temp.locator(".uplot canvas").wait_for()
    door.locator(".uplot canvas").wait_for()
    page.wait_for_function("el => el.getAttribute('data-band-drawn') === 'true'", arg=temp.element_handle())
    page.wait_for_function("el => el.textContent.length > 0", arg=door.locator("[data-chart-summary]").element_handle())
    return page, temp, door


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_the_fridge_page_shows_the_band_celsius_local_times_and_the_door_steps(hub, browser, screen, shots):
    context = DESKTOP if screen == "desktop" else PHONE
    me = Session(browser, hub, **context).sign_in("nurse")
    page, temp, door = _fridge_page(me)
    # Units: °C in the live table and on the chart, the door's level as a word.
    row = page.locator(f'tr[data-live-key="{GATEWAY}/fridge1.temp"]')
    assert row.locator("[data-field=value]").inner_text() == "4"
    assert row.locator(".unit").inner_text() == "°C"
    assert page.locator(f'tr[data-live-key="{GATEWAY}/fridge1.door"] [data-field=value]').inner_text() == "Closed"
    assert "(°C)" in temp.locator("figcaption").inner_text()
    assert "degC" not in page.inner_text("main")
    # The band of the fridge rule, drawn behind the series and written out.
    limits = temp.locator("[data-chart-limits]").inner_text()
    assert "2–8 °C" in limits and "fridge-temperature" in limits
    # Local time: the newest reading at 02:00 CET, also after live.js refreshed the row.
    stamp = row.locator("[data-field=ts]")
    assert stamp.inner_text() == "2026-01-01 02:00:00 CET"
    page.wait_for_function("el => el.textContent.indexOf('updated') >= 0",
                           arg=page.locator("[data-live-status]").first.element_handle())
    assert stamp.inner_text() == "2026-01-01 02:00:00 CET"
    assert "UTC" not in page.locator("#readings").inner_text()
    # The charts open on the data's hour, with the time axis in CET.
    assert temp.get_attribute("data-span") == "1h"
    assert temp.locator('button[data-span="1h"]').get_attribute("aria-pressed") == "true"
    assert "Time (CET)" in temp.locator(".u-legend").inner_text()
    # The door: levels as words, a step chart, and its time open (computed by the hub).
    assert "(Closed / Open)" in door.locator("figcaption").inner_text()
    assert SUMMARY.fullmatch(door.locator("[data-chart-summary]").inner_text())
    door.locator(".u-over").scroll_into_view_if_needed()
    box = door.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.62, box["y"] + box["height"] / 2)  # 01:37 CET: open
    legend = door.locator(".u-legend").inner_text()
    assert re.search(r"State\s*(Open|Closed)", legend), legend
    assert "CET" in legend
    # Another period: redrawn and summed again; the door was bound an hour ago, so 6 h hold the
    # same hour of data.
    loaded = door.get_attribute("data-loaded")
    door.locator('button[data-span="6h"]').click()
    page.wait_for_function(f"el => el.getAttribute('data-loaded') !== '{loaded}'", arg=door.element_handle())
    assert door.locator('button[data-span="6h"]').get_attribute("aria-pressed") == "true"
    assert SUMMARY.fullmatch(door.locator("[data-chart-summary]").inner_text())
    if screen == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
    page.screenshot(path=shots / f"{screen}-fridge-readable.png", full_page=True)
    me.close()
