"""Forward buffered readings and events to the broker: QoS 1 batches, delete only after PUBACK.

Threads: paho-mqtt runs its network loop on its own thread (``loop_start``); every paho
callback is handed to the asyncio loop with ``call_soon_threadsafe``, so all forwarding state
lives on the loop thread and needs no locks.

Live first: when a session starts, every reading already in the buffer (id below the session's
*floor*) is backlog, replayed oldest first at ``replay_rate`` readings/s in batches marked
``late``; readings committed after that go straight to the live path, which always keeps an
in-flight slot of its own, so live data never queues behind the backlog.

A message handed to paho stays tracked (message id -> buffer rows) until its PUBACK, across
reconnects: paho keeps unacknowledged QoS 1 messages and re-sends them (DUP) after the next
CONNACK, and the backlog scan skips rows still in flight. Rows are deleted from the buffer
only when their PUBACK arrives. A restart loses paho's memory but not the buffer, so those
rows are simply replayed: duplicates on the wire, never gaps.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from typing import Any, Callable, Sequence

import paho.mqtt.client as mqtt

from wardlink import mqtt as mqtt_adapter
from wardlink.clock import Clock, now_ms
from wardlink.mqtt import MQTTError, MQTTNotConnected, Will
from wardlink.protocol import (
    CommandResult, EventBatch, Kind, PayloadTooLarge, Reading, Status, TelemetryBatch, encode,
    subscription, topic,
)
from wardlink.retry import Backoff

from wardlink.edge.aio import await_ended, wait_event
from wardlink.edge.broker_link import BrokerLink, broker_tls
from wardlink.edge.buffer import Row
from wardlink.edge.config import BrokerConfig, ForwarderConfig
from wardlink.edge.credentials import Credentials
from wardlink.edge.errors import BrokerError, StoreError
from wardlink.edge.inflight import ForwarderStats, Pending, id_runs
from wardlink.edge.store import Store

__all__ = ["Forwarder", "ForwarderStats", "broker_tls", "id_runs"]

log = logging.getLogger(__name__)

EVENT_BATCH = 100
#: How many acknowledged batches are remembered for ``resend-from``.
SENT_HISTORY = 10_000


class Forwarder:
    """Publish the buffer's contents to the broker and delete what the broker acknowledged."""

    def __init__(
        self,
        *,
        gateway_id: str,
        client_id: str,
        broker: BrokerConfig,
        config: ForwarderConfig,
        store: Store,
        boot: str,
        version: str,
        clock: Clock,
        credentials: Credentials | None = None,
        status_fields: Callable[[], dict[str, Any]] | None = None,
        on_inbound: Callable[[str, bytes], Any] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.gateway_id = gateway_id
        self.client_id = client_id
        self.broker = broker
        self.config = config
        self.store = store
        self.boot = boot
        self.version = version
        self.clock = clock
        self.credentials = credentials
        self.status_fields = status_fields or (lambda: {})
        self.on_inbound = on_inbound
        # Reconnect delays with "equal jitter", so a ward of gateways does not reconnect in lockstep.
        self.backoff = Backoff(config.backoff_min, config.backoff_max, jitter=True, rng=rng)
        self.stats = ForwarderStats()
        self._topic_telemetry = topic(gateway_id, Kind.TELEMETRY)
        self._topic_events = topic(gateway_id, Kind.EVENTS)
        self._topic_status = topic(gateway_id, Kind.STATUS)
        self._topic_result = topic(gateway_id, Kind.CMD_RESULT)
        self._subscriptions = [(topic(gateway_id, Kind.CONFIG), 1), (subscription(Kind.CMD, gateway_id=gateway_id), 1)]
        self._client: mqtt.Client | None = None
        self._wake = asyncio.Event()
        self._ack_wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._connected = False
        self._floor: int | None = None  # first reading id of the live path in this session
        self._stash: list[Row] = []  # live rows committed while the floor was being computed
        self._live: collections.deque[Row] = collections.deque()
        self._live_since = 0.0
        self._backlog_cursor = 0
        self._backlog_active = False
        self._tokens = 0.0
        self._tokens_at = time.monotonic()
        self._events_dirty = True
        self._event_cursor = 0
        self._inflight: dict[int, Pending] = {}
        self._inflight_data = 0
        self._inflight_rows: set[int] = set()
        self._inflight_events: set[int] = set()
        self._acked: list[Pending] = []
        self._seq = 0
        self._event_seq = 0
        self._sent: collections.OrderedDict[int, list[tuple[int, int]]] = collections.OrderedDict()
        self._flushing = False
        self._started_mono = clock.monotonic()
        self._ack_times: collections.deque[tuple[float, int]] = collections.deque()
        self._link = BrokerLink(
            client_id=client_id, broker=broker, credentials=credentials,
            will=Will(self._topic_status, encode(Status(gateway_id, "offline", boot))),
            max_inflight=config.max_inflight, subscriptions=self._subscriptions, backoff=self.backoff,
            on_connected=self._on_connected, on_disconnected=self._on_disconnected,
            on_connect_failed=self._on_connect_failed, on_ack=self._on_ack, on_message=self._on_message,
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start connecting (in the background) and forwarding."""
        self._client = self._link.make_client()
        mqtt_adapter.start(self._client, self.broker.host, self.broker.port, self.broker.keepalive)
        self._tasks = [
            asyncio.create_task(self._pump_loop(), name="forwarder-pump"),
            asyncio.create_task(self._ack_loop(), name="forwarder-ack"),
        ]
        log.info("forwarder connecting to %s as %s", self.broker.url, self.client_id)

    async def stop(self, timeout: float = 5.0) -> None:
        """Flush live readings, wait for acknowledgements, publish offline status, disconnect."""
        if self._client is None:
            return
        deadline = time.monotonic() + timeout
        self._flushing = True
        self._wake.set()
        if self._connected:
            while ((self._live or self._inflight_data or self._events_dirty) and time.monotonic() < deadline
                   and self._connected):
                await asyncio.sleep(0.02)
            offline = Status(self.gateway_id, "offline", self.boot, now_ms(self.clock), self.version,
                             uptime_s=round(self.uptime(), 3))
            try:
                await asyncio.wait_for(self._publish_and_wait(self._topic_status, encode(offline), retain=True),
                                       max(0.2, deadline - time.monotonic()))
            except (TimeoutError, BrokerError) as exc:
                log.warning("offline status not acknowledged before shutdown: %s", exc or "timeout")
        for task in self._tasks:
            task.cancel()
        await await_ended(self._tasks)
        # Deletes for PUBACKs that arrived during shutdown.
        await self._flush_acks()
        client, self._client = self._client, None
        client.disconnect()
        await asyncio.get_running_loop().run_in_executor(None, client.loop_stop)
        self._connected = False
        log.info("forwarder stopped (%d readings still buffered in flight or unsent)",
                 self.store.buffer.depth)

    def uptime(self) -> float:
        """Return seconds since the forwarder was created."""
        return self.clock.monotonic() - self._started_mono

    @property
    def connected(self) -> bool:
        """Return True while a broker session is up."""
        return self._connected

    @property
    def alive(self) -> bool:
        """Return True while the forwarder's loops run, connected to the broker or not."""
        return self._client is not None and bool(self._tasks) and not any(t.done() for t in self._tasks)

    @property
    def replaying(self) -> bool:
        """Return True while this session's backlog is still being replayed."""
        return self._connected and (self._floor is None or self._backlog_active)

    # ------------------------------------------------------------------ inputs

    def on_committed(self, first_id: int, readings: Sequence[tuple[str, int, float | None, str]]) -> None:
        """Offer readings just committed with ids first_id.. to the live path."""
        if not self._connected or not readings:
            return
        rows = [(first_id + i, r[0], r[1], r[2], r[3]) for i, r in enumerate(readings)]
        if self._floor is None:
            self._stash.extend(rows)
            return
        self._add_live(rows, self._floor)

    def _add_live(self, rows: list[Row], floor: int) -> None:
        if rows and rows[0][0] < floor:
            rows = [r for r in rows if r[0] >= floor]
        if not rows:
            return
        if not self._live:
            self._live_since = time.monotonic()
        self._live.extend(rows)
        if len(self._live) >= self.config.batch_max_readings:
            self._wake.set()

    def notify_events(self) -> None:
        """Tell the forwarder new events were committed."""
        self._events_dirty = True
        self._wake.set()

    @property
    def next_seq(self) -> int:
        """Return the sequence number the next telemetry batch of this boot will carry."""
        return self._seq

    async def resend_from(self, seq: int, until: int | None = None) -> tuple[int, int]:
        """Publish again the readings of this boot's batches ``seq``..``until`` that are still kept.

        Each batch goes out again under its own boot and sequence number (marked late), so the
        hub's record of the gateway's sequence fills in. Returns (batches published, readings
        published). Acknowledged readings are kept for at least ``forwarder.resend_keep``
        seconds and the last ``forwarder.resend_window`` readings; older ones cannot be re-sent.
        """
        wanted = [(s, rs) for s, rs in self._sent.items() if s >= seq and (until is None or s <= until)]
        if not wanted or not self._connected:
            return (0, 0)
        rows = await self.store.call("fetch_for_resend", [run for _, rs in wanted for run in rs])
        by_id = {row[0]: row for row in rows}
        batches = readings_sent = 0
        for s, runs in wanted:
            chunk = [by_id[i] for lo, hi in runs for i in range(lo, hi + 1) if i in by_id]
            if not chunk:
                continue  # no longer kept
            # Re-sent copies are tracked as "other": their PUBACK deletes nothing.
            if not self._publish_copy(s, chunk):
                break
            batches += 1
            readings_sent += len(chunk)
        return batches, readings_sent

    def _publish_copy(self, seq: int, rows: Sequence[Row]) -> bool:
        readings = tuple(Reading(ch, ts, value, quality) for _, ch, ts, value, quality in rows)
        try:
            payload = encode(TelemetryBatch(self.gateway_id, self.boot, seq, readings, late=True))
        except PayloadTooLarge:  # the late flag tipped it over: two messages under the same seq
            half = len(rows) // 2
            return self._publish_copy(seq, rows[:half]) and self._publish_copy(seq, rows[half:])
        return self._publish(self._topic_telemetry, payload, Pending("other"))

    # ------------------------------------------------------------------ loop-thread handlers

    def _on_connected(self, session_present: bool) -> None:
        self._connected = True
        self.stats.connected = True
        self.stats.connects += 1
        self.backoff.reset()
        self._floor = None
        self._stash = []
        self._live.clear()
        log.info("connected to %s (session %s)", self.broker.url, "resumed" if session_present else "new")
        asyncio.ensure_future(self._start_session())

    async def _start_session(self) -> None:
        try:
            # Tell the hub about any gap right away rather than at the next coalescing interval.
            await self.store.call("flush_gap_marker", force=True)
            floor = await self.store.call("max_reading_id") + 1
        except StoreError as exc:
            log.error("cannot read the buffer at connect: %s", exc)
            return
        if not self._connected:
            return
        self._floor = floor
        self._backlog_cursor = 0
        self._backlog_active = True
        self._events_dirty = True
        self._event_cursor = 0
        stash, self._stash = self._stash, []
        self._add_live(stash, floor)
        await self.publish_status()
        self._wake.set()

    def _on_disconnected(self, reason: str) -> None:
        if self._connected and not self._flushing:
            log.warning("disconnected from %s: %s; %d readings in flight will be re-sent", self.broker.url,
                        reason, len(self._inflight_rows))
        self._connected = False
        self.stats.connected = False
        self._floor = None
        self._live.clear()
        self._stash = []

    def _on_connect_failed(self) -> None:
        hint = " (`wardlink-edge doctor` shows why)" if self.backoff.attempt <= 2 else ""
        log.warning("cannot reach broker %s; retrying in %.1f s (attempt %d)%s", self.broker.url,
                    self._link.next_delay, self.backoff.attempt, hint)

    def _on_ack(self, mid: int) -> None:
        pending = self._inflight.pop(mid, None)
        if pending is None:
            return
        if pending.done is not None and not pending.done.done():
            pending.done.set_result(True)
        if pending.kind in ("telemetry", "events"):
            self._inflight_data -= 1
            self._acked.append(pending)
            self._ack_wake.set()
            self._wake.set()

    def _on_message(self, topic_name: str, payload: bytes) -> None:
        if self.on_inbound is None:
            return
        try:
            result = self.on_inbound(topic_name, payload)
            if asyncio.iscoroutine(result):
                asyncio.ensure_future(result)
        except Exception:
            log.exception("handling message on %s failed", topic_name)

    # ------------------------------------------------------------------ publishing

    def _publish(self, topic_name: str, payload: bytes, pending: Pending, retain: bool = False) -> bool:
        client = self._client
        if client is None:
            return False
        info = client.publish(topic_name, payload, qos=1, retain=retain)
        try:
            mqtt_adapter.check(info.rc, "paho refused to queue a message on " + topic_name)
        except MQTTNotConnected:
            pass  # paho keeps it and sends it once connected
        except MQTTError as exc:
            log.error("%s", exc)
            return False
        self._inflight[info.mid] = pending
        return True

    async def _publish_and_wait(self, topic_name: str, payload: bytes, retain: bool = False) -> None:
        done = asyncio.get_running_loop().create_future()
        if not self._publish(topic_name, payload, Pending("other", done=done), retain=retain):
            raise BrokerError(f"could not publish on {topic_name}")
        await done

    async def publish_status(self) -> None:
        """Publish the retained ``online`` status (birth message) with fresh figures."""
        if not self._connected:
            return
        try:
            stats = await self.store.call("stats")
        except StoreError as exc:
            log.error("cannot read buffer stats for the status message: %s", exc)
            return
        now = now_ms(self.clock)
        extra = self.status_fields()
        status = Status(
            self.gateway_id, "online", self.boot, now, self.version, uptime_s=round(self.uptime(), 3),
            buffer_depth=stats.readings,
            oldest_unsent_ms=max(0, now - stats.oldest_ts_ms) if stats.oldest_ts_ms is not None else 0,
            dropped=stats.dropped, config_version=extra.get("config_version"),
            last_seq=self._seq - 1 if self._seq else None,
        )
        self._publish(self._topic_status, encode(status), Pending("other"), retain=True)

    def publish_result(self, result: CommandResult) -> None:
        """Publish a command result (QoS 1; queued by paho if the link is down)."""
        self._publish(self._topic_result, encode(result), Pending("other"))

    def _publish_readings(self, rows: Sequence[Row], late: bool) -> bool:
        readings = tuple(Reading(ch, ts, value, quality) for _, ch, ts, value, quality in rows)
        try:
            payload = encode(TelemetryBatch(self.gateway_id, self.boot, self._seq, readings, late))
        except PayloadTooLarge:
            half = len(rows) // 2
            return self._publish_readings(rows[:half], late) and self._publish_readings(rows[half:], late)
        ids = [r[0] for r in rows]
        seq = self._seq
        if not self._publish(self._topic_telemetry, payload, Pending("telemetry", ids, seq, late)):
            return False
        self._seq += 1
        self._inflight_data += 1
        self._inflight_rows.update(ids)
        self.stats.batches_sent += 1
        self.stats.readings_sent += len(ids)
        if late:
            self.stats.late_readings_sent += len(ids)
        self._sent[seq] = id_runs(ids)
        if len(self._sent) > SENT_HISTORY:
            self._sent.popitem(last=False)
        return True

    # ------------------------------------------------------------------ the pump

    async def _pump_loop(self) -> None:
        while True:
            await wait_event(self._wake, self._next_wake())
            self._wake.clear()
            try:
                await self._pump()
            except StoreError as exc:
                log.error("forwarder cannot read the buffer: %s", exc)
                await asyncio.sleep(1.0)

    def _next_wake(self) -> float:
        timeout = 1.0
        if self._live:
            timeout = min(timeout, max(0.0, self._live_since + self.config.batch_max_age - time.monotonic()))
        if self._backlog_active and self._tokens < 1:
            timeout = min(timeout, (1 - self._tokens) / self.config.replay_rate)
        return max(timeout, 0.001)

    async def _pump(self) -> None:
        if not self._connected or self._floor is None:
            return
        if self._events_dirty:
            await self._pump_events()
        self._pump_live()
        if self._backlog_active:
            await self._pump_backlog()

    def _live_ready(self) -> bool:
        live = self._live
        return bool(live) and (
            self._flushing or len(live) >= self.config.batch_max_readings
            or time.monotonic() - self._live_since >= self.config.batch_max_age
        )

    def _pump_live(self) -> None:
        size = self.config.batch_max_readings
        live = self._live
        while self._live_ready() and self._inflight_data < self.config.max_inflight and self._connected:
            n = min(size, len(live))
            rows = [live.popleft() for _ in range(n)]
            if not self._publish_readings(rows, late=False):
                self._restart_backlog()
                return
            if live:
                self._live_since = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        rate = self.config.replay_rate
        self._tokens = min(float(max(self.config.batch_max_readings, 1)),
                           self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now

    async def _pump_backlog(self) -> None:
        cfg = self.config
        # One in-flight slot is kept for the live path so live data never waits behind backlog.
        limit = cfg.max_inflight - 1 if cfg.max_inflight > 1 else 1
        while self._backlog_active and self._connected and self._inflight_data < limit:
            self._refill()
            if self._tokens < 1:
                return
            n = int(min(cfg.batch_max_readings, self._tokens))
            floor = self._floor
            if floor is None:
                return
            rows = await self.store.call("fetch_readings", self._backlog_cursor, floor, n)
            if not self._connected or self._floor != floor:
                return
            if not rows:
                self._backlog_active = False
                self.stats.backlog_active = False
                log.info("backlog replay complete")
                return
            self._backlog_cursor = rows[-1][0]
            inflight = self._inflight_rows
            fresh = [r for r in rows if r[0] not in inflight]
            if fresh:
                self.stats.backlog_active = True
                if not self._publish_readings(fresh, late=True):
                    self._restart_backlog()
                    return
                self._tokens -= len(fresh)
            if self._live_ready():
                self._pump_live()

    async def _pump_events(self) -> None:
        while self._connected and self._inflight_data < self.config.max_inflight:
            self._events_dirty = False
            rows = await self.store.call("fetch_events", self._event_cursor, EVENT_BATCH)
            if not rows:
                return
            self._event_cursor = rows[-1][0]
            fresh = [(rid, e) for rid, e in rows if rid not in self._inflight_events]
            if fresh:
                batch = EventBatch(self.gateway_id, self.boot, self._event_seq, tuple(e for _, e in fresh))
                ids = [rid for rid, _ in fresh]
                if not self._publish(self._topic_events, encode(batch), Pending("events", ids)):
                    self._events_dirty = True
                    return
                self._event_seq += 1
                self._inflight_data += 1
                self._inflight_events.update(ids)
            if len(rows) < EVENT_BATCH:
                return
            self._events_dirty = True

    def _restart_backlog(self) -> None:
        # paho would not take a message: everything not in flight becomes backlog again.
        self._live.clear()
        self._floor = None
        self._backlog_active = False
        asyncio.ensure_future(self._start_session())

    # ------------------------------------------------------------------ acknowledgements

    async def _ack_loop(self) -> None:
        while True:
            await self._ack_wake.wait()
            self._ack_wake.clear()
            try:
                await self._flush_acks()
            except StoreError as exc:
                log.error("cannot delete acknowledged rows: %s", exc)
                await asyncio.sleep(1.0)

    async def _flush_acks(self) -> None:
        if not self._acked:
            return
        acked, self._acked = self._acked, []
        reading_ids: list[int] = []
        event_ids: list[int] = []
        for p in acked:
            (reading_ids if p.kind == "telemetry" else event_ids).extend(p.ids)
        reading_ids.sort()
        try:
            await self.store.call("ack", id_runs(reading_ids), event_ids, keep_sent=self.config.resend_window,
                                  keep_sent_s=self.config.resend_keep)
        except BaseException:
            self._acked = acked + self._acked
            raise
        # Only now may the backlog scan see these ids again (they are gone from the buffer).
        self._inflight_rows.difference_update(reading_ids)
        self._inflight_events.difference_update(event_ids)
        self.stats.readings_acked += len(reading_ids)
        self.stats.events_acked += len(event_ids)
        self.stats.last_ack_ms = now_ms(self.clock)
        now = time.monotonic()
        self._ack_times.append((now, len(reading_ids)))
        while self._ack_times and now - self._ack_times[0][0] > 60:
            self._ack_times.popleft()

    def publish_rate(self) -> float:
        """Return acknowledged readings per second over the last minute."""
        if not self._ack_times:
            return 0.0
        span = max(time.monotonic() - self._ack_times[0][0], 1.0)
        return sum(n for _, n in self._ack_times) / span

    @property
    def inflight(self) -> int:
        """Return the number of telemetry/event messages awaiting PUBACK."""
        return self._inflight_data
