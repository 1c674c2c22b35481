"""`wardlink demo`: one command brings up broker, hub and an emulated gateway, with live readings."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from servers import free_port
from waiting import wait_for

pytestmark = pytest.mark.timeout(240)


class DemoProcess:
    """The demo as a user runs it: a child process whose console we read."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(data_dir.parent / f"demo-{port}-{time.monotonic_ns()}.log", "w+")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wardlink.hub.cli", "demo", "--data-dir", str(data_dir), "--port", str(port)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text()

    def wait_for_output(self, pattern: str, timeout: float) -> re.Match:
        def printed():
            match = re.search(pattern, self.output())
            if match is None and self.proc.poll() is not None:
                raise AssertionError(f"the demo exited without printing {pattern!r}")
            return match

        try:
            return wait_for(printed, timeout, f"the demo to print {pattern!r}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; output:\n{self.output()[-4000:]}") from None

    def login(self, password: str) -> requests.Session:
        session = requests.Session()
        page = session.get(f"{self.base}/login", timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        response = session.post(f"{self.base}/login", timeout=10, allow_redirects=False,
                                data={"username": "admin", "password": password, "csrf_token": token})
        assert response.status_code in (302, 303), response.text[:500]
        return session

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError("demo did not stop within 30 s of SIGTERM") from None
        self.log.close()
        return self.proc.returncode


def latest(session: requests.Session, base: str, tag: str) -> list[dict]:
    response = session.get(f"{base}/api/v1/assets/{tag}/readings/latest", timeout=10)
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    return body["readings"] if isinstance(body, dict) else body


def wait_for_readings(session, base, channels: dict[str, set[str]], timeout):
    """Wait until every asset has a latest value, on each of its expected channels at least."""
    found = {}

    def complete():
        found.update({tag: [r for r in latest(session, base, tag) if r.get("value") is not None]
                      for tag in channels})
        return all(found[tag] and wanted <= {r["channel"] for r in found[tag]} for tag, wanted in channels.items())

    try:
        wait_for(complete, timeout, "readings on every channel", interval=0.5)
    except AssertionError:
        raise AssertionError(f"no readings on some channels within {timeout} s: {found}") from None
    return found


def test_demo_shows_live_readings_within_30_s_stops_cleanly_and_keeps_its_data(tmp_path):
    data_dir = tmp_path / "demo-data"
    port = free_port()
    demo = DemoProcess(data_dir, port)
    try:
        password = demo.wait_for_output(r"Password:\s+(\S+)", timeout=60).group(1)
        started = time.monotonic()
        assert f"http://127.0.0.1:{port}/" in demo.output()
        session = demo.login(password)
        readings = wait_for_readings(session, demo.base, {
            "VF-0001": {"fridge1.temp", "fridge1.door"}, "IPD-0001": {"dock1.current"},
            "ENV-ICU-1": {"room.pressure"}, "VF-0002": set()}, timeout=30)
        assert time.monotonic() - started < 30
        # Each kind of emulated sensor produced a physically plausible value through its driver.
        by_channel = {r["channel"]: r["value"] for rows in readings.values() for r in rows}
        assert 2.0 <= by_channel["fridge1.temp"] <= 8.0
        assert by_channel["fridge1.door"] in (0.0, 1.0)
        assert 0.0 <= by_channel["dock1.current"] <= 1.0
        assert 80_000 <= by_channel["room.pressure"] <= 120_000
        # Readings keep flowing: a newer timestamp arrives.
        first_ts = max(r["ts_ms"] for r in readings["IPD-0001"])
        wait_for(lambda: max(r["ts_ms"] for r in latest(session, demo.base, "IPD-0001")) > first_ts, 20,
                 "a newer reading (readings stopped flowing?)", interval=0.5)
        # The API refuses anonymous callers.
        assert requests.get(f"{demo.base}/api/v1/assets", timeout=10).status_code == 401
    finally:
        code = demo.stop()
    gateway_log = data_dir / "gateway" / "gateway.log"
    assert code == 0, demo.output()[-3000:] + "\n--- gateway.log ---\n" + gateway_log.read_text()[-3000:]
    assert "Traceback" not in demo.output()

    # A restart keeps the data directory's readings and prints a new password.
    db_files = sorted(p.name for p in (data_dir / "hub").glob("*.db"))
    assert "telemetry.db" in db_files and "wardlink.db" in db_files
    demo2 = DemoProcess(data_dir, port)
    try:
        password2 = demo2.wait_for_output(r"Password:\s+(\S+)", timeout=60).group(1)
        assert password2 != password
        session = demo2.login(password2)
        response = session.get(f"{demo2.base}/api/v1/readings", timeout=10, params={
            "gateway": "gw-demo-icu", "channel": "dock1.current", "start": first_ts - 60_000, "end": first_ts + 1})
        assert response.status_code == 200, response.text[:300]
        kept = [p for p in response.json()["points"] if p["ts_ms"] == first_ts]
        assert kept, "a reading from the first run is gone after the restart"
    finally:
        assert demo2.stop() == 0


def test_demo_says_clearly_when_the_web_port_is_taken(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "wardlink.hub.cli", "demo", "--data-dir", str(tmp_path / "d"),
                              "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in out.stderr
    assert f"--port {port + 1}" in out.stderr
