"""Preventive maintenance from plan to uptime in one walk through the pages, in Chromium.

A manager on a desktop builds a five-item checklist (pass/fail, two measured values with unit
and limits, the earth leakage one safety-critical, a required photo and an optional remark)
and a quarterly calendar plan for the defibrillator DEF-0001; the calendar shows the plan's
next four services. The scheduler's PM job, run on the hub's injected clock, generates the
work order on the first day of its lead time and not before. A technician on a 390x844 phone
opens it from the work-order list and fills the checklist: the earth leakage reading is out
of limit (the page says so while it is typed) and the serial plate is photographed through
the file input. The safety-critical failure tags the device out; the manager assigns the
corrective order opened from the failed item, the technician completes it with a passing
safety check, the manager signs it closed and the tag-out clears. The reports page then shows
the device's uptime over the two days, computed below from the times the clock was set to.

Every step a person takes goes through the pages; the database is only read, to check. Each
step is photographed into the artifacts directory (``screenshots/pm-e2e-<nn>-<step>.png``).
No script or policy error may occur (Session.close checks the console).

Timeline (UTC; the site's zone is Europe/London, one hour ahead in April):

| when (UTC)        | what                                                           |
|-------------------|----------------------------------------------------------------|
| 2026-01-01 01:00  | checklist, plan (anchor 15 January, every 3 months, 14 days lead) |
| 2026-03-31 12:00  | the scheduler runs: nothing is due yet                         |
| 2026-04-01 07:00  | the scheduler runs: the 15 April service's order is generated  |
| 2026-04-01 09:00  | the checklist is saved: earth leakage fails, DEF-0001 tagged out |
| 2026-04-01 09:30  | the manager assigns the corrective order                       |
| 2026-04-01 17:40  | the technician completes it, safety check passed               |
| 2026-04-01 21:20  | the manager signs it closed: back in service                   |
| 2026-04-03 08:00  | the reports page, 1 to 2 April (local days: 31 March 23:00 to 2 April 23:00 UTC) |
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from pm_steps import (Camera, Item, Plan, at, build_checklist, complete_with_safety_check, create_plan,
                      plan_days_on_calendar, sign_and_close)
from test_attachments_ui import png
from test_ui_browser import DESKTOP, PHONE, Session

from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Asset, Site, WorkOrderAttachment
from wardlink.hub.scheduler import JOBS, Scheduler
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import pm_work, workorders

pytestmark = pytest.mark.timeout(120)
READER = Actor.system("pm-end-to-end")
TAG = "DEF-0001"
LEAKAGE, PHOTO = "Earth leakage current", "Photo of the serial plate"
ITEMS = (Item("Shock delivered within 10 % of the set energy", "pass_fail"),
         Item(LEAKAGE, "value", unit="uA", high="500", safety=True),
         Item("Battery capacity", "value", unit="%", low="80", high="100"),
         Item(PHOTO, "photo"),
         Item("Remarks", "text", required=False))
PLAN = Plan("Quarterly safety check DEF-0001", TAG, "Defibrillator quarterly safety check", anchor=date(2026, 1, 15))
DUES = [date(2026, 4, 15), date(2026, 7, 15), date(2026, 10, 15), date(2027, 1, 15)]
START = datetime(2026, 1, 1, 1, tzinfo=UTC)
BEFORE_LEAD = datetime(2026, 3, 31, 12, tzinfo=UTC)
LEAD_DAY = datetime(2026, 4, 1, 7, tzinfo=UTC)
FAILED = datetime(2026, 4, 1, 9, tzinfo=UTC)
ASSIGNED = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
COMPLETED = datetime(2026, 4, 1, 17, 40, tzinfo=UTC)
CLOSED = datetime(2026, 4, 1, 21, 20, tzinfo=UTC)
REPORTED = datetime(2026, 4, 3, 8, tzinfo=UTC)
PERIOD = (date(2026, 4, 1), date(2026, 4, 2))


def _signed_in(chromium, hub, username: str, context: dict, when: datetime) -> Session:
    at(hub, when)
    return Session(chromium, hub, **context).sign_in(username)


def _pm_generate(hub, when: datetime) -> int:
    """Run the scheduler's PM job once at ``when``; return how many work orders it generated."""
    at(hub, when)
    scheduler = Scheduler(hub.engine, clock=hub.clock, holder="pm-end-to-end",
                          jobs=[job for job in JOBS if job.name == "pm_generate"])
    try:
        report = scheduler.run_once()
    finally:
        scheduler.close()
    assert report.leader and not report.failed, report
    return report.ran["pm_generate"]["created"]


