"""End to end: emulated gateway -> real Mosquitto -> hub ingest -> SQLite and InfluxDB -> JSON API.

A real `wardlink-edge run` process samples emulated sensors (1-wire, GPIO, I2C) and forwards
them through its SQLite buffer. A test subscriber on the same broker records every reading the
gateway published: those are the values the emulated sensors produced. Two ingest workers
(one per telemetry store) commit them; the hub's JSON API must then return exactly those values
from either store.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import paho.mqtt.client as mqtt
import pytest

from wardlink.hub.config import load_config
from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.resolver import DbResolver
from wardlink.hub.demo import CHANNELS, DEMO_GATEWAY, gateway_config_toml
from wardlink.hub.ingest import IngestWorker
from wardlink.hub.seed import seed_demo_site
from wardlink.hub.services.people import users
from wardlink.hub.telemetry import open_store
from wardlink.hub.web import create_app
from wardlink import protocol
from wardlink.clock import SystemClock
from waiting import wait_for

pytestmark = pytest.mark.timeout(180)


class Recorder:
    """Subscribes like a third party and keeps every reading the gateway published."""

    def __init__(self, broker) -> None:
        self.readings: set[tuple[str, int, float | None]] = set()
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-recorder",
                                  protocol=mqtt.MQTTv311, clean_session=True)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            protocol.topic(DEMO_GATEWAY, "telemetry"), qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        batch = protocol.decode(msg.topic, msg.payload)
        with self.lock:
            self.readings.update((r.channel, r.ts_ms, r.value) for r in batch.readings)

    def snapshot(self) -> set:
        with self.lock:
            return set(self.readings)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def stored(store, published: set) -> set:
    """Return what ``store`` holds for the published channels over the published time span."""
    start = min(ts for _, ts, _ in published)
    end = max(ts for _, ts, _ in published) + 1
    rows = set()
    for channel in {c for c, _, _ in published}:
        for r in store.range(gateway=DEMO_GATEWAY, channel=channel, start_ms=start, end_ms=end):
            rows.add((channel, r.ts_ms, r.value))
    return rows


def api_client(config, store, engine):
    app = create_app(config, telemetry=store)
    with session_scope(engine) as session:
        password = users.ensure_admin_with_fresh_password(session, username="admin")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post("/login", data={"username": "admin", "password": password, "csrf_token": token})
    assert response.status_code in (302, 303)
    return client


def test_readings_flow_from_emulated_sensors_to_both_stores_and_the_api(tmp_path, mosquitto, influxd):
    config = load_config(environ={}, overrides={
        "data_dir": str(tmp_path / "hub"), "mqtt_url": mosquitto.url, "secure_cookies": False,
        "two_factor_roles": ""})
    config.data_dir.mkdir(parents=True)
    upgrade(config.resolved_database_url)
    engine = open_engine(config.resolved_database_url)
    with session_scope(engine) as session:
        seed_demo_site(session, gateway_id=DEMO_GATEWAY, clock=SystemClock(), channels=[
            {"channel_id": c.channel_id, "metric": c.metric, "unit": c.unit, "driver": c.driver,
             "asset_tag": c.asset_tag, "interval": c.interval} for c in CHANNELS])

    sqlite_store = open_store(config)
    influx_config = config.with_overrides(telemetry="influxdb", influx_url=influxd.url,
                                          influx_database=influxd.database)
    influx_store = open_store(influx_config)
    workers = [
        IngestWorker(config.with_overrides(mqtt_client_id="e2e-ingest-sqlite"), sqlite_store, DbResolver(engine)),
        IngestWorker(influx_config.with_overrides(mqtt_client_id="e2e-ingest-influx"), influx_store,
                     DbResolver(engine)),
    ]
    recorder = Recorder(mosquitto)
    gw_dir = tmp_path / "gateway"
    gw_dir.mkdir()
    (gw_dir / "gateway.toml").write_text(
        gateway_config_toml(gateway_id=DEMO_GATEWAY, broker_url=mosquitto.url, data_dir=gw_dir))
    gateway = None
    try:
        for w in workers:
            w.start()
        wait_for(recorder.subscribed.is_set, 10, "the recorder's subscription")
        wait_for(lambda: all(w.stats().subscribed for w in workers), 20, "ingest workers to subscribe")
        gateway = subprocess.Popen(
            [sys.executable, "-m", "wardlink.edge.cli", "run", "--config", str(gw_dir / "gateway.toml")],
            stdout=open(gw_dir / "gateway.log", "wb"), stderr=subprocess.STDOUT)
        channels = {c.channel_id for c in CHANNELS}

        def enough():
            seen = {}
            for channel, _, _ in recorder.snapshot():
                seen[channel] = seen.get(channel, 0) + 1
            return set(seen) == channels and min(seen.values()) >= 3

        wait_for(enough, 60, "three readings from every emulated channel")
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(timeout=30) == 0, (gw_dir / "gateway.log").read_text()[-3000:]
        published = recorder.snapshot()

        # Both stores hold exactly what the gateway published: nothing lost, nothing invented.
        for store in (sqlite_store, influx_store):
            wait_for(lambda: stored(store, published) == published, 30,
                     f"{type(store).__name__} to hold every published reading")
        assert all(value is not None for _, _, value in published), "an emulated sensor failed"

        # Physically plausible values show the bytes went through the real drivers.
        values = {}
        for channel, _ts, value in sorted(published, key=lambda r: r[1]):
            values[channel] = value
        assert 2.0 < values["fridge1.temp"] < 8.0
        assert values["fridge1.door"] in (0.0, 1.0)
        assert 90_000 < values["room.pressure"] < 110_000

        # The JSON API returns the newest published value of each channel, from either store.
        newest = {}
        for channel, ts, value in published:
            if channel not in newest or ts > newest[channel][0]:
                newest[channel] = (ts, value)
        for store in (sqlite_store, influx_store):
            client = api_client(config, store, engine)
            for tag in ("VF-0001", "VF-0002", "IPD-0001", "ENV-ICU-1"):
                body = client.get(f"/api/v1/assets/{tag}/readings/latest").get_json()
                rows = body["readings"] if isinstance(body, dict) else body
                assert rows, f"no readings for {tag}"
                for row in rows:
                    assert (row["ts_ms"], row["value"]) == newest[row["channel"]], (tag, row)
            start = min(ts for _, ts, _ in published)
            end = max(ts for _, ts, _ in published) + 1
            body = client.get("/api/v1/readings", query_string={
                "gateway": DEMO_GATEWAY, "channel": "dock1.current", "start": start, "end": end}).get_json()
            api_points = {("dock1.current", p["ts_ms"], p["value"]) for p in body["points"]}
            assert api_points == {r for r in published if r[0] == "dock1.current"}
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.kill()
            gateway.wait()
        recorder.close()
        for w in workers:
            w.stop()
        sqlite_store.close()
        influx_store.close()
        engine.dispose()
