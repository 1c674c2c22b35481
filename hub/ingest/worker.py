"""The MQTT ingest worker: gateway messages in, committed rows out, acknowledgement last.

Data path and guarantees (each step is a part of its own, wired here by :class:`IngestWorker`):

1. The MQTT side (:mod:`wardlink.hub.ingest.receiver`): paho-mqtt's network thread receives
   each PUBLISH (QoS 1, persistent session, stable client id, ``manual_ack=True``), decodes it
   with :mod:`wardlink.protocol` (:mod:`wardlink.hub.ingest.decode`), passing the injected
   clock's time so far-future timestamps are refused, and maps each reading's channel to its
   series through the resolver (:mod:`wardlink.hub.ingest.points`). Anything invalid becomes a
   dead letter.
2. The batcher (:mod:`wardlink.hub.ingest.batcher`) queues the items. The committer
   (:mod:`wardlink.hub.ingest.committer`) takes them in store writes (at most
   ``max_batch_points`` readings, at most ``max_batch_delay_s`` old, or sooner when no new
   message arrives for ``idle_flush_s`` — the broker may be holding the rest until it sees
   acknowledgements). Store threads write the points to the telemetry store while the
   committer gathers the next batch (two batches in flight at most, both may be on the wire at
   once); then, batch by batch in arrival order, the committer records dead letters, events and
   gateway state in one relational transaction. The network thread stops reading the socket
   while two batches' worth of readings wait in the queue, so the broker keeps the rest.
3. Meanwhile the listener pump (:mod:`wardlink.hub.ingest.pump`) hands the same items, in
   arrival order, to the listeners (the rules engine): everything decoded since its previous
   call, without waiting for the store write or the batch age bound, so an alarm is raised as
   soon as its reading arrives and an outage of the telemetry store does not hold alarms back.
   A listener whose database is down is retried with backoff, and its messages are not
   acknowledged meanwhile.
4. Only when both are done are the messages acknowledged (PUBACK), in the order they arrived.
   A message is never acknowledged before everything it carried is committed and the
   listeners have taken it, so a crash at any point means re-delivery, and re-delivery means
   rewriting identical points (idempotent) and the rules engine seeing readings it already
   evaluated (it treats them as duplicates).

While a store is down nothing is acknowledged: the committer retries the same batch with
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
import threading
from dataclasses import dataclass
from typing import Sequence

from wardlink.hub.config import HubConfig
from wardlink.hub.errors import ConfigError
from wardlink.hub.ingest.batcher import Batcher
from wardlink.hub.ingest.committer import Committer
from wardlink.hub.ingest.counters import IngestContext, IngestStats, WorkerRow, publish_final
from wardlink.hub.ingest.deadletter import DEFAULT_PAYLOAD_LIMIT
from wardlink.hub.ingest.decode import Decoder
from wardlink.hub.ingest.gateways import GatewayTracker
from wardlink.hub.ingest.items import IngestListener
from wardlink.hub.ingest.points import PointBuilder
from wardlink.hub.ingest.pump import ListenerPump, checked_listeners
from wardlink.hub.ingest.receiver import Receiver, broker_address, mqtt_client
from wardlink.hub.ingest.records import IngestRecords
from wardlink.hub.ingest.resolver import Resolver
from wardlink.hub.ingest.sequence import SequencePolicy
from wardlink.hub.telemetry.model import Point, TelemetryStore
from wardlink import protocol
from wardlink.clock import Clock, SystemClock
from wardlink.protocol import TelemetryBatch
from wardlink.retry import OutageLog

__all__ = ["YOUNG_THRESHOLD", "IngestStats", "IngestWorker", "broker_address", "mqtt_client"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Batching:
    """How messages are grouped into store writes, and how many may wait (see :class:`IngestWorker`)."""

    max_batch_points: int = 10_000
    max_batch_delay_s: float = 0.2
    idle_flush_s: float = 0.01
    max_pending_messages: int = 20_000
    max_pending_points: int | None = None  # default: two batches' worth

    def checked(self) -> Batching:
        """Return these settings with defaults filled in; raise ConfigError when they cannot work."""
        if self.max_batch_points < 1:
            raise ConfigError(f"max_batch_points: must be >= 1, got {self.max_batch_points}")
        if self.max_batch_delay_s <= 0 or self.idle_flush_s <= 0:
            raise ConfigError("max_batch_delay_s and idle_flush_s: must be > 0")
        pending = 2 * self.max_batch_points if self.max_pending_points is None else self.max_pending_points
        if pending < self.max_batch_points:
            raise ConfigError(f"max_pending_points: must be >= max_batch_points ({self.max_batch_points}), "
                              f"got {pending}")
        return Batching(self.max_batch_points, self.max_batch_delay_s, self.idle_flush_s,
                        self.max_pending_messages, pending)


class IngestWorker:
    """Subscribe to gateway telemetry, events and status; commit, then acknowledge.

    ``records`` defaults to the ingest tables in ``config.resolved_database_url``. Lifecycle:
    :meth:`start` returns once the threads run (the broker connection is made, and re-made,
    in the background); :meth:`stop` is idempotent; :meth:`run_forever` blocks until stopped.

    The parts: the MQTT side (:class:`~wardlink.hub.ingest.receiver.Receiver`, decoding with
    :class:`~wardlink.hub.ingest.decode.Decoder`), the
    :class:`~wardlink.hub.ingest.batcher.Batcher`, the
    :class:`~wardlink.hub.ingest.committer.Committer` and the
    :class:`~wardlink.hub.ingest.pump.ListenerPump`; this class wires them.
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
        listeners: Sequence[IngestListener] = (),
        tune_collector: bool = True,
        sequence_policy: SequencePolicy | None = None,
    ) -> None:
        batching = Batching(max_batch_points, max_batch_delay_s, idle_flush_s, max_pending_messages,
                            max_pending_points).checked()
        if not config.mqtt_client_id:
            raise ConfigError("mqtt_client_id: required (a persistent session needs a stable id)")
        broker_address(config.mqtt_url)  # a bad URL is refused here, not on start
        self.config = config
        self.store = store
        self.resolver = resolver
        self.clock = clock or SystemClock()
        self.client_id = config.mqtt_client_id
        self._records = records
        self._own_engine = False
        self._tune_collector = tune_collector
        self._started = False
        self._ctx = IngestContext(self.client_id, self.clock, retry_initial_s=retry_initial_s, retry_max_s=retry_max_s)
        group = config.mqtt_share_group or None
        self._tracker = GatewayTracker(track_gaps=group is None)
        self._point_builder = PointBuilder(resolver, self._ctx.error)
        self._wire(batching, checked_listeners(listeners), group, max_future_ms=max_future_ms,
                   dead_letter_limit=dead_letter_payload_limit, keepalive_s=keepalive_s,
                   stats_interval_s=stats_interval_s, sequence_policy=sequence_policy or SequencePolicy())

    def _wire(self, batching: Batching, listeners: tuple[IngestListener, ...], group: str | None, *,
              max_future_ms: int, dead_letter_limit: int, keepalive_s: int, stats_interval_s: float,
              sequence_policy: SequencePolicy) -> None:
        ctx = self._ctx
        self._batcher = Batcher(ctx, max_points=batching.max_batch_points, max_delay_s=batching.max_batch_delay_s,
                                idle_flush_s=batching.idle_flush_s, max_pending=batching.max_pending_messages,
                                max_pending_points=batching.max_pending_points or batching.max_batch_points,
                                put_wait_s=keepalive_s / 4, listening=bool(listeners))
        decoder = Decoder(self._point_builder, max_future_ms=max_future_ms, dead_letter_limit=dead_letter_limit,
                          remember_batches=group is not None)
        self._receiver = Receiver(ctx, self.config, decoder, self._batcher, keepalive_s=keepalive_s,
                                  sequence_policy=sequence_policy)
        self._pump = ListenerPump(ctx, listeners, self._batcher, self._point_builder,
                                  dead_letter_limit=dead_letter_limit)
        self._worker_row = WorkerRow(ctx, self.stats, self._batcher.oldest_pending_ms, group, stats_interval_s)
        self._committer = Committer(ctx, self.store, self._point_builder, self._tracker, self._batcher, self._receiver,
                                    self._pump, self._worker_row, dead_letter_limit=dead_letter_limit)
        ctx.on_retry = self._committer.publish_stats_while_retrying

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> IngestWorker:
        """Open the records, start the committer and listener threads and connect to the broker in the background."""
        if self._started:
            return self
        if self._records is None:
            from wardlink.hub.db.engine import open_engine

            self._records = IngestRecords(open_engine(self.config.resolved_database_url))
            self._own_engine = True
        records = self._records
        self._tracker.load(records.gateways())
        ctx = self._ctx
        with ctx.counters.lock:
            ctx.counters.started_ms = ctx.now_ms()
        self._started = True
        for event in (ctx.stopped, ctx.stopping, ctx.abort):
            event.clear()
        ctx.drain = True
        ctx.retrying_since.clear()
        for heartbeat in ctx.heartbeats.values():
            heartbeat.beat()
        self._batcher.clear()  # anything left from an earlier run was never acknowledged: the broker sends it again
        if self._tune_collector:
            _tune_collector()
        self._committer.start(records)
        self._pump.start(records)
        self._receiver.start()
        return self

    def stop(self, *, drain: bool = True, timeout: float = 10.0) -> None:
        """Stop; with ``drain``, commit and acknowledge what is in hand first (for at most ``timeout`` s).

        Without ``drain`` (or when the store stays down) nothing more is acknowledged: the
        broker keeps those messages for the next start with the same client id.
        """
        if not self._started:
            return
        ctx = self._ctx
        ctx.drain = drain
        ctx.stopping.set()
        self._batcher.wake()
        if not drain:
            ctx.abort.set()
        self._committer.join(timeout)
        self._pump.join(10)
        self._committer.shutdown_pool()
        self._receiver.stop()
        if self._records is not None:
            publish_final(self._commit_worker_row, self._worker_row.final_row(), self.client_id)
            if self._own_engine:
                self._records.engine.dispose()  # reconnects by itself if started again
        self._started = False
        ctx.stopped.set()
        log.info("ingest %s: stopped", self.client_id)

    def _commit_worker_row(self, row: dict) -> None:
        if self._records is not None:
            self._records.commit(worker=row)

    def run_forever(self) -> None:
        """Start (if needed) and block until :meth:`stop` is called from another thread or a signal handler."""
        self.start()
        self._ctx.stopped.wait()

    def __enter__(self) -> IngestWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def is_running(self) -> bool:
        """Return True while the worker is started and its committer thread is alive."""
        return self._started and self._committer.alive()

    @property
    def records(self) -> IngestRecords | None:
        """Return the relational records this worker writes (None before :meth:`start`)."""
        return self._records

    @property
    def listeners(self) -> tuple[IngestListener, ...]:
        return self._pump.listeners

    def stats(self) -> IngestStats:
        """Return a snapshot of the counters."""
        c, r = self._ctx.counters, self._receiver
        with c.lock:
            return IngestStats(
                self.client_id, r.connected, c.received, c.telemetry_batches, c.event_batches,
                c.status_messages, c.ignored, c.points_written, c.dead_lettered, c.acked, c.store_errors,
                c.pending, c.last_error, c.last_error_ms, c.started_ms, c.last_commit_ms,
                r.subscribed, resend_requests=c.resend_requests, readings_received=c.readings_received,
                reconnects=c.reconnects, commit_lag_ms=c.commit_lag_ms)

    @property
    def context(self) -> IngestContext:
        """Return what the worker's parts share (its clock, heartbeats, outages), for monitoring."""
        return self._ctx

    @property
    def broker(self) -> str:
        """Return the broker's ``host:port``."""
        return self._receiver.broker

    @property
    def broker_outage(self) -> OutageLog:
        """Return the broker connection's outage record (reason and start of a current outage)."""
        return self._receiver.outage

    @property
    def has_listeners(self) -> bool:
        return bool(self._pump.listeners)

    def queue_depth(self) -> tuple[int, int]:
        """Return (messages, readings) received and waiting for a store write."""
        return self._batcher.depth()

    def published_row(self) -> dict:
        """Return the row of counters the worker publishes, as it stands now (see ingest_status)."""
        return self._worker_row.snapshot()

    def leave_group(self, timeout: float = 10.0) -> bool:
        """Unsubscribe from every filter (the group's share included) and keep running.

        Messages already queued for this client's session keep arriving and are committed and
        acknowledged as usual; no new ones are routed here. Return True once the broker has
        confirmed (False if it did not within ``timeout`` s). Used to retire a worker.
        """
        return self._receiver.leave_group(timeout)

    def _points(self, batch: TelemetryBatch) -> list[Point]:
        """Return the points of ``batch`` as this worker builds them (benchmarks time this step)."""
        return self._point_builder.points(batch)


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
