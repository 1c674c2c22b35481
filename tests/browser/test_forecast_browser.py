"""The parts forecast in Chromium, on a desktop and on a 390x844 phone: a manager gives a plan its
parts per visit on the plan form, opens the forecast, sees the shortfall and the suggested order
per supplier, and narrows the window. Screenshots go with the test output."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from forecast_support import NOW, make_forecast
from test_ui_browser import DESKTOP, PHONE, Session

from wardlink.hub.db import session_scope

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def plans(served):
    served.clock.set(NOW.timestamp())
    with session_scope(served.engine) as s:
        _, monthly, quarterly = make_forecast(s, served.clock)
        return monthly.id, quarterly.id


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_a_manager_sets_parts_per_visit_and_reads_the_forecast(served, chromium, shots, plans, screen):
    monthly_id, _ = plans
    manager = Session(chromium, served, **(DESKTOP if screen == "desktop" else PHONE)).sign_in("manager")
    page = manager.open(f"/maintenance/{monthly_id}/edit")
    # On the phone the monthly plan takes 3 FLT-100 a visit instead of 2: 3 x 3 + 3 = 12 needed.
    quantity = "2" if screen == "desktop" else "3"
    page.get_by_label("Stock part 1 SKU").fill("FLT-100")
    page.get_by_label("Stock part 1 quantity").fill(quantity)
    page.screenshot(path=shots / f"forecast-1-plan-form-{screen}.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Save plan").click()
    assert f"{quantity} × FLT-100" in page.locator("#visit-parts").inner_text()

    page = manager.open("/inventory")
    with page.expect_navigation():
        page.get_by_role("link", name="Parts forecast").click()
    row = page.locator('#forecast tr[data-sku="FLT-100"]')
    needed, short, order = ("9", "5", "10") if screen == "desktop" else ("12", "8", "10")
    assert row.locator("td.shortfall").inner_text() == short
    assert row.locator("td.suggested").inner_text() == order
    assert row.locator('td[data-label="Needed"]').inner_text().startswith(needed)
    assert row.locator('td[data-label="Shortfall"]').is_visible()
    assert page.locator('section.supplier-order[data-supplier="Medparts Ltd"] tr[data-sku="FLT-100"]').count() == 1
    page.screenshot(path=shots / f"forecast-2-ninety-days-{screen}.png", full_page=True)
    page.get_by_label("Window").select_option("30")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert "days=30" in page.url and page.locator("#no-orders").is_visible()
    page.screenshot(path=shots / f"forecast-3-thirty-days-{screen}.png", full_page=True)
    manager.close()
