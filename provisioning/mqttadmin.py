"""A short-lived administrative MQTT connection: connect, request/response, close.

Used to talk to the broker's ``$CONTROL`` API. MQTT 3.1.1 is enough: the dynamic-security
plugin takes plain JSON on a topic and answers on ``.../response``, and matching answers to
requests goes through the plugin's own ``correlationData`` field, not MQTT 5 properties.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from wardlink.provisioning.errors import BrokerError, SettingError
from wardlink import mqtt as mqtt_adapter


def _check(rc: int, doing: str) -> None:
    try:
        mqtt_adapter.check(rc, doing)
    except mqtt_adapter.MQTTError as exc:
        raise BrokerError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker listens and how to reach it."""

    host: str
    port: int
    tls: bool = False
    ca_file: Path | None = None

    @classmethod
    def from_url(cls, url: str, ca_file: str | Path | None = None) -> BrokerAddress:
        """Parse ``mqtt://host[:port]`` or ``mqtts://host[:port]`` (the latter needs ``ca_file``)."""
        try:
            broker = mqtt_adapter.BrokerURL.parse(url)
        except mqtt_adapter.MQTTURLError:
            raise SettingError(f"broker url: must be mqtt://host[:port] or mqtts://host[:port], got {url!r}") from None
        parts = urlsplit(url)
        if parts.username or parts.password:
            raise SettingError("broker url: must not carry a user name or password")
        if broker.tls and not ca_file:
            raise SettingError("ca file: required for mqtts:// (the CA that signed the broker certificate)")
        return cls(broker.host, broker.port, broker.tls, Path(ca_file) if ca_file else None)


class AdminConnection:
    """One MQTT session for request/response exchanges; a context manager, close() is idempotent."""

    def __init__(self, address: BrokerAddress, username: str, password: str, *, timeout: float = 10.0) -> None:
        self.address = address
        self.timeout = timeout
        self._client = mqtt_adapter.make_client(
            f"wardlink-admin-{uuid.uuid4().hex[:12]}", clean_session=True, username=username, password=password,
            tls=mqtt_adapter.TLS(ca_file=str(address.ca_file)) if address.tls else None, reconnect_delay=None)
        self._cond = threading.Condition()
        self._subacks: dict[int, list] = {}
        self._messages: list[mqtt.MQTTMessage] = []
        self._open = False
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    # paho callbacks (network thread)
    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._cond:
            self._subacks[mid] = reason_codes
            self._cond.notify_all()

    def _on_message(self, client, userdata, message) -> None:
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()

    def _wait(self, predicate, what: str):
        with self._cond:
            if not self._cond.wait_for(predicate, self.timeout):
                raise BrokerError(f"broker {self.address.host}:{self.address.port}: no {what} "
                                  f"within {self.timeout:g} s")
            return predicate()

    def open(self) -> AdminConnection:
        """Connect and wait for the broker to accept the login."""
        if self._open:
            return self
        where = f"{self.address.host}:{self.address.port}"
        try:
            mqtt_adapter.connect(self._client, self.address.host, self.address.port, 30, timeout=self.timeout)
        except mqtt_adapter.MQTTUnreachable as exc:
            raise BrokerError(f"cannot connect to broker {where}: {exc.__cause__ or exc}") from None
        except mqtt_adapter.MQTTTimeout:
            raise BrokerError(f"broker {where}: no CONNACK within {self.timeout:g} s") from None
        except mqtt_adapter.MQTTRefused as exc:
            raise BrokerError(f"broker {where} refused the admin login: {exc.reason}") from None
        self._open = True
        return self

    def subscribe(self, topic: str) -> None:
        """Subscribe at QoS 1 and wait for the grant; raise BrokerError if refused."""
        result, mid = self._client.subscribe(topic, qos=1)
        _check(result, f"subscribe to {topic}")
        codes = self._wait(lambda: self._subacks.get(mid), f"SUBACK for {topic}")
        if any(c.is_failure for c in codes):
            raise BrokerError(f"broker refused subscription to {topic} (check the admin login's ACL)")

    def request(self, topic: str, payload: dict, response_topic: str, match) -> dict:
        """Publish ``payload`` as JSON and return the first JSON answer on ``response_topic`` that ``match`` accepts."""
        start = len(self._messages)
        info = self._client.publish(topic, json.dumps(payload), qos=1)
        _check(info.rc, f"publish to {topic}")

        def answer():
            for message in self._messages[start:]:
                if message.topic != response_topic:
                    continue
                try:
                    body = json.loads(message.payload)
                except ValueError:
                    continue
                if match(body):
                    return body
            return None

        return self._wait(answer, f"answer on {response_topic}")

    def close(self) -> None:
        """Disconnect; idempotent."""
        if not self._open:
            return
        self._open = False
        mqtt_adapter.stop(self._client)

    def __enter__(self) -> AdminConnection:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

