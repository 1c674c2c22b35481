"""A real headless Chromium for page tests, driven over the Chrome DevTools Protocol.

What the Flask test client cannot show: that the strict CSP lets our scripts run, that they
poll the API with the session cookie, and what they write into the page. Each test starts its
own hub web server (:func:`served_hub`) and its own browser with a fresh profile, signed in
as one of the seeded users (:func:`signed_in_browser`).
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import itertools
import json
import os
import shutil
import subprocess
import threading
import urllib.parse
import urllib.request
from typing import Iterator

import pytest
from relational_support import csrf_from, password

from wardlink.hub.web import make_server
from waiting import wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

#: without the background-networking switches Chromium keeps dialling Google's hosts, which a
#: closed network refuses many at a time
_SWITCHES = ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-port=0", "--remote-allow-origins=*")


def need_chromium() -> None:
    """Skip the test when Chromium is missing, or fail it under ``CI=true``."""
    if CHROMIUM is not None:
        return
    message = "chromium not found; install the 'chromium' package"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


class Browser:
    """A headless Chromium with one page, driven over the DevTools websocket."""

    def __init__(self, profile_dir) -> None:
        from websockets.sync.client import connect

        self.proc = subprocess.Popen([CHROMIUM, *_SWITCHES, f"--user-data-dir={profile_dir}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile_dir / "DevToolsActivePort"
        port = int(wait_for(lambda: port_file.exists() and port_file.read_text().split("\n")[0],
                            20, "Chromium's DevTools port", interval=0.05))
        targets = wait_for(lambda: self._pages(port), 20, "a page target", interval=0.05)
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

    def open(self, url: str, ready: str, what: str) -> None:
        """Navigate to ``url`` and wait until the JavaScript expression ``ready`` is true."""
        self.call("Page.navigate", url=url)
        wait_for(lambda: self.js(ready), 20, what, interval=0.05)

    def csp_complaints(self) -> list[str]:
        """What the console said about the Content Security Policy."""
        return [line for line in self.console if "Content Security Policy" in line]

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


def session_cookie(base: str, username: str) -> str:
    """Sign ``username`` (a seeded user) in through the login form; return the session cookie."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/login", timeout=10) as r:
        token = csrf_from(r.read().decode())
    form = urllib.parse.urlencode({"username": username, "password": password(username),
                                   "csrf_token": token}).encode()
    opener.open(f"{base}/login", data=form, timeout=10).close()
    return next(c.value for c in jar if c.name == "wardlink_session")


@contextlib.contextmanager
def served_hub(config, *, telemetry, clock) -> Iterator[str]:
    """Run the hub's web server on a free port for the block; yield its base URL."""
    server = make_server(config, threads=4, telemetry=telemetry, clock=clock, port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.close()
        thread.join(timeout=10)


@contextlib.contextmanager
def signed_in_browser(tmp_path, base: str, username: str) -> Iterator[Browser]:
    """A new Chromium (profile under ``tmp_path``) carrying ``username``'s session cookie."""
    need_chromium()
    cookie = session_cookie(base, username)
    profile = tmp_path / "profile"
    profile.mkdir()
    browser = Browser(profile)
    try:
        browser.call("Network.setCookie", name="wardlink_session", value=cookie, url=base, httpOnly=True)
        yield browser
    finally:
        browser.close()
