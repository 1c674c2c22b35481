"""Steps of preventive maintenance that the browser tests take the same way, through the pages
as a person would: build a checklist, create a plan, read the calendar, complete a repair with
its safety check and sign it closed. Each step can photograph the page with a :class:`Camera`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from playwright.sync_api import Locator
from relational_support import password


@dataclass(frozen=True)
class Item:
    """One checklist item as the builder asks for it."""

    label: str
    kind: str  # pass_fail, value, text or photo
    unit: str = ""
    low: str = ""
    high: str = ""
    required: bool = True
    safety: bool = False


@dataclass(frozen=True)
class Plan:
    """A calendar plan as the plan form asks for it."""

    name: str
    tag: str
    checklist: str
    anchor: date
    interval_months: int = 3
    lead_days: int = 14
    assignee: str = "Tech (Technician)"
    planned_minutes: int = 45


class Camera:
    """Screenshots of one walk through, numbered in the order taken: ``<prefix>-<nn>-<step>.png``."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder, self.prefix, self.taken = folder, prefix, 0

    def __call__(self, target, step: str, *, full_page: bool = True) -> Path:
        """Photograph ``target`` (a page, or a locator for one part of a page) as the next step;
        return the file."""
        self.taken += 1
        path = self.folder / f"{self.prefix}-{self.taken:02d}-{step}.png"
        if isinstance(target, Locator):
            target.screenshot(path=path)
        else:
            target.screenshot(path=path, full_page=full_page)
        return path


def at(hub, moment: datetime) -> None:
    """Set the hub's clock to ``moment``."""
    hub.clock.set(moment.timestamp())


def submit(page, name: str) -> None:
    """Press the button called ``name`` and wait for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=name, exact=True).click()


def build_checklist(me, name: str, items: tuple[Item, ...], shoot: Camera) -> None:
    """As a manager, build checklist ``name`` with the builder's Add item button and save it."""
    page = me.open("/maintenance/checklists")
    with page.expect_navigation():
        page.get_by_role("link", name="New checklist").click()
    page.locator("#name").fill(name)
    for i, item in enumerate(items):
        if i:
            submit(page, "Add item")
        page.locator(f"#items-{i}-label").fill(item.label)
        page.locator(f"#items-{i}-kind").select_option(item.kind)
        page.locator(f"#items-{i}-unit").fill(item.unit)
        page.locator(f"#items-{i}-low").fill(item.low)
        page.locator(f"#items-{i}-high").fill(item.high)
        page.locator(f"#items-{i}-required").set_checked(item.required)
        page.locator(f"#items-{i}-safety").set_checked(item.safety)
    shoot(page, "checklist-built")
    submit(page, "Save checklist")
    assert "saved as version 1" in page.locator(".flash-success, [role=status]").first.inner_text()
    shoot(page, "checklist-saved")


def create_plan(me, plan: Plan, shoot: Camera) -> None:
    """As a manager, create a calendar plan from the PM page's New plan form; check its page."""
    page = me.open("/maintenance")
    with page.expect_navigation():
        page.get_by_role("link", name="New plan").click()
    page.locator("#name").fill(plan.name)
    page.locator("#asset_tag").fill(plan.tag)
    page.locator("#trigger").select_option("calendar")
    page.locator("#interval_count").fill(str(plan.interval_months))
    page.locator("#interval_unit").select_option("month")
    page.locator("#anchor_date").fill(plan.anchor.isoformat())
    page.locator("#lead_days").fill(str(plan.lead_days))
    page.locator("#checklist_template_id").select_option(label=f"{plan.checklist} (version 1)")
    page.locator("#assign_to").select_option("user")
    page.locator("#assignee_id").select_option(label=plan.assignee)
    page.locator("#planned_minutes").fill(str(plan.planned_minutes))
    shoot(page, "plan-form")
    submit(page, "Create plan")
    assert page.locator("h1").inner_text() == plan.name
    assert f"every {plan.interval_months} months" in page.locator(".facts").inner_text()
    shoot(page, "plan-created")


def plan_days_on_calendar(me, plan: Plan, *, view: str, start: date, until: date, shoot: Camera) -> list[date]:
    """Walk the calendar from ``start`` with Later until ``until`` is on the page; return each day
    the plan's services are on, in order, photographing the first sight of each.

    Every entry of the plan must say Due and name the plan.
    """
    page = me.open(f"/maintenance/calendar?view={view}&date={start.isoformat()}")
    seen: list[date] = []
    while True:
        entries = page.locator(".cal-entry", has_text=plan.tag)
        for i in range(entries.count()):
            entry = entries.nth(i)
            day = date.fromisoformat(entry.evaluate("e => e.closest('[data-day]').dataset.day"))
            if day in seen:
                continue
            assert entry.locator(".cal-status").text_content() == "Due", (day, entry.inner_text())
            assert plan.name in entry.inner_text()
            seen.append(day)
            entry.scroll_into_view_if_needed()
            shoot(page, f"calendar-{day.isoformat()}", full_page=view == "month")
        shown = page.locator("[data-day]").evaluate_all("cells => cells.map(c => c.dataset.day)")
        if max(date.fromisoformat(d) for d in shown) >= until:
            return sorted(seen)
        with page.expect_navigation():
            page.get_by_role("link", name=re.compile("Later")).click()


def complete_with_safety_check(page, shoot: Camera, *, resolution: str = "repaired", check: str = "pass",
                               whole_page: bool = True) -> None:
    """As the assignee of a started order, complete it with ``resolution`` and the safety check's result
    (photographing the whole page, or the form only)."""
    form = page.locator('form[data-verb="complete"]')
    form.locator("select[name=resolution_category]").select_option(resolution)
    form.locator("select[name=safety_check]").select_option(check)
    shoot(page if whole_page else form, "complete-with-check")
    with page.expect_navigation():
        form.get_by_role("button", name="Complete").click()
    assert ("Passed" if check == "pass" else "Failed") in page.locator("dl.facts").inner_text()


def sign_and_close(page, username: str) -> None:
    """As ``username`` (signed in), close the order on the page with an electronic signature."""
    form = page.locator('form[data-verb="close"]')
    form.locator("input[name=password]").fill(password(username))
    with page.expect_navigation():
        form.get_by_role("button", name="Sign and close").click()