def _fits_the_phone(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{page.url} scrolls sideways on a phone ({width} px)"


def test_a_quarterly_plan_runs_from_checklist_to_tag_out_to_repair_and_uptime(served, chromium, shots):
    shoot = Camera(shots, "pm-e2e")
    manager = _signed_in(chromium, served, "manager", DESKTOP, START)
    build_checklist(manager, PLAN.checklist, ITEMS, shoot)
    create_plan(manager, PLAN, shoot)
    assert plan_days_on_calendar(manager, PLAN, view="month", start=START.date(), until=DUES[-1],
                                 shoot=shoot) == DUES
    manager.close()

    assert _pm_generate(served, BEFORE_LEAD) == 0
    assert _pm_generate(served, LEAD_DAY) == 1

    tech = _signed_in(chromium, served, "tech", PHONE, FAILED)  # a signed-in session lasts 12 hours
    corrective_id = _technician_fills_the_checklist(tech, shoot)
    _device_is_tagged_out(tech, corrective_id, shoot)

    manager = _signed_in(chromium, served, "manager", DESKTOP, ASSIGNED)
    page = manager.open(f"/work-orders?asset={TAG}&state=all")
    with page.expect_navigation():
        page.locator("tr[data-wo]", has_text=f"Failed check: {LEAKAGE}").get_by_role("link").first.click()
    assert page.url.endswith(f"/work-orders/{corrective_id}")
    form = page.locator('form[data-verb="assign"]')
    form.get_by_label("Assign to").select_option(label="Tech (Technician)")
    with page.expect_navigation():
        form.get_by_role("button", name="Assign").click()
    shoot(page, "corrective-assigned")

    page = tech.open(f"/work-orders/{corrective_id}")
    with page.expect_navigation():
        page.locator('form[data-verb="start"]').get_by_role("button", name="Start").click()
    shoot(page, "corrective-started", full_page=False)
    at(served, COMPLETED)
    page = tech.open(f"/work-orders/{corrective_id}")
    complete_with_safety_check(page, shoot, whole_page=False)
    _fits_the_phone(page)
    tech.close()

    at(served, CLOSED)
    page = manager.open(f"/work-orders/{corrective_id}")
    sign_and_close(page, "manager")
    assert "cleared" in page.locator("#note").inner_text()
    shoot(page, "corrective-closed")
    page = manager.open(f"/assets/{TAG}")
    assert page.locator(".tagout-banner").count() == 0
    history = page.locator("#status-history tbody tr")
    assert [history.nth(i).get_attribute("data-status") for i in range(3)] == ["in_service", "tagged_out",
                                                                               "in_service"]
    shoot(page, "asset-back-in-service")
    manager.close()

    _uptime_is_the_hand_computed_figure(chromium, served, shoot)


def _technician_fills_the_checklist(tech: Session, shoot: Camera) -> int:
    """On the phone: open the generated order from the list, fill the checklist, save; return the corrective order."""
    page = tech.open(f"/work-orders?asset={TAG}")
    row = page.locator("tr[data-wo]", has_text=PLAN.name)
    assert row.count() == 1
    shoot(page, "work-order-generated")
    with page.expect_navigation():
        row.get_by_role("link").first.click()
    pm_id = int(page.url.rsplit("/", 1)[1])
    with session_scope(tech.hub.engine, readonly=True) as s:
        order = workorders.get_work_order(s, pm_id, actor=READER)
        assert (order.kind, order.asset.tag, order.state, order.assigned_to.username) == ("pm", TAG, "assigned", "tech")
        assert order.created_at.astimezone(UTC) == LEAD_DAY  # generated by the scheduler's run on that day

    def item(label: str):
        return page.locator("li.check-item", has=page.locator("legend", has_text=label))

    item(ITEMS[0].label).get_by_label("Pass").check()
    leakage = item(LEAKAGE)
    leakage.get_by_label("Measured value (uA)").fill("740")
    assert leakage.locator("[data-hint]").inner_text() == "Outside the limit (above 500 uA): this item will fail"
    assert leakage.get_attribute("data-hint-state") == "out"
    battery = item("Battery capacity")
    battery.get_by_label("Measured value (%)").fill("92")
    assert battery.locator("[data-hint]").inner_text() == "Within the limits (92 %)"
    plate = item(PHOTO)
    assert plate.locator("textarea").count() == 0
    camera = plate.locator("input[type=file]")
    assert (camera.get_attribute("accept"), camera.get_attribute("capture")) == ("image/*", "environment")
    photo = png(width=64, height=48, seed=7)
    camera.set_input_files(files=[{"name": "serial-plate.png", "mimeType": "image/png", "buffer": photo}])
    page.wait_for_function("img => !img.hidden && img.complete && img.naturalWidth === 64",
                           arg=plate.locator("img.photo-preview").element_handle())
    item("Remarks").get_by_label("Remark").fill("Pads in date; leakage high on the mains lead")
    _fits_the_phone(page)
    shoot(page.locator("#checklist"), "checklist-filled")
    page.get_by_role("button", name="Save checklist").click()
    page.wait_for_url(re.compile(rf".*/work-orders/{pm_id}#checklist$"))
    assert "Corrective work opened" in page.locator(".flash").inner_text()
    assert "740 uA" in leakage.inner_text() and "photo attached" in plate.inner_text()
    thumb = plate.locator("a.thumb img")
    thumb.scroll_into_view_if_needed()  # thumbnails load lazily
    page.wait_for_function("img => img.complete && img.naturalWidth === 64", arg=thumb.element_handle())
    shoot(page.locator("#checklist"), "checklist-saved")
    link = leakage.get_by_role("link", name="Open the corrective work order for this item")
    corrective_id = int(link.get_attribute("href").rsplit("/", 1)[1])

    with session_scope(tech.hub.engine, readonly=True) as s:
        sheet = pm_work.checklist_for(s, pm_id, actor=READER)
        results = {r["key"]: r for r in sheet.result.results}
        [row] = s.scalars(select(WorkOrderAttachment).where(WorkOrderAttachment.work_order_id == pm_id)).all()
        corrective = workorders.get_work_order(s, corrective_id, actor=READER)
        assert (corrective.parent_id, corrective.source, corrective.asset.tag) == (pm_id, "checklist", TAG)
    assert (results["earth_leakage_current"]["outcome"], results["earth_leakage_current"]["value"]) == ("fail", 740)
    assert results["photo_of_the_serial_plate"] == {"key": "photo_of_the_serial_plate", "comment": "",
                                                    "attachment_id": row.id, "outcome": "pass"}
    assert (row.checklist_item, row.size, row.uploaded_by) == ("photo_of_the_serial_plate", len(photo), "tech")
    assert (sheet.result.complete, sheet.result.passed) == (True, False)
    return corrective_id


def _device_is_tagged_out(tech: Session, corrective_id: int, shoot: Camera) -> None:
    """On the phone: the corrective order and the asset page say the device must not be used."""
    page = tech.page
    with page.expect_navigation():
        page.get_by_role("link", name="Open the corrective work order for this item").click()
    assert f"Failed check: {LEAKAGE}" in page.get_by_role("heading", level=1).inner_text()
    assert f"{TAG} is tagged out: do not use" in page.locator(".tagout-banner").inner_text()
    with page.expect_navigation():
        page.locator("dl.facts").get_by_role("link", name=TAG).click()
    banner = page.locator(".tagout-banner")
    assert "do not use: tagged out" in banner.inner_text().lower() and LEAKAGE in banner.inner_text()
    _fits_the_phone(page)
    shoot(page, "asset-tagged-out", full_page=False)
    with session_scope(tech.hub.engine, readonly=True) as s:
        asset = s.scalars(select(Asset).where(Asset.tag == TAG)).one()
        assert (asset.equipment_status, asset.tagout_work_order_id) == ("tagged_out", corrective_id)


def _uptime_is_the_hand_computed_figure(chromium, served, shoot: Camera) -> None:
    """The reports page's uptime of DEF-0001 over 1-2 April is worked out here from the clock.

    A report's period is local days at the site (wardlink.hub.services.reports.kpis.Period): from
    local midnight on the first to local midnight after the last, in the site's time zone.
    """
    with session_scope(served.engine, readonly=True) as s:
        zone = ZoneInfo(s.scalars(select(Site.timezone)).first())
    begins = datetime.combine(PERIOD[0], time(0), zone).astimezone(UTC)
    ends = datetime.combine(PERIOD[1] + timedelta(days=1), time(0), zone).astimezone(UTC)
    assert begins < FAILED < CLOSED < ends  # the tag-out lies inside the local days
    hour = timedelta(hours=1)
    in_scope = (ends - begins) / hour  # seeded in January, in service throughout but for the tag-out
    tagged_out = (CLOSED - FAILED) / hour  # 12 h 20 min
    uptime = 100 * (in_scope - tagged_out) / in_scope

    manager = _signed_in(chromium, served, "manager", DESKTOP, REPORTED)
    page = manager.open(f"/reports?start={PERIOD[0].isoformat()}&end={PERIOD[1].isoformat()}")
    row = page.locator(f'#asset-uptime tr[data-asset="{TAG}"]')
    shown = row.locator("td.num").all_inner_texts()
    assert shown[:3] == [f"{in_scope:.1f}", f"{in_scope - tagged_out:.1f}", f"{tagged_out:.1f}"]
    for cell in ("[data-uptime]", "[data-availability]"):
        text = row.locator(cell).inner_text()
        assert text.endswith(" %") and float(text.removesuffix(" %")) == pytest.approx(uptime, abs=0.0005), text
    row.scroll_into_view_if_needed()
    shoot(page, "uptime")
    manager.close()
