"""Oxygen manifolds in Chromium, on a desktop and on a 390x844 phone.

A technician opens Oxygen manifolds, sets up the cylinder manifold O2-MAN-01 with the form
(its two bank pressure channels, a bank's gas, the changeover pressure, 30 hours of reserve),
and the hub then follows fourteen hours of bank pressures in which bank A empties: the
manifold's page shows both bank pressures, bank B in use, the flow, the time to empty, the
reserve badge and the changeover with the gas bank A gave. Screenshots of each step go with
the test output.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_ui_browser import DESKTOP, GATEWAY, PHONE, Session

from wardlink.hardware.supply import ATM_BAR, Manifold as ManifoldModel
from wardlink.hub.db import session_scope
from wardlink.hub.services.manifolds import register, tracking
from wardlink.hub.telemetry import Point

pytestmark = pytest.mark.timeout(180)
DEVICES = {"desktop": DESKTOP, "phone": PHONE}
BANK_L = 5 * 50 * 200 / ATM_BAR


def write_pressures(served, channels: dict[str, str], hours: int) -> None:
    """Store a reading a minute of both banks for ``hours``, ending at the hub's clock."""
    model = ManifoldModel(bank="a", cylinders=5, water_l=50, fill_bar=200, changeover_bar=10, flow_lpm=20,
                          start_bar=30, replace_after_s=0)
    served.clock.advance(hours * 3600)  # each device's run has a time of its own
    end_ms = round(served.clock.now() * 1000)
    start_ms = end_ms - hours * 3_600_000
    points = []
    for minute in range(hours * 60 + 1):
        pressures = model.pressures(minute * 60)
        for bank, channel in channels.items():
            points.append(Point.of("pressure", {"gateway": GATEWAY, "channel": channel, "asset": "O2-MAN-01",
                                                "ward": "ICU", "site": "RGH"},
                                   start_ms + minute * 60_000, round(pressures[bank], 2)))
    served.store.write(points)


@pytest.mark.parametrize("device", DEVICES)
def test_a_technician_sets_up_a_manifold_and_reads_its_changeover(served, chromium, shots, device):
    channels = {"a": f"o2.{device}.bank_a", "b": f"o2.{device}.bank_b"}
    tech = Session(chromium, served, **DEVICES[device]).sign_in("tech")
    page = tech.open("/manifolds")
    if device == "phone":
        with session_scope(served.engine) as s:  # the desktop run set it up: change it on the phone
            manifold_id = register.list_manifolds(s, actor=None)[0].id
        page = tech.open(f"/manifolds/{manifold_id}/edit")
    else:
        page.get_by_role("link", name="Add manifold").click()
        page.wait_for_url(re.compile(r".*/manifolds/new$"))
        page.get_by_label("Asset tag").fill("O2-MAN-01")
        page.get_by_label("Gateway").fill(GATEWAY)
        page.get_by_label("Gas in a full bank (L)").fill(f"{BANK_L:.0f}")
    page.get_by_label("Bank A pressure channel").fill(channels["a"])
    page.get_by_label("Bank B pressure channel").fill(channels["b"])
    page.get_by_label("Alert when the reserve lasts less than (h)").fill("30")
    page.screenshot(path=shots / f"manifolds-{device}-1-form.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    assert "Manifold saved." in page.locator(".flash").inner_text()
    assert page.locator("#seen-at").inner_text() == "No readings yet."

    write_pressures(served, channels, hours=14)  # bank A (30 bar) empties after about 4 h
    with session_scope(served.engine) as s:
        found = tracking.refresh(s, served.store, clock=served.clock)
    assert found.changeovers == 1

    # Fourteen hours passed on the hub's clock: the sign-in has lapsed, so sign in again.
    tech.close()
    tech = Session(chromium, served, **DEVICES[device]).sign_in("tech")
    with session_scope(served.engine) as s:
        manifold_id = register.list_manifolds(s, actor=None)[0].id
    page = tech.open(f"/manifolds/{manifold_id}")
    assert page.locator("#bank-a").inner_text() == "10 bar"
    assert page.locator("#bank-b").inner_text().endswith(" bar")
    assert "in use" in page.locator("#bank-b").locator("..").inner_text()
    assert page.locator("#flow").inner_text() == "20 L/min"
    assert page.locator("#reserve-badge").inner_text() == "Reserve in use"
    rows = page.locator("#changeovers tbody tr")
    assert rows.count() == {"desktop": 1, "phone": 2}[device] and "bank A" in rows.first.inner_text()
    assert f"{BANK_L * 20 / 200:.1f} L" in rows.first.inner_text(), "bank A gave 30 -> 10 bar of its 200"
    page.screenshot(path=shots / f"manifolds-{device}-2-manifold.png", full_page=True)
    page = tech.open("/manifolds")
    row = page.locator('tr[data-manifold="O2-MAN-01"]')
    assert row.locator(".badge").inner_text() == "Reserve in use"
    page.screenshot(path=shots / f"manifolds-{device}-3-list.png", full_page=True)
    assert not tech.problems, tech.problems
    tech.close()
