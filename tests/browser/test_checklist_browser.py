"""A technician fills in a PM checklist in Chromium, on a desktop and on a 390x844 phone.

One measured value is out of its limit: the page says so while it is typed (with the unit),
the server judges it failed when the checklist is saved, opens the corrective work order and
the item links to it. A photo is attached to the item through the file input (on a phone it
opens the camera), previewed before it is sent, shown as a thumbnail and opened in the viewer. No script or policy error
may occur (Session.close checks the console).
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_attachments_ui import png
from test_ui_browser import DESKTOP, PHONE, Hub, Session

from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, WorkOrderAttachment
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import checklists, pm, pm_generator, pm_work, workorders
from wardlink.hub.services.people import users

pytestmark = pytest.mark.timeout(180)
SYSTEM = Actor.system("checklist-browser")
_serial = itertools.count(1)


def _pm_order(hub: Hub) -> int:
    n = next(_serial)
    with session_scope(hub.engine) as s:
        template = checklists.create_template(s, name=f"Electrical safety {n}", actor=SYSTEM, clock=hub.clock,
                                              items=[
            {"key": "leakage", "label": "Earth leakage current", "kind": "value", "unit": "µA", "high": 500},
            {"key": "alarm", "label": "Door alarm sounds", "kind": "pass_fail"},
            {"key": "remarks", "label": "Remarks", "kind": "text"}])
        pm.create_plan(s, {"name": f"Annual safety test {n}", "asset_tag": "VF-0001", "trigger": "calendar",
                                  "interval_count": 12, "interval_unit": "month", "anchor_date": "2025-01-10",
                                  "checklist_template_id": template.id}, actor=SYSTEM, clock=hub.clock)
        [order_id] = pm_generator.generate_due(s, clock=hub.clock).work_order_ids  # only the new plan is due
        workorders.transition(s, order_id, "assigned", {"assignee_id": users.find_user(s, "tech").id},
                              actor=SYSTEM, clock=hub.clock)
        return order_id


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_technician_fills_a_checklist_with_an_out_of_limit_value_and_a_photo(served, chromium, shots, device):
    order_id = _pm_order(served)
    me = Session(chromium, served, **(PHONE if device == "phone" else DESKTOP)).sign_in("tech")
    page = me.open(f"/work-orders/{order_id}")
    item = page.locator('[data-item="leakage"]')
    value = page.get_by_label("Measured value (µA)")
    value.fill("640")
    hint = item.locator("[data-hint]")
    assert hint.inner_text() == "Outside the limit (above 500 µA): this item will fail"
    value.fill("120")
    assert hint.inner_text().startswith("Within the limits")
    value.fill("640")
    page.locator('[data-item="alarm"]').get_by_label("Pass").check()
    page.get_by_label("Remark").fill("Mains plug replaced")
    photo = png(width=64, height=48, seed=device == "phone")
    page.set_input_files("#photo-leakage", files=[{"name": "leakage-meter.png", "mimeType": "image/png",
                                                    "buffer": photo}])
    assert page.locator("#photo-leakage").get_attribute("capture") == "environment"
    # The chosen photo is previewed beside its input before anything is sent.
    page.wait_for_function("img => !img.hidden && img.complete && img.naturalWidth === 64",
                           arg=page.locator("#preview-leakage").element_handle())
    if device == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    page.screenshot(path=shots / f"checklist-{device}-filled.png", full_page=True)
    page.get_by_role("button", name="Save checklist").click()
    page.wait_for_url(re.compile(rf".*/work-orders/{order_id}#checklist$"))
    assert "Corrective work opened" in page.locator(".flash").inner_text()
    assert "Recorded:" in item.inner_text() and "640 µA" in item.inner_text()
    link = item.get_by_role("link", name="Open the corrective work order for this item")
    thumb = item.locator("a.thumb img")
    thumb.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth === 64", arg=thumb.element_handle())
    thumb.click()
    dialog = page.locator("[data-viewer-dialog]")
    assert dialog.evaluate("d => d.open") is True
    page.wait_for_function("img => img.complete && img.naturalWidth === 64",
                           arg=dialog.locator("[data-viewer-image]").element_handle())
    page.screenshot(path=shots / f"checklist-{device}-viewer.png")
    dialog.get_by_role("button", name="Close").click()
    page.screenshot(path=shots / f"checklist-{device}-saved.png", full_page=True)
    href = link.get_attribute("href")
    corrective_id = int(href.rsplit("/", 1)[1])
    with session_scope(served.engine, readonly=True) as s:
        sheet = pm_work.checklist_for(s, order_id, actor=SYSTEM)
        results = {r["key"]: r for r in sheet.result.results}
        assert (results["leakage"]["outcome"], results["leakage"]["value"]) == ("fail", 640.0)
        assert results["leakage"]["corrective_work_order_id"] == corrective_id
        assert (results["alarm"]["outcome"], results["remarks"]["text"]) == ("pass", "Mains plug replaced")
        corrective = workorders.get_work_order(s, corrective_id, actor=SYSTEM)
        assert (corrective.parent_id, corrective.kind, corrective.source) == (order_id, "corrective", "checklist")
        [row] = s.scalars(select(WorkOrderAttachment).where(WorkOrderAttachment.work_order_id == order_id)).all()
        assert (row.checklist_item, row.filename, row.size, row.uploaded_by) == (
            "leakage", "leakage-meter.png", len(photo), "tech")
        audit = s.scalars(select(AuditLog).where(AuditLog.entity_id == str(order_id),
                                                 AuditLog.action.in_(("checklist.record", "workorder.attach")))
                          .order_by(AuditLog.seq)).all()
        assert [a.action for a in audit] == ["workorder.attach", "checklist.record"]  # photos are stored first
        assert json.loads(audit[1].after_json)["correctives"] == [corrective_id]
    link.click()
    page.wait_for_url(re.compile(rf".*/work-orders/{corrective_id}$"))
    assert "Failed check: Earth leakage current" in page.get_by_role("heading", level=1).inner_text()
    me.close()
