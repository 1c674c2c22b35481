"""The audit trail in Chromium, on a desktop and a 390x844 phone, for a hospital in Berlin.

A manager raises a work order's priority on its page; the order's change history reads
"Priority: Medium → High". On the audit page the manager filters by who (themself) and by the
local day; the row appears as the same readable change, the administrator's creation of the
order and an earlier change two days before are filtered out, and the CSV export holds exactly
the rows listed. On the phone the filters start folded and nothing is wider than the screen.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_ui_browser import DESKTOP, PHONE, Session

from sqlalchemy import update

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Site
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users
from wardlink.clock import ManualClock

pytestmark = pytest.mark.timeout(180)
#: The hub's clock stands at 2026-01-01 01:00 UTC: 02:00 on 1 January in Berlin.
TODAY = "2026-01-01"
EARLIER = datetime(2025, 12, 30, 12, 0, tzinfo=UTC).timestamp()


def _order(served, device: str) -> tuple[int, str]:
    """Open a medium-priority order as the administrator, with a change by the manager two days earlier."""
    with session_scope(served.engine) as s:
        s.execute(update(Site).values(timezone="Europe/Berlin"))
        admin = Actor.for_user(users.find_user(s, "admin"))
        order = workorders.create_work_order(s, {"kind": "corrective", "title": f"Pump occludes ({device})",
                                                 "asset_tag": "VF-0001", "priority": "medium"},
                                             actor=admin, clock=served.clock)
        audit.record(s, actor=Actor.for_user(users.find_user(s, "manager")), action="workorder.update",
                     entity="work_order", entity_id=order.id, before={"priority": "low"},
                     after={"priority": "medium"}, clock=ManualClock(EARLIER))
        return order.id, order.code


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_manager_filters_the_audit_trail_by_who_and_day_and_reads_the_change(served, chromium, artifacts_dir,
                                                                               device):
    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    order_id, code = _order(served, device)
    me = Session(chromium, served, **(PHONE if device == "phone" else DESKTOP)).sign_in("manager")
    page = me.open(f"/work-orders/{order_id}")
    page.locator("#priority").select_option("high")
    with page.expect_navigation():
        page.get_by_role("button", name="Set priority").click()
    history = page.locator("#history")
    assert "Priority: Medium → High" in history.inner_text()
    assert "Priority: Low → Medium" in history.inner_text()  # the earlier change, unfiltered

    page = me.open("/audit")
    panel = page.locator("#audit-filters")
    assert panel.evaluate("el => el.open") is (device == "desktop")  # folded on the phone
    if device == "phone":
        panel.locator("summary").click()
    page.locator("#actor").fill("manager")
    page.locator("#date_from").fill(TODAY)
    page.locator("#date_to").fill(TODAY)
    page.screenshot(path=shots / f"audit-{device}-1-filters.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    assert re.search(r"actor=manager.*date_from=2026-01-01.*date_to=2026-01-01", page.url)
    rows = page.locator(f"#audit-rows tbody tr:has-text('Work order {code}')")
    texts = [rows.nth(i).inner_text() for i in range(rows.count())]
    assert len(texts) == 1 and "Priority: Medium → High" in texts[0], texts
    assert "Priority: Low → Medium" not in page.locator("#audit-rows").inner_text()  # two days before
    assert "Work order: create" not in page.locator("#audit-rows").inner_text()  # by the administrator
    assert "(3 active)" in panel.locator("summary").inner_text()
    page.screenshot(path=shots / f"audit-{device}-2-filtered.png", full_page=True)
    if device == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]

    listed = page.locator("#audit-rows tbody tr[data-seq]").evaluate_all(
        "rows => rows.map(r => r.getAttribute('data-seq'))")
    with page.expect_download() as download:
        page.get_by_role("button", name="CSV", exact=True).click()
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    assert [r["seq"] for r in exported] == listed and listed
    assert {r["actor"] for r in exported} == {"manager"}
    assert all(r["at (Europe/Berlin)"].startswith(TODAY) for r in exported)
    assert any(r["changes"] == "Priority: Medium → High" or "Priority: Medium → High;" in r["changes"]
               for r in exported if r["entity_id"] == str(order_id))
    me.close()
