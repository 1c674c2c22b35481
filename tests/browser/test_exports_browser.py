"""Filtering the work-order list by a date range and downloading it as Excel, in a real
headless Chromium on a desktop and on a 390x844 phone (Playwright, as test_ui_browser)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from openpyxl import load_workbook
from test_ui_browser import PHONE, Session, browser, hub, shots

from wardlink.hub.db import session_scope
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import workorders
from wardlink.clock import ManualClock

__all__ = ["browser", "hub", "shots"]

#: Local days in January, when London is on UTC.
DAYS = ("2026-01-05", "2026-01-06", "2026-01-07")


def _orders(hub) -> dict[str, str]:
    """Open one order on each of :data:`DAYS` (10:00); return day -> code."""
    made = {}
    with session_scope(hub.engine) as s:
        for day in DAYS:
            clock = ManualClock(datetime.fromisoformat(f"{day}T10:00:00").replace(tzinfo=UTC).timestamp())
            order = workorders.create_work_order(s, {"kind": "corrective", "title": f"Export check {day}"},
                                                 actor=Actor.system("browser-test"), clock=clock)
            made[day] = order.code
    return made


def _filter_and_download(session: Session, made: dict[str, str], shot: Path) -> None:
    page = session.open("/work-orders")
    page.get_by_label("State", exact=True).select_option("all")
    page.get_by_label("Dates", exact=True).select_option("opened")
    page.get_by_label("From", exact=True).fill(DAYS[1])
    page.get_by_label("To", exact=True).fill(DAYS[1])
    page.get_by_role("button", name="Apply", exact=True).click()
    page.wait_for_url(lambda url: "date_from=2026-01-06" in url and "date_to=2026-01-06" in url)
    rows = page.locator("tr[data-wo]")
    assert rows.count() == 1 and rows.first.get_attribute("data-wo") == made[DAYS[1]]
    page.screenshot(path=shot, full_page=True)
    with page.expect_download() as download:
        page.get_by_role("button", name="Excel", exact=True).click()
    assert download.value.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()), read_only=True)
    values = [r for r in book.worksheets[0].iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(values) if r and r[0] == "code")
    assert [r[0] for r in values[header + 1:]] == [made[DAYS[1]]]
    # The wrong way round: a clear message, and the dates stay as typed.
    page.get_by_label("From", exact=True).fill(DAYS[2])
    page.get_by_label("To", exact=True).fill(DAYS[0])
    page.get_by_role("button", name="Apply", exact=True).click()
    page.wait_for_url(lambda url: "date_from=2026-01-07" in url)
    assert "date_to: must not be before date_from (2026-01-07), got 2026-01-05" in \
        page.locator("#filter-error").inner_text()
    assert page.get_by_label("From", exact=True).input_value() == DAYS[2]
    session.forget("400")


def test_filter_work_orders_by_dates_and_download_excel_on_desktop_and_phone(hub, browser, shots):
    made = _orders(hub)
    desktop = Session(browser, hub).sign_in("manager")
    _filter_and_download(desktop, made, shots / "work-orders-filtered.png")
    desktop.close()
    phone = Session(browser, hub, **PHONE).sign_in("manager")
    _filter_and_download(phone, made, shots / "phone-work-orders-filtered.png")
    phone.close()
