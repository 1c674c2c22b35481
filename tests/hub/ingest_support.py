"""Helpers for the ingest tests: a gateway-side publisher, payload builders and waiting."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable

import paho.mqtt.client as mqtt
from waiting import wait_for
from paho.mqtt.enums import CallbackAPIVersion

from sqlalchemy import Engine

from wardlink.hub.config import HubConfig, load_config
from wardlink.hub.db import open_engine, upgrade
from wardlink import protocol
from wardlink.protocol import Event, EventBatch, Reading, Status, TelemetryBatch

T0 = 1_767_225_600_000  # the ManualClock's default start, 2026-01-01T00:00:00Z


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> object:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    return wait_for(predicate, timeout, what, interval=0.01)


_template: Path | None = None
_template_lock = threading.Lock()


def _migrated_template() -> Path:
    """Return an SQLite file migrated to the newest revision, built once per test process."""
    global _template
    with _template_lock:
        if _template is None:
            folder = Path(tempfile.mkdtemp(prefix="wardlink-ingest-template-"))
            atexit.register(shutil.rmtree, folder, True)
            path = folder / "template.db"
            upgrade(f"sqlite:///{path}")
            engine = open_engine(f"sqlite:///{path}")
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            _template = path
        return _template


def migrated_engine(url: str) -> Engine:
    """Open the relational store at ``url`` migrated to the newest revision, as an operator's
    ``wardlink db upgrade`` leaves it before ingest starts; a new SQLite file is a copy of a
    template migrated once per test process."""
    prefix = "sqlite:///"
    path = Path(url[len(prefix):]) if url.startswith(prefix) else None
    if path is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_migrated_template(), path)
    else:
        upgrade(url)
    return open_engine(url)


def hub_config(tmp_path, broker_url: str, **overrides) -> HubConfig:
    """Return a hub config with its data directory and relational store under ``tmp_path``."""
    values = {"data_dir": str(tmp_path), "mqtt_url": broker_url, "mqtt_client_id": "hub-ingest-test",
              "database_url": f"sqlite:///{tmp_path / 'wardlink.db'}"}
    values.update(overrides)
    return load_config(environ={}, overrides=values)


class Publisher:
    """A gateway-like MQTT client that publishes with QoS 1 and waits for the broker's PUBACK."""

    def __init__(self, host: str, port: int, client_id: str = "test-gateway", *,
                 will: tuple[str, bytes] | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                                  protocol=mqtt.MQTTv311)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self._connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: self._connected.set()
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise AssertionError("test publisher could not connect to the broker")

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False, wait: bool = True):
        """Publish one message with QoS 1."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if wait:
            info.wait_for_publish(10)
        return info

    def publish_all(self, messages: Iterable[tuple[str, bytes]]) -> int:
        """Publish many messages, then wait for every PUBACK; return how many."""
        infos = [self.client.publish(t, p, qos=1) for t, p in messages]
        for info in infos:
            info.wait_for_publish(30)
        return len(infos)

    def drop(self) -> None:
        """Close the socket without DISCONNECT, as a crashed gateway would (the broker sends the Will)."""
        self.client.loop_stop()
        self.client.socket().close()

    def close(self) -> None:
        """Disconnect cleanly."""
        self.client.disconnect()
        self.client.loop_stop()


def telemetry(gateway: str, seq: int, readings: Iterable[tuple], *, boot: str = "boot-1",
              late: bool = False) -> tuple[str, bytes]:
    """Return (topic, payload) of a telemetry batch; readings are (channel, ts, value[, quality])."""
    batch = TelemetryBatch(gateway, boot, seq, tuple(Reading(*r) for r in readings), late)
    return protocol.topic(gateway, "telemetry"), protocol.encode(batch)


def events(gateway: str, seq: int, evs: Iterable[Event], *, boot: str = "boot-1") -> tuple[str, bytes]:
    """Return (topic, payload) of an event batch."""
    return protocol.topic(gateway, "events"), protocol.encode(EventBatch(gateway, boot, seq, tuple(evs)))


def status(gateway: str, state: str = "online", *, boot: str = "boot-1", **fields) -> tuple[str, bytes]:
    """Return (topic, payload) of a status message."""
    return protocol.topic(gateway, "status"), protocol.encode(Status(gateway, state, boot, **fields))


def readings(channel: str, start_ms: int, count: int, step_ms: int = 1000, base: float = 4.0) -> list[tuple]:
    """Return ``count`` readings of one channel, ``step_ms`` apart."""
    return [(channel, start_ms + i * step_ms, base + (i % 10) / 10) for i in range(count)]
