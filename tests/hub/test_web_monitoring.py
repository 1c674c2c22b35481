"""The web server's /metrics and /health (its own listener, apart from the UI's port), its
responses counted by status class, and the command under systemd: READY=1, then WATCHDOG=1
only while it answers a request on its own port. Prometheus' own text parser reads the metrics;
a real AF_UNIX datagram socket stands for systemd."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ingest_support import migrated_engine
from prometheus_client.parser import text_string_to_metric_families
from relational_support import clock, web
from waiting import wait_for

from wardlink.hub.web.monitoring import web_families, web_health
from wardlink.metrics import render
from wardlink.monitor import MonitorServer

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def requests_of(figures, status_class: str) -> float:
    return figures[("wardlink_web_requests_total", (("class", status_class),))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_responses_are_counted_by_class_and_health_follows_the_stores(web):
    state = web.app.extensions["wardlink"]
    monitor = MonitorServer("web", metrics=lambda: render(web_families(state)),
                            health=lambda: web_health(state)).start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{monitor.port}"
    try:
        before = samples(get(f"{base}/metrics")[1])
        client = web.app.test_client()
        assert client.get("/login").status_code == 200
        assert client.get("/api/v1/health").status_code == 200
        assert client.get("/no-such-page").status_code == 404
        assert client.get("/api/v1/assets").status_code == 401
        after = samples(get(f"{base}/metrics")[1])
        assert requests_of(after, "2xx") - requests_of(before, "2xx") == 2
        assert requests_of(after, "4xx") - requests_of(before, "4xx") == 2
        assert requests_of(after, "5xx") == requests_of(before, "5xx") == 0
        assert after[("wardlink_web_database_up", ())] == 1 and after[("wardlink_web_telemetry_up", ())] == 1
        assert after[("wardlink_ingest_workers", (("state", "running"),))] == 0
        assert after[("wardlink_web_healthy", ())] == 1
        status, body = get(f"{base}/health")
        assert (status, json.loads(body)) == (200, {"status": "ok", "reasons": [], "database": "ok",
                                                    "telemetry": "ok", "ingest": "not running"})

        web.store.close()  # the telemetry store stops answering
        status, body = get(f"{base}/health")
        assert status == 503 and json.loads(body)["reasons"] == ["the telemetry store does not answer"]
        assert client.get("/api/v1/health").status_code == 503  # the public check says the same
        assert samples(get(f"{base}/metrics")[1])[("wardlink_web_telemetry_up", ())] == 0
    finally:
        monitor.close()


def test_the_command_says_ready_pets_the_watchdog_while_it_answers_and_serves_metrics(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrated_engine(url).dispose()
    notify = tmp_path / "notify.sock"
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(notify))
    systemd.settimeout(30)
    ui_port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDLINK_", "NOTIFY_", "WATCHDOG_"))}
    env.update({"WARDLINK_DATA_DIR": str(tmp_path), "WARDLINK_DATABASE_URL": url, "NOTIFY_SOCKET": str(notify),
                "WATCHDOG_USEC": "400000"})
    proc = subprocess.Popen([sys.executable, "-m", "wardlink.hub.cli", "hub", "web", "--port", str(ui_port),
                             "--metrics-port", str(metrics_port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    messages: list[str] = []

    def received(key: str) -> bool:
        messages.append(systemd.recv(4096).decode())
        return f"{key}=1" in messages[-1]

    try:
        wait_for(lambda: received("READY"), 30, "READY=1")
        assert messages[-1] == f"READY=1\nSTATUS=web UI on 127.0.0.1:{ui_port}\n"
        for _ in range(3):  # each one after the server answered its own request
            wait_for(lambda: received("WATCHDOG"), 10, "WATCHDOG=1")
        base = f"http://127.0.0.1:{metrics_port}"
        before = samples(get(f"{base}/metrics")[1])
        assert get(f"http://127.0.0.1:{ui_port}/login")[0] == 200
        assert get(f"http://127.0.0.1:{ui_port}/nothing-here")[0] == 404
        after = samples(get(f"{base}/metrics")[1])
        assert requests_of(after, "4xx") == requests_of(before, "4xx") + 1
        assert requests_of(after, "2xx") >= requests_of(before, "2xx") + 1  # the watchdog's own requests too
        assert get(f"{base}/health")[0] == 200
        assert get(f"http://127.0.0.1:{ui_port}/metrics")[0] == 404  # never on the UI's port
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: received("STOPPING"), 30, "STOPPING=1")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
        systemd.close()


def test_a_server_that_does_not_serve_is_a_watchdog_problem(tmp_path):
    """The watchdog's check is a request through the server's own port: a server whose loop is
    not running (the socket listens, nobody answers) is a problem; once it runs, none."""
    import threading

    from relational_support import hub_config

    from wardlink.hub.telemetry.sqlite import SQLiteStore
    from wardlink.hub.web import make_server

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrated_engine(url).dispose()
    store = SQLiteStore(tmp_path / "telemetry.db")
    server = make_server(hub_config(tmp_path, database_url=url), port=0, telemetry=store)
    try:
        problem = server.problem(timeout=0.5)
        assert problem is not None and problem.startswith(
            f"the web server did not answer a request on 127.0.0.1:{server.port}: ")
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_for(lambda: server.problem(timeout=5) is None, 10, "the server to answer")
    finally:
        server.close()
        store.close()
