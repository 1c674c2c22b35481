"""The MQTT ingest worker: gateway messages in, committed rows out, acknowledgement last.

Data path and guarantees:

1. paho-mqtt's network thread receives each PUBLISH (QoS 1, persistent session, stable client
   id, ``manual_ack=True``), decodes it with :mod:`wardlink.protocol`, passing the injected
   clock's time so far-future timestamps are refused, and maps each reading's channel to its
   series through the resolver. Anything invalid becomes a dead letter.
2. The writer thread groups messages into store writes (at most ``max_batch_points`` readings,
   at most ``max_batch_delay_s`` old, or sooner when no new message arrives for
   ``idle_flush_s`` — the broker may be holding the rest until it sees acknowledgements).
   Store threads write the points to the telemetry store while the writer gathers the next
   batch (two batches in flight at most, both may be on the wire at once); then, batch by
   batch in arrival order, the writer records dead letters, events and gateway state in one
   relational transaction. The network thread stops reading the socket while two batches'
   worth of readings wait in the queue, so the broker keeps the rest.
3. Meanwhile the listener thread hands the same messages, in arrival order, to the listeners
   (the rules engine): everything decoded since its previous call, without waiting for the
   store write or the batch age bound, so an alarm is raised as soon as its reading arrives
   and an outage of the telemetry store does not hold alarms back. A listener whose database
   is down is retried with backoff, and its messages are not acknowledged meanwhile.
4. Only when both are done are the messages acknowledged (PUBACK), in the order they arrived.
   A message is never acknowledged before everything it carried is committed and the
   listeners have taken it, so a crash at any point means re-delivery, and re-delivery means
   rewriting identical points (idempotent) and the rules engine seeing readings it already
   evaluated (it treats them as duplicates).

While a store is down nothing is acknowledged: the writer retries the same batch with
exponential backoff, the broker stops sending once this client has its maximum of
unacknowledged messages in flight (Mosquitto ``max_inflight_messages``), queues the rest in the
persistent session, and ingest resumes by itself when the store answers again.

A batch the store *refuses* (not a transient failure) is split per message; each refused
message becomes a ``store_rejected`` dead letter and is acknowledged, so one poisonous message
cannot block a gateway forever.

After a reconnect the broker re-delivers unacknowledged messages under new packet ids. Messages
still held from the old connection are committed (harmless) but never acknowledged on the new
one: a stale packet id could acknowledge a different message.

Time: message timestamps and ``received_ms`` come from the injected clock; batching and
backoff delays are real elapsed time, because they pace real I/O.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from operator import itemgetter
from typing import Any, Callable, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from wardlink.hub.config import HubConfig
from wardlink.hub.errors import ConfigError, StoreError
from wardlink.hub.ingest.deadletter import (
    DEFAULT_PAYLOAD_LIMIT,
    INTERNAL_ERROR,
    LISTENER_REJECTED,
    STORE_REJECTED,
    DeadLetter,
    storable,
)
from wardlink.hub.ingest.events import rows_for_batch
from wardlink.hub.ingest.gateways import GatewayTracker
from wardlink.hub.ingest.isolate import is_data_error
from wardlink.hub.ingest.records import IngestRecords
from wardlink.hub.ingest.resolver import Resolver, ResolverError, series_of
from wardlink.hub.ingest.sequence import SequencePolicy, observations
from wardlink.hub.telemetry.model import InvalidPoint, Point, StoreRejected, StoreUnavailable, TelemetryStore
from wardlink import mqtt as mqtt_adapter
from wardlink import protocol
from wardlink.clock import Clock, SystemClock
from wardlink.protocol import EventBatch, Kind, ProtocolError, Status, TelemetryBatch
from wardlink.retry import Backoff, RetryAborted, retry

log = logging.getLogger(__name__)

_KINDS = (Kind.TELEMETRY, Kind.EVENTS, Kind.STATUS)
_LISTENED = frozenset(k.value for k in _KINDS)  # item kinds handed to listeners
_DECODERS = {
    Kind.TELEMETRY: protocol.decode_telemetry,
    Kind.EVENTS: protocol.decode_events,
}


@dataclass(frozen=True, slots=True)
class IngestStats:
    """A snapshot of an ingest worker's counters, for a status page."""

    client_id: str
    connected: bool
    received: int  # messages delivered by the broker, re-deliveries included
    telemetry_batches: int
    event_batches: int
    status_messages: int
    ignored: int  # valid messages of a kind ingest does not handle
    points_written: int
    dead_lettered: int
    acked: int
    store_errors: int
    pending: int  # received, not yet acknowledged
    last_error: str | None
    last_error_ms: int | None
    started_ms: int | None
    last_commit_ms: int | None
    subscribed: bool = False  # the broker acknowledged every subscription of this connection
    resend_requests: int = 0  # resend-from commands this worker sent (gaps, reconnects)


@dataclass(slots=True, eq=False)
class _Item:
    """One received message on its way through the writer."""

    mid: int
    qos: int
    generation: int
    received_ms: int
    topic: str
    payload: bytes
    kind: str  # telemetry | events | status | dead | ignored
    message: Any = None
    weight: int = 1  # readings it carries, for batch sizing
    queued_at: float = 0.0  # time.monotonic() when it was queued, for the batch age bound
    last_ts_ms: int | None = None  # newest reading it carries
    dead: DeadLetter | None = None
    points: list[Point] | None = None
    event_rows: list[dict] | None = None
    written: bool = False
    tracked: bool = False
    listened: bool = False  # the listeners have taken it (always true for kinds they do not get)
    notes: list[dict] = field(default_factory=list)


class _Counters:
    __slots__ = ("lock", "received", "telemetry_batches", "event_batches", "status_messages", "ignored",
                 "points_written", "dead_lettered", "acked", "store_errors", "last_error", "last_error_ms",
                 "started_ms", "last_commit_ms")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        for name in self.__slots__[1:]:
            setattr(self, name, 0)
        self.last_error = self.last_error_ms = self.started_ms = self.last_commit_ms = None


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


