"""Parts from stock on a phone (390x844) in Chromium: a technician scans a bin label's QR code
(decoded from the printed label with zbar), lands on the part with its bin chosen, adds it to a
work order and completes the order; the stock drops to the reorder level, the low-stock e-mail
reaches procurement through a real SMTP server (aiosmtpd), and the reorder list holds the part.
Screenshots of each step go with the test output."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from inventory_support import make_store
from relational_support import actor
from test_ui_browser import DESKTOP, PHONE, Session

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Part, StockLevel
from wardlink.hub.notify.notices import NoticeMailer
from wardlink.hub.notify.smtp import EmailNotifier
from wardlink.hub.services.inventory import ledger
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users

pytestmark = pytest.mark.timeout(180)


def _stocked_order(served):
    """Four filters in BME-STORE / A-1 (reorder at 3), procurement's e-mail, and an order in progress."""
    with session_scope(served.engine) as s:
        store = make_store(s, served.clock, reorder_level="3")
        ledger.receive(s, store.part_id, bin_id=store.bin_a, quantity=4, actor=None, clock=served.clock)
        users.update_user(s, "buyer", {"email": "stores@hospital.example"}, actor=None, clock=served.clock)
        tech = users.find_user(s, "tech")
        order = workorders.create_work_order(s, {"kind": "corrective", "title": "Ventilator intake filter alarm",
                                                 "asset_tag": "VF-0001", "assignee_id": tech.id},
                                             actor=actor(s, "manager"), clock=served.clock)
        workorders.transition(s, order.id, "in_progress", actor=actor(s, "tech"), clock=served.clock)
        return store, order.id, order.code


def _scan(page) -> str:
    """Decode the QR code of the label shown on ``page``, as a phone's camera would."""
    from PIL import Image
    from pyzbar.pyzbar import ZBarSymbol, decode

    shot = page.locator(".bin-label img").screenshot()
    return decode(Image.open(io.BytesIO(shot)), symbols=[ZBarSymbol.QRCODE])[0].data.decode()


def test_scan_a_bin_label_pick_the_part_complete_the_order_and_procurement_hears_of_low_stock(
        served, chromium, smtp_server, artifacts_dir):
    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    store, order_id, code = _stocked_order(served)

    buyer = Session(chromium, served, **DESKTOP).sign_in("buyer")
    label = buyer.open(f"/inventory/parts/{store.part_id}")
    with label.expect_navigation():
        label.get_by_role("link", name="Print label").click()
    label.screenshot(path=shots / "inventory-1-bin-label.png")
    scanned = _scan(label)
    assert scanned == f"{served.base}/inventory/parts/{store.part_id}?bin={store.bin_a}"

    tech = Session(chromium, served, **PHONE).sign_in("tech")
    page = tech.page
    page.goto(scanned)
    assert page.locator("#pick-bin option:checked").inner_text() == "BME-STORE / A-1"
    page.locator("#pick-order").select_option(str(order_id))
    page.locator("#pick-quantity").fill("2")
    page.screenshot(path=shots / "inventory-2-phone-pick.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Add to work order").click()
    assert re.search(rf"/work-orders/{order_id}#stock-parts$", page.url)
    assert page.locator('tr[data-pick="FLT-100"]').get_attribute("data-state") == "picked"
    complete = page.locator('form[data-verb="complete"]')
    complete.get_by_label("Outcome").select_option("part_replaced")
    with page.expect_navigation():
        complete.get_by_role("button", name="Complete").click()
    assert f"Work order {code} is now completed." in page.locator(".flash").inner_text()
    assert page.locator('tr[data-pick="FLT-100"]').get_attribute("data-state") == "issued"
    page.screenshot(path=shots / "inventory-3-phone-completed.png", full_page=True)

    part_page = tech.open(f"/inventory/parts/{store.part_id}")
    assert part_page.locator("#on-hand").inner_text().startswith("2 each")
    assert part_page.locator("#low-badge").is_visible()
    with session_scope(served.engine, readonly=True) as s:
        assert s.query(StockLevel).filter_by(part_id=store.part_id).one().quantity == 2
        assert s.get(Part, store.part_id).low_since is not None

    notifier = EmailNotifier("mail", host=smtp_server.host, port=smtp_server.port,
                             sender="wardlink@hospital.example", to=[])
    assert NoticeMailer(served.engine, notifier, public_url=served.base, clock=served.clock).run_pending().sent >= 1
    mail = next(m for m in smtp_server.messages if m["To"] == "stores@hospital.example")
    assert str(mail["Subject"]).strip() == "[Wardlink] Low stock: FLT-100 Air filter, ventilator intake: 2 each left"
    body = mail.get_body(("plain",)).get_content()
    assert "Reorder quantity: 10 each" in body and f"{served.base}/inventory/parts/{store.part_id}" in body

    phone_buyer = Session(chromium, served, **PHONE).sign_in("buyer")
    reorder = phone_buyer.open("/inventory/reorder")
    row = reorder.locator('tr[data-sku="FLT-100"]')
    assert "Medparts Ltd" in row.inner_text() and "10" in row.locator('td[data-label="To order"]').inner_text()
    reorder.screenshot(path=shots / "inventory-4-phone-reorder-list.png", full_page=True)
    width = reorder.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the reorder list is {width} px wide on a 390 px phone"
    for session in (buyer, tech, phone_buyer):
        session.close()


