"""Gas cylinders in Chromium, on a desktop and on a phone (390x844): procurement prints a
cylinder's label; the porter scans its QR code (decoded from the label with zbar, as a phone's
camera would) and lands on the cylinder, records it going out empty, then coming back full into
another department's smoke compartment. The department's consumption chart gains the cylinder,
and the compartment, now over NFPA 99's 300 ft³, is flagged where the porter is and on the
storage page. Screenshots of each step go with the test output."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from oxygen_support import make_area, make_cylinder
from test_ui_browser import DESKTOP, PHONE, Session

from wardlink.hub.db import session_scope
from wardlink.hub.services.oxygen import cylinders

pytestmark = pytest.mark.timeout(180)
SCREENS = {"desktop": DESKTOP, "phone": PHONE}


def _scan(page) -> str:
    """Decode the QR code of the label shown on ``page``, as a phone's camera would."""
    from PIL import Image
    from pyzbar.pyzbar import ZBarSymbol, decode

    shot = page.locator(".cylinder-label img").screenshot()
    return decode(Image.open(io.BytesIO(shot)), symbols=[ZBarSymbol.QRCODE])[0].data.decode()


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def _stock(served, screen: str) -> tuple[str, str]:
    """A filled E cylinder in the ICU, and a theatre smoke compartment holding twelve (8,160 L)."""
    tag, code = f"OX-{screen.upper()}", f"TH-{screen.upper()}"
    with session_scope(served.engine) as s:
        icu = make_area(s, served.clock, code=f"ICU-{screen.upper()}")
        make_cylinder(s, served.clock, tag, area=icu)
        theatre = make_area(s, served.clock, code=code, department="THEATRE", name="Theatre corridor")
        for n in range(12):
            make_cylinder(s, served.clock, f"{code}-{n:02d}", area=theatre, department="THEATRE")
    return tag, code


def _icu_litres(page) -> list:
    figure = page.locator("#oxygen-chart")
    if figure.get_attribute("data-drawn") == "empty":
        return []
    figure.locator(".uplot canvas").first.wait_for()
    series = figure.get_attribute("data-series").split("|")
    data = page.evaluate("el => el._plot.data.slice(1)", figure.element_handle())
    return data[series.index("Intensive Care Unit")] if "Intensive Care Unit" in series else []


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_scan_a_cylinder_record_empty_out_then_filled_in_and_see_consumption_and_the_storage_warning(
        served, chromium, screen, shots):
    tag, compartment = _stock(served, screen)
    buyer = Session(chromium, served, **DESKTOP).sign_in("buyer")
    label = buyer.open(f"/oxygen/cylinders/{tag}")
    with label.expect_navigation():
        label.get_by_role("link", name="Print label").click()
    label.screenshot(path=shots / f"oxygen-1-label-{screen}.png")
    scanned = _scan(label)
    assert scanned == f"{served.base}/oxygen/cylinders/{tag}"

    porter = Session(chromium, served, **SCREENS[screen]).sign_in("tech")
    before = porter.open("/oxygen/consumption")
    used_before = _icu_litres(before)
    page = porter.page
    page.goto(scanned)
    assert page.locator("#status").get_attribute("data-status") == "filled"
    assert page.locator('form[data-kind="filled_in"]').count() == 0  # a full cylinder cannot be filled in
    page.screenshot(path=shots / f"oxygen-2-scanned-{screen}.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Record empty out").click()
    assert f"{tag} recorded: Empty out." in page.locator(".flash").first.inner_text()
    assert page.locator("#status").get_attribute("data-status") == "empty"
    assert page.locator('form[data-kind="empty_out"]').count() == 0

    filled = page.locator('form[data-kind="filled_in"]')
    filled.get_by_label("Storage place").select_option(label=f"{compartment} · Operating Theatres")
    page.screenshot(path=shots / f"oxygen-3-filled-in-{screen}.png", full_page=True)
    with page.expect_navigation():
        filled.get_by_role("button", name="Record filled in").click()
    assert page.locator("#status").get_attribute("data-status") == "filled"
    assert page.locator("#where").inner_text() == "Operating Theatres"
    warning = page.locator(".flash", has_text="over its NFPA 99 limit of 300 ft³")
    assert warning.is_visible() and f"{compartment} now holds 312.18 ft³" in warning.inner_text()
    assert page.locator(f'[data-over-limit="{compartment}"]').is_visible()
    assert [r.get_attribute("data-movement") for r in page.locator("#cylinder-movements tbody tr").all()] == [
        "filled_in", "empty_out"]
    assert _fits(page), "the cylinder page scrolls sideways"
    page.screenshot(path=shots / f"oxygen-4-over-limit-{screen}.png", full_page=True)

    after = porter.open("/oxygen/consumption")
    used_after = _icu_litres(after)
    assert used_after and used_after[-1] == (used_before[-1] if used_before else 0) + 680
    assert after.locator('#consumption tr[data-department="ICU"] [data-total]').inner_text().endswith(" L")
    assert _fits(after), "the consumption page scrolls sideways"
    after.screenshot(path=shots / f"oxygen-5-consumption-{screen}.png", full_page=True)

    places = porter.open("/oxygen/storage")
    assert places.locator(f'[data-over-limit="{compartment}"]').is_visible()
    assert places.locator(f'tr[data-area="{compartment}"]').get_attribute("data-over") == "1"
    assert _fits(places), "the storage page scrolls sideways"
    places.screenshot(path=shots / f"oxygen-6-storage-{screen}.png", full_page=True)
    with session_scope(served.engine, readonly=True) as s:
        assert cylinders.get_cylinder(s, tag, actor=None).storage_area.code == compartment
    assert porter.problems == [] and buyer.problems == []
    buyer.close()
    porter.close()
