"""An ingest worker's /metrics and /health, its log lines about unreachable servers, and the
command under systemd: real Mosquitto, SQLite stores, Prometheus' own text parser, and a real
AF_UNIX datagram socket standing for systemd's notification socket."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ingest_support import Publisher, T0, hub_config, migrated_engine, readings, telemetry, wait_until
from prometheus_client.parser import text_string_to_metric_families

from wardlink.hub.ingest import IngestRecords, IngestWorker, StaticResolver
from wardlink.hub.ingest.monitoring import ingest_families, ingest_health, watchdog_problem
from wardlink.hub.telemetry.influx import InfluxStore
from wardlink.hub.telemetry.sqlite import SQLiteStore
from wardlink.metrics import render
from wardlink.monitor import MonitorServer
from wardlink.clock import ManualClock

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
KEEPALIVE_S = 2


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(base: str) -> dict[tuple[str, tuple], float]:
    """Return (sample name, sorted labels without the worker) -> value of ``base``/metrics."""
    status, text = get(f"{base}/metrics")
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "worker")))] = s.value
    return out


def value(base: str, name: str, **labels: str) -> float | None:
    return samples(base).get((name, tuple(sorted(labels.items()))))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def worker_with_monitor(tmp_path, mosquitto):
    config = hub_config(tmp_path, mosquitto.url, mqtt_client_id="hub-watched")
    store = SQLiteStore(tmp_path / "telemetry.db")
    engine = migrated_engine(config.resolved_database_url)
    worker = IngestWorker(config, store, StaticResolver(), records=IngestRecords(engine), keepalive_s=KEEPALIVE_S,
                          stats_interval_s=0.05)
    monitor = MonitorServer("ingest hub-watched",
                            metrics=lambda: render(ingest_families(worker, stall_after_s=config.ingest_stall_s)),
                            health=lambda: ingest_health(worker, stall_after_s=config.ingest_stall_s))
    monitor.start("127.0.0.1", 0)
    try:
        yield worker, f"http://127.0.0.1:{monitor.port}"
    finally:
        monitor.close()
        worker.stop(drain=False)
        store.close()
        engine.dispose()


def test_counters_rise_under_load_and_health_follows_the_broker(worker_with_monitor, mosquitto, caplog):
    worker, base = worker_with_monitor
    caplog.set_level(logging.INFO, logger="wardlink.hub.ingest")
    status, body = get(f"{base}/health")
    assert status == 503 and json.loads(body)["reasons"] == ["the writer thread has stopped",
                                                              f"not connected to the broker at {worker.broker}"]
    worker.start()
    wait_until(lambda: worker.stats().subscribed, what="the worker subscribed")
    assert get(f"{base}/health")[0] == 200
    before = samples(base)
    assert before[("wardlink_ingest_readings_received_total", ())] == 0
    assert before[("wardlink_ingest_broker_connected", ())] == 1
    assert ("wardlink_ingest_last_commit_age_seconds", ()) not in before  # nothing committed yet

    publisher = Publisher(mosquitto.host, mosquitto.port, "gw-load")
    try:
        sent = publisher.publish_all(telemetry("gw-load", seq, readings("t1", T0 + seq * 10_000, 10))
                                     for seq in range(30))
        publisher.publish(*telemetry("gw-load", 99, [("t1", T0, 1.0)])[:1], b"not json")
        wait_until(lambda: value(base, "wardlink_ingest_messages_acknowledged_total") == sent + 1,
                   what="every message committed and acknowledged")
    finally:
        publisher.close()
    after = samples(base)
    assert after[("wardlink_ingest_readings_received_total", ())] == 300
    assert after[("wardlink_ingest_readings_committed_total", ())] == 300
    assert after[("wardlink_ingest_messages_received_total", ())] == 31
    assert after[("wardlink_ingest_messages_committed_total", (("kind", "telemetry"),))] == 30
    assert after[("wardlink_ingest_dead_letters_total", ())] == 1
    assert after[("wardlink_ingest_pending_messages", ())] == 0
    assert after[("wardlink_ingest_queued_readings", ())] == 0
    assert 0 <= after[("wardlink_ingest_commit_lag_seconds", ())] < 60
    assert 0 <= after[("wardlink_ingest_last_commit_age_seconds", ())] < 60
    assert after[("wardlink_ingest_healthy", ())] == 1

    caplog.clear()
    mosquitto.stop()
    stopped = time.monotonic()
    wait_for_503 = wait_until(lambda: (r := get(f"{base}/health"))[0] == 503 and r, timeout=KEEPALIVE_S,
                              what="/health to answer 503 within one keepalive")
    assert time.monotonic() - stopped <= KEEPALIVE_S
    [reason] = json.loads(wait_for_503[1])["reasons"]
    assert reason.startswith(f"not connected to the broker at {worker.broker}")
    assert value(base, "wardlink_ingest_broker_connected") == 0
    wait_until(lambda: any("is unreachable" in r.message for r in caplog.records), what="the outage logged")
    mosquitto.start()
    wait_until(lambda: get(f"{base}/health")[0] == 200, timeout=30, what="/health 200 once the broker is back")
    assert value(base, "wardlink_ingest_reconnects_total") == 1
    broker = [r for r in caplog.records if worker.broker in r.getMessage()]
    warnings = [r.getMessage() for r in broker if r.levelno >= logging.WARNING]
    # One line for the whole outage, though paho tried again meanwhile (connection refused).
    assert warnings == [f"ingest hub-watched: the broker at {worker.broker} is unreachable: connection lost "
                        f"(Unspecified error); retrying"]
    assert any(r.levelno == logging.INFO and "answers again after" in r.getMessage() for r in broker)
    assert all("\n" not in r.getMessage() for r in broker)


def test_an_unreachable_broker_is_logged_at_once_with_its_address(tmp_path, caplog):
    """It used to log nothing for 35 s. Now one WARNING at the first failed attempt names the
    address and the reason; further attempts within the minute add no line."""
    port = closed_port()
    config = hub_config(tmp_path, f"mqtt://127.0.0.1:{port}", mqtt_client_id="hub-lonely")
    store = SQLiteStore(tmp_path / "telemetry.db")
    engine = migrated_engine(config.resolved_database_url)
    caplog.set_level(logging.INFO, logger="wardlink.hub.ingest")
    worker = IngestWorker(config, store, StaticResolver(), records=IngestRecords(engine), keepalive_s=KEEPALIVE_S)
    try:
        worker.start()
        line = f"ingest hub-lonely: the broker at 127.0.0.1:{port} is unreachable: connection refused; retrying"
        wait_until(lambda: any(r.getMessage() == line for r in caplog.records), timeout=10, what="the warning")
        wait_until(lambda: worker.broker_outage._attempts >= 2, timeout=15, what="a second attempt")
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [line]
        report = ingest_health(worker, stall_after_s=120)
        assert not report.healthy and report.reasons[0].startswith(
            f"not connected to the broker at 127.0.0.1:{port} for ")
        assert report.reasons[0].endswith(": connection refused")
    finally:
        worker.stop(drain=False)
        store.close()
        engine.dispose()


def test_an_unreachable_telemetry_store_makes_health_say_so_and_is_logged_once(tmp_path, mosquitto, caplog):
    port = closed_port()
    config = hub_config(tmp_path, mosquitto.url, mqtt_client_id="hub-nostore")
    store = InfluxStore(f"http://127.0.0.1:{port}", "wardlink", retries=0, timeout_s=2)
    engine = migrated_engine(config.resolved_database_url)
    clock = ManualClock(T0 / 1000)
    caplog.set_level(logging.INFO, logger="wardlink.hub.ingest")
    worker = IngestWorker(config, store, StaticResolver(), clock, records=IngestRecords(engine),
                          retry_initial_s=0.01, retry_max_s=0.05)
    publisher = Publisher(mosquitto.host, mosquitto.port, "gw-nostore")
    try:
        worker.start()
        wait_until(lambda: worker.stats().subscribed, what="subscribed")
        publisher.publish(*telemetry("gw-nostore", 0, [("t1", T0 - 1000, 4.0)]))
        wait_until(lambda: worker.stats().store_errors >= 5, what="the write retried")
        clock.advance(7)
        report = ingest_health(worker, stall_after_s=120)
        assert report.reasons == (f"cannot write to a store for 7 s: InfluxDB at http://127.0.0.1:{port}: write "
                                  "1 point: ConnectionError: Failed to establish a new connection: [Errno 111] "
                                  "Connection refused",)
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings == [f"ingest hub-nostore: a store is unreachable: {report.reasons[0].split(': ', 1)[1]}; "
                            "retrying"]
        assert watchdog_problem(worker) is None  # retrying is alive: systemd must not restart it for that
    finally:
        publisher.close()
        worker.stop(drain=False)
        store.close()
        engine.dispose()


def test_the_writer_loop_wedged_is_a_watchdog_problem(tmp_path, mosquitto):
    """The loops beat on the worker's clock: a manual one stands for a writer stuck in a call."""
    config = hub_config(tmp_path, mosquitto.url, mqtt_client_id="hub-wedge")
    store = SQLiteStore(tmp_path / "telemetry.db")
    engine = migrated_engine(config.resolved_database_url)
    clock = ManualClock(T0 / 1000)
    worker = IngestWorker(config, store, StaticResolver(), clock, records=IngestRecords(engine))
    try:
        worker.start()
        assert watchdog_problem(worker) is None
        heartbeat = worker.context.heartbeats["writer"]
        heartbeat.max_silence_s = 30
        with worker._batcher._cond:  # hold the queue's lock: the writer cannot go round
            clock.advance(31)
            assert watchdog_problem(worker) == "ingest hub-wedge's writer loop has not gone round for 31 s"
            assert "has not gone round" in ingest_health(worker, stall_after_s=120).reasons[0]
        wait_until(lambda: watchdog_problem(worker) is None, what="the writer going round again")
    finally:
        worker.stop(drain=False)
        store.close()
        engine.dispose()


