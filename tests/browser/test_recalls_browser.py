"""Recalls in Chromium, on a desktop and on a 390x844 phone.

The manager opens the recall dashboard, follows "Import an openFDA file", uploads the openFDA
fixture and watches the import job to its end: the counts, and the five records refused with
their reasons. The dashboard shows the open recalls, the assets concerned and the completion; a
technician works through the review queue with its buttons (a rejection without a note is
refused on the page); the manager enters an MHRA notice with the form. The desktop run imports
the file first; the phone run imports it again and opens no work order. Screenshots go with the
test output.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from recall_support import EXACT, FILE, add_register
from sqlalchemy import func, select
from test_ui_browser import DESKTOP, PHONE, Session

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import WorkOrder

pytestmark = pytest.mark.timeout(300)
DEVICES = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(scope="module")
def register(served):
    """The seeded hospital with the recall test register."""
    with session_scope(served.engine) as s:
        add_register(s, served.clock)
    return served


def _fits(page, device: str) -> None:
    if device == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]


def _recall_orders(served) -> int:
    with session_scope(served.engine, readonly=True) as s:
        return s.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.kind == "recall"))


@pytest.mark.parametrize("device", DEVICES)
def test_import_dashboard_review_and_notice_with_the_page_controls(register, served, chromium, shots, device):
    manager = Session(chromium, served, **DEVICES[device]).sign_in("manager")
    page = manager.open("/recalls")
    page.get_by_role("link", name="Import an openFDA file").click()
    page.wait_for_url(re.compile(r".*/recalls/import$"))
    page.get_by_label("openFDA file").set_input_files(files=[{"name": "device-recall-0001-of-0001.json",
                                                               "mimeType": "application/json",
                                                               "buffer": FILE.read_bytes()}])
    _fits(page, device)
    page.screenshot(path=shots / f"recalls-{device}-1-import.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_selector(".job[data-job-state=done]", timeout=120_000)
    summary = page.locator(".job .flash").inner_text()
    new = "53" if device == "desktop" else "0"
    assert summary.startswith(f"60 records: {new} new recalls, ") and "5 refused" in summary
    problems = page.locator(".job-problems li").all_inner_texts()
    assert len(problems) == 5 and problems[0] == "record 21 (Z-0901-2026): recalling_firm: is missing"
    assert _recall_orders(served) >= EXACT
    _fits(page, device)
    page.screenshot(path=shots / f"recalls-{device}-2-job.png", full_page=True)

    page = manager.open("/recalls")
    assert int(page.locator("#open-recalls").inner_text()) >= 10
    assert page.locator('tr[data-recall="Z-0003-2026"]').count() == 1
    _fits(page, device)
    page.screenshot(path=shots / f"recalls-{device}-3-dashboard.png", full_page=True)
    page.locator('tr[data-recall="Z-0010-2026"] a').click()
    page.wait_for_url(re.compile(r".*/recalls/\d+$"))
    assert page.locator('tr[data-asset="RC-19"]').count() == 1 and page.locator('tr[data-asset="RC-21"]').count() == 0
    _fits(page, device)

    tech = Session(chromium, served, **DEVICES[device]).sign_in("tech")
    page = tech.open("/recalls")
    page.get_by_role("link", name="Review queue").click()
    page.wait_for_url(re.compile(r".*/recalls/review$"))
    _fits(page, device)
    page.screenshot(path=shots / f"recalls-{device}-4-review.png", full_page=True)
    card = page.locator("li[data-match]").first
    tag = card.get_attribute("data-asset")
    with page.expect_navigation():
        card.get_by_role("button", name="Reject: not concerned").click()
    assert "reason: is required" in page.locator(".error-box").inner_text()
    tech.forget("400 (BAD REQUEST)")
    card = page.locator(f'li[data-asset="{tag}"]')
    before = _recall_orders(served)
    if device == "desktop":
        card.get_by_label("Note (required to reject)").fill("Same pump; the label lacks the product code")
        with page.expect_navigation():
            card.get_by_role("button", name="Confirm: it is concerned").click()
        assert f"{tag} confirmed: work order WO-" in page.locator(".flash").inner_text()
        assert _recall_orders(served) == before + 1
    else:
        card.get_by_label("Note (required to reject)").fill("Another model year")
        with page.expect_navigation():
            card.get_by_role("button", name="Reject: not concerned").click()
        assert f"{tag} rejected for recall" in page.locator(".flash").inner_text()
        assert _recall_orders(served) == before
    assert page.locator(f'li[data-asset="{tag}"]').count() == 0 or tag.startswith("IP-")
    _fits(page, device)

    page = manager.open("/recalls")
    page.get_by_role("link", name="Enter a safety notice").click()
    page.wait_for_url(re.compile(r".*/recalls/notices/new$"))
    page.get_by_label("Regulator").select_option("MHRA")
    page.get_by_label("Notice reference").fill(f"MDA/2026/{device}")
    page.get_by_label("Manufacturer").fill("ZOLL Medical Corporation")
    page.get_by_label("Product and models concerned").fill("AED Plus: replace the battery pack")
    _fits(page, device)
    page.screenshot(path=shots / f"recalls-{device}-5-notice.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Record the notice").click()
    assert f"Notice MDA/2026/{device} recorded: 1 assets linked, 0 to review." in page.locator(".flash").inner_text()
    assert page.locator('tr[data-asset="RC-11"]').count() == 1
    _fits(page, device)
    assert manager.problems == [] and tech.problems == []
