"""The admin UI in a real headless Chromium, driven with Playwright, against the app served by
waitress on a free port with a real SQLite database and SQLite telemetry store.

What a person does all day: sign in, register an asset, print its label sheet (the PDF's QR
code is decoded and must be the asset's public URL), scan it on a phone and report a problem
without signing in, watch a live reading change, acknowledge and resolve an alert, take a
corrective work order through to an e-signed closure as technician then manager, and export
a KPI report. Each main page is photographed into the artifacts directory (``screenshots/``).
The browser is Debian's Chromium; Playwright never downloads one.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from relational_support import GATEWAY, T0_S, hub_config, password, seeded_sqlite_url
from test_ui_jobs import decode_pdf_qr_codes

from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.demo import free_port
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.telemetry import Point
from wardlink.hub.telemetry.sqlite import SQLiteStore
from wardlink.hub.web import make_server
from wardlink.clock import ManualClock

CHROMIUM = os.environ.get("WARDLINK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
WAIT_MS = 15_000

pytestmark = pytest.mark.timeout(120)


def _require_tools():
    missing = [name for name, ok in (
        ("chromium", os.path.exists(CHROMIUM)), ("pdftoppm (poppler-utils)", shutil.which("pdftoppm")))
        if not ok]
    try:
        import playwright.sync_api
        import pyzbar.pyzbar
    except ImportError as exc:  # libzbar0 missing raises ImportError too
        missing.append(str(exc))
    if missing:
        message = f"browser tests need: {', '.join(missing)}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)


class Hub:
    """The served app, its stores and clock."""

    def __init__(self, tmp: Path, **settings) -> None:
        self.port = free_port()
        (tmp / "web.toml").write_text("LIVE_POLL_MS = 300\n")
        self.clock = ManualClock(T0_S + 3600)
        self.store = SQLiteStore(tmp / "telemetry.db")
        url = seeded_sqlite_url(tmp)
        self.config = hub_config(tmp, database_url=url, web_port=self.port, **settings)
        self.engine = open_engine(url)
        self.server = make_server(self.config, threads=6, telemetry=self.store, clock=self.clock, port=self.port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.port}"

    def reading(self, channel: str, metric: str, tag: str, value: float) -> None:
        """Write one reading stamped at the hub's current time."""
        self.store.write([Point.of(metric, {"gateway": GATEWAY, "channel": channel, "asset": tag,
                                            "ward": "ICU", "site": "RGH"}, round(self.clock.now() * 1000), value)])

    def close(self) -> None:
        """Stop the server and release the stores."""
        self.server.close()
        self.thread.join(timeout=10)
        self.engine.dispose()
        self.store.close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    _require_tools()
    server = Hub(tmp_path_factory.mktemp("ui-browser"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser(hub):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(artifacts_dir):
    folder = artifacts_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Session:
    """One person's browser context, remembering any CSP complaint the console reports."""

    def __init__(self, browser, hub: Hub, **context) -> None:
        self.context = browser.new_context(accept_downloads=True, **(context or DESKTOP))
        self.context.set_default_timeout(WAIT_MS)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(m.text)
                     if "Content Security Policy" in m.text or m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.hub = hub

    def open(self, path: str):
        """Go to ``path`` and return the page."""
        self.page.goto(self.hub.base + path)
        return self.page

    def sign_in(self, username: str):
        """Sign in through the form."""
        page = self.open("/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password(username))
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r".*/$"))
        return self

    def forget(self, expected: str) -> None:
        """Drop the console messages an intended error response caused."""
        self.problems = [p for p in self.problems if expected not in p]

    def close(self) -> None:
        """Close the context and check no script or policy error happened."""
        self.context.close()
        assert self.problems == []


def test_sign_in_register_an_asset_and_print_its_label_sheet(hub, browser, shots, tmp_path):
    me = Session(browser, hub).sign_in("manager")
    page = me.open("/assets/new")
    page.locator("#tag").fill("DEF-0042")
    page.locator("#name").fill("Defibrillator, resuscitation trolley 3")
    page.locator("#category").fill("defibrillator")
    page.get_by_role("button", name=re.compile("Register|Save")).click()
    page.wait_for_url(re.compile(r".*/assets/DEF-0042$"))
    assert page.get_by_role("heading", level=1).inner_text().startswith("DEF-0042")
    page.get_by_role("button", name="Print label").click()
    page.wait_for_url(re.compile(r".*/jobs/[^/]+$"))
    link = page.get_by_role("link", name=re.compile("Download asset-labels.pdf"))
    link.wait_for()  # the progress box refreshed itself until the job finished
    page.screenshot(path=shots / "job-label-sheet.png")
    with page.expect_download() as download:
        link.click()
    pdf = Path(download.value.path()).read_bytes()
    assert decode_pdf_qr_codes(pdf, tmp_path) == [f"{hub.base}/a/DEF-0042"]
    me.close()


def test_a_phone_opens_the_qr_url_and_reports_a_problem_without_signing_in(hub, browser, shots):
    phone = Session(browser, hub, **PHONE)
    page = phone.open("/a/VF-0001")
    assert "ICU medication refrigerator" in page.inner_text("main")
    page.screenshot(path=shots / "phone-report-problem.png", full_page=True)
    page.get_by_label("What is wrong?").fill("Temperature display shows 11 degrees and the alarm is silent")
    page.get_by_label("Your name").fill("Staff nurse Okafor")
    page.get_by_role("button", name="Send report").click()
    reference = page.locator("[data-reference]").inner_text()
    page.screenshot(path=shots / "phone-report-sent.png", full_page=True)
    with session_scope(hub.engine) as s:
        order = workorders.list_work_orders(s, actor=None, q=reference).items[0]
        assert (order.state, order.kind, order.source, order.asset.tag) == ("pending", "corrective", "qr", "VF-0001")
    phone.close()


def test_a_live_reading_changes_on_the_asset_page_without_reload(hub, browser, shots):
    hub.reading("fridge1.temp", "temperature", "VF-0001", 4.4)
    me = Session(browser, hub).sign_in("nurse")
    page = me.open("/assets/VF-0001")
    value = page.locator(f'tr[data-live-key="{GATEWAY}/fridge1.temp"] [data-field=value]')
    assert value.inner_text() == "4.4"
    hub.clock.advance(2)
    hub.reading("fridge1.temp", "temperature", "VF-0001", 7.31)
    page.wait_for_function("el => el.textContent === '7.3'", arg=value.element_handle())  # to 0.1 °C
    page.locator("[data-conn=live]").wait_for()
    page.locator("figure.chart .uplot canvas").first.wait_for()  # uPlot drew the chart under the CSP
    page.screenshot(path=shots / "asset-detail.png", full_page=True)
    me.close()


def test_acknowledge_and_resolve_an_alert(hub, browser, shots):
    with session_scope(hub.engine) as s:
        alert_id = alerts.raise_alert(s, rule="fridge-high", severity="critical", title="ICU fridge above 8 °C",
                                      asset_tag="VF-0001", value=9.1, actor=None, clock=hub.clock).id
    me = Session(browser, hub).sign_in("tech")
    page = me.open("/alerts")
    row = page.locator(f"#alert-{alert_id}")
    row.get_by_label("Note (optional)").fill("On my way with a spare probe")
    row.get_by_role("button", name="Acknowledge").click()
    row = page.locator(f"#alert-{alert_id}")
    assert "Acknowledged" in row.inner_text()
    page.screenshot(path=shots / "alerts.png", full_page=True)
    row.get_by_label("What was done").fill("Door gasket reseated; temperature back to 5 °C")
    row.get_by_role("button", name="Resolve").click()
    page.wait_for_load_state()
    with session_scope(hub.engine) as s:
        alert = alerts.get_alert(s, alert_id, actor=None)
        assert (alert.state, alert.ack_note) == ("resolved", "On my way with a spare probe")
    me.close()


def test_a_corrective_work_order_goes_to_e_signed_closure_by_technician_then_manager(hub, browser, shots):
    manager = Session(browser, hub).sign_in("manager")
    page = manager.open("/work-orders/new")
    page.get_by_label("Title").fill("Infusion pump occlusion alarm keeps sounding")
    page.get_by_label("Asset tag").fill("IPD-0001")
    page.get_by_label("Priority").select_option("high")
    page.get_by_label("Assign to (optional)").select_option(label="Tech (Technician)")
    page.get_by_role("button", name="Open work order").click()
    page.wait_for_url(re.compile(r".*/work-orders/\d+$"))
    order_url = page.url

    tech = Session(browser, hub).sign_in("tech")
    work = tech.page
    work.goto(order_url)
    work.locator("form[data-verb=start]").get_by_role("button", name="Start").click()
    done = work.locator("form[data-verb=complete]")
    done.get_by_label("Outcome").select_option("part_replaced")
    done.get_by_label("What was done").fill("Replaced the pressure sensor; occlusion test passed")
    done.get_by_role("button", name="Complete").click()
    work.wait_for_load_state()
    assert "Completed" in work.locator(".status-line").inner_text()
    assert work.locator("form[data-verb=close]").count() == 0  # technicians cannot close
    tech.close()

    page.goto(order_url)
    page.screenshot(path=shots / "work-order-to-sign.png", full_page=True)
    sign = page.locator("form[data-verb=close]")
    sign.get_by_label("Your password (to sign)").fill("not my password")
    sign.get_by_role("button", name="Sign and close").click()
    assert page.locator(".error-box").count() == 1
    manager.forget("status of 403")  # the refused signature is answered 403, as it should be
    sign = page.locator("form[data-verb=close]")
    sign.get_by_label("Your password (to sign)").fill(password("manager"))
    sign.get_by_label("Comment (optional)").fill("Checked the replaced sensor")
    sign.get_by_role("button", name="Sign and close").click()
    page.wait_for_load_state()
    assert "Closed" in page.locator(".status-line").inner_text()
    assert page.locator("[data-signature]").count() == 1
    page.screenshot(path=shots / "work-order-closed.png", full_page=True)
    manager.close()


def test_export_a_kpi_report(hub, browser, shots):
    me = Session(browser, hub).sign_in("manager")
    page = me.open("/reports")
    page.screenshot(path=shots / "reports.png", full_page=True)
    page.get_by_label("Format").select_option("pdf")
    page.get_by_role("button", name="Export").click()
    link = page.get_by_role("link", name=re.compile(r"Download kpis-all-.*\.pdf"))
    link.wait_for()
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    me.close()


MAIN_PAGES = {"dashboard": "/", "assets": "/assets", "work-orders": "/work-orders",
              "work-order-board": "/work-orders?view=board", "maintenance-plans": "/maintenance",
              "maintenance-calendar": "/maintenance/calendar", "gateways": "/gateways",
              "gateway-detail": f"/gateways/{GATEWAY}", "rules": "/rules", "users": "/admin/users",
              "roles": "/admin/roles", "audit": "/audit", "labels": "/labels", "import": "/assets/import",
              "ingest": "/ingest"}


def test_screenshots_of_the_main_pages_on_desktop_and_phone(hub, browser, shots):
    admin = Session(browser, hub).sign_in("admin")
    for name, path in MAIN_PAGES.items():
        page = admin.open(path)
        assert page.locator("h1").count() == 1, path
        page.screenshot(path=shots / f"{name}.png", full_page=True)
    admin.close()
    phone = Session(browser, hub, **PHONE).sign_in("admin")
    for name in ("dashboard", "work-order-board", "maintenance-calendar", "gateways", "gateway-detail",
                 "ingest", "audit"):
        page = phone.open(MAIN_PAGES[name])
        page.screenshot(path=shots / f"phone-{name}.png", full_page=True)
        # wide tables scroll inside themselves; the page never scrolls sideways on a phone
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"], name
    page = phone.open("/")
    assert not page.locator("#main-nav").is_visible()  # folded away on a phone
    page.get_by_role("button", name="Menu").click()
    assert page.locator("#main-nav").get_by_role("link", name="Work orders").is_visible()
    page.screenshot(path=shots / "phone-menu-open.png")
    phone.close()
