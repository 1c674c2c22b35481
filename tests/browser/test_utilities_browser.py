"""Utility meters in Chromium, on a desktop and on a phone (390x844): a technician opens the
utilities page, picks a meter read by hand, enters a reading over December on its page and sees
it in the meter's monthly chart, then in the department's bars of the utilities page and its
CSV file. Screenshots of each step go with the test output."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_ui_browser import DESKTOP, PHONE, Session
from utilities_support import department_id

from wardlink.hub.db import session_scope
from wardlink.hub.services.utilities import meters, readings

pytestmark = pytest.mark.timeout(180)
SCREENS = {"desktop": DESKTOP, "phone": PHONE}
#: One department per screen (the hub serves the whole module): code and name.
DEPARTMENTS = {"desktop": ("ICU", "Intensive Care Unit"), "phone": ("ESTATES", "Estates and Facilities")}


def _plot_data(page, figure) -> list:
    return page.evaluate("el => el._plot.data.slice(1)", figure.element_handle())


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_enter_a_hand_reading_and_see_the_monthly_chart(served, chromium, screen, shots):
    code, department = DEPARTMENTS[screen]
    name = f"{code} sub-board ({screen})"
    with session_scope(served.engine) as s:
        meter_id = meters.create_meter(s, {"name": name, "kind": "electricity",
                                           "department_id": department_id(s, code)},
                                       actor=None, clock=served.clock).id

    tech = Session(chromium, served, **SCREENS[screen]).sign_in("tech")
    page = tech.open("/utilities")
    with page.expect_navigation():
        page.get_by_role("link", name=name).click()
    chart = page.locator("#meter-chart")
    assert chart.get_attribute("data-drawn") == "empty"
    page.locator("#reading-quantity").fill("1240.5")
    page.locator("#reading-start").fill("2025-12-01")
    page.locator("#reading-end").fill("2025-12-31")
    page.locator("#reading-notes").fill("monthly read")
    page.screenshot(path=shots / f"utilities-1-reading-{screen}.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Save reading").click()
    row = page.locator("#readings-table tr[data-reading]")
    assert row.count() == 1 and "1240.5" in row.inner_text() and "monthly read" in row.inner_text()
    chart = page.locator("#meter-chart")
    chart.locator(".uplot canvas").first.wait_for()
    months = 12  # the last twelve months up to January 2026, December the eleventh
    data = _plot_data(page, chart)
    assert data[0] == [0] * (months - 2) + [1240.5, 0]  # the department's bars
    assert data[1] == [0] * months  # the same months a year before
    assert _fits(page), "the meter page scrolls sideways"
    page.screenshot(path=shots / f"utilities-2-meter-chart-{screen}.png", full_page=True)

    page.locator("#reading-quantity").fill("-3")
    with page.expect_navigation():
        page.get_by_role("button", name="Save reading").click()
    assert "quantity: must be a number 0 or more" in page.locator(".error-box").inner_text()
    assert [p for p in tech.problems if "400 (BAD REQUEST)" not in p] == []  # the refusal answers 400
    tech.problems.clear()

    page = tech.open("/utilities?kind=electricity")
    figure = page.locator("#usage-chart")
    figure.locator(".uplot canvas").first.wait_for()
    assert department in figure.get_attribute("data-series").split("|")
    assert page.locator(f'#usage tr[data-department="{department}"] td').nth(months - 2).inner_text() == "1240.5"
    assert _fits(page), "the utilities page scrolls sideways"
    page.screenshot(path=shots / f"utilities-3-department-chart-{screen}.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert f"{code},electricity,kWh,2025-12,1240.5,0," in Path(download.value.path()).read_text()
    assert tech.problems == []
    with session_scope(served.engine, readonly=True) as s:
        assert readings.list_readings(s, meter_id, actor=None).total == 1
    tech.context.close()


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_a_manager_adds_a_pulse_meter_and_sees_its_days_with_the_baseline_alert(served, chromium, screen, shots,
                                                                               tmp_path):
    from datetime import date, timedelta

    from utilities_support import CHANNEL, GATEWAY, local_ms, steady_day

    from wardlink.clock import ManualClock
    from wardlink.hub.services.utilities import rollup
    from wardlink.hub.telemetry.sqlite import SQLiteStore

    name = f"Theatre chiller ({screen})"
    manager = Session(chromium, served, **SCREENS[screen]).sign_in("manager")
    page = manager.open("/utilities?kind=electricity")
    with page.expect_navigation():
        page.get_by_role("link", name="Add meter").click()
    page.locator("#name").fill(name)
    page.locator("#department_id").select_option(label="Operating Theatres")
    page.locator("#source").select_option("pulse")
    page.locator("#units_per_pulse").fill("0.001")
    page.locator("#gateway_id").fill(GATEWAY)
    page.locator("#channel_id").fill(f"{CHANNEL}.{screen}")
    page.locator("#alert_percent").fill("25")
    page.locator("#baseline_weeks").fill("1")
    page.screenshot(path=shots / f"utilities-4-meter-form-{screen}.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    assert "0.001 kWh per pulse" in page.locator("#meter-facts").inner_text()
    meter_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert page.locator("#reading-form").count() == 0  # its gateway reads it

    # A week of a steady 1 kW, then a Monday at 1.5 kW: 50 % above its baseline of 24 kWh.
    monday = date(2025, 12, 29)
    with SQLiteStore(tmp_path / "telemetry.db") as store:
        channel = f"{CHANNEL}.{screen}"
        for day, rate in ((monday - timedelta(weeks=1), 1000), (monday, 1500)):
            store.write([p._replace(tags=(("channel", channel), ("gateway", GATEWAY)))
                         for p in steady_day(day, rate)])
        with session_scope(served.engine) as s:
            meter = meters.get_meter(s, meter_id, actor=None)
            rollup.roll_up(s, store, clock=ManualClock(local_ms(date(2026, 1, 1), 0.5) / 1000), meters=[meter],
                           days=14)
    page = manager.open(f"/utilities/meters/{meter_id}")
    row = page.locator('#meter-days tr[data-day="2025-12-29"]')
    assert "36" in row.inner_text() and row.locator(".badge").is_visible()
    assert page.locator('#meter-days tr[data-day="2025-12-22"] .badge').count() == 0
    assert _fits(page), "the pulse meter's page scrolls sideways"
    page.screenshot(path=shots / f"utilities-5-pulse-days-{screen}.png", full_page=True)
    assert manager.problems == []
    manager.context.close()
