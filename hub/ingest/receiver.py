"""The MQTT side of an ingest worker: connect, subscribe, receive, acknowledge, ask for re-sends.

One paho client through the shared adapter :mod:`wardlink.mqtt` (QoS 1, persistent session,
stable client id, ``manual_ack=True``). Its network thread decodes each PUBLISH
(:mod:`wardlink.hub.ingest.decode`) and queues it in the batcher; :meth:`Receiver.ack` sends the
PUBACKs once the committer is done. Every (re)connection is a new *generation*: a message held
from an earlier connection is never acknowledged on a later one, because its packet id may name
another message there.

Shared subscriptions do not survive a broker restart (Mosquitto 2.0 restores the session, not
its $share filters): what gateways publish before we subscribe again matches nothing and is
acknowledged and dropped by the broker. So a worker in a group remembers the newest telemetry
batch it saw of each gateway and, once subscribed after a lost connection, asks each gateway to
re-send from there (``resend-from``). Re-sent readings are duplicates on the wire only: the
store's key absorbs them. Gaps in batch sequences are asked for the same way
(:mod:`wardlink.hub.ingest.sequence`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from wardlink.hub.config import HubConfig
from wardlink.hub.errors import ConfigError, StoreError
from wardlink.hub.ingest.batcher import Batcher
from wardlink.hub.ingest.counters import IngestContext
from wardlink.hub.ingest.decode import KINDS, Decoder, topic_of
from wardlink.hub.ingest.items import Item, ItemKind, LastBatch
from wardlink.hub.ingest.records import IngestRecords
from wardlink.hub.ingest.sequence import SequencePolicy
from wardlink import mqtt as mqtt_adapter
from wardlink import protocol
from wardlink.protocol import Kind
from wardlink.retry import OutageLog

log = logging.getLogger(__name__)


def broker_address(url: str) -> tuple[str, int, bool]:
    """Return (host, port, tls) for an ``mqtt://`` or ``mqtts://`` URL."""
    try:
        parsed = mqtt_adapter.BrokerURL.parse(url)
    except mqtt_adapter.MQTTURLError as exc:
        raise ConfigError(f"mqtt_url: {exc}") from None
    return parsed.host, parsed.port, parsed.tls


def mqtt_client(config: HubConfig, client_id: str, *, clean_session: bool, manual_ack: bool = False) -> mqtt.Client:
    """Return a paho client of the hub for ``client_id``: its login, TLS and reconnect delays (1-30 s)."""
    _, _, tls = broker_address(config.mqtt_url)
    username = config.mqtt_username or None
    return mqtt_adapter.make_client(
        client_id, clean_session=clean_session, manual_ack=manual_ack, username=username,
        password=config.read_secret("mqtt_password_file") if username else None,
        tls=mqtt_adapter.TLS(ca_file=config.mqtt_ca_file or None) if tls else None)


