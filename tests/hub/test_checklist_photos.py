"""A checklist item of kind ``photo`` on the work-order page and through the API.

The page offers the item a camera/file input (never a text box), and the item counts as done
only once a photo is attached: saving without one leaves the checklist incomplete, saving
with one records the item as passed with the photo's attachment id and shows its thumbnail,
and saving again without choosing another keeps it. The server refuses a photo answer that
is not a photo of the same order (a PDF, another order's file, another item's photo), on
the page and through the API alike.
"""

from __future__ import annotations

import io
import re

from relational_support import clock, csrf_from, login, web
from sqlalchemy import select
from test_attachments_ui import _page_post, png

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import WorkOrderAttachment
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import checklists, pm, pm_generator, pm_work, workorders
from wardlink.hub.services.people import users

SYSTEM = Actor.system("checklist-photo-tests")
ITEMS = [{"key": "plate", "label": "Photo of the serial plate", "kind": "photo"},
         {"key": "alarm", "label": "Door alarm sounds", "kind": "pass_fail"}]


def _orders(web, count: int) -> list[int]:
    """Generate ``count`` PM work orders whose checklist has a required photo item, assigned to the technician."""
    with session_scope(web.engine) as s:
        template = checklists.create_template(s, name="Label check", items=ITEMS, actor=SYSTEM, clock=web.clock)
        for tag in ("VF-0001", "VF-0002")[:count]:
            pm.create_plan(s, {"name": f"Label check {tag}", "asset_tag": tag, "trigger": "calendar",
                               "interval_count": 12, "interval_unit": "month", "anchor_date": "2025-01-10",
                               "checklist_template_id": template.id}, actor=SYSTEM, clock=web.clock)
        ids = sorted(pm_generator.generate_due(s, clock=web.clock).work_order_ids)
        for order_id in ids:
            workorders.transition(s, order_id, "assigned", {"assignee_id": users.find_user(s, "tech").id},
                                  actor=SYSTEM, clock=web.clock)
        return ids


def _sheet(web, order_id: int):
    with session_scope(web.engine, readonly=True) as s:
        sheet = pm_work.checklist_for(s, order_id, actor=SYSTEM)
        return {r["key"]: r for r in sheet.result.results}, sheet.result.complete


def test_a_photo_item_is_a_camera_input_and_is_done_only_with_a_photo_attached(web):
    [order_id] = _orders(web, 1)
    client = web.client("tech")
    page = client.get(f"/work-orders/{order_id}").text
    item = page[page.index('data-item="plate"'):page.index('data-item="alarm"')]
    assert re.search(r'<input id="photo-plate" name="photo-plate" type="file" accept="image/\*" '
                     r'capture="environment"', item)
    assert "<textarea" not in item and 'name="text-plate"' not in item
    assert "corrective-plate" not in item  # a photo never fails, so it offers no corrective box

    path = f"/work-orders/{order_id}/checklist"
    saved = _page_post(client, f"/work-orders/{order_id}", path, {"result-alarm": "pass"})
    assert saved.status_code == 303, saved.text[:500]
    results, complete = _sheet(web, order_id)
    assert (results["plate"]["outcome"], complete) == ("missing", False)

    refused = _page_post(client, f"/work-orders/{order_id}", path, {
        "result-alarm": "pass", "photo-plate": (io.BytesIO(b"%PDF-1.4 plate"), "plate.pdf")})
    assert refused.status_code == 400 and "JPEG, PNG, WebP" in refused.text

    photo = png(width=8, height=6, seed=3)
    saved = _page_post(client, f"/work-orders/{order_id}", path, {
        "result-alarm": "pass", "photo-plate": (io.BytesIO(photo), "plate.png")})
    assert saved.status_code == 303, saved.text[:500]
    with session_scope(web.engine, readonly=True) as s:
        [row] = s.scalars(select(WorkOrderAttachment).where(WorkOrderAttachment.work_order_id == order_id)).all()
    results, complete = _sheet(web, order_id)
    assert (results["plate"]["outcome"], results["plate"]["attachment_id"], complete) == ("pass", row.id, True)
    assert (row.checklist_item, row.content_type, row.size) == ("plate", "image/png", len(photo))
    shown = client.get(f"/work-orders/{order_id}").text
    assert f'src="/work-orders/{order_id}/files/{row.id}" alt="Photo for Photo of the serial plate"' in shown
    assert "Photo attached; choose another to replace it" in shown

    again = _page_post(client, f"/work-orders/{order_id}", path, {"result-alarm": "fail"})
    assert again.status_code == 303
    results, complete = _sheet(web, order_id)
    assert (results["plate"]["attachment_id"], results["alarm"]["outcome"], complete) == (row.id, "fail", True)


def test_the_api_takes_a_photo_answer_only_as_a_photo_of_the_same_order(web):
    first, second = _orders(web, 2)
    api = web.app.test_client()
    assert login(api, "tech").status_code == 302
    token = csrf_from(api.get("/account").text)

    def attach(order_id: int, data: bytes, name: str, **fields) -> int:
        sent = api.post(f"/api/v1/work-orders/{order_id}/attachments", headers={"X-CSRF-Token": token},
                        content_type="multipart/form-data", data={"file": (io.BytesIO(data), name), **fields})
        assert sent.status_code == 201, sent.json
        return sent.json["id"]

    def record(order_id: int, photo_id) -> tuple[int, dict]:
        sent = api.put(f"/api/v1/work-orders/{order_id}/checklist", headers={"X-CSRF-Token": token},
                       json={"answers": {"plate": {"attachment_id": photo_id}, "alarm": {"result": "pass"}}})
        return sent.status_code, sent.json

    pdf = attach(first, b"%PDF-1.4 report", "report.pdf")
    elsewhere = attach(second, png(seed=9), "other.png", checklist_item="plate")
    for_alarm = attach(first, png(seed=10), "alarm.png", checklist_item="alarm")
    for photo_id, message in ((pdf, f"attachment {pdf} (report.pdf) is not a photo"),
                              (elsewhere, f"has no attachment {elsewhere}"),
                              (for_alarm, f"attachment {for_alarm} is the photo of item 'alarm'"),
                              ("x", "'x' is not valid")):
        status, body = record(first, photo_id)
        assert status == 400 and message in body["error"]["message"], (photo_id, body)
        assert body["error"]["message"].startswith("answers.plate.attachment_id: ")
    plate = attach(first, png(seed=11), "plate.png", checklist_item="plate")
    status, body = record(first, plate)
    assert status == 200 and body["result"]["complete"] is True, body
    assert {r["key"]: r for r in body["result"]["results"]}["plate"] == {
        "key": "plate", "comment": "", "attachment_id": plate, "outcome": "pass"}
    general = attach(first, png(seed=12), "general.png")  # a photo of the order for no item in particular
    assert record(first, general)[0] == 200
