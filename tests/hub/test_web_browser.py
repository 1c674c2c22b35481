"""A real headless Chromium loads the asset page and watches live.js refresh the readings.

This covers what the Flask test client cannot: that the strict CSP lets the script run, that
it polls the API with the session cookie, and that it rewrites values and freshness badges.
The browser is driven over the Chrome DevTools Protocol.
"""

from __future__ import annotations

import http.cookiejar
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest
from relational_support import GATEWAY, clock, csrf_from, hub_config, password  # noqa: F401

from hub.telemetry import Point
from hub.telemetry.sqlite import SQLiteStore
from hub.web import make_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def wait_for(predicate, timeout: float, what: str):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Browser:
    """A headless Chromium with one page, driven over the DevTools websocket."""

    def __init__(self, profile_dir) -> None:
        from websockets.sync.client import connect

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={profile_dir}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile_dir / "DevToolsActivePort"
        port = int(wait_for(lambda: port_file.exists() and port_file.read_text().split("\n")[0],
                            20, "Chromium's DevTools port"))
        targets = wait_for(lambda: self._pages(port), 20, "a page target")
        self.ws = connect(targets[0]["webSocketDebuggerUrl"], max_size=2**24)
        self._ids = itertools.count(1)
        self.console: list[str] = []
        self.call("Runtime.enable")
        self.call("Log.enable")

    @staticmethod
    def _pages(port):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                return [t for t in json.load(r) if t["type"] == "page"]
        except OSError:
            return None

    def call(self, method: str, **params):
        """Send one DevTools command and return its result."""
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=20))
            if message.get("id") == msg_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            if message.get("method") == "Log.entryAdded":
                self.console.append(message["params"]["entry"]["text"])

    def js(self, expression: str):
        """Evaluate ``expression`` in the page and return its value."""
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        """Close the connection and stop Chromium."""
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _session_cookie(base: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/login", timeout=10) as r:
        token = csrf_from(r.read().decode())
    form = urllib.parse.urlencode({"username": "nurse", "password": password("nurse"),
                                   "csrf_token": token}).encode()
    opener.open(f"{base}/login", data=form, timeout=10).close()
    return next(c.value for c in jar if c.name == "wardlink_session")


@pytest.mark.timeout(90)
def test_live_readings_refresh_in_a_real_browser_and_turn_stale(tmp_path, clock, relational_url):
    if CHROMIUM is None:
        message = "chromium not found; install the 'chromium' package"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    (tmp_path / "web.toml").write_text("LIVE_POLL_MS = 200\n")
    store = SQLiteStore(tmp_path / "telemetry.db")
    config = hub_config(tmp_path, database_url=relational_url)
    server = make_server(config, threads=4, telemetry=store, clock=clock, port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    tags = {"gateway": GATEWAY, "channel": "fridge1.temp", "asset": "VF-0001", "ward": "ICU", "site": "RGH"}

    def write(value, age_s=1.0):
        store.write([Point.of("temperature", tags, round((clock.now() - age_s) * 1000), value)])

    browser = None
    try:
        base = f"http://127.0.0.1:{server.port}"
        write(4.1)
        cookie = _session_cookie(base)
        (tmp_path / "profile").mkdir()
        browser = Browser(tmp_path / "profile")
        browser.call("Network.setCookie", name="wardlink_session", value=cookie, url=base, httpOnly=True)
        browser.call("Page.navigate", url=f"{base}/assets/VF-0001")
        cell = f"document.querySelector('tr[data-live-key=\"{GATEWAY}/fridge1.temp\"]')"
        wait_for(lambda: browser.js(f"{cell} !== null"), 20, "the asset page")
        assert browser.js(f"{cell}.querySelector('[data-field=value]').textContent") == "4.1"

        clock.advance(2)  # a new reading has a new timestamp; the store keeps one value per instant
        write(5.37)
        wait_for(lambda: browser.js(f"{cell}.querySelector('[data-field=value]').textContent") == "5.37",
                 20, "live.js to show the new reading")
        badge = f"{cell}.querySelector('[data-field=state]')"
        assert browser.js(f"{badge}.textContent") == "Live"
        assert browser.js(f"{badge}.className") == "badge live-live"
        assert "updated" in browser.js("document.querySelector('[data-live-status]').textContent")

        clock.advance(600)  # ten minutes without a reading
        wait_for(lambda: browser.js(f"{badge}.textContent") == "Stale", 20, "the reading to turn stale")
        assert browser.js(f"{badge}.className") == "badge live-stale"
        assert browser.js(f"{cell}.querySelector('[data-field=age]').textContent") == "10 min ago"
        assert not [line for line in browser.console if "Content Security Policy" in line]
    finally:
        if browser is not None:
            browser.close()
        server.close()
        thread.join(timeout=10)
        store.close()
