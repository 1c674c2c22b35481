"""Requisitions in Chromium, on a desktop and on a 390x844 phone.

A nurse of ICU raises a requisition to Biomedical Engineering with the form; a technician
receives it and starts the review; the manager approves it and makes a work order of it; the
technician starts the work and delivers it; the nurse closes it. Each step is a button on the
requisition's page, and the movement history grows by one row per step. A step out of turn,
sent from a stale page, is refused with the reason on the page. The ageing report shows the
open ones. Screenshots of each step go with the test output.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_ui_browser import DESKTOP, PHONE, Session

from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Requisition

pytestmark = pytest.mark.timeout(240)
DEVICES = {"desktop": DESKTOP, "phone": PHONE}


def _fits(page, device: str) -> None:
    if device == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]


def _step(page, button: str, status: str, remarks: str = "") -> None:
    if remarks:
        page.get_by_label("Remarks").fill(remarks)
    with page.expect_navigation():
        page.get_by_role("button", name=button, exact=True).click()
    assert page.locator("#status .badge").first.inner_text() == status


@pytest.mark.parametrize("device", DEVICES)
def test_a_requisition_walks_from_submitted_to_closed_with_the_page_buttons(served, chromium, shots, device):
    title = f"Sluice room tap drips ({device})"
    nurse = Session(chromium, served, **DEVICES[device]).sign_in("nurse")
    page = nurse.open("/requisitions")
    page.get_by_role("link", name="Raise a requisition").click()
    page.wait_for_url(re.compile(r".*/requisitions/new$"))
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description").fill("Drips all night; the floor gets wet.")
    page.get_by_label("Priority").select_option("high")
    page.get_by_label("Assigned to (the department that does the work)").select_option(label="Biomedical Engineering")
    page.get_by_label("Due on (last day for delivery)").fill("2026-01-20")
    _fits(page, device)
    page.screenshot(path=shots / f"requisitions-{device}-1-form.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Submit requisition").click()
    flash = page.locator(".flash").inner_text()
    code = re.search(r"REQ-2026-\d{5}", flash).group(0)
    assert f"Requisition {code} submitted." in flash
    assert page.locator("#actions").count() == 0  # the requester has no step to take now
    url = page.url
    page.screenshot(path=shots / f"requisitions-{device}-2-submitted.png", full_page=True)

    tech = Session(chromium, served, **DEVICES[device]).sign_in("tech")
    page = tech.open("/requisitions")
    page.locator(f'tr[data-requisition="{code}"] a').click()
    page.wait_for_url(url)
    stale = tech.context.new_page()  # the same page, opened now and left behind
    stale.goto(url)
    _step(page, "Receive", "Received")
    _step(page, "Start review", "In review", "Parts in stock; needs a plumber's half day.")
    with stale.expect_navigation():
        stale.get_by_role("button", name="Receive", exact=True).click()
    assert "cannot receive requisition" in stale.locator(".error-box").inner_text()
    assert "while it is in review" in stale.locator(".error-box").inner_text()
    stale.close()
    tech.forget("409")

    manager = Session(chromium, served, **DEVICES[device]).sign_in("manager")
    page = manager.open(url.removeprefix(served.base))
    _step(page, "Approve", "Approved", "Go ahead.")
    with page.expect_navigation():
        page.get_by_role("button", name="Make a work order").click()
    order_code = re.search(r"WO-\S+", page.locator(".flash").inner_text()).group(0).rstrip(".")
    assert order_code in page.locator("#work-order").inner_text()
    _fits(page, device)
    page.screenshot(path=shots / f"requisitions-{device}-3-approved.png", full_page=True)
    page.locator("#work-order a").click()
    page.wait_for_url(re.compile(r".*/work-orders/\d+$"))
    assert code in page.locator("#requisition").inner_text()
    page.screenshot(path=shots / f"requisitions-{device}-4-work-order.png", full_page=True)

    page = tech.open(url.removeprefix(served.base))
    _step(page, "Start execution", "In execution")
    _step(page, "Mark delivered", "Delivered", "New tap fitted.")
    page = nurse.open(url.removeprefix(served.base))
    _step(page, "Close", "Closed", "Thank you.")
    rows = page.locator("#movements tbody tr")
    assert rows.count() == 8
    assert [rows.nth(i).get_attribute("data-movement") for i in range(8)] == [
        "submit", "receive", "review", "approve", "work_order", "execute", "deliver", "close"]
    assert "New tap fitted." in page.locator("#movements").inner_text()
    _fits(page, device)
    page.screenshot(path=shots / f"requisitions-{device}-5-closed.png", full_page=True)
    page = nurse.open("/requisitions/ageing")
    assert page.locator("#ageing").count() == 1
    _fits(page, device)
    page.screenshot(path=shots / f"requisitions-{device}-6-ageing.png", full_page=True)
    for person in (nurse, tech, manager):
        assert not person.problems, person.problems
        person.close()
    with session_scope(served.engine, readonly=True) as s:
        req = s.scalar(select(Requisition).where(Requisition.code == code))
        assert (req.status, req.work_order.code) == ("closed", order_code)
