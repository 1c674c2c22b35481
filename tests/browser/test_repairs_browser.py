"""The monthly repairs list in Chromium, on a desktop and on a 390x844 phone: a manager opens it
from the reports page, chooses February, reads each department's repairs with their parts, reasons
for delay and cost, downloads the PDF, and gives the reason for an SLA breach on the order's page.
Screenshots go with the test output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from repairs_support import make_month
from test_ui_browser import DESKTOP, PHONE, Session

from wardlink.hub.db import session_scope

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def month(served):
    with session_scope(served.engine) as s:
        return make_month(s, served.clock)


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_a_manager_reads_the_repairs_of_february_and_downloads_the_pdf(served, chromium, shots, month, screen,
                                                                       tmp_path):
    manager = Session(chromium, served, **(DESKTOP if screen == "desktop" else PHONE)).sign_in("manager")
    page = manager.open("/reports")
    with page.expect_navigation():
        page.get_by_role("link", name="Monthly repairs list").click()
    page.get_by_label("Month").fill("2026-02")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert page.locator("#repairs-summary").inner_text() == "2 repairs, total cost 205.00."
    held = page.locator(f'tr[data-wo="{month.held_code}"]')
    assert held.locator("td.cost").inner_text() == "165.00"
    assert "Awaiting filter delivery" in held.locator("td.delays").inner_text()
    assert "2 × FLT-100" in held.locator("td.parts").inner_text() and held.locator("td.delays").is_visible()
    assert page.locator('#asset-costs tr[data-asset="VF-0001"] td.total').inner_text() == "165.00"
    page.screenshot(path=shots / f"repairs-1-february-{screen}.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename == "repairs-2026-02.pdf"
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"%PDF-")
    path = tmp_path / "repairs.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert month.held_code in text and "Awaiting filter delivery" in text and "Vendor engineer" in text

    order = manager.open(f"/work-orders/{month.breached}")
    reason = f"Spare pads out of stock ({screen})"
    order.get_by_label("Why was the service level breached?").fill(reason)
    with order.expect_navigation():
        order.get_by_role("button", name="Record the reason").click()
    assert reason in order.locator("#delays").inner_text()
    order.screenshot(path=shots / f"repairs-2-delay-reason-{screen}.png", full_page=True)
    manager.close()
