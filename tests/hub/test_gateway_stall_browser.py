"""A real headless Chromium shows a stalled gateway, with since when in the browser's time zone.

The server renders the time in UTC inside ``<time data-local>``; app.js rewrites it to the
browser's local time (kept strict by the CSP: no inline script). Chromium runs with
``TZ=Asia/Kolkata`` (UTC+05:30), so the local text differs from the UTC one in every field.
"""

from __future__ import annotations

import http.cookiejar
import os
import threading
import urllib.parse
import urllib.request
from zoneinfo import ZoneInfo

import pytest
from relational_support import GATEWAY, clock, csrf_from, hub_config, password  # noqa: F401
from test_web_browser import CHROMIUM, Browser, wait_for

from hub.db import open_engine, session_scope
from hub.services import gateways
from hub.telemetry.sqlite import SQLiteStore
from hub.web import make_server


def _session_cookie(base: str, username: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/login", timeout=10) as r:
        token = csrf_from(r.read().decode())
    form = urllib.parse.urlencode({"username": username, "password": password(username),
                                   "csrf_token": token}).encode()
    opener.open(f"{base}/login", data=form, timeout=10).close()
    return next(c.value for c in jar if c.name == "wardlink_session")


@pytest.mark.timeout(90)
def test_a_stalled_gateway_shows_since_when_in_the_browsers_local_time(tmp_path, clock, relational_url,
                                                                        monkeypatch):
    if CHROMIUM is None:
        message = "chromium not found; install the 'chromium' package"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    db = open_engine(relational_url)
    heard = gateways.utc_now(clock)
    with session_scope(db) as session:  # its status says online
        gateways.record_status(session, gateway_id=GATEWAY, state="online", seen_at=heard)
    local = heard.astimezone(ZoneInfo("Asia/Kolkata"))
    clock.advance(200)  # silent for longer than its 90 s threshold
    store = SQLiteStore(tmp_path / "telemetry.db")
    server = make_server(hub_config(tmp_path, database_url=relational_url), threads=4, telemetry=store,
                         clock=clock, port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    browser = None
    try:
        base = f"http://127.0.0.1:{server.port}"
        cookie = _session_cookie(base, "manager")
        (tmp_path / "profile").mkdir()
        monkeypatch.setenv("TZ", "Asia/Kolkata")
        browser = Browser(tmp_path / "profile")
        browser.call("Network.setCookie", name="wardlink_session", value=cookie, url=base, httpOnly=True)
        for path in ("/gateways", f"/gateways/{GATEWAY}"):
            browser.call("Page.navigate", url=base + path)
            shown = "document.querySelector('time[data-local=shown]')"
            wait_for(lambda: browser.js(f"{shown} !== null"), 20, f"app.js to show the time on {path}")
            assert browser.js("document.querySelector('.badge.gateway-stalled').textContent") == "Stalled"
            assert browser.js(f"{shown}.getAttribute('datetime')") == heard.isoformat()
            assert browser.js(f"{shown}.title") == heard.strftime("%Y-%m-%d %H:%M:%S UTC")
            text = browser.js(f"{shown}.textContent")
            assert f"{local:%I:%M:%S}" in text and "UTC" not in text, (text, local)
        assert not [line for line in browser.console if "Content Security Policy" in line]
    finally:
        if browser is not None:
            browser.close()
        server.close()
        thread.join(timeout=10)
        store.close()
        db.dispose()
