"""Two-factor sign-in in Chromium, on a desktop and a 390x844 phone.

An administrator (desktop) and a manager (phone) sign in with their password for the first
time and are asked to set up an authenticator app: the QR code on the page is decoded with
zbar as the phone's app would, the code is computed from the key it holds, and the recovery
codes are shown once. Signing in again asks for a code from the app (computed the same way),
then a recovery code works once. Screenshots of each step go with the test output.
"""

from __future__ import annotations

import io
import re
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from relational_support import T0_S, hub_config, password, seeded_sqlite_url
from test_ui_browser import DESKTOP, PHONE, Session, _require_tools

from wardlink.clock import ManualClock
from wardlink.hub.demo import free_port
from wardlink.hub.services.people import totp
from wardlink.hub.telemetry.sqlite import SQLiteStore
from wardlink.hub.web import make_server

pytestmark = pytest.mark.timeout(180)
DEVICES = {"desktop": (DESKTOP, "admin"), "phone": (PHONE, "manager")}


class TwoFactorHub:
    """The seeded hospital served with the default policy: administrators and managers need a code."""

    def __init__(self, tmp: Path) -> None:
        url = seeded_sqlite_url(tmp)
        self.clock = ManualClock(T0_S + 3600)
        self.store = SQLiteStore(tmp / "telemetry.db")
        self.port = free_port()
        config = hub_config(tmp, database_url=url, web_port=self.port, two_factor_roles="admin, manager")
        self.server = make_server(config, threads=4, telemetry=self.store, clock=self.clock, port=self.port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop the server and release the store."""
        self.server.close()
        self.thread.join(timeout=10)
        self.store.close()


@pytest.fixture(scope="module")
def hub2fa(tmp_path_factory):
    """One hub for the module; each device signs in a different user."""
    _require_tools()
    server = TwoFactorHub(tmp_path_factory.mktemp("two-factor"))
    yield server
    server.close()


def _password_step(me: Session, username: str):
    page = me.open("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password(username))
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    return page


def _scan(page) -> str:
    """Decode the enrolment QR code shown on ``page``, as the authenticator app would."""
    from PIL import Image
    from pyzbar.pyzbar import ZBarSymbol, decode

    shot = page.get_by_test_id("totp-qr").screenshot()
    return decode(Image.open(io.BytesIO(shot)), symbols=[ZBarSymbol.QRCODE])[0].data.decode()


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


@pytest.mark.parametrize("device", DEVICES)
def test_enrol_with_the_qr_code_then_sign_in_with_a_code_and_a_recovery_code(hub2fa, chromium, shots, device):
    context, username = DEVICES[device]
    me = Session(chromium, hub2fa, **context)
    page = _password_step(me, username)
    page.wait_for_url(re.compile(r".*/login/enrol$"))
    uri = _scan(page)
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.path.endswith(f":{username}")
    secret = parse_qs(parts.query)["secret"][0]
    assert page.get_by_test_id("totp-secret").inner_text().replace(" ", "") == secret
    _fits(page)
    page.screenshot(path=shots / f"two-factor-{device}-1-enrol.png", full_page=True)
    page.get_by_label("Code").fill(totp.code_at(secret, hub2fa.clock.now()))
    with page.expect_navigation():
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
    codes = page.get_by_test_id("recovery-codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    _fits(page)
    page.screenshot(path=shots / f"two-factor-{device}-2-recovery-codes.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("link", name="I have saved them, continue").click()
    page.wait_for_url(re.compile(r".*/$"))
    me.close()

    hub2fa.clock.advance(30)  # the next code of the app: a code is taken only once
    again = Session(chromium, hub2fa, **context)
    page = _password_step(again, username)
    page.wait_for_url(re.compile(r".*/login/code$"))
    page.get_by_label("Code").fill("000000")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "That code is not right" in page.get_by_role("alert").inner_text()
    again.forget("401")
    page.get_by_label("Code").fill(totp.code_at(secret, hub2fa.clock.now()))
    _fits(page)
    page.screenshot(path=shots / f"two-factor-{device}-3-code.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/$"))
    again.close()

    lost_phone = Session(chromium, hub2fa, **context)
    page = _password_step(lost_phone, username)
    page.get_by_label("Code").fill(codes[0])
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/$"))
    assert "9 codes are left" in page.locator(".flash").inner_text()
    _fits(page)
    page.screenshot(path=shots / f"two-factor-{device}-4-recovery-used.png", full_page=True)
    lost_phone.close()
