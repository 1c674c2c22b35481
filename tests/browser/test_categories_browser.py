"""Equipment categories in Chromium, on a desktop and a 390x844 phone: a manager adds a
category with its Fennigkoh-Smith defaults, merges a duplicate spelling into it (its assets
move), and the asset page shows the new category. Screenshots of each step go with the
test output."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_ui_browser import DESKTOP, PHONE, Session

from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.assets import register
from wardlink.hub.services.people import org

pytestmark = pytest.mark.timeout(180)
SYSTEM = Actor.system("categories-browser")


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_manager_adds_a_category_and_merges_a_duplicate_into_it(served, chromium, artifacts_dir, device):
    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    kept, duplicate, tag = f"Bladder scanner {device}", f"bladder scan {device}", f"BS-{device.upper()}"
    with session_scope(served.engine) as s:
        icu = next(d.id for d in org.list_departments(s) if d.code == "ICU")
        register.create_asset(s, {"tag": tag, "name": "Bladder scanner", "category": duplicate,
                                  "department_id": icu}, actor=SYSTEM, clock=served.clock)
    me = Session(chromium, served, **(PHONE if device == "phone" else DESKTOP)).sign_in("manager")
    page = me.open("/assets")
    page.get_by_role("link", name="Categories").click()
    page.wait_for_url(re.compile(r".*/categories$"))
    page.locator("#new-name").fill(kept)
    page.locator("#new-equipment_function").select_option("6")
    page.locator("#new-physical_risk").select_option("3")
    page.screenshot(path=shots / f"categories-{device}-1-add.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Add category").click()
    assert "Category added." in page.locator(".flash").inner_text()
    row = page.locator(f'#categories tr[data-category="{duplicate}"]')
    row.locator("summary").click()
    row.locator("select[name=into_id]").select_option(label=kept)
    page.screenshot(path=shots / f"categories-{device}-2-merge.png", full_page=True)
    with page.expect_navigation():
        row.get_by_role("button", name="Merge").click()
    assert "Categories merged" in page.locator(".flash").inner_text()
    assert page.locator(f'#categories tr[data-category="{duplicate}"]').count() == 0
    assert page.locator(f'#categories tr[data-category="{kept}"] [data-assets]').inner_text() == "1"
    page.screenshot(path=shots / f"categories-{device}-3-merged.png", full_page=True)
    page = me.open(f"/assets/{tag}")
    assert kept in page.locator("#details").inner_text()
    me.close()
    with session_scope(served.engine, readonly=True) as s:
        actions = list(s.scalars(select(AuditLog.action).where(AuditLog.action.like("category.%"))
                                 .order_by(AuditLog.seq)))
        assert actions[-2:] == ["category.create", "category.merge"]
