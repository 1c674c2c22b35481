"""Service contracts in Chromium, on a desktop and on a 390x844 phone.

A procurement officer opens Contracts, adds a service contract for a ventilator and a monitor
(parts and labour, 4-hour response) with the form, and finds it in the list of contracts
ending within 90 days. A technician then opens a work order on the ventilator: the order's
page names the contract and when the vendor should respond. Screenshots of each step go with
the test output.
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
from wardlink.hub.db.models import AuditLog, ServiceContract
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users

pytestmark = pytest.mark.timeout(180)
DEVICES = {"desktop": DESKTOP, "phone": PHONE}


@pytest.mark.parametrize("device", DEVICES)
def test_procurement_adds_a_contract_and_the_work_order_shows_it(served, chromium, shots, device):
    reference = f"SC-{device.upper()}"
    buyer = Session(chromium, served, **DEVICES[device]).sign_in("buyer")
    page = buyer.open("/contracts")
    page.get_by_role("link", name="Add a contract").click()
    page.wait_for_url(re.compile(r".*/contracts/new$"))
    page.get_by_label("Reference (contract number)").fill(reference)
    page.get_by_label("Title").fill("Critical care equipment cover")
    page.get_by_label("Vendor", exact=True).fill("Hamilton Medical UK")
    page.get_by_label("Vendor contact (phone, e-mail, name)").fill("0800 555 0101")
    page.get_by_label("Starts on").fill("2025-04-01")
    page.get_by_label("Ends on (last day covered)").fill("2026-03-31")
    page.get_by_label("Covers parts").check()
    page.get_by_label("Covers labour").check()
    page.get_by_label("Response time (hours)").fill("4")
    page.get_by_label("Cost of the whole term").fill("9600.00")
    page.get_by_label("Asset tags, one per line or separated by commas").fill("VENT-0001, PM-0001")
    page.screenshot(path=shots / f"contracts-{device}-1-form.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Add contract").click()
    assert f"Contract {reference} added." in page.locator(".flash").inner_text()
    assert page.locator("#coverage").inner_text() == "parts, labour"
    assert page.locator("#response-time").inner_text() == "4 h"
    assert page.locator("#days-left").inner_text() == "89 days left"
    assert page.locator('#assets tr[data-asset="VENT-0001"]').count() == 1
    page.screenshot(path=shots / f"contracts-{device}-2-contract.png", full_page=True)
    page = buyer.open("/contracts")
    page.get_by_label("Term").select_option("expiring")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    row = page.locator(f'tr[data-contract="{reference}"]')
    assert row.locator(".badge").inner_text() == "Expiring"
    page.screenshot(path=shots / f"contracts-{device}-3-list.png", full_page=True)
    assert not buyer.problems, buyer.problems
    buyer.close()

    with session_scope(served.engine) as s:
        manager = Actor.for_user(users.find_user(s, "manager"))
        order = workorders.create_work_order(s, {"kind": "corrective", "title": f"Flow sensor fault ({device})",
                                                 "asset_tag": "VENT-0001"}, actor=manager, clock=served.clock)
        order_id = order.id
    tech = Session(chromium, served, **DEVICES[device]).sign_in("tech")
    page = tech.open(f"/work-orders/{order_id}")
    cover = page.locator(f'dd[data-contract="{reference}"]')
    assert "Hamilton Medical UK" in cover.inner_text() and "covers parts, labour" in cover.inner_text()
    assert cover.locator(".contract-response").inner_text() == \
        "vendor responds within 4 h (by 2026-01-01 05:00:00 GMT)"
    page.screenshot(path=shots / f"contracts-{device}-4-work-order.png", full_page=True)
    assert not tech.problems, tech.problems
    tech.close()
    with session_scope(served.engine, readonly=True) as s:
        contract = s.scalar(select(ServiceContract).where(ServiceContract.reference == reference))
        assert [a.tag for a in contract.assets] == ["PM-0001", "VENT-0001"]
        assert s.scalar(select(AuditLog.actor).where(AuditLog.action == "contract.create",
                                                     AuditLog.entity_id == str(contract.id))) == "buyer"
