"""Tag-out in Chromium, on a desktop and on a 390x844 phone, with the hub's clock injected.

A technician records a PM checklist whose safety-critical earth-leakage item fails: the
device becomes tagged out (the asset page and the asset list say "do not use"). The
technician completes the corrective order with a passing safety check and a manager signs
it closed: the tag-out clears. The reports page then shows the device's uptime over the two
days, worked out by hand below. Screenshots of each step go with the test output.

Timeline (desktop; the phone run is the same ten days later), UTC = London in January:

| when        | what                                               |
|-------------|----------------------------------------------------|
| day 1 00:00 | device registered (in service)                     |
| day 1 06:00 | safety item fails: tagged out                      |
| day 1 18:00 | corrective order completed, safety check passed    |
| day 2 00:00 | manager closes it: back in service                 |

Period day 1 .. day 2 (48 hours in scope): 18 hours tagged out, so uptime and availability
are 30 / 48 = 62.5 %.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from pm_steps import Camera, at, complete_with_safety_check, sign_and_close
from test_ui_browser import DESKTOP, PHONE, Hub, Session

from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Asset, AuditLog
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.assets import register
from wardlink.hub.services.maintenance import checklists, pm, pm_generator, workorders
from wardlink.hub.services.people import org, users

pytestmark = pytest.mark.timeout(240)
SYSTEM = Actor.system("tagout-browser")
ITEMS = [{"key": "leak", "label": "Earth leakage current", "kind": "value", "unit": "uA", "high": 500,
          "safety": True},
         {"key": "alarm", "label": "Disconnect alarm sounds", "kind": "pass_fail"}]
DAY_ONE = {"desktop": datetime(2026, 1, 2, tzinfo=UTC), "phone": datetime(2026, 1, 12, tzinfo=UTC)}


def _pm_order(hub: Hub, tag: str, day: datetime) -> int:
    """Register ``tag`` at ``day`` and generate its PM order (due in nine days), assigned to the technician."""
    at(hub, day)
    with session_scope(hub.engine) as s:
        icu = next(d.id for d in org.list_departments(s) if d.code == "ICU")
        register.create_asset(s, {"tag": tag, "name": "Infusion pump", "category": "Infusion pump",
                                  "department_id": icu, "equipment_function": 9, "physical_risk": 4,
                                  "maintenance_requirement": 4, "incident_history": 0}, actor=SYSTEM, clock=hub.clock)
        template = checklists.create_template(s, name=f"Electrical safety {tag}", items=ITEMS, actor=SYSTEM,
                                              clock=hub.clock)
        due = (day + timedelta(days=9)).date()
        plan = pm.create_plan(s, {"name": f"Annual safety test {tag}", "asset_tag": tag, "trigger": "calendar",
                                  "interval_count": 12, "interval_unit": "month",
                                  "anchor_date": due.replace(year=due.year - 1).isoformat(),
                                  "checklist_template_id": template.id}, actor=SYSTEM, clock=hub.clock)
        ids = pm_generator.generate_due(s, clock=hub.clock).work_order_ids
        [order_id] = [i for i in ids if workorders.get_work_order(s, i, actor=SYSTEM).asset.tag == tag]
        assert plan.id
        workorders.transition(s, order_id, "assigned", {"assignee_id": users.find_user(s, "tech").id},
                              actor=SYSTEM, clock=hub.clock)
        return order_id


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_failed_safety_check_tags_out_until_the_repair_is_closed_and_uptime_shows_it(
        served, chromium, shots, device):
    shoot = Camera(shots, f"tagout-{device}")
    context = PHONE if device == "phone" else DESKTOP
    tag, day = f"TO-{device.upper()}", DAY_ONE[device]
    pm_id = _pm_order(served, tag, day)

    # Day 1 06:00: the technician records the checklist; the safety-critical item fails.
    at(served, day + timedelta(hours=6))
    tech = Session(chromium, served, **context).sign_in("tech")
    page = tech.open(f"/work-orders/{pm_id}")
    page.locator("#value-leak").fill("740")
    page.locator('[data-item="alarm"]').get_by_label("Pass").check()
    page.get_by_role("button", name="Save checklist").click()
    page.wait_for_url(re.compile(rf".*/work-orders/{pm_id}#checklist$"))
    shoot(page, "checklist-failed")
    link = page.locator('[data-item="leak"]').get_by_role("link", name="Open the corrective work order for this item")
    corrective_id = int(link.get_attribute("href").rsplit("/", 1)[1])

    page = tech.open(f"/assets/{tag}")
    banner = page.locator(".tagout-banner")
    assert "do not use: tagged out" in banner.inner_text().lower()
    assert "Earth leakage current" in banner.inner_text() and "tech" in banner.inner_text()
    if device == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "asset-tagged-out")
    page = tech.open(f"/assets?q={tag}")
    assert "Tagged out: do not use" in page.locator(f"tr:has-text('{tag}')").inner_text()

    # The manager assigns the repair; the technician starts it and, at 18:00, completes it
    # with a passing safety check.
    with session_scope(served.engine) as s:
        workorders.transition(s, corrective_id, "assigned", {"assignee_id": users.find_user(s, "tech").id},
                              actor=SYSTEM, clock=served.clock)
    page = tech.open(f"/work-orders/{corrective_id}")
    assert "is tagged out: do not use" in page.locator(".tagout-banner").inner_text()
    with page.expect_navigation():
        page.locator('form[data-verb="start"]').get_by_role("button", name="Start").click()
    tech.close()
    at(served, day + timedelta(hours=18))  # signed-in sessions do not last the day: sign in again
    tech = Session(chromium, served, **context).sign_in("tech")
    page = tech.open(f"/work-orders/{corrective_id}")
    complete_with_safety_check(page, shoot)
    tech.close()

    # Day 2 00:00: the manager signs it closed; the tag-out clears.
    at(served, day + timedelta(days=1))
    manager = Session(chromium, served, **context).sign_in("manager")
    page = manager.open(f"/work-orders/{corrective_id}")
    sign_and_close(page, "manager")
    assert "cleared" in page.locator("#note").inner_text()
    page = manager.open(f"/assets/{tag}")
    assert page.locator(".tagout-banner").count() == 0
    history = page.locator("#status-history tbody tr")
    assert [history.nth(i).get_attribute("data-status") for i in range(3)] == ["in_service", "tagged_out",
                                                                               "in_service"]
    shoot(page, "back-in-service")

    # Day 3: the reports page shows the hand-computed uptime of the two days.
    manager.close()
    at(served, day + timedelta(days=2, hours=9))
    manager = Session(chromium, served, **context).sign_in("manager")
    first, last = day.date().isoformat(), (day + timedelta(days=1)).date().isoformat()
    page = manager.open(f"/reports?start={first}&end={last}")
    row = page.locator(f'#asset-uptime tr[data-asset="{tag}"]')
    assert row.locator("[data-uptime]").inner_text() == "62.5 %"
    assert row.locator("[data-availability]").inner_text() == "62.5 %"
    assert "48.0" in row.inner_text() and "30.0" in row.inner_text() and "18.0" in row.inner_text()
    row.scroll_into_view_if_needed()
    shoot(page, "uptime")
    # The table in another order: by asset tag.
    with page.expect_navigation():
        page.locator('[data-uptime-sort="asset"]').click()
    assert page.locator('[data-uptime-sort="asset"]').get_attribute("aria-current") == "true"
    tags = page.locator("#asset-uptime tbody tr").evaluate_all("rows => rows.map(r => r.dataset.asset)")
    assert tag in tags and tags == sorted(tags)
    shoot(page, "uptime-by-tag")
    manager.close()

    with session_scope(served.engine, readonly=True) as s:
        asset = s.scalars(select(Asset).where(Asset.tag == tag)).one()
        assert (asset.equipment_status, asset.tagout_work_order_id) == ("in_service", None)
        actions = list(s.scalars(select(AuditLog.action).where(AuditLog.entity == "asset", AuditLog.entity_id == tag)
                                 .order_by(AuditLog.seq)))
        assert actions == ["asset.create", "asset.tagout", "asset.tagout_clear"]
