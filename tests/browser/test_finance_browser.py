"""Asset finance in Chromium, on a desktop and on a 390x844 phone.

A vendor charged 1,500.00 for a repair this month. A manager opens the asset, edits its useful
life, salvage value and replacement cost, and the asset page then shows its book value today,
the year's cost of ownership and the flag to consider replacing it (repairs over 50 % of the
replacement cost). Book values are worked out by hand below; the hub's clock reads
2026-01-01 01:00 UTC.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_ui_browser import DESKTOP, PHONE, Session

from wardlink.hub.db import session_scope
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import workorder_costs, workorders
from wardlink.hub.services.people import users

pytestmark = pytest.mark.timeout(180)
#: device -> (asset, useful life, salvage, book value on 1 January 2026)
CASES = {
    # 38,500.00 bought 2 April 2020: 35,000.00 over 3,652 days, 2,100 of them gone: 35000 x 2100 / 3652.
    "desktop": (DESKTOP, "VENT-0001", "10", "3500", "18374.04"),
    # 61,000.00 bought 14 February 2023: 56,000.00 over 2,922 days, 1,052 gone: 56000 x 1052 / 2922.
    "phone": (PHONE, "ANA-0001", "8", "5000", "40838.47"),
}


def _repair_charged(hub, tag: str) -> None:
    """A completed repair of ``tag`` this month with a vendor's 1,500.00 charge on it."""
    with session_scope(hub.engine) as s:
        manager = Actor.for_user(users.find_user(s, "manager"))
        tech = Actor.for_user(users.find_user(s, "tech"))
        order = workorders.create_work_order(s, {"kind": "corrective", "title": "Power supply failure",
                                                 "asset_tag": tag}, actor=manager, clock=hub.clock)
        workorders.transition(s, order.id, "assigned", {"assignee_id": tech.user_id}, actor=manager, clock=hub.clock)
        workorders.transition(s, order.id, "in_progress", {}, actor=tech, clock=hub.clock)
        workorder_costs.add_charge(s, order.id, description="Board replaced", amount="1500.00",
                                   vendor="Service Co", actor=tech, clock=hub.clock)
        workorders.transition(s, order.id, "completed", {"resolution_category": "vendor_repair"}, actor=tech,
                              clock=hub.clock)


@pytest.mark.parametrize("device", CASES)
def test_a_manager_sets_the_figures_and_sees_book_value_cost_and_the_replace_flag(served, chromium, shots,
                                                                                   device):
    context, tag, life, salvage, book = CASES[device]
    _repair_charged(served, tag)
    me = Session(chromium, served, **context).sign_in("manager")
    page = me.open(f"/assets/{tag}")
    assert "Book value needs the useful life" in page.locator("#depreciation-missing").inner_text()
    page.locator("#depreciation-missing a").click()
    page.wait_for_url(re.compile(rf".*/assets/{tag}/edit#finance-fields$"))
    page.get_by_label("Useful life (years)").fill(life)
    page.get_by_label("Salvage value at the end of its life").fill(salvage)
    page.get_by_label("Replacement cost (a new one today)").fill("2000")
    page.screenshot(path=shots / f"finance-{device}-1-form.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Save changes").click()
    assert page.locator("#book-value").inner_text() == book
    row = page.locator('#ownership tr[data-year="2026"]')
    assert row.locator('td[data-label="Vendor charges"]').inner_text() == "1500.00"
    flag = page.locator("#replace-flag")
    assert flag.is_visible() and "75.0 % of the replacement cost 2000.00" in flag.inner_text()
    page.locator("#finance").screenshot(path=shots / f"finance-{device}-2-asset.png")
    assert not me.problems, me.problems
    me.close()