def _low_part(served) -> tuple[int, int]:
    """Seals SEAL-200 from Respira Supplies (reorder at 3, order 10): 2 in PO-STORE / B-1, so low."""
    from wardlink.hub.db.models import Site
    from wardlink.hub.services.inventory import catalogue, storage, suppliers

    with session_scope(served.engine) as s:
        supplier = suppliers.create_supplier(s, {"name": "Respira Supplies", "lead_time_days": 5}, actor=None,
                                             clock=served.clock)
        site_id = s.query(Site.id).order_by(Site.id).first()[0]
        place = storage.create_location(s, {"code": "PO-STORE", "name": "Orders store", "site_id": site_id},
                                        actor=None, clock=served.clock)
        bin_ = storage.create_bin(s, place.id, {"code": "B-1"}, actor=None, clock=served.clock)
        part = catalogue.create_part(s, {"sku": "SEAL-200", "name": "Exhalation valve seal", "unit_cost": "4.20",
                                         "reorder_level": "3", "reorder_quantity": "10",
                                         "preferred_supplier_id": supplier.id}, actor=None, clock=served.clock)
        ledger.receive(s, part.id, bin_id=bin_.id, quantity=2, actor=None, clock=served.clock)
        return part.id, bin_.id


def test_a_purchase_order_drafted_from_the_reorder_list_is_sent_and_received_in_two_parts_on_a_phone(
        served, chromium, artifacts_dir):
    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    part_id, bin_id = _low_part(served)

    buyer = Session(chromium, served, **PHONE).sign_in("buyer")
    page = buyer.open("/inventory/reorder")
    assert page.locator('tr[data-sku="SEAL-200"] td[data-on-order]').inner_text() == "0"
    with page.expect_navigation():
        page.locator('button[data-draft-for="Respira Supplies"]').click()
    number = re.search(r"PO-\d{5}", page.locator("h1").inner_text()).group(0)
    assert page.locator('tr[data-sku="SEAL-200"] td[data-label="Ordered"]').inner_text().startswith("10")
    page.screenshot(path=shots / "purchase-1-phone-draft.png", full_page=True)
    with page.expect_navigation():
        page.locator("#po-send").click()
    assert "Purchase order sent." in page.locator(".flash").inner_text()
    pdf = page.request.get(served.base + page.locator("#po-pdf").get_attribute("href"))
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF-")

    form = page.locator('form[data-receive="SEAL-200"]')
    assert form.get_by_label("Into bin").input_value() == "PO-STORE/B-1"
    form.get_by_label("Quantity arrived (each)").fill("4")
    form.get_by_label("Delivery note").fill("DN-1187")
    page.screenshot(path=shots / "purchase-2-phone-receive.png", full_page=True)
    with page.expect_navigation():
        form.get_by_role("button", name="Receive").click()
    assert "Delivery received." in page.locator(".flash").inner_text()
    assert page.locator('tr[data-sku="SEAL-200"]').get_attribute("data-received") == "4"
    assert "Partly received" in page.locator("h1").inner_text()
    form = page.locator('form[data-receive="SEAL-200"]')
    assert form.get_by_label("Quantity arrived (each)").input_value() == "6"
    form.get_by_label("Quantity arrived (each)").fill("7")
    with page.expect_navigation():
        form.get_by_role("button", name="Receive").click()
    assert "only 6 each of SEAL-200 are still to arrive" in page.locator(".error-box").inner_text()
    buyer.forget("status of 400")  # the refused form answers 400, as it should
    form = page.locator('form[data-receive="SEAL-200"]')
    form.get_by_label("Quantity arrived (each)").fill("6")
    with page.expect_navigation():
        form.get_by_role("button", name="Receive").click()
    assert "Received" in page.locator("h1").inner_text()
    page.screenshot(path=shots / "purchase-3-phone-received.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the purchase order is {width} px wide on a 390 px phone"

    part_page = buyer.open(f"/inventory/parts/{part_id}")
    assert part_page.locator("#on-hand").inner_text().startswith("12 each")
    assert part_page.locator("#on-order").inner_text().startswith("0 each")
    assert part_page.locator("#low-badge").count() == 0
    with session_scope(served.engine, readonly=True) as s:
        assert ledger.ledger_totals(s, part_id) == {bin_id: 12}
    listing = buyer.open("/inventory/purchase-orders?state=received")
    assert listing.locator(f'tr[data-order="{number}"]').get_attribute("data-state") == "received"
    listing.screenshot(path=shots / "purchase-4-phone-list.png", full_page=True)
    buyer.close()