# ------------------------------------------------------------------ the command under systemd


class Systemd:
    """The receiving end of $NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.address = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.address)
        self.seen: list[dict[str, str]] = []

    def wait_for(self, key: str, timeout: float = 30.0) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {key}=1 within {timeout} s; got {self.seen}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
            self.seen.append(fields)
            if fields.get(key) == "1":
                return fields


def command_env(tmp_path: Path, mosquitto, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDLINK_", "NOTIFY_", "WATCHDOG_"))}
    env.update({"WARDLINK_DATA_DIR": str(tmp_path), "WARDLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
                "WARDLINK_MQTT_URL": mosquitto.url, "WARDLINK_METRICS_HOST": "127.0.0.1", **extra})
    return env


def test_the_command_says_ready_pets_the_watchdog_and_serves_its_metrics(tmp_path, mosquitto):
    migrated_engine(f"sqlite:///{tmp_path / 'hub.db'}").dispose()
    systemd = Systemd(tmp_path / "notify.sock")
    base_port = closed_port() - 3
    env = command_env(tmp_path, mosquitto, WARDLINK_INGEST_METRICS_PORT=str(base_port),
                      NOTIFY_SOCKET=systemd.address, WATCHDOG_USEC="400000")
    proc = subprocess.Popen([sys.executable, "-m", "wardlink.hub.cli", "hub", "ingest", "--client-id", "ingest-3",
                             "--metrics-offset", "3"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{base_port + 3}"
    publisher = None
    try:
        ready = systemd.wait_for("READY")
        assert ready["STATUS"] == f"ingest ingest-3: broker {mosquitto.host}:{mosquitto.port}"
        for _ in range(3):  # every 0.2 s while the loops go round
            systemd.wait_for("WATCHDOG", timeout=10)
        wait_until(lambda: get(f"{base}/health")[0] == 200, timeout=20, what="the worker healthy")
        publisher = Publisher(mosquitto.host, mosquitto.port, "gw-cmd")
        publisher.publish_all(telemetry("gw-cmd", seq, readings("t1", int(time.time() * 1000) - 60_000 + seq, 5))
                              for seq in range(4))
        wait_until(lambda: value(base, "wardlink_ingest_readings_committed_total") == 20, timeout=20,
                   what="the readings committed")
        assert value(base, "wardlink_ingest_readings_received_total") == 20
        proc.send_signal(signal.SIGTERM)
        systemd.wait_for("STOPPING")
        assert proc.wait(30) == 0
    finally:
        if publisher is not None:
            publisher.close()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
        systemd.sock.close()


def test_a_taken_metrics_port_stops_the_command_with_one_line(tmp_path, mosquitto):
    migrated_engine(f"sqlite:///{tmp_path / 'hub.db'}").dispose()
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        out = subprocess.run([sys.executable, "-m", "wardlink.hub.cli", "hub", "ingest", "--client-id", "ingest-9",
                              "--metrics-port", str(port)], cwd=ROOT, env=command_env(tmp_path, mosquitto),
                             capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    errors = [line for line in out.stderr.splitlines() if line.startswith("wardlink:")]
    assert out.returncode == 6 and errors == [
        f"wardlink: ingest ingest-9: cannot listen for /metrics and /health on 127.0.0.1:{port}: address already in use"]
    assert "Traceback" not in out.stderr
