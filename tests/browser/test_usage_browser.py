"""Equipment usage in Chromium, on a phone (390x844) and a desktop: a nurse scans a pump's QR
code, reads its procedure and critical warning, starts using it and ends it; a refrigerator
whose knowledge requires training is refused to the untrained nurse (the site blocks); a rented
monitor cannot be started until its incoming inspection work order is completed accepted.
Screenshots of each step go with the test output."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_ui_browser import DESKTOP, PHONE, Hub, Session, _require_tools

from wardlink.hub.db import session_scope
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users
from wardlink.hub.services.usage import knowledge, rentals

pytestmark = pytest.mark.timeout(180)
SCREENS = {"desktop": DESKTOP, "phone": PHONE}
PROCEDURE = "## Before use\n\n1. Check the giving set.\n2. Prime the line.\n\n<script>alert(1)</script>"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A hub whose training policy blocks, with knowledge for pumps and refrigerators and a
    rented patient monitor waiting for its incoming inspection."""
    _require_tools()
    hub = Hub(tmp_path_factory.mktemp("usage"), usage_training_policy="block")
    with session_scope(hub.engine) as s:
        knowledge.create_entry(s, {"category": "Infusion pump", "procedure": PROCEDURE,
                                   "critical_warning": "Check the drug library before every infusion."},
                               actor=None, clock=hub.clock)
        knowledge.create_entry(s, {"category": "Medical refrigerator", "training_required": True,
                                   "procedure": "Keep the door shut."}, actor=None, clock=hub.clock)
        rentals.register(s, {"asset_tag": "PM-0001", "vendor": "MedEquip", "contract_ref": "ME-7",
                             "expected_return_on": "2026-02-28", "rate_per_day": "20"},
                         actor=Actor.for_user(users.find_user(s, "manager")), clock=hub.clock)
    yield hub
    hub.close()


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("screen", ["phone", "desktop"])
def test_scan_read_the_procedure_and_warning_start_and_end(served, chromium, screen, shots):
    tag = {"phone": "IP-0101", "desktop": "IPD-0001"}[screen]
    if screen == "desktop":
        with session_scope(served.engine) as s:
            knowledge.create_entry(s, {"category": "Infusion pump docking station", "procedure": PROCEDURE,
                                       "critical_warning": "Check the drug library before every infusion."},
                                   actor=None, clock=served.clock)
    nurse = Session(chromium, served, **SCREENS[screen]).sign_in("nurse")
    page = nurse.open(f"/a/{tag}")  # what the label's QR code opens
    with page.expect_navigation():
        page.locator("#start-using").click()
    assert page.locator("#critical-warning").inner_text().endswith("Check the drug library before every infusion.")
    assert page.locator("#procedure h2", has_text="Before use").count() == 1
    assert page.locator("#procedure li").count() == 2 and page.locator("#procedure script").count() == 0
    assert _fits(page)
    page.screenshot(path=shots / f"usage-1-scan-{screen}.png", full_page=True)
    page.locator("#start-reason").fill("Bed 4 infusion")
    with page.expect_navigation():
        page.locator("#start-button").click()
    assert page.locator("#usage-status").inner_text().strip() == "In use"
    assert "Bed 4 infusion" in page.locator("#current-session").inner_text()
    assert _fits(page)
    page.screenshot(path=shots / f"usage-2-in-use-{screen}.png", full_page=True)
    with page.expect_navigation():
        page.locator("#end-session").click()
    assert page.locator("#usage-status").inner_text().strip() == "Available"
    assert page.locator("#start-form").count() == 1
    assert page.locator("#asset-sessions tbody tr").count() == 1
    assert nurse.problems == []


def test_a_training_required_device_is_refused_to_an_untrained_nurse(served, chromium, shots):
    nurse = Session(chromium, served, **PHONE).sign_in("nurse")
    page = nurse.open("/usage/assets/VF-0001")
    assert "training on Medical refrigerator is required" in page.locator("#blocks").inner_text()
    assert page.locator("#start-form").count() == 0 and page.locator("#cannot-start").is_visible()
    assert page.locator("#training-required").inner_text() == "yes"
    assert _fits(page)
    page.screenshot(path=shots / "usage-3-untrained-phone.png", full_page=True)
    assert nurse.problems == []


def test_a_rental_is_blocked_until_its_incoming_inspection_passes(served, chromium, shots):
    nurse = Session(chromium, served, **PHONE).sign_in("nurse")
    page = nurse.open("/usage/assets/PM-0001")
    assert "has not passed its incoming inspection" in page.locator("#blocks").inner_text()
    assert page.locator("#start-form").count() == 0
    assert "MedEquip" in page.locator("#rental-line").inner_text()
    page.screenshot(path=shots / "usage-4-rental-blocked-phone.png", full_page=True)
    with session_scope(served.engine) as s:
        [rental] = rentals.list_rentals(s, actor=None)
        tech = Actor.for_user(users.find_user(s, "tech"))
        order = rental.inspection_work_order_id
        workorders.transition(s, order, "assigned", {"assignee_id": tech.user_id}, actor=None, clock=served.clock)
        workorders.transition(s, order, "in_progress", {}, actor=tech, clock=served.clock)
        workorders.transition(s, order, "completed", {"resolution_category": "accepted"}, actor=tech,
                              clock=served.clock)
    page = nurse.open("/usage/assets/PM-0001")
    assert page.locator("#blocks").count() == 0
    page.locator("#start-reason").fill("Transfer monitoring")
    with page.expect_navigation():
        page.locator("#start-button").click()
    assert page.locator("#usage-status").inner_text().strip() == "In use"
    assert _fits(page)
    page.screenshot(path=shots / "usage-5-rental-in-use-phone.png", full_page=True)
    assert nurse.problems == []
