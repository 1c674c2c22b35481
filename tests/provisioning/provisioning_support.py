"""Helpers for the provisioning tests: an MQTT peer that records what the broker does to it."""

from __future__ import annotations

import os
import shutil
import ssl
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from wardlink.provisioning.broker import find_dynsec_plugin

DEADLINE = 10.0


def need(tool: str, package: str) -> str:
    """Return the path of ``tool``; skip the test without it (fail under CI, where it must exist)."""
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} not found; install it with: apt-get install {package}"
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def dynsec_plugin() -> Path:
    """Return the installed plugin path (the broker tests need Mosquitto 2 with the plugin)."""
    plugin = find_dynsec_plugin()
    assert plugin is not None, "mosquitto_dynamic_security.so not found under /usr/lib/*/ (apt-get install mosquitto)"
    return plugin


class Peer:
    """One MQTT 3.1.1 client that logs in and records CONNACKs, SUBACKs, messages, disconnects.

    It never reconnects by itself, so a refused or kicked login stays visible.
    """

    def __init__(self, host: str, port: int, username: str | None, password: str | None, *,
                 client_id: str | None = None, ca_file: Path | None = None, clean: bool = True) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"t-{uuid.uuid4().hex[:10]}",
                                  clean_session=clean, protocol=mqtt.MQTTv311, reconnect_on_failure=False)
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file), cert_reqs=ssl.CERT_REQUIRED,
                                tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.host, self.port = host, port
        self.cond = threading.Condition()
        self.connacks: list = []
        self.subacks: dict[int, list] = {}
        self.messages: list[tuple[str, bytes]] = []
        self.disconnects: list = []
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self.cond:
            self.connacks.append(reason_code)
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self.cond:
            self.subacks[mid] = list(reason_codes)
            self.cond.notify_all()

    def _on_message(self, client, userdata, message):
        with self.cond:
            self.messages.append((message.topic, message.payload))
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self.cond:
            self.disconnects.append(reason_code)
            self.cond.notify_all()

    def wait(self, predicate, what: str, timeout: float = DEADLINE):
        """Wait until ``predicate()`` is truthy and return it; fail naming ``what``."""
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            return predicate()

    def connect(self):
        """Connect, wait for the CONNACK and return its reason code."""
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        return self.wait(lambda: self.connacks[-1] if self.connacks else None, "CONNACK")

    def login(self) -> Peer:
        """Connect and require the broker to accept the login."""
        code = self.connect()
        assert not code.is_failure, f"login refused: {code}"
        return self

    def subscribe(self, topic: str) -> int:
        """Subscribe at QoS 1 and return the SUBACK return code (0x80 = refused)."""
        _, mid = self.client.subscribe(topic, qos=1)
        codes = self.wait(lambda: self.subacks.get(mid), f"SUBACK for {topic}")
        return codes[0].value

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the PUBACK (the broker acks even what it drops)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(DEADLINE)

    def payloads(self, topic: str) -> list[bytes]:
        """Return the payloads received on ``topic``."""
        with self.cond:
            return [p for t, p in self.messages if t == topic]

    def wait_message(self, topic: str, payload: bytes) -> None:
        """Wait until ``payload`` arrived on ``topic``."""
        self.wait(lambda: payload in [p for t, p in self.messages if t == topic], f"{payload!r} on {topic}")

    def wait_disconnected(self):
        """Wait until the broker closed the connection; return the reason."""
        return self.wait(lambda: self.disconnects[-1] if self.disconnects else None, "disconnection")

    def close(self) -> None:
        """Disconnect and stop the network thread; idempotent."""
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


class Peers:
    """Make peers and close them all at the end of a test."""

    def __init__(self) -> None:
        self.made: list[Peer] = []

    def __call__(self, *args, **kwargs) -> Peer:
        peer = Peer(*args, **kwargs)
        self.made.append(peer)
        return peer

    def close(self) -> None:
        """Close every peer."""
        for peer in self.made:
            peer.close()


def wait_until(predicate, timeout: float, what: str, pause: float = 0.02):
    """Poll ``predicate`` until truthy and return it; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(pause)
