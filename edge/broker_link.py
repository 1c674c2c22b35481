"""The forwarder's MQTT client: paho's settings, and paho's callbacks handed to the asyncio loop.

paho-mqtt runs its network loop on its own thread (``loop_start``); every paho callback is
handed to the asyncio loop with ``call_soon_threadsafe``, so the forwarder's state lives on the
loop thread and needs no locks. Reconnect delays come from a backoff with jitter.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

import paho.mqtt.client as mqtt

from wardlink import mqtt as mqtt_adapter
from wardlink.mqtt import TLS, Will
from wardlink.retry import Backoff

from wardlink.edge.config import BrokerConfig
from wardlink.edge.credentials import Credentials

log = logging.getLogger(__name__)


def broker_tls(broker: BrokerConfig) -> TLS | None:
    """Return the TLS settings for ``broker`` (None for mqtt://)."""
    if not broker.tls:
        return None
    return TLS(ca_file=str(broker.ca_file) if broker.ca_file else None,
               cert_file=str(broker.cert_file) if broker.cert_file else None,
               key_file=str(broker.key_file) if broker.key_file else None)



class BrokerLink:
    """Build the paho client of one gateway and pass its callbacks to handlers on the loop thread."""

    def __init__(
        self,
        *,
        client_id: str,
        broker: BrokerConfig,
        credentials: Credentials | None,
        will: Will,
        max_inflight: int,
        subscriptions: list[tuple[str, int]],
        backoff: Backoff,
        on_connected: Callable[[bool], None],
        on_disconnected: Callable[[str], None],
        on_connect_failed: Callable[[], None],
        on_ack: Callable[[int], None],
        on_message: Callable[[str, bytes], None],
    ) -> None:
        self.client_id = client_id
        self.broker = broker
        self.credentials = credentials
        self.will = will
        self.max_inflight = max_inflight
        self.subscriptions = subscriptions
        self.backoff = backoff
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.on_connect_failed = on_connect_failed
        self.on_ack = on_ack
        self.on_message = on_message
        #: The delay before the next reconnect attempt (s).
        self.next_delay = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None

    def make_client(self) -> mqtt.Client:
        """Return a paho client with a persistent session, the will and our callbacks."""
        self.loop = asyncio.get_running_loop()
        delay = self.backoff.next()
        self.next_delay = delay
        creds = self.credentials
        client = mqtt_adapter.make_client(
            self.client_id,
            # paho would otherwise start clean and the broker would forget our session.
            clean_session=False,
            username=creds.username if creds is not None else None,
            password=creds.password if creds is not None else None,
            tls=broker_tls(self.broker),
            will=self.will,
            reconnect_delay=(delay, delay),
        )
        # Our own bound (max_inflight) limits telemetry; the margin leaves room for status,
        # event and command-result messages so paho never holds ours back in its own queue.
        client.max_inflight_messages_set(self.max_inflight + 32)
        client.max_queued_messages_set(0)
        client.on_connect = self._cb_connect
        client.on_disconnect = self._cb_disconnect
        client.on_connect_fail = self._cb_connect_fail
        client.on_publish = self._cb_publish
        client.on_message = self._cb_message
        client.on_subscribe = None
        return client

    # paho callbacks: network thread -> loop thread

    def _cb_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            log.error("broker %s refused the connection: %s%s", self.broker.url, reason_code,
                      " (check broker.credentials_file)" if "auth" in str(reason_code).lower() else "")
            return
        client.subscribe(self.subscriptions)
        self._call(self.on_connected, bool(flags.session_present))

    def _cb_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        self._set_next_delay(client)
        self._call(self.on_disconnected, str(reason_code))

    def _cb_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._set_next_delay(client)
        self._call(self.on_connect_failed)

    def _cb_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        self._call(self.on_ack, mid)

    def _cb_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._call(self.on_message, message.topic, bytes(message.payload))

    def _set_next_delay(self, client: mqtt.Client) -> None:
        # paho's own reconnect delay doubles without jitter; feeding it ours each time gives
        # exponential backoff with jitter, so a ward of gateways does not reconnect in lockstep.
        delay = self.backoff.next()
        self.next_delay = delay
        client.reconnect_delay_set(delay, delay)  # type: ignore[arg-type]  # paho takes float seconds

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # loop closed between the check and the call (shutdown)
                pass
