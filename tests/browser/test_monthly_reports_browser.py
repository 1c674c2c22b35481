"""The monthly KPI report in Chromium, on a desktop and a 390x844 phone: the scheduler makes
February's reports on 1 March, and a manager finds them in the history on the reports page and
downloads the hospital-wide PDF. Screenshots of each step go with the test output."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_ui_browser import DESKTOP, PHONE, Session

from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import MonthlyReport
from wardlink.hub.scheduler import JOBS, Scheduler
from wardlink.clock import ManualClock

pytestmark = pytest.mark.timeout(180)


def _made_on_the_first(served) -> MonthlyReport:
    """Run the scheduler's monthly job at 07:00 on 1 March; return the hospital-wide report."""
    clock = ManualClock(datetime(2026, 3, 1, 7, tzinfo=UTC).timestamp())
    with Scheduler(served.engine, clock=clock, holder="browser", site_name="Riverside",
                   jobs=[j for j in JOBS if j.name == "monthly_report"]) as scheduler:
        report = scheduler.run_once()
    assert not report.failed and report.ran["monthly_report"]["due"]
    with session_scope(served.engine) as s:
        row = s.scalars(select(MonthlyReport).where(MonthlyReport.month == "2026-02",
                                                    MonthlyReport.scope == "all")).one()
        s.expunge(row)
    return row


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_manager_finds_the_monthly_report_in_the_history_and_downloads_it(served, chromium, artifacts_dir,
                                                                            device):
    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    stored = _made_on_the_first(served)
    me = Session(chromium, served, **(PHONE if device == "phone" else DESKTOP)).sign_in("manager")
    page = me.open("/reports")
    history = page.locator("#monthly-reports")
    history.scroll_into_view_if_needed()
    row = history.locator(f'tr[data-report="{stored.id}"]')
    assert row.locator("[data-month]").inner_text() == "February 2026"
    assert row.locator("[data-scope]").inner_text() == "All departments"
    # The "made ..." line under the month reads as a note: normal weight and muted, unlike the month.
    style = "e => [getComputedStyle(e).fontWeight, getComputedStyle(e).color]"
    made, month = row.locator("[data-made]").evaluate(style), row.locator("[data-month]").evaluate(style)
    assert made[0] == "400" and month[0] != "400"
    assert made[1] == history.locator("p.muted").first.evaluate(style)[1] != month[1]
    page.screenshot(path=shots / f"monthly-reports-{device}-1-history.png", full_page=True)
    link = row.get_by_role("link", name="PDF", exact=True)
    box, viewport = link.bounding_box(), page.viewport_size
    assert box is not None and box["x"] + box["width"] <= viewport["width"]  # on screen, also on a phone
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "kpis-2026-02-all.pdf"
    data = Path(download.value.path()).read_bytes()
    assert data == stored.content and data.startswith(b"%PDF-")
    me.close()
