"""Helpers for the gateway tests: config files, a recording MQTT subscriber, the journal."""

from __future__ import annotations

import collections
import os
import sqlite3
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import paho.mqtt.client as mqtt
from waiting import wait_for
from paho.mqtt.enums import CallbackAPIVersion

from wardlink import protocol

GW = "gw-test-01"
ROOT = Path(__file__).resolve().parents[2]

#: Four channels on three emulated devices whose reads take no real time (I2C and GPIO).
FAST_CHANNELS = """
[[channels]]
id = "room.temp"
driver = "bme280"
quantity = "temperature"
interval = {interval}
emulate = {{ mean = 21.0, amplitude = 1.0, period_s = 600, noise = 0.05 }}

[[channels]]
id = "room.humidity"
driver = "bme280"
quantity = "humidity"
interval = {interval}

[[channels]]
id = "pump1.current"
driver = "ina219"
quantity = "current"
interval = {interval}
emulate = {{ mean = 0.4, amplitude = 0.1, period_s = 60 }}

[[channels]]
id = "fridge1.door"
driver = "digital_input"
params = {{ pin = 17 }}
quantity = "state"
interval = {interval}
emulate = {{ kind = "square", period_s = 20, duty = 0.2 }}
"""


def config_text(data_dir: Path, port: int, *, interval: float = 0.2, channels: str | None = None,
                buffer: str = "", forwarder: str = "", extra: str = "", health: float = 0,
                journal: bool = True) -> str:
    """Return a gateway TOML for the emulated backend talking to 127.0.0.1:port."""
    chans = FAST_CHANNELS.format(interval=interval) if channels is None else channels
    return textwrap.dedent(f"""\
        gateway_id = "{GW}"
        data_dir = "{data_dir}"
        [broker]
        url = "mqtt://127.0.0.1:{port}"
        keepalive = 10
        [hardware]
        backend = "emulated"
        emulation_seed = 7
        [buffer]
        commit_interval = 0.1
        journal = {"true" if journal else "false"}
        {buffer}
        [forwarder]
        batch_max_age = 0.2
        backoff_min = 0.05
        backoff_max = 0.5
        {forwarder}
        [health]
        interval = {health}
        """) + chans + extra


def write_config(tmp_path: Path, port: int, **kwargs) -> Path:
    """Write a config file into tmp_path and return its path."""
    path = tmp_path / "gateway.toml"
    path.write_text(config_text(tmp_path / "data", port, **kwargs))
    return path


def journal(data_dir: Path) -> set[tuple[str, int]]:
    """Return every (channel, ts) the gateway committed, from its journal database."""
    conn = sqlite3.connect(data_dir / "journal.db", timeout=10)
    try:
        return {(ch, ts) for ch, ts in conn.execute("SELECT channel, ts FROM readings")}
    finally:
        conn.close()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` after ``timeout`` seconds."""
    wait_for(predicate, timeout, what, interval)


class Sink:
    """A hub stand-in: subscribes (persistent session, QoS 1) and records and decodes everything."""

    def __init__(self, host: str, port: int, gateway_id: str = GW) -> None:
        self.gateway_id = gateway_id
        self.readings: collections.Counter[tuple[str, int]] = collections.Counter()
        self.arrival: dict[tuple[str, int], float] = {}
        self.arrival_wall: dict[tuple[str, int], float] = {}
        self.values: dict[tuple[str, int], tuple] = {}
        self.batches: list[protocol.TelemetryBatch] = []
        self.events: list[protocol.Event] = []
        self.statuses: list[protocol.Status] = []
        self.results: list[protocol.CommandResult] = []
        self.rejected: list[str] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sink-{uuid.uuid4().hex[:8]}",
                                  clean_session=False, protocol=mqtt.MQTTv311)
        self.client.reconnect_delay_set(0.05, 0.3)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("sink could not subscribe")

    def _on_connect(self, client, userdata, flags, reason, props):
        client.subscribe(f"wardlink/v1/{self.gateway_id}/#", qos=1)

    def _on_message(self, client, userdata, msg):
        now = time.monotonic()
        wall = time.time()
        if not msg.payload:
            return
        try:
            decoded = protocol.decode(msg.topic, msg.payload)
        except protocol.ProtocolError as exc:
            with self._lock:
                self.rejected.append(f"{msg.topic}: {exc}")
            return
        with self._lock:
            if isinstance(decoded, protocol.TelemetryBatch):
                self.batches.append(decoded)
                for r in decoded.readings:
                    key = (r.channel, r.ts_ms)
                    self.readings[key] += 1
                    self.arrival.setdefault(key, now)
                    self.arrival_wall.setdefault(key, wall)
                    self.values[key] = (r.value, r.quality, decoded.late)
            elif isinstance(decoded, protocol.EventBatch):
                self.events.extend(decoded.events)
            elif isinstance(decoded, protocol.Status):
                self.statuses.append(decoded)
            elif isinstance(decoded, protocol.CommandResult):
                self.results.append(decoded)

    def received(self) -> set[tuple[str, int]]:
        """Return the distinct (channel, ts) received so far."""
        with self._lock:
            return set(self.readings)

    def duplicates(self) -> int:
        """Return how many readings arrived more than once (extra copies)."""
        with self._lock:
            return sum(n - 1 for n in self.readings.values() if n > 1)

    def events_of(self, etype: str) -> list[protocol.Event]:
        """Return received events of one type."""
        with self._lock:
            return [e for e in self.events if e.type == etype]

    def wait_for(self, predicate: Callable[[Sink], bool], timeout: float, what: str) -> None:
        """Wait until ``predicate(sink)`` holds."""
        wait_until(lambda: predicate(self), timeout, what)

    def close(self) -> None:
        """Disconnect; idempotent."""
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None


def edge_env() -> dict[str, str]:
    """Return an environment for gateway subprocesses that imports this source tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


PYTHON = sys.executable

#: One DS18B20 fridge thermometer (its emulated conversion takes 750 ms of real time).
CHANNEL_DS = """
[[channels]]
id = "fridge1.temp"
driver = "ds18b20"
params = { device_id = "28-0000075a1b2c" }
quantity = "temperature"
interval = 5
emulate = { kind = "constant", value = 4.0 }
"""


def explain_missing(data_dir: Path, sink: Sink) -> str:
    """Describe journaled readings the sink never got: still buffered, or gone."""
    conn = sqlite3.connect(data_dir / "journal.db", timeout=10)
    rows = conn.execute("SELECT row_id, channel, ts FROM readings").fetchall()
    conn.close()
    received = sink.received()
    missing = [(rid, ch, ts) for rid, ch, ts in rows if (ch, ts) not in received]
    if not missing:
        return "nothing missing"
    conn = sqlite3.connect(data_dir / "buffer.db", timeout=10)
    buffered = {rid for (rid,) in conn.execute("SELECT id FROM readings")}
    conn.close()
    still = [m for m in missing if m[0] in buffered]
    return (f"{len(missing)} of {len(rows)} journaled readings never arrived; {len(still)} are still in the "
            f"buffer; row ids {[m[0] for m in missing[:20]]}")
