"""A real headless Chromium, signed in as a technician on a desktop and a 390x844 phone
viewport: the bell in the header counts up by itself (htmx polling) when a manager assigns a
work order to them, and the inbox opens the order and marks the notice read."""

from __future__ import annotations

import pytest
from browser_support import served_hub, signed_in_browser
from relational_support import actor, clock, hub_config
from waiting import wait_for

from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users
from wardlink.hub.telemetry.sqlite import SQLiteStore

COUNT = "document.querySelector('[data-testid=bell-count]')"
VISIBLE = ("(() => { const r = document.querySelector('#notice-bell').getBoundingClientRect();"
           " return r.width > 0 && r.height > 0 && r.right <= window.innerWidth; })()")
# The icon is drawn (an inline SVG), not a character the fonts may lack; the label stays text.
ICON = ("(() => { const b = document.querySelector('#notice-bell'), i = b.querySelector('svg.bell-icon');"
        " const r = i ? i.getBoundingClientRect() : null;"
        " return !!r && r.width > 0 && r.height > 0 && i.getAttribute('aria-hidden') === 'true'"
        " && !/[^\\x00-\\x7F]/.test(b.textContent); })()")


def _assign_new_order(db, clock) -> int:
    with session_scope(db) as s:
        order = workorders.request_work(s, {"title": "Infusion pump occlusion alarm", "asset_tag": "VF-0001"},
                                        actor=actor(s, "nurse"), clock=clock)
        workorders.reassign(s, order.id, users.find_user(s, "tech").id, actor=actor(s, "manager"), clock=clock)
        return order.id


@pytest.mark.timeout(120)
def test_the_bell_count_rises_when_a_work_order_is_assigned_on_desktop_and_phone(tmp_path, clock, relational_url):
    db = open_engine(relational_url)
    store = SQLiteStore(tmp_path / "telemetry.db")
    try:
        with served_hub(hub_config(tmp_path, database_url=relational_url), telemetry=store, clock=clock) as base, \
                signed_in_browser(tmp_path, base, "tech") as browser:
            for width, height, mobile in ((1280, 800, False), (390, 844, True)):
                browser.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                             deviceScaleFactor=1, mobile=mobile)
                browser.open(base + "/work-orders", f"{COUNT} !== null", "the bell in the header")
                before = int(browser.js(f"{COUNT}.textContent"))
                assert browser.js(VISIBLE), f"bell not visible at {width}x{height}"
                assert browser.js(ICON), f"bell icon not drawn at {width}x{height}"
                order_id = _assign_new_order(db, clock)
                # No reload: the bell polls its fragment and shows the new count.
                wait_for(lambda: int(browser.js(f"{COUNT}.textContent")) == before + 1, 30,
                         f"the bell to count the assignment at {width}x{height}", interval=0.2)
                assert browser.js("document.querySelector('#notice-bell').getAttribute('aria-label')") \
                    == f"Notices: {before + 1} unread"
                browser.js("document.querySelector('#notice-bell').click()")
                wait_for(lambda: browser.js("location.pathname") == "/notices", 20, "the inbox", interval=0.05)
                wait_for(lambda: browser.js("document.querySelector('.notice-unread button[name=open]') !== null"),
                         20, "the unread notice", interval=0.05)
                browser.js("document.querySelector('.notice-unread button[name=open]').click()")
                wait_for(lambda: browser.js("location.pathname") == f"/work-orders/{order_id}", 20,
                         "the work order page", interval=0.05)
                wait_for(lambda: browser.js(f"{COUNT} !== null && {COUNT}.textContent") == str(before), 20,
                         "the bell to drop back", interval=0.05)
            assert not browser.csp_complaints()
    finally:
        store.close()
        db.dispose()
