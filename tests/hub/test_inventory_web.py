"""The inventory pages: a technician scans a bin label (its URL), adds the part to a work order
and completes it; procurement receives stock, adds suppliers, bins and kits, and imports parts;
a manager approves a large adjustment. Forms carry CSRF tokens and refuse bad input with a 400."""

from __future__ import annotations

import io
import re

from inventory_support import make_store
from relational_support import actor, clock, csrf_from, web

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Part, StockAdjustment, WorkOrderPick
from wardlink.hub.services.inventory import ledger
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users


def _seed(web, *, stock: int = 4):
    with session_scope(web.engine) as s:
        store = make_store(s, web.clock, reorder_level="3")
        ledger.receive(s, store.part_id, bin_id=store.bin_a, quantity=stock, actor=None, clock=web.clock)
        tech = users.find_user(s, "tech")
        order = workorders.create_work_order(s, {"kind": "corrective", "title": "Vent filter alarm",
                                                 "asset_tag": "VF-0001", "assignee_id": tech.id},
                                             actor=actor(s, "manager"), clock=web.clock)
        workorders.transition(s, order.id, "in_progress", actor=actor(s, "tech"), clock=web.clock)
        return store, order.id


def test_the_bin_label_leads_to_the_part_and_completing_the_order_issues_it(web):
    store, order_id = _seed(web)
    manager = web.client("manager")
    label = manager.get(f"/inventory/labels/{store.part_id}/{store.bin_a}")
    url = re.search(r'data-url="([^"]+)"', label.text).group(1)
    assert url.endswith(f"/inventory/parts/{store.part_id}?bin={store.bin_a}")
    qr = manager.get(f"/inventory/labels/{store.part_id}/{store.bin_a}/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"

    tech = web.client("tech")
    page = tech.get(url.split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert page.status_code == 200 and 'id="pick-form"' in page.text
    assert f'<option value="{store.bin_a}" selected>BME-STORE / A-1</option>' in page.text
    bad = tech.post(f"/inventory/parts/{store.part_id}/pick", data={
        "csrf_token": csrf_from(page.text), "order_id": order_id, "bin_id": store.bin_a, "quantity": "9"})
    assert bad.status_code == 400 and "not enough stock" in bad.text
    done = tech.post(f"/inventory/parts/{store.part_id}/pick", data={
        "csrf_token": csrf_from(page.text), "order_id": order_id, "bin_id": store.bin_a, "quantity": "2"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/work-orders/{order_id}#stock-parts")
    order_page = tech.get(f"/work-orders/{order_id}")
    assert 'data-pick="FLT-100" data-state="picked"' in order_page.text
    complete = tech.post(f"/work-orders/{order_id}/transition", data={
        "csrf_token": csrf_from(order_page.text), "to": "completed", "resolution_category": "part_replaced"})
    assert complete.status_code == 303
    with session_scope(web.engine, readonly=True) as s:
        assert s.query(WorkOrderPick).one().state == "issued"
        assert s.get(Part, store.part_id).low_since is not None
    reorder = web.client("buyer").get("/inventory/reorder")
    assert 'data-sku="FLT-100"' in reorder.text
    cost = manager.get(f"/work-orders/{order_id}").text
    assert re.search(r'data-cost="parts">25\.00', cost)


def test_procurement_keeps_suppliers_bins_parts_and_imports(web):
    store, _ = _seed(web)
    buyer = web.client("buyer")
    form = buyer.get("/inventory/suppliers/new")
    saved = buyer.post("/inventory/suppliers", data={
        "csrf_token": csrf_from(form.text), "name": "Draeger Service", "lead_time_days": "14",
        "payment_terms": "60 days", "contact_rows": "4", "contact-0-name": "Jo Lee", "contact-0-email": "jo@dr.example"})
    assert saved.status_code == 303
    shown = buyer.get(saved.headers["Location"]).text
    assert 'value="Jo Lee"' in shown and 'value="60 days"' in shown
    locations = buyer.get("/inventory/locations")
    added = buyer.post(f"/inventory/locations/{store.location_id}/bin",
                       data={"csrf_token": csrf_from(locations.text), "code": "B-7"})
    assert added.status_code == 303
    twice = buyer.post(f"/inventory/locations/{store.location_id}/bin",
                       data={"csrf_token": csrf_from(locations.text), "code": "b-7"})
    assert twice.status_code == 400 and "already has a bin b-7" in twice.text
    new = buyer.get("/inventory/parts/new")
    part = buyer.post("/inventory/parts", data={
        "csrf_token": csrf_from(new.text), "sku": "BAT-1", "name": "Battery", "unit": "each", "unit_cost": "80",
        "reorder_level": "1", "models": "Philips/MX450\nPhilips/MX500"})
    assert part.status_code == 303
    assert "Philips MX450; Philips MX500" in buyer.get(part.headers["Location"]).text
    kits = buyer.get("/inventory/kits")
    kit = buyer.post("/inventory/kits", data={"csrf_token": csrf_from(kits.text), "name": "Vent PM kit",
                                              "items": "FLT-100 2\nBAT-1 1"})
    assert kit.status_code == 303 and 'data-kit="Vent PM kit"' in buyer.get("/inventory/kits").text
    upload = buyer.get("/inventory/import")
    job = buyer.post("/inventory/import", data={
        "csrf_token": csrf_from(upload.text),
        "file": (io.BytesIO(b"sku,name,unit\nNEW-1,Fuse,each\nBAD-1,Thing,dozen\n"), "parts.csv")},
        content_type="multipart/form-data")
    assert job.status_code == 303 and "/jobs/" in job.headers["Location"]


def test_a_large_adjustment_waits_and_a_manager_approves_it_on_the_page(web):
    store, _ = _seed(web, stock=60)
    buyer = web.client("buyer")
    page = buyer.get(f"/inventory/parts/{store.part_id}")
    asked = buyer.post(f"/inventory/parts/{store.part_id}/adjust", data={
        "csrf_token": csrf_from(page.text), "bin_id": store.bin_a, "quantity": "-59", "reason": "flood damage"})
    assert asked.status_code == 303
    manager = web.client("manager")
    listing = manager.get("/inventory/adjustments")
    with session_scope(web.engine, readonly=True) as s:
        adjustment_id = s.query(StockAdjustment).one().id
    assert f'data-adjustment="{adjustment_id}"' in listing.text
    approved = manager.post(f"/inventory/adjustments/{adjustment_id}/approve",
                            data={"csrf_token": csrf_from(listing.text)})
    assert approved.status_code == 303
    assert 'id="on-hand">1 each' in manager.get(f"/inventory/parts/{store.part_id}").text