class Receiver:
    """Subscribes, decodes into the batcher, acknowledges, and sends resend-from commands."""

    def __init__(self, ctx: IngestContext, config: HubConfig, decoder: Decoder, batcher: Batcher, *,
                 keepalive_s: int, sequence_policy: SequencePolicy) -> None:
        self._ctx = ctx
        self._config = config
        self._decoder = decoder
        self._batcher = batcher
        self._keepalive = keepalive_s
        self._host, self._port, _ = broker_address(config.mqtt_url)
        where = f"[{self._host}]:{self._port}" if ":" in self._host else f"{self._host}:{self._port}"
        self.broker = where
        # Connection failures are logged at a bounded rate, with the broker's address and the reason.
        self.outage = OutageLog(log, f"ingest {ctx.client_id}: the broker at {where}", clock=ctx.clock)
        self._connected_before = False
        group = config.mqtt_share_group or None
        self._subscriptions = [(protocol.subscription(k, group=group if k is not Kind.STATUS else None), 1)
                               for k in KINDS]
        # Retained status is never delivered through a shared subscription, so every worker
        # subscribes to status directly. Plain telemetry/events filters left in the persistent
        # session from a run without a group would deliver every message twice: drop them.
        self._stale_filters = [protocol.subscription(k) for k in (Kind.TELEMETRY, Kind.EVENTS)] if group else []
        self._resend_after_reconnect = group is not None
        self._resend_due: dict[str, LastBatch] = {}
        self._sequence_policy = sequence_policy
        self._next_sequence_check = 0.0
        self._ack_lock = threading.Lock()
        self._generation = 0
        self.connected = False
        self.subscribed = False  # the broker acknowledged every subscription of this connection
        self._client: mqtt.Client | None = None
        self._left = threading.Event()  # set once the broker confirmed leave_group()'s UNSUBSCRIBE
        self._leaving = False

    # ------------------------------------------------------------------ connection

    def start(self) -> None:
        # clean_session=False is the point: the broker keeps our subscriptions and every
        # unacknowledged or queued message while we are away.
        client = mqtt_client(self._config, self._ctx.client_id, clean_session=False, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_message = self._on_message
        self._client = client
        mqtt_adapter.start(client, self._host, self._port, self._keepalive)
        log.info("ingest %s: connecting to the broker at %s", self._ctx.client_id, self.broker)

    def stop(self) -> None:
        if self._client is not None:
            mqtt_adapter.stop(self._client)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._broker_failed(f"the broker refused the connection: {reason_code}")
            return
        with self._ack_lock:
            self._generation += 1
            self.connected = True
            self.subscribed = False
        if self._connected_before:
            with self._ctx.counters.lock:
                self._ctx.counters.reconnects += 1
        self._connected_before = True
        self.outage.recovered()
        log.info("ingest %s: connected to the broker at %s (session present: %s)", self._ctx.client_id, self.broker,
                 flags.session_present)
        if self._leaving:
            self._leave(client)  # being retired (wardlink.hub.ingest.retire): take no new share
            return
        if self._stale_filters:
            client.unsubscribe(self._stale_filters)
        client.subscribe(self._subscriptions)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        with self._ack_lock:
            # Packet ids of messages held now belong to the dead connection.
            self._generation += 1
            self.connected = False
            self.subscribed = False
        stopping = self._ctx.stopping.is_set()
        if self._resend_after_reconnect and not stopping:
            self._resend_due.update(self._decoder.last_batch)
        if not stopping:
            self._broker_failed(f"connection lost ({reason_code})")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this from inside its ``except OSError`` around the connection attempt.
        exc = sys.exc_info()[1]
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else "the connection attempt failed"
        self._broker_failed(reason.lower() if isinstance(exc, OSError) and exc.strerror else reason)

    def _broker_failed(self, reason: str) -> None:
        """Record a failed or lost connection: the last error, and a log line at a bounded rate."""
        self._ctx.error(f"the broker at {self.broker}: {reason}", log_it=False)
        self.outage.failed(reason)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        refused = [f for (f, _), rc in zip(self._subscriptions, reason_codes) if rc.is_failure]
        if refused:
            self._ctx.error(f"broker refused subscription(s) {', '.join(refused)} (check the hub's ACL)")
            return
        # The stale filters were unsubscribed before this SUBSCRIBE, and the broker handles one
        # client's packets in order: from here on, deliveries follow the new subscriptions only.
        with self._ack_lock:
            self.subscribed = True
        self._request_resends(client)

    def leave_group(self, timeout: float) -> bool:
        """Unsubscribe from every filter (the group's share included); True once the broker confirmed."""
        self._leaving = True
        client = self._client
        if client is not None and self.connected:
            self._leave(client)
        return self._left.wait(timeout)

    def _leave(self, client: mqtt.Client) -> None:
        self._left.clear()
        client.unsubscribe([f for f, _ in self._subscriptions] + self._stale_filters)

    def _on_unsubscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any,
                        properties: Any) -> None:
        if self._leaving:
            self._left.set()

    # ------------------------------------------------------------------ messages

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._ctx.stopping.is_set():
            return  # not taken in, not acknowledged: the broker keeps it for the next start
        received_ms = self._ctx.now_ms()
        generation = self._generation
        try:
            item = self._decoder.decode(msg, generation, received_ms)
        except Exception as exc:  # a bug; an exception here would end paho's network thread
            log.exception("ingest %s: cannot handle a message on %r", self._ctx.client_id, topic_of(msg))
            item = self._decoder.internal_error(msg, generation, received_ms, exc)
        with self._ctx.counters.lock:
            self._ctx.counters.received += 1
            if item.kind is ItemKind.TELEMETRY:
                self._ctx.counters.readings_received += item.weight
        self._batcher.put(item)

    def ack(self, items: list[Item]) -> None:
        """Acknowledge ``items`` (in arrival order) that arrived on the current connection."""
        acked = 0
        client = self._client
        with self._ack_lock:
            generation, connected = self._generation, self.connected
            for item in items:
                d = item.delivery
                if d.qos == 0 or client is None:
                    continue
                if d.generation != generation or not connected:
                    continue  # re-delivered under a new packet id after the reconnect
                if client.ack(d.mid, d.qos) == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    acked += 1
        self._batcher.acknowledged(len(items), acked)

    # ------------------------------------------------------------------ resend-from

    def _request_resends(self, client: mqtt.Client) -> None:
        """Ask every gateway seen before the connection was lost to re-send what followed."""
        due, self._resend_due = self._resend_due, {}
        if not due:
            return
        now = self._ctx.now_ms()
        for gateway, last in due.items():
            command = protocol.Command("resend-from", str(uuid.uuid4()), now, {"seq": last.seq + 1})
            client.publish(protocol.topic(gateway, Kind.CMD, "resend-from"), protocol.encode(command), qos=1)
        self._count_resends(len(due))
        log.info("ingest %s: subscribed again after a lost connection; asked %d gateway(s) to re-send "
                 "what they published since (resend-from)", self._ctx.client_id, len(due))

    def check_sequences(self, records: IngestRecords) -> None:
        """Every few seconds, send the resend-from requests that gaps in batch sequences call for."""
        client = self._client
        if time.monotonic() < self._next_sequence_check or client is None or not self.subscribed:
            return
        policy = self._sequence_policy
        self._next_sequence_check = time.monotonic() + min(5.0, policy.grace_s / 2, policy.interval_s / 2)
        try:
            # Wall-clock time, shared by every worker of a group: it paces real resends.
            due = records.check_sequences(round(time.time() * 1000), policy)
        except StoreError as exc:
            self._ctx.error(f"cannot check batch sequences: {exc}")
            return
        now = self._ctx.now_ms()
        for req in due:
            command = protocol.Command("resend-from", str(uuid.uuid4()), now,
                                       {"seq": req.seq, "until": req.until, "boot": req.boot})
            client.publish(protocol.topic(req.gateway, Kind.CMD, "resend-from"), protocol.encode(command), qos=1)
            log.info("ingest %s: %d batch(es) of %s (boot %s) missing since seq %d: asked for them again "
                     "(resend-from %d..%d)", self._ctx.client_id, req.missing, req.gateway, req.boot, req.seq,
                     req.seq, req.until)
        self._count_resends(len(due))

    def _count_resends(self, count: int) -> None:
        with self._ctx.counters.lock:
            self._ctx.counters.resend_requests += count
