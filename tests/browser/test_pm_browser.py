"""A manager builds a five-item checklist and a quarterly calendar plan in Chromium, and the
calendar shows the plan's next four services; on a desktop and on a 390x844 phone.

Everything is done through the pages as a person would: the checklist builder's Add item
button, the plan form's fields and selects, the calendar's month (desktop) or week (phone)
views moved with Later. Each step is photographed into the artifacts directory
(``screenshots/pm-<device>-<n>-<step>.png``). No script or policy error may occur
(Session.close checks the console).
"""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_ui_browser import DESKTOP, PHONE, Session
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, ChecklistTemplate, PmPlan
from wardlink.hub.services.maintenance import checklists

pytestmark = pytest.mark.timeout(240)
ITEMS = (("Shock delivered within 10 % of the set energy", "pass_fail", "", "", ""),
         ("Earth leakage current", "value", "uA", "", "500"),
         ("Battery capacity", "value", "%", "80", "100"),
         ("Photo of the serial plate", "photo", "", "", ""),
         ("Remarks", "text", "", "", ""))
#: The hub's clock starts on 1 January 2026; plans are counted from 15 January.
DUES = (date(2026, 4, 15), date(2026, 7, 15), date(2026, 10, 15), date(2027, 1, 15))


@pytest.fixture(scope="module")
def shots(artifacts_dir):
    folder = artifacts_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _submit(page, name: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=name, exact=True).click()


@pytest.mark.parametrize(("device", "context", "tag"), [("desktop", DESKTOP, "IP-0101"),
                                                         ("phone", PHONE, "VENT-0001")])
def test_a_manager_builds_a_checklist_and_a_quarterly_plan_and_sees_its_next_four_services(
        served, chromium, shots, device, context, tag):
    me = Session(chromium, served, **context).sign_in("manager")
    page = me.open("/maintenance/checklists")
    with page.expect_navigation():
        page.get_by_role("link", name="New checklist").click()
    name = f"Defibrillator quarterly ({device})"
    page.locator("#name").fill(name)
    for i, (label, kind, unit, low, high) in enumerate(ITEMS):
        if i:
            _submit(page, "Add item")
        page.locator(f"#items-{i}-label").fill(label)
        page.locator(f"#items-{i}-kind").select_option(kind)
        page.locator(f"#items-{i}-unit").fill(unit)
        page.locator(f"#items-{i}-low").fill(low)
        page.locator(f"#items-{i}-high").fill(high)
    page.locator("#items-4-required").uncheck()  # a remark is optional
    page.screenshot(path=shots / f"pm-{device}-1-checklist-built.png", full_page=True)
    _submit(page, "Save checklist")
    assert "saved as version 1" in page.locator(".flash-success, [role=status]").first.inner_text()
    page.screenshot(path=shots / f"pm-{device}-2-checklist-saved.png", full_page=True)
    with session_scope(served.engine, readonly=True) as s:
        template = s.scalars(select(ChecklistTemplate).where(
            ChecklistTemplate.name == name)).one()
        items = checklists.current_version(s, template).items
    assert [(i["label"], i["kind"]) for i in items] == [(label, kind) for label, kind, *_ in ITEMS]
    assert (items[2]["unit"], items[2]["low"], items[2]["high"], items[4]["required"]) == ("%", 80, 100, False)

    page = me.open("/maintenance")
    with page.expect_navigation():
        page.get_by_role("link", name="New plan").click()
    plan_name = f"Quarterly safety check {tag}"
    page.locator("#name").fill(plan_name)
    page.locator("#asset_tag").fill(tag)
    page.locator("#trigger").select_option("calendar")
    page.locator("#interval_count").fill("3")
    page.locator("#interval_unit").select_option("month")
    page.locator("#anchor_date").fill("2026-01-15")
    page.locator("#lead_days").fill("14")
    page.locator("#checklist_template_id").select_option(label=f"{name} (version 1)")
    page.locator("#assign_to").select_option("user")
    page.locator("#assignee_id").select_option(label="Tech (Technician)")
    page.locator("#planned_minutes").fill("45")
    page.screenshot(path=shots / f"pm-{device}-3-plan-form.png", full_page=True)
    _submit(page, "Create plan")
    assert page.locator("h1").inner_text() == plan_name
    assert "every 3 months" in page.locator(".facts").inner_text()
    page.screenshot(path=shots / f"pm-{device}-4-plan-created.png", full_page=True)
    with session_scope(served.engine, readonly=True) as s:
        plan = s.scalars(select(PmPlan).where(PmPlan.name == plan_name)).one()
        assert (plan.interval_count, plan.interval_unit, plan.checklist_template_id) == (3, "month", template.id)
        assert s.scalars(select(AuditLog).where(AuditLog.action == "pm_plan.create",
                                                AuditLog.entity_id == str(plan.id))).one().actor == "manager"

    # The calendar, moved forward with Later: each of the next four services on its day.
    view = "month" if device == "desktop" else "week"
    page = me.open(f"/maintenance/calendar?view={view}&date=2026-01-01")
    seen = []
    for _step in range(60 if view == "week" else 13):
        for due in DUES:
            cell = page.locator(f'[data-day="{due.isoformat()}"] .cal-entry', has_text=tag)
            if due not in seen and cell.count():
                assert cell.first.locator(".cal-status").text_content() == "Due"
                assert plan_name in cell.first.inner_text()
                seen.append(due)
                cell.first.scroll_into_view_if_needed()
                page.screenshot(path=shots / f"pm-{device}-{4 + len(seen)}-calendar-{due.isoformat()}.png",
                                full_page=view == "month")
        if len(seen) == len(DUES):
            break
        with page.expect_navigation():
            page.get_by_role("link", name=re.compile("Later")).click()
    assert seen == list(DUES)
    if device == "phone":
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the week view scrolls sideways on a phone ({width} px)"
    me.close()
