"""The PM calendar's year view in Chromium, on a desktop and on a 390x844 phone: a manager goes
from the month to the year, sees how many services fall on each day of the year (the days of a
quarterly plan among them), and opens one day to see its services listed.

Each step is photographed into the artifacts directory (``screenshots/pm-year-<device>-<nn>-<step>.png``).
No script or policy error may occur (Session.close checks the console).
"""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from pm_steps import Camera
from test_ui_browser import DESKTOP, PHONE, Session

from wardlink.hub.db import session_scope
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import pm, pm_calendar_paging
from wardlink.hub.services.people import users

pytestmark = pytest.mark.timeout(240)
#: The hub's clock starts on 1 January 2026; the plan is counted from 15 January.
DUES = [date(2026, 4, 15), date(2026, 7, 15), date(2026, 10, 15)]


@pytest.mark.parametrize(("device", "context", "tag"), [("desktop", DESKTOP, "IP-0101"),
                                                         ("phone", PHONE, "VENT-0001")])
def test_a_manager_reads_the_year_counted_per_day_and_opens_a_day(served, chromium, shots, device, context, tag):
    shoot = Camera(shots, f"pm-year-{device}")
    name = f"Quarterly year check {tag}"
    with session_scope(served.engine) as s:
        manager = Actor.for_user(users.find_user(s, "manager"))
        pm.create_plan(s, {"name": name, "asset_tag": tag, "trigger": "calendar", "interval_count": 3,
                           "interval_unit": "month", "anchor_date": "2026-01-15", "lead_days": 14},
                       actor=manager, clock=served.clock)
    with session_scope(served.engine, readonly=True) as s:
        summary = pm_calendar_paging.day_summary(s, actor=Actor.for_user(users.find_user(s, "manager")),
                                                 first=date(2026, 1, 1), last=date(2026, 12, 31),
                                                 now=utc_now(served.clock))
    expected = {d.day.isoformat(): d.total for d in summary.days if d.total}

    me = Session(chromium, served, **context).sign_in("manager")
    page = me.open("/maintenance/calendar?view=month&date=2026-01-01")
    with page.expect_navigation():
        page.locator(".cal-views").get_by_role("link", name="Year").click()
    assert page.locator("h2.calendar-title").inner_text().startswith("2026")
    assert page.locator(".cal-month").count() == 12
    shoot(page, "year")
    shown = page.locator(".cal-month td[data-day]:has(.cal-count)").evaluate_all(
        "cells => cells.map(c => [c.dataset.day, Number(c.querySelector('.cal-count').textContent)])")
    assert dict(shown) == expected  # every busy day, with the count the API's summary=day gives
    for due in DUES:
        assert due.isoformat() in expected
    if device == "phone":
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the year view scrolls sideways on a phone ({width} px)"

    day = page.locator(f'.cal-month td[data-day="{DUES[1].isoformat()}"] a')
    day.scroll_into_view_if_needed()
    shoot(page, "year-july")
    with page.expect_navigation():
        day.click()
    assert re.search(r"view=day&date=2026-07-15", page.url)
    entries = page.locator(".cal-entry", has_text=tag)
    assert entries.count() == 1 and name in entries.first.inner_text()
    assert page.locator(".cal-agenda .cal-entry").count() == expected[DUES[1].isoformat()]
    shoot(page, "day")
    me.close()
