"""A real headless Chromium opens the ingest page: a stalled worker is announced, and a dead
letter's payload (a lone surrogate escape, markup) is shown as text, without a CSP complaint."""

from __future__ import annotations

import http.cookiejar
import os
import threading
import urllib.parse
import urllib.request

import pytest
from relational_support import clock, csrf_from, hub_config, password  # noqa: F401
from test_web_browser import CHROMIUM, Browser, wait_for

from hub.db.engine import open_engine
from hub.ingest import IngestRecords
from hub.ingest.deadletter import DeadLetter
from hub.telemetry.sqlite import SQLiteStore
from hub.web import make_server

POISON = b'{"v":1,"gateway":"gw-bad","state":"online","boot":"\\ud800","note":"<b>bold</b>"}'


def _viewer_cookie(base: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/login", timeout=10) as r:
        token = csrf_from(r.read().decode())
    form = urllib.parse.urlencode({"username": "viewer", "password": password("viewer"),
                                   "csrf_token": token}).encode()
    opener.open(f"{base}/login", data=form, timeout=10).close()
    return next(c.value for c in jar if c.name == "wardlink_session")


@pytest.mark.timeout(90)
def test_the_ingest_page_shows_a_stalled_worker_and_dead_letters_in_a_real_browser(tmp_path, clock,
                                                                                     relational_url):
    if CHROMIUM is None:
        message = "chromium not found; install the 'chromium' package"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    now_ms = round(clock.now() * 1000)
    engine = open_engine(relational_url)
    records = IngestRecords(engine)  # what a worker would have written
    records.commit(dead=[DeadLetter.of("wardlink/v1/gw-bad/status", POISON, reason="invalid_text",
                                       detail="boot: contains a lone surrogate (U+D800)", received_ms=now_ms,
                                       gateway="gw-bad")],
                   worker={"client_id": "hub-ingest-1", "hostname": "hub", "pid": 42, "started_ms": now_ms,
                           "updated_ms": now_ms, "connected": True, "received": 10, "points_written": 9,
                           "dead_lettered": 1, "acked": 9, "store_errors": 30, "pending": 1,
                           "last_error": "telemetry store: connection refused", "last_error_ms": now_ms,
                           "oldest_pending_ms": now_ms - 600_000, "retrying_since_ms": now_ms - 600_000})
    store = SQLiteStore(tmp_path / "telemetry.db")
    server = make_server(hub_config(tmp_path, database_url=relational_url), threads=4, telemetry=store,
                         clock=clock, port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    browser = None
    try:
        base = f"http://127.0.0.1:{server.port}"
        cookie = _viewer_cookie(base)
        (tmp_path / "profile").mkdir()
        browser = Browser(tmp_path / "profile")
        browser.call("Network.setCookie", name="wardlink_session", value=cookie, url=base, httpOnly=True)
        browser.call("Page.navigate", url=f"{base}/ingest")
        wait_for(lambda: browser.js("document.querySelector('table.dead-letters') !== null"), 20, "the ingest page")
        banner = browser.js("document.querySelector('[role=alert].ingest-stalled').innerText")
        assert "Ingest is stalled" in banner and "retrying a store write for 600 s" in banner
        assert browser.js("document.querySelector('tr.worker-stalled th').textContent") == "hub-ingest-1"
        assert browser.js("document.querySelector('table.dead-letters code.reason').textContent") == "invalid_text"
        browser.js("document.querySelector('table.dead-letters details').open = true")
        shown = browser.js("document.querySelector('pre.payload').innerText")
        assert shown == POISON.decode()  # the escape as sent, the markup as text
        assert browser.js("document.querySelector('pre.payload b')") is None
        assert browser.js("document.querySelector('nav a[href=\"/ingest\"]') !== null")  # in the main navigation
        assert not [line for line in browser.console if "Content Security Policy" in line]
    finally:
        if browser is not None:
            browser.close()
        server.close()
        thread.join(timeout=10)
        store.close()
        engine.dispose()
