"""The organisation in Chromium, on a desktop and a 390x844 phone.

On a new hub with only its first administrator, signing in leads to the first-run setup
(site name, time zone from a list with the server's zone chosen, first department); after it,
the setup never shows again. On the seeded hospital an administrator adds a department and a
location on the Organisation page. Screenshots of each step go with the test output.
"""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from relational_support import T0_S, hub_config
from test_ui_browser import DESKTOP, PHONE, Session, _require_tools

from sqlalchemy import select

from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.models import AuditLog, Department, Location, Site
from wardlink.hub.demo import free_port
from wardlink.hub.services.people import org_lookup, users
from wardlink.hub.telemetry.sqlite import SQLiteStore
from wardlink.hub.web import make_server
from wardlink.clock import ManualClock

pytestmark = pytest.mark.timeout(180)
DEVICES = {"desktop": DESKTOP, "phone": PHONE}


class FreshHub:
    """A hub on a new, migrated database holding only its first administrator."""

    def __init__(self, tmp: Path) -> None:
        url = f"sqlite:///{tmp / 'wardlink.db'}"
        upgrade(url)
        self.engine = open_engine(url)
        self.clock = ManualClock(T0_S + 3600)
        with session_scope(self.engine) as s:
            _, self.password = users.create_first_admin(s, clock=self.clock)
        self.store = SQLiteStore(tmp / "telemetry.db")
        self.port = free_port()
        self.server = make_server(hub_config(tmp, database_url=url, web_port=self.port), threads=4,
                                  telemetry=self.store, clock=self.clock, port=self.port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop the server and release the stores."""
        self.server.close()
        self.thread.join(timeout=10)
        self.engine.dispose()
        self.store.close()


@pytest.fixture
def fresh(tmp_path):
    """A new hub for one test."""
    _require_tools()
    hub = FreshHub(tmp_path)
    yield hub
    hub.close()


def _sign_in(me: Session, password: str):
    page = me.open("/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    return page


@pytest.mark.parametrize("device", DEVICES)
def test_the_first_admin_sets_up_the_site_and_first_department_once(fresh, chromium, artifacts_dir, device):
    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    me = Session(chromium, fresh, **DEVICES[device])
    page = _sign_in(me, fresh.password)
    page.wait_for_url(re.compile(r".*/setup$"))
    assert page.get_by_label("Time zone").input_value() == org_lookup.server_zone()
    page.get_by_label("Site name").fill("Hillside Hospital")
    page.get_by_label("Time zone").select_option("America/Chicago")
    page.get_by_label("Department name").fill("Intensive care")
    page.get_by_label(re.compile("Department code")).fill("ICU")
    page.screenshot(path=shots / f"setup-{device}-1-form.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Finish setup").click()
    page.wait_for_url(re.compile(r".*/admin/organisation$"))
    assert "Setup done" in page.locator(".flash").inner_text()
    site = page.locator('section[data-site="HH"]')
    assert site.locator("h2").inner_text() == "Hillside Hospital"
    assert site.locator("[data-timezone]").inner_text() == "America/Chicago"
    assert site.locator('tr[data-department="ICU"]').count() == 1
    page.screenshot(path=shots / f"setup-{device}-2-done.png", full_page=True)
    me.close()

    again = Session(chromium, fresh, **DEVICES[device])
    page = _sign_in(again, fresh.password)
    page.wait_for_url(re.compile(r".*/$"))  # the dashboard, not the setup
    page = again.open("/setup")
    assert page.url.endswith("/admin/organisation")
    again.close()
    with session_scope(fresh.engine, readonly=True) as s:
        assert [(x.name, x.timezone) for x in s.scalars(select(Site))] == [("Hillside Hospital", "America/Chicago")]
        assert [d.code for d in s.scalars(select(Department))] == ["ICU"]


@pytest.mark.parametrize("device", DEVICES)
def test_an_administrator_adds_a_department_and_a_location(served, chromium, artifacts_dir, device):
    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    code, name, room = f"DSU-{device.upper()}", f"Day surgery ({device})", f"Recovery {device}"
    me = Session(chromium, served, **DEVICES[device]).sign_in("admin")
    page = me.open("/admin/users")
    page.get_by_role("link", name="Organisation").click()
    page.wait_for_url(re.compile(r".*/admin/organisation$"))
    page.locator("#new-dept-name").fill(name)
    page.locator("#new-dept-code").fill(code)
    page.screenshot(path=shots / f"organisation-{device}-1-department.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Add department").click()
    assert "Department added." in page.locator(".flash").inner_text()
    assert page.locator(f'tr[data-department="{code}"]').count() == 1

    page.locator("#new-loc-dept").select_option(label=f"Riverside General Hospital · {name} ({code})")
    page.locator("#new-loc-building").fill("Day unit")
    page.locator("#new-loc-floor").fill("Ground")
    page.locator("#new-loc-room").fill(room)
    page.screenshot(path=shots / f"organisation-{device}-2-location.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Add location").click()
    assert "Location added." in page.locator(".flash").inner_text()
    row = page.locator(f'tr[data-location="Day unit / Ground / {room}"]')
    assert row.locator("td").first.inner_text() == name
    page.screenshot(path=shots / f"organisation-{device}-3-added.png", full_page=True)
    me.close()
    with session_scope(served.engine, readonly=True) as s:
        dept = s.scalar(select(Department).where(Department.code == code))
        loc = s.scalar(select(Location).where(Location.room == room))
        assert dept.name == name and loc.department_id == dept.id
        actions = list(s.scalars(select(AuditLog.action).where(AuditLog.action.in_(
            ("department.create", "location.create"))).order_by(AuditLog.seq)))
        assert actions[-2:] == ["department.create", "location.create"]