class IngestWorker:
    """Subscribe to gateway telemetry, events and status; commit, then acknowledge.

    ``records`` defaults to the ingest tables in ``config.resolved_database_url``. Lifecycle:
    :meth:`start` returns once the threads run (the broker connection is made, and re-made,
    in the background); :meth:`stop` is idempotent; :meth:`run_forever` blocks until stopped.
    """

    def __init__(
        self,
        config: HubConfig,
        store: TelemetryStore,
        resolver: Resolver,
        clock: Clock | None = None,
        *,
        records: IngestRecords | None = None,
        max_batch_points: int = 10_000,
        max_batch_delay_s: float = 0.2,
        idle_flush_s: float = 0.01,
        max_pending_messages: int = 20_000,
        max_pending_points: int | None = None,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
        max_future_ms: int = protocol.DEFAULT_MAX_FUTURE_MS,
        dead_letter_payload_limit: int = DEFAULT_PAYLOAD_LIMIT,
        stats_interval_s: float = 5.0,
        keepalive_s: int = 30,
        listeners: Sequence[Any] = (),
        tune_collector: bool = True,
        sequence_policy: SequencePolicy | None = None,
    ) -> None:
        if max_batch_points < 1:
            raise ConfigError(f"max_batch_points: must be >= 1, got {max_batch_points}")
        if max_batch_delay_s <= 0 or idle_flush_s <= 0:
            raise ConfigError("max_batch_delay_s and idle_flush_s: must be > 0")
        if max_pending_points is None:
            max_pending_points = 2 * max_batch_points
        if max_pending_points < max_batch_points:
            raise ConfigError(f"max_pending_points: must be >= max_batch_points ({max_batch_points}), "
                              f"got {max_pending_points}")
        self.config = config
        self.store = store
        self.resolver = resolver
        self.clock = clock or SystemClock()
        self.client_id = config.mqtt_client_id
        if not self.client_id:
            raise ConfigError("mqtt_client_id: required (a persistent session needs a stable id)")
        self._host, self._port, self._tls = broker_address(config.mqtt_url)
        self._records = records
        self._own_engine = False
        self._max_points = max_batch_points
        self._max_delay = max_batch_delay_s
        self._idle_flush = idle_flush_s
        self._max_pending = max_pending_messages
        self._max_pending_points = max_pending_points
        self._retry_initial = retry_initial_s
        self._retry_max = retry_max_s
        self._max_future = max_future_ms
        self._dl_limit = dead_letter_payload_limit
        self._stats_interval = stats_interval_s
        self._keepalive = keepalive_s
        self._listeners = tuple(listeners)
        self._tune_collector = tune_collector
        # Gaps in each gateway's batch sequence are asked for again (wardlink.hub.ingest.sequence).
        self._sequence_policy = sequence_policy or SequencePolicy()
        self._next_sequence_check = 0.0
        group = config.mqtt_share_group or None
        self._subscriptions = [(protocol.subscription(k, group=group if k is not Kind.STATUS else None), 1)
                               for k in _KINDS]
        # Retained status is never delivered through a shared subscription, so every worker
        # subscribes to status directly. Plain telemetry/events filters left in the persistent
        # session from a run without a group would deliver every message twice: drop them.
        self._stale_filters = [protocol.subscription(k) for k in (Kind.TELEMETRY, Kind.EVENTS)] if group else []
        self._tracker = GatewayTracker(track_gaps=group is None)
        # Shared subscriptions do not survive a broker restart (Mosquitto 2.0 restores the
        # session, not its $share filters): what gateways publish before we subscribe again
        # matches nothing and is acknowledged and dropped by the broker. So a worker in a group
        # remembers the newest telemetry batch it saw of each gateway and, once subscribed after
        # a lost connection, asks each gateway to re-send from there (``resend-from``). Re-sent
        # readings are duplicates on the wire only: the store's key absorbs them.
        self._resend_after_reconnect = group is not None
        self._last_batch: dict[str, tuple[str, int]] = {}  # gateway -> (boot, newest seq seen)
        self._resend_due: dict[str, tuple[str, int]] = {}
        self._resend_commands = 0
        # (gateway, channel) -> (resolver answer, measurement, tags, span or None)
        self._series_memo: dict[tuple[str, str], tuple[Any, str, tuple, tuple | None]] = {}
        self._counters = _Counters()
        lock = threading.RLock()
        self._cond = threading.Condition(lock)  # the queues changed (or stopping)
        # The listeners took messages: the writer waiting to acknowledge them wakes. Kept apart
        # from _cond, whose wake-ups the writer reads as "new message" while it gathers a batch.
        self._listened = threading.Condition(lock)
        self._queue: deque[_Item] = deque()
        self._queued_weight = 0
        self._listen_queue: deque[_Item] = deque()  # the same messages, for the listener thread
        self._unacked = 0
        self._unacked_since: deque[int] = deque()  # received_ms of each unacknowledged message, oldest first
        self._retrying_since: dict[str, int] = {}  # "stores"/"listeners" -> when its retries began (ms)
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._connected = False
        self._subscribed = False
        self._stopping = threading.Event()
        self._abort = threading.Event()
        self._stopped = threading.Event()
        self._drain = True
        self._writer: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._store_pool: ThreadPoolExecutor | None = None
        self._client: mqtt.Client | None = None
        self._started = False
        self._next_stats = 0.0
        self._left = threading.Event()  # set once the broker confirmed leave_group()'s UNSUBSCRIBE
        self._leaving = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> IngestWorker:
        """Open the records, start the writer thread and connect to the broker in the background."""
        if self._started:
            return self
        if self._records is None:
            from wardlink.hub.db.engine import open_engine

            self._records = IngestRecords(open_engine(self.config.resolved_database_url))
            self._own_engine = True
        self._tracker.load(self._records.gateways())
        self._counters.started_ms = self._now_ms()
        self._client = self._make_client()
        self._started = True
        self._stopped.clear()
        self._stopping.clear()
        self._abort.clear()
        self._drain = True
        with self._cond:
            # Anything left from an earlier run was never acknowledged: the broker sends it again.
            self._queue.clear()
            self._listen_queue.clear()
            self._queued_weight = self._unacked = 0
            self._unacked_since.clear()
            self._retrying_since.clear()
        if self._tune_collector:
            _tune_collector()
        # One store thread per batch in flight: while the store takes in one batch the next
        # is already formatted and sent, so the server never waits for this process.
        self._store_pool = ThreadPoolExecutor(max_workers=_IN_FLIGHT,
                                              thread_name_prefix=f"ingest-store[{self.client_id}]")
        self._writer = threading.Thread(target=self._write_loop, name=f"ingest-writer[{self.client_id}]",
                                        daemon=True)
        self._writer.start()
        if self._listeners:
            self._listener = threading.Thread(target=self._listen_loop, name=f"ingest-listeners[{self.client_id}]",
                                              daemon=True)
            self._listener.start()
        mqtt_adapter.start(self._client, self._host, self._port, self._keepalive)
        log.info("ingest %s: connecting to %s:%d", self.client_id, self._host, self._port)
        return self

    def stop(self, *, drain: bool = True, timeout: float = 10.0) -> None:
        """Stop; with ``drain``, commit and acknowledge what is in hand first (for at most ``timeout`` s).

        Without ``drain`` (or when the store stays down) nothing more is acknowledged: the
        broker keeps those messages for the next start with the same client id.
        """
        if not self._started:
            return
        self._drain = drain
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if not drain:
            self._abort.set()
        writer = self._writer
        if writer is not None:
            writer.join(timeout)
            if writer.is_alive():
                self._abort.set()
                writer.join(10)
        listener = self._listener
        if listener is not None:
            with self._cond:
                self._cond.notify_all()
            listener.join(10)
            with self._listened:
                self._listened.notify_all()
        self._store_pool.shutdown(wait=not self._abort.is_set(), cancel_futures=True)
        client = self._client
        if client is not None:
            mqtt_adapter.stop(client)
        self._publish_final_stats()
        if self._own_engine:
            self._records.engine.dispose()  # reconnects by itself if started again
        self._started = False
        self._stopped.set()
        log.info("ingest %s: stopped", self.client_id)

    def run_forever(self) -> None:
        """Start (if needed) and block until :meth:`stop` is called from another thread or a signal handler."""
        self.start()
        self._stopped.wait()

    def __enter__(self) -> IngestWorker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def is_running(self) -> bool:
        """Return True while the worker is started and its writer thread is alive."""
        return self._started and self._writer is not None and self._writer.is_alive()

    @property
    def records(self) -> IngestRecords | None:
        """Return the relational records this worker writes (None before :meth:`start`)."""
        return self._records

    def stats(self) -> IngestStats:
        """Return a snapshot of the counters."""
        c = self._counters
        with c.lock:
            return IngestStats(
                self.client_id, self._connected, c.received, c.telemetry_batches, c.event_batches,
                c.status_messages, c.ignored, c.points_written, c.dead_lettered, c.acked, c.store_errors,
                self._unacked, c.last_error, c.last_error_ms, c.started_ms, c.last_commit_ms,
                self._subscribed, resend_requests=self._resend_commands)

    # ------------------------------------------------------------------ MQTT

    def _make_client(self) -> mqtt.Client:
        # clean_session=False is the point: the broker keeps our subscriptions and every
        # unacknowledged or queued message while we are away.
        client = mqtt_client(self.config, self.client_id, clean_session=False, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_message = self._on_message
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._error(f"broker refused the connection: {reason_code}")
            return
        with self._ack_lock:
            self._generation += 1
            self._connected = True
            self._subscribed = False
        log.info("ingest %s: connected (session present: %s)", self.client_id, flags.session_present)
        if self._leaving:
            self._leave(client)  # being retired (wardlink.hub.ingest.retire): take no new share
            return
        if self._stale_filters:
            client.unsubscribe(self._stale_filters)
        client.subscribe(self._subscriptions)

    def leave_group(self, timeout: float = 10.0) -> bool:
        """Unsubscribe from every filter (the group's share included) and keep running.

        Messages already queued for this client's session keep arriving and are committed and
        acknowledged as usual; no new ones are routed here. Return True once the broker has
        confirmed (False if it did not within ``timeout`` s). Used to retire a worker.
        """
        self._leaving = True
        client = self._client
        if client is not None and self._connected:
            self._leave(client)
        return self._left.wait(timeout)

    def _leave(self, client: mqtt.Client) -> None:
        self._left.clear()
        client.unsubscribe([f for f, _ in self._subscriptions] + self._stale_filters)

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if self._leaving:
            self._left.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [f for (f, _), rc in zip(self._subscriptions, reason_codes) if rc.is_failure]
        if refused:
            self._error(f"broker refused subscription(s) {', '.join(refused)} (check the hub's ACL)")
            return
        # The stale filters were unsubscribed before this SUBSCRIBE, and the broker handles one
        # client's packets in order: from here on, deliveries follow the new subscriptions only.
        with self._ack_lock:
            self._subscribed = True
        self._request_resends(client)

    def _request_resends(self, client: mqtt.Client) -> None:
        """Ask every gateway seen before the connection was lost to re-send what followed."""
        due, self._resend_due = self._resend_due, {}
        if not due:
            return
        now = self._now_ms()
        for gateway, (_boot, seq) in due.items():
            command = protocol.Command("resend-from", str(uuid.uuid4()), now, {"seq": seq + 1})
            client.publish(protocol.topic(gateway, Kind.CMD, "resend-from"), protocol.encode(command), qos=1)
        self._resend_commands += len(due)
        log.info("ingest %s: subscribed again after a lost connection; asked %d gateway(s) to re-send "
                 "what they published since (resend-from)", self.client_id, len(due))

    def _maybe_check_sequences(self) -> None:
        """Every few seconds, send the resend-from requests that gaps in batch sequences call for."""
        if time.monotonic() < self._next_sequence_check or self._records is None or not self._subscribed:
            return
        policy = self._sequence_policy
        self._next_sequence_check = time.monotonic() + min(5.0, policy.grace_s / 2, policy.interval_s / 2)
        try:
            # Wall-clock time, shared by every worker of a group: it paces real resends.
            due = self._records.check_sequences(round(time.time() * 1000), policy)
        except StoreError as exc:
            self._error(f"cannot check batch sequences: {exc}")
            return
        now = self._now_ms()
        for req in due:
            command = protocol.Command("resend-from", str(uuid.uuid4()), now,
                                       {"seq": req.seq, "until": req.until, "boot": req.boot})
            self._client.publish(protocol.topic(req.gateway, Kind.CMD, "resend-from"), protocol.encode(command),
                                 qos=1)
            log.info("ingest %s: %d batch(es) of %s (boot %s) missing since seq %d: asked for them again "
                     "(resend-from %d..%d)", self.client_id, req.missing, req.gateway, req.boot, req.seq,
                     req.seq, req.until)
        self._resend_commands += len(due)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._ack_lock:
            # Packet ids of messages held now belong to the dead connection.
            self._generation += 1
            self._connected = False
            self._subscribed = False
        if self._resend_after_reconnect and not self._stopping.is_set():
            self._resend_due.update(self._last_batch)
        if not self._stopping.is_set():
            self._error(f"disconnected from the broker: {reason_code}; reconnecting")

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        if self._stopping.is_set():
            return  # not taken in, not acknowledged: the broker keeps it for the next start
        received_ms = self._now_ms()
        try:
            item = self._decode(msg, received_ms)
        except Exception as exc:  # a bug; an exception here would end paho's network thread
            topic_name = _topic_of(msg)
            log.exception("ingest %s: cannot handle a message on %r", self.client_id, topic_name)
            item = _Item(msg.mid, msg.qos, self._generation, received_ms, topic_name, msg.payload, "dead")
            item.dead = DeadLetter.of(item.topic, msg.payload, reason=INTERNAL_ERROR, detail=repr(exc),
                                      received_ms=received_ms, limit=self._dl_limit)
        with self._counters.lock:
            self._counters.received += 1
        with self._cond:
            # Back-pressure: stop reading the socket (TCP pushes back, the broker keeps the rest)
            # until the writer catches up. Bounding the readings decoded ahead of the writer
            # bounds memory, and the objects the garbage collector walks on every full pass.
            # This is paho's network thread, which also sends the keep-alive pings: it waits
            # at most a quarter of the keep-alive per message, so a long store outage never
            # lets the broker drop the connection. While we wait nothing is acknowledged, so the
            # broker's in-flight window (max_inflight_messages) bounds what arrives meanwhile.
            deadline = time.monotonic() + self._keepalive / 4
            while ((len(self._queue) >= self._max_pending or self._queued_weight >= self._max_pending_points)
                   and not self._stopping.is_set()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(0.5, remaining))
            item.queued_at = time.monotonic()
            self._queue.append(item)
            if self._listeners and item.kind in _LISTENED:
                self._listen_queue.append(item)
            else:
                item.listened = True
            self._queued_weight += item.weight
            self._unacked += 1
            self._unacked_since.append(item.received_ms)
            self._cond.notify_all()

    def _decode(self, msg: mqtt.MQTTMessage, received_ms: int) -> _Item:
        payload = msg.payload
        topic_name = _topic_of(msg)
        item = _Item(msg.mid, msg.qos, self._generation, received_ms, topic_name, payload, "dead")
        gateway = None
        try:
            info = protocol.parse_topic(topic_name)
            gateway = info.gateway_id
            if info.kind not in _KINDS:
                item.kind = "ignored"
                return item
            if info.kind is Kind.STATUS:
                if not payload:
                    item.kind = "ignored"  # an operator cleared the retained status
                    return item
                item.message = protocol.decode_status(payload, gateway_id=gateway)
                _check_int64(item.message)
                item.kind = "status"
                return item
            item.message = _DECODERS[info.kind](payload, gateway_id=gateway, now_ms=received_ms,
                                                max_future_ms=self._max_future)
            _check_int64(item.message)
        except ProtocolError as exc:
            item.message = None  # a refused message must not count as a batch seen
            item.dead = DeadLetter.of(topic_name, payload, reason=exc.reason, detail=str(exc),
                                      received_ms=received_ms, gateway=gateway, limit=self._dl_limit)
            return item
        item.kind = info.kind.value
        batch = item.message
        if isinstance(batch, TelemetryBatch):
            if self._resend_after_reconnect and not batch.late:
                seen = self._last_batch.get(batch.gateway)
                if seen is None or seen[0] != batch.boot or seen[1] < batch.seq:
                    self._last_batch[batch.gateway] = (batch.boot, batch.seq)
            item.weight = len(batch.readings)
            item.last_ts_ms = max(map(_ts_of, batch.readings))
            try:
                # Built here, in the network thread, so that it overlaps the writer's wait for
                # the store; if the resolver cannot answer now, the writer retries it.
                item.points = self._points(batch)
            except StoreError:
                pass
            else:
                # The points carry everything the readings did; holding both until the
                # acknowledgement would double what the garbage collector walks.
                item.message = TelemetryBatch(batch.gateway, batch.boot, batch.seq, (), batch.late)
        return item

    # ------------------------------------------------------------------ writer

    def _write_loop(self) -> None:
        # Up to two batches are in flight: store threads write batch N (and N+1) while this
        # thread gathers the next; records and acknowledgements still happen strictly in
        # arrival order, each batch's only after its own write succeeded.
        inflight: deque[tuple[list[_Item], Future]] = deque()
        try:
            while True:
                head = inflight[0][1] if inflight else None
                if head is not None and (head.done() or len(inflight) >= _IN_FLIGHT):
                    self._finish(*inflight.popleft())
                    continue
                items = self._take(wake=head)
                if items is None:
                    while inflight and not self._abort.is_set():
                        self._finish(*inflight.popleft())
                    break
                if items:
                    future = self._store_pool.submit(self._store_phase, items)
                    future.add_done_callback(self._wake_writer)
                    inflight.append((items, future))
                self._maybe_publish_stats()
                self._maybe_check_sequences()
        except Exception:  # a bug: log it loudly; nothing unacknowledged is lost
            log.exception("ingest %s: writer thread failed", self.client_id)
            self._error("writer thread failed; see the log")
            self._stopped.set()  # let run_forever() return so a supervisor restarts the process
            raise

    def _wake_writer(self, _future: Future) -> None:
        with self._cond:
            self._cond.notify_all()

    def _finish(self, items: list[_Item], future: Future) -> None:
        """Complete a batch whose store write was started: retry what failed, record, acknowledge."""
        exc = future.exception()
        if exc is not None and not isinstance(exc, StoreError):
            raise exc
        if not self._abort.is_set():
            self._process(items)

    def _take(self, *, wake: Future | None = None) -> list[_Item] | None:
        """Wait for messages and return a batch; [] on an idle tick or when ``wake`` completes,
        None when stopping."""
        with self._cond:
            if not self._queue:
                if self._stopping.is_set():
                    return None
                if wake is None or not wake.done():
                    self._cond.wait(0.5)
                if not self._queue:
                    return None if self._stopping.is_set() else []
            if self._stopping.is_set() and not self._drain:
                return None
            # The age bound counts from the oldest message's arrival: one that waited while this
            # thread was busy with the previous batch does not wait a full delay more.
            deadline = self._queue[0].queued_at + self._max_delay
            while (self._queued_weight < self._max_points and not self._stopping.is_set()
                   and (wake is None or not wake.done())):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                before = len(self._queue)
                self._cond.wait(min(left, self._idle_flush))
                if len(self._queue) == before:
                    break  # nothing new: the broker may be waiting for our acknowledgements
            items, weight = [], 0
            while self._queue and (not items or weight + self._queue[0].weight <= self._max_points):
                item = self._queue.popleft()
                weight += item.weight
                items.append(item)
            self._queued_weight -= weight
            self._cond.notify_all()
            return items

    def _process(self, items: list[_Item]) -> None:
        """Commit ``items`` (retrying while a store is unavailable), wait for the listeners, then acknowledge."""
        recorded = []  # the records are committed once, however often the store write is retried

        def commit() -> None:
            self._store_phase(items)
            if not recorded:
                self._record_phase(items)
                recorded.append(True)

        if not self._retrying(commit, "stores"):
            return  # stopping without draining: nothing acknowledged, the broker keeps it all
        if self._await_listeners(items):
            self._ack(items)

    def _retrying(self, step: Callable[[], None], what: str) -> bool:
        """Run ``step`` until it does not raise StoreError, backing off; False if aborted meanwhile."""
        failing = False

        def failed(exc: BaseException, failures: int) -> None:
            nonlocal failing
            with self._counters.lock:
                self._counters.store_errors += 1
            self._error(str(exc), log_it=not failing)
            failing = True
            self._retrying_since.setdefault(what, self._now_ms())
            self._publish_stats_while_retrying()

        try:
            retry(step, Backoff(self._retry_initial, self._retry_max), retry_on=StoreError, stop=self._abort,
                  on_error=failed)
        except RetryAborted:
            return False
        self._retrying_since.pop(what, None)
        if failing:
            log.info("ingest %s: %s answer again; resuming", self.client_id, what)
        return True

    # ------------------------------------------------------------------ listeners

    def _await_listeners(self, items: list[_Item]) -> bool:
        """Wait until the listeners have taken ``items``; False when stopping without them."""
        with self._listened:
            while not all(item.listened for item in items):
                listener = self._listener
                if self._abort.is_set() or listener is None or not listener.is_alive():
                    return False  # not acknowledged: the broker sends them again
                self._listened.wait(0.5)
        return True

    def _listen_loop(self) -> None:
        try:
            while True:
                items = self._take_for_listeners()
                if items is None:
                    break
                if not self._notify_until_done(items):
                    break
                with self._listened:
                    for item in items:
                        item.listened = True
                    self._listened.notify_all()
        except Exception:  # a bug: log it loudly; nothing unacknowledged is lost
            log.exception("ingest %s: listener thread failed", self.client_id)
            self._error("listener thread failed; see the log")
            self._stopped.set()  # let run_forever() return so a supervisor restarts the process
            raise
        finally:
            with self._listened:
                self._listened.notify_all()  # a writer waiting for this thread sees it gone

    def _take_for_listeners(self) -> list[_Item] | None:
        """Return every message waiting for the listeners (up to a batch); None when stopping."""
        with self._cond:
            while not self._listen_queue:
                if self._stopping.is_set():
                    return None  # the network thread takes in nothing more once stopping
                self._cond.wait(0.5)
            if self._abort.is_set():
                return None
            queue, items, weight = self._listen_queue, [], 0
            while queue and (not items or weight + queue[0].weight <= self._max_points):
                item = queue.popleft()
                weight += item.weight
                items.append(item)
            return items

    def _notify_until_done(self, items: list[_Item]) -> bool:
        """Hand ``items`` to the listeners, retrying while one's database is down; False if aborted."""
        notified: set[int] = set()  # listeners done with these items: a retry does not repeat them

        def hand_over() -> None:
            for item in items:
                if item.kind == "telemetry" and item.points is None:
                    # The resolver could not answer in the network thread (its database was
                    # down); the store thread may be building the same list: either will do.
                    item.points = self._points(item.message)
            self._notify(items, notified)

        return self._retrying(hand_over, "listeners")

    def _store_phase(self, items: list[_Item]) -> None:
        """Write the telemetry points of ``items`` not yet written (runs in the store thread too)."""
        telemetry = [i for i in items if i.kind == "telemetry" and not i.written]
        for item in telemetry:
            if item.points is None:
                item.points = self._points(item.message)
        if telemetry:
            self._write_points(telemetry)

    def _record_phase(self, items: list[_Item]) -> None:
        """Write events, dead letters and gateway state of ``items`` in one transaction."""
        for item in items:
            if item.kind == "events" and item.event_rows is None:
                item.event_rows = rows_for_batch(item.message, item.received_ms, self._event_assets(item.message))
        todo = [item for item in items if not item.tracked]  # tracked: its rows are committed
        try:
            self._track_and_commit(todo, with_stats=True)
        except StoreRejected as exc:
            # Some row the database refuses (a data error, not an outage: that is StoreUnavailable
            # and retried as a whole): commit message by message, so the refused one is
            # dead-lettered alone and leaves nothing in the gateway state; the rest commit.
            log.warning("ingest %s: relational store refused a batch: %s", self.client_id, exc)
            for item in todo:
                try:
                    self._track_and_commit([item])
                except StoreRejected as item_exc:
                    if item.kind != "dead":
                        self._reject(item, item_exc)
                    try:  # the dead letter alone, the message's effect on the gateway state left out
                        self._track_and_commit([item], track=False)
                    except StoreRejected as again:
                        raise StoreUnavailable(f"cannot store a dead letter: {again}") from again
        dead = [i for i in items if i.kind == "dead"]
        now = self._now_ms()
        with self._counters.lock:
            c = self._counters
            c.dead_lettered += len(dead)
            c.last_commit_ms = now
            for item in items:
                if item.kind == "telemetry":
                    c.telemetry_batches += 1
                elif item.kind == "events":
                    c.event_batches += 1
                elif item.kind == "status":
                    c.status_messages += 1
                elif item.kind == "ignored":
                    c.ignored += 1

    def _track_and_commit(self, items: list[_Item], *, with_stats: bool = False, track: bool = True) -> None:
        """Observe ``items`` in the gateway tracker and commit their rows; on failure, forget them."""
        saved = self._tracker.snapshot(i.message.gateway for i in items if i.message is not None)
        try:
            for item in items:
                item.notes = self._track(item) if track else []
            self._commit_records(items, with_stats=with_stats)
        except BaseException:
            self._tracker.restore(saved)  # a retry or the message-by-message pass starts afresh
            raise
        self._tracker.clear_dirty()
        for item in items:
            item.tracked = True

    def _commit_records(self, items: list[_Item], *, with_stats: bool = False) -> None:
        dead = [i.dead for i in items if i.kind == "dead"]
        event_rows = [row for i in items for row in (i.event_rows or ()) if i.kind == "events"]
        event_rows += [note for i in items for note in i.notes]
        self._records.commit(dead=dead, event_rows=event_rows, gateway_rows=self._tracker.dirty_rows(),
                             sequences=observations(items), now_ms=round(time.time() * 1000),
                             worker=self._worker_row() if with_stats and self._stats_due() else None)

    def _write_points(self, telemetry: list[_Item]) -> None:
        try:
            self.store.write([p for item in telemetry for p in item.points])
            written = telemetry
        except Exception as exc:
            if not is_data_error(exc):  # an outage (retried) or a bug in the store
                raise
            if len(telemetry) == 1:
                self._reject(telemetry[0], exc)
                return
            # Find the message(s) the store refuses; the others go in one by one.
            written = []
            for item in telemetry:
                try:
                    self.store.write(item.points)
                except Exception as item_exc:
                    if not is_data_error(item_exc):
                        raise
                    self._reject(item, item_exc)
                else:
                    written.append(item)
        count = 0
        for item in written:
            item.written = True
            count += len(item.points)
        with self._counters.lock:
            self._counters.points_written += count

    def _reject(self, item: _Item, exc: Exception) -> None:
        log.warning("ingest %s: store refused %s: %s", self.client_id, item.topic, exc)
        item.kind = "dead"
        item.dead = DeadLetter.of(item.topic, item.payload, reason=STORE_REJECTED, detail=str(exc),
                                  received_ms=item.received_ms, gateway=item.message.gateway,
                                  limit=self._dl_limit)
        item.event_rows = None

    def _points(self, batch: TelemetryBatch) -> list[Point]:
        """Return the batch's points; raise StoreError when the resolver cannot answer now."""
        channels, stamps, values, qualities = zip(*batch.readings)
        # Each channel is resolved once, at its first reading. When every answer holds for the
        # batch's whole time span (the usual case) the points are built a column at a time in C;
        # otherwise reading by reading, re-resolving where an answer runs out.
        first = dict(zip(reversed(channels), reversed(stamps)))
        lo, hi = min(stamps), max(stamps)
        measurements: dict[str, str] = {}
        tags: dict[str, tuple] = {}
        for channel, ts in first.items():
            span = self._resolve(batch.gateway, channel, ts)
            if not (span[0] <= lo and hi < span[1]):
                return self._points_one_by_one(batch)
            measurements[channel], tags[channel] = span[2], span[3]
        return list(map(_new_point, zip(map(measurements.__getitem__, channels), map(tags.__getitem__, channels),
                                        stamps, values, qualities, repeat(batch.late))))

    def _points_one_by_one(self, batch: TelemetryBatch) -> list[Point]:
        gateway, late = batch.gateway, batch.late
        # channel -> (from, until, measurement, tags): reused for the channel's other readings
        # while they fall inside the span the resolver said its answer holds for.
        spans: dict[str, tuple[float, float, str, tuple]] = {}
        out: list[Point] = []
        append = out.append
        for r in batch.readings:
            ts = r.ts_ms
            span = spans.get(r.channel)
            if span is None or not span[0] <= ts < span[1]:
                span = self._resolve(gateway, r.channel, ts)
                spans[r.channel] = span
            append(_new_point((span[2], span[3], ts, r.value, r.quality, late)))
        return out

    def _resolve(self, gateway: str, channel: str, ts_ms: int) -> tuple[float, float, str, tuple]:
        answer = self._ask(gateway, channel, ts_ms)
        seen = self._series_memo.get((gateway, channel))
        if seen is not None and seen[0] is answer and answer is not None:
            # The resolver handed back the same answer object as last time: reuse the same
            # tags tuple too, so the stores' identity caches recognise the series at once.
            if seen[3] is not None:
                return seen[3]
            measurement, tags = seen[1], seen[2]
        else:
            try:
                measurement, tags = series_of(gateway, channel, answer)
            except InvalidPoint as exc:
                # A binding no store can hold (bad asset tag...): keep the reading, unbound.
                self._error(f"binding of {gateway}/{channel} unusable, stored as unbound: {exc}")
                answer = None
                measurement, tags = series_of(gateway, channel, None)
            if len(self._series_memo) >= 100_000:
                self._series_memo.clear()
            lo = getattr(answer, "valid_from_ms", _NO_SPAN)
            hi = getattr(answer, "valid_until_ms", _NO_SPAN)
            span = None
            if answer is not None and lo is not _NO_SPAN and hi is not _NO_SPAN:
                span = ((-math.inf if lo is None else lo), (math.inf if hi is None else hi), measurement, tags)
            self._series_memo[(gateway, channel)] = (answer, measurement, tags, span)
            if span is not None:
                return span
        return ts_ms, ts_ms + 1, measurement, tags  # no stated span: good for this instant only

    def _ask(self, gateway: str, channel: str, ts_ms: int) -> Any:
        try:
            return self.resolver.resolve(gateway, channel, ts_ms)
        except StoreError:
            raise  # its database is down: the batch is retried
        except Exception as exc:
            # A resolver bug: hold the batch (unacknowledged, retried) rather than misfile it.
            raise ResolverError(f"resolver failed for {gateway}/{channel}: {exc!r}") from exc

    def _event_assets(self, batch: EventBatch) -> list[str | None]:
        assets = []
        for e in batch.events:
            # Through the same checks as readings, so a binding no store can hold gives None.
            tags = self._resolve(batch.gateway, e.channel, e.ts_ms)[3] if e.channel else ()
            assets.append(dict(tags).get("asset"))
        return assets

    def _track(self, item: _Item) -> list[dict]:
        msg = item.message
        if isinstance(msg, Status):
            self._tracker.observe_status(msg, item.received_ms)
            return []
        if isinstance(msg, TelemetryBatch):
            return self._tracker.observe_batch("telemetry", msg.gateway, msg.boot, msg.seq, item.received_ms,
                                               readings=item.weight, last_reading_ts_ms=item.last_ts_ms)
        if isinstance(msg, EventBatch):
            return self._tracker.observe_batch("events", msg.gateway, msg.boot, msg.seq, item.received_ms)
        return []

    def _ack(self, items: list[_Item]) -> None:
        acked = 0
        client = self._client
        with self._ack_lock:
            generation, connected = self._generation, self._connected
            for item in items:
                if item.qos == 0:
                    continue
                if item.generation != generation or not connected:
                    continue  # re-delivered under a new packet id after the reconnect
                if client.ack(item.mid, item.qos) == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    acked += 1
        with self._cond:
            self._unacked -= len(items)
            for _ in range(min(len(items), len(self._unacked_since))):
                self._unacked_since.popleft()  # acknowledged in arrival order: the oldest ones
        with self._counters.lock:
            self._counters.acked += acked

    def _notify(self, items: list[_Item], notified: set[int]) -> None:
        """Hand committed points, events and statuses to the listeners (e.g. the rules engine).

        A listener's :class:`StoreError` (its database is down) fails the batch, which is then
        retried without acknowledging, so no alarm is lost to an outage; when its database
        refused the data instead, the messages are handed over one by one and the refused one
        becomes a ``listener_rejected`` dead letter. Any other exception is a bug in the
        listener, logged and counted, and ingest goes on.
        """
        for index, listener in enumerate(self._listeners):
            if index in notified:
                continue
            try:
                self._notify_one(listener, items)
            except StoreError as exc:
                if not is_data_error(exc):
                    raise
                self._notify_each(listener, items, exc)
            except Exception:  # another area's code: its failure must not stop ingest
                log.exception("ingest %s: listener %r failed", self.client_id, listener)
                self._error(f"listener {type(listener).__name__} failed; see the log")
            notified.add(index)

    def _notify_each(self, listener: Any, items: list[_Item], exc: Exception) -> None:
        """Hand ``items`` to ``listener`` one at a time; dead-letter each one whose data it refuses."""
        log.warning("ingest %s: listener %s refused a batch: %s", self.client_id, type(listener).__name__, exc)
        for item in items:
            try:
                self._notify_one(listener, [item])
            except StoreError as item_exc:
                if not is_data_error(item_exc):
                    raise
                gateway = getattr(item.message, "gateway", None)
                self._records.commit(dead=[DeadLetter.of(
                    item.topic, item.payload, reason=LISTENER_REJECTED, received_ms=item.received_ms,
                    detail=f"{type(listener).__name__}: {item_exc}", gateway=gateway, limit=self._dl_limit)])
                self._error(f"listener {type(listener).__name__} refused {item.topic}: {item_exc}")
                with self._counters.lock:
                    self._counters.dead_lettered += 1

    @staticmethod
    def _notify_one(listener: Any, items: list[_Item]) -> None:
        on_points = getattr(listener, "on_points", None)
        on_events = getattr(listener, "on_events", None)
        on_status = getattr(listener, "on_status", None)
        points: list[Point] = []
        for item in items:  # in arrival order, consecutive telemetry batches in one call
            if item.kind == "telemetry":
                points.extend(item.points)
                continue
            if points and on_points is not None:
                on_points(points)
            points = []
            if item.kind == "events" and on_events is not None:
                on_events(item.message.gateway, item.message.events)
            elif item.kind == "status" and on_status is not None:
                on_status(item.message.gateway, item.message, item.received_ms)
        if points and on_points is not None:
            on_points(points)

    # ------------------------------------------------------------------ stats and errors

    def _now_ms(self) -> int:
        return round(self.clock.now() * 1000)

    def _error(self, text: str, *, log_it: bool = True) -> None:
        with self._counters.lock:
            self._counters.last_error = storable(text)  # published in the worker's row
            self._counters.last_error_ms = self._now_ms()
        if log_it:
            log.warning("ingest %s: %s", self.client_id, text)

    def _stats_due(self) -> bool:
        return time.monotonic() >= self._next_stats

    def _worker_row(self) -> dict:
        self._next_stats = time.monotonic() + self._stats_interval
        s = self.stats()
        return {"client_id": s.client_id, "hostname": socket.gethostname(), "pid": os.getpid(),
                "started_ms": s.started_ms or 0, "updated_ms": self._now_ms(), "connected": s.connected,
                "received": s.received, "points_written": s.points_written, "dead_lettered": s.dead_lettered,
                "acked": s.acked, "store_errors": s.store_errors, "pending": s.pending,
                "last_error": s.last_error, "last_error_ms": s.last_error_ms,
                "oldest_pending_ms": self._oldest_pending_ms(),
                "retrying_since_ms": min(list(self._retrying_since.values()), default=None),
                "share_group": self.config.mqtt_share_group or None}

    def _oldest_pending_ms(self) -> int | None:
        try:
            return self._unacked_since[0]
        except IndexError:  # none pending (or the last one acknowledged meanwhile)
            return None

    def _publish_stats_while_retrying(self) -> None:
        """Publish the counters during a retry too, so health sees a worker stuck retrying."""
        if self._stats_due() and self._records is not None:
            try:
                self._records.commit(worker=self._worker_row())
            except StoreError:
                pass  # the relational store is what fails: the error being retried says so

    def _publish_final_stats(self) -> None:
        """Publish that this worker stopped and holds nothing (unacknowledged messages stay with the broker)."""
        if self._records is None:
            return
        row = {**self._worker_row(), "connected": False, "pending": 0, "oldest_pending_ms": None,
               "retrying_since_ms": None}

        def publish() -> None:
            try:
                self._records.commit(worker=row)
            except StoreError as exc:
                log.info("ingest %s: cannot publish the final counters: %s", self.client_id, exc)

        # On its own thread, waited for a few seconds at most: a database that does not answer
        # must not hold up the stop (the row then just ages, and health says so).
        thread = threading.Thread(target=publish, name=f"ingest-final-stats[{self.client_id}]", daemon=True)
        thread.start()
        thread.join(5)

    def _maybe_publish_stats(self) -> None:
        if not self._stats_due() or self._records is None:
            return
        try:
            self._records.commit(worker=self._worker_row())
        except StoreError as exc:
            self._error(f"cannot publish worker counters: {exc}")


_NO_SPAN = object()
_IN_FLIGHT = 2  # store writes under way at once; records and acknowledgements stay in arrival order
_INT64 = 2**63 - 1
_new_point = partial(tuple.__new__, Point)  # Point is a named tuple; this skips its Python-level __new__
_ts_of = itemgetter(1)  # a Reading's ts_ms
_collector_tuned = False
_collector_lock = threading.Lock()
#: Young-generation threshold for an ingest process (Python's default is 700 allocations).
YOUNG_THRESHOLD = 50_000


def _tune_collector() -> None:
    """Fit the cyclic garbage collector to an ingest process, once per process.

    A worker allocates several tracked objects per reading (points are named tuples, which the
    collector never untracks) and keeps them for a batch, a fraction of a second. With the
    default thresholds the young generation is collected every few hundred readings, batches
    get promoted, and full collections keep walking the whole start-up heap (modules,
    SQLAlchemy, paho, requests): together more CPU than decoding. So the objects alive at
    start are frozen (exempt from collection, still freed by reference counting) and the
    young generation is collected every 50,000 allocations instead (never lowered).
    """
    global _collector_tuned
    with _collector_lock:
        if _collector_tuned:
            return
        gc.collect()
        gc.freeze()
        young, middle, old = gc.get_threshold()
        if young and young < YOUNG_THRESHOLD:  # 0 means the application switched collection off
            gc.set_threshold(YOUNG_THRESHOLD, middle, old)
        _collector_tuned = True


def _check_int64(message: Any) -> None:
    """Refuse integers the relational store cannot hold (the protocol bounds them from below only)."""
    names = ("seq",) if not isinstance(message, Status) else (
        "ts_ms", "buffer_depth", "oldest_unsent_ms", "dropped", "config_version", "last_seq")
    for name in names:
        value = getattr(message, name)
        if value is not None and not -_INT64 <= value <= _INT64:
            raise protocol.InvalidField(f"must be at most {_INT64}, got {value}", path=name)


def _topic_of(msg: mqtt.MQTTMessage) -> str:
    try:
        return msg.topic
    except UnicodeDecodeError:
        return repr(bytes(msg._topic))  # not UTF-8: paho keeps the raw bytes there
