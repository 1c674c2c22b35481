"""Department consumables in Chromium, on a desktop and on a phone (390x844): procurement
records a receipt on the item's page, a nurse of the ward records a collection; the balance
and the item's monthly chart change, and the department's consumption page charts it.
Screenshots of each step go with the test output."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from consumables_support import make_item
from test_ui_browser import DESKTOP, PHONE, Session

from wardlink.hub.db import session_scope
from wardlink.hub.services.consumables import items

pytestmark = pytest.mark.timeout(180)
SCREENS = {"desktop": DESKTOP, "phone": PHONE}


def _plot_data(page, figure) -> list:
    return page.evaluate("el => el._plot.data.slice(1)", figure.element_handle())


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_record_a_receipt_and_a_collection_and_see_the_balance_and_the_chart_change(served, chromium, screen,
                                                                                   shots):
    name = f"Gauze swabs ({screen})"
    with session_scope(served.engine) as s:
        item_id = make_item(s, served.clock, name=name, unit="pack", reorder_level="5", received=None).id

    buyer = Session(chromium, served, **SCREENS[screen]).sign_in("buyer")
    page = buyer.open(f"/consumables/items/{item_id}")
    assert page.locator("#balance").inner_text() == "0"
    chart = page.locator("#item-chart")
    assert chart.get_attribute("data-drawn") == "empty"
    page.locator("#receive-quantity").fill("24")
    page.locator("#receive-supplier").fill("Medsupply Ltd")
    page.locator("#receive-reference").fill("DN-2041")
    page.screenshot(path=shots / f"consumables-1-receipt-{screen}.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Record receipt").click()
    assert page.locator("#balance").inner_text() == "24"
    assert page.locator('#entries tr[data-entry="receipt"]').count() == 1
    assert buyer.problems == []

    nurse = Session(chromium, served, **SCREENS[screen]).sign_in("nurse")
    page = nurse.open("/consumables")
    with page.expect_navigation():
        page.get_by_role("link", name=name).click()
    assert page.locator("#receive-form").count() == 0  # the ward records collections only
    page.locator("#collect-quantity").fill("30")
    with page.expect_navigation():
        page.get_by_role("button", name="Record collection").click()
    assert "not enough" in page.locator(".error-box").inner_text()
    assert page.locator("#balance").inner_text() == "24"
    assert [p for p in nurse.problems if "400 (BAD REQUEST)" not in p] == []  # the refusal answers 400
    nurse.problems.clear()
    page.locator("#collect-quantity").fill("20")
    page.locator("#collect-name").fill("Ama Mensah")
    page.locator("#collect-notes").fill("theatre 2")
    page.screenshot(path=shots / f"consumables-2-collection-{screen}.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Record collection").click()
    assert page.locator("#balance").inner_text() == "4"
    assert page.locator("#low-badge").is_visible()
    row = page.locator('#entries tr[data-entry="collection"]')
    assert "Ama Mensah" in row.inner_text() and "theatre 2" in row.inner_text()
    chart = page.locator("#item-chart")
    chart.locator(".uplot canvas").first.wait_for()
    assert chart.get_attribute("data-drawn") == "12"
    assert _plot_data(page, chart) == [[0] * 11 + [20]]
    assert _fits(page), "the item page scrolls sideways"
    page.screenshot(path=shots / f"consumables-3-balance-and-chart-{screen}.png", full_page=True)
    with session_scope(served.engine, readonly=True) as s:
        assert items.balance(s, item_id) == 4

    page = nurse.open("/consumables/consumption")
    figure = page.locator("#consumption-chart")
    figure.locator(".uplot canvas").first.wait_for()
    assert f"{name} (pack)" in figure.get_attribute("data-series").split("|")
    assert page.locator(f'#consumption tr[data-item="{name}"] [data-total]').inner_text() == "20"
    page.screenshot(path=shots / f"consumables-4-consumption-{screen}.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert f"ICU,{name},pack,2026-01,20,24" in Path(download.value.path()).read_text()
    assert nurse.problems == []
    buyer.context.close()
    nurse.context.close()
