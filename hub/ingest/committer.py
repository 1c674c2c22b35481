"""The committer: writes each batch's telemetry and relational rows, then acknowledges it.

Up to two batches are in flight: store threads write batch N (and N+1) to the telemetry store
while the committer thread gathers the next; then, batch by batch in arrival order, the
committer records dead letters, events and gateway state in one relational transaction, waits
until the listener pump has handed the batch over, and acknowledges it. While a store is down
the same batch is retried with backoff and nothing is acknowledged.

A batch a store *refuses* (a data error, not an outage) is split per message; each refused
message becomes a ``store_rejected`` dead letter and is acknowledged, so one poisonous message
cannot block a gateway forever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from wardlink.hub.errors import StoreError
from wardlink.hub.ingest.batcher import Batcher
from wardlink.hub.ingest.counters import IngestContext, WorkerRow
from wardlink.hub.ingest.deadletter import STORE_REJECTED, DeadLetter
from wardlink.hub.ingest.events import rows_for_batch
from wardlink.hub.ingest.gateways import GatewayTracker
from wardlink.hub.ingest.isolate import is_data_error
from wardlink.hub.ingest.items import Item, ItemKind
from wardlink.hub.ingest.points import PointBuilder
from wardlink.hub.ingest.pump import ListenerPump
from wardlink.hub.ingest.receiver import Receiver
from wardlink.hub.ingest.records import IngestRecords
from wardlink.hub.ingest.sequence import observations
from wardlink.hub.telemetry.model import StoreRejected, StoreUnavailable, TelemetryStore
from wardlink.protocol import EventBatch, Status, TelemetryBatch

log = logging.getLogger(__name__)

IN_FLIGHT = 2  # store writes under way at once; records and acknowledgements stay in arrival order
_Flight = tuple[list[Item], Future[None]]


class Committer:
    """The committer thread and its store threads."""

    def __init__(self, ctx: IngestContext, store: TelemetryStore, points: PointBuilder, tracker: GatewayTracker,
                 batcher: Batcher, receiver: Receiver, pump: ListenerPump, worker_row: WorkerRow, *,
                 dead_letter_limit: int) -> None:
        self._ctx = ctx
        self.store = store
        self._points = points
        self._tracker = tracker
        self._batcher = batcher
        self._receiver = receiver
        self._pump = pump
        self._worker_row = worker_row
        self._dl_limit = dead_letter_limit
        self._records: IngestRecords | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, records: IngestRecords) -> None:
        self._records = records
        # One store thread per batch in flight: while the store takes in one batch the next
        # is already formatted and sent, so the server never waits for this process.
        self._pool = ThreadPoolExecutor(max_workers=IN_FLIGHT,
                                        thread_name_prefix=f"ingest-store[{self._ctx.client_id}]")
        self._thread = threading.Thread(target=self._run, name=f"ingest-writer[{self._ctx.client_id}]", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive():
            self._ctx.abort.set()
            thread.join(10)

    def shutdown_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=not self._ctx.abort.is_set(), cancel_futures=True)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def records(self) -> IngestRecords:
        if self._records is None:
            raise StoreError("ingest records not open (the worker is not started)")
        return self._records

    # ------------------------------------------------------------------ the committer thread

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # a bug: log it loudly; nothing unacknowledged is lost
            log.exception("ingest %s: writer thread failed", self._ctx.client_id)
            self._ctx.error("writer thread failed; see the log")
            self._ctx.stopped.set()  # let run_forever() return so a supervisor restarts the process
            raise

    def _loop(self) -> None:
        # Records and acknowledgements happen strictly in arrival order, each batch's only after
        # its own write succeeded.
        inflight: deque[_Flight] = deque()
        pool = self._pool
        assert pool is not None
        while True:
            self._ctx.beat("writer")
            head = inflight[0][1] if inflight else None
            if head is not None and (head.done() or len(inflight) >= IN_FLIGHT):
                self._finish(*inflight.popleft())
                continue
            items = self._batcher.take(wake=head)
            if items is None:
                while inflight and not self._ctx.abort.is_set():
                    self._finish(*inflight.popleft())
                return
            if items:
                future = pool.submit(self.store_phase, items)
                future.add_done_callback(self._batcher.wake)
                inflight.append((items, future))
            self.maybe_publish_stats()
            self._receiver.check_sequences(self.records)

    def _finish(self, items: list[Item], future: Future[None]) -> None:
        """Complete a batch whose store write was started: retry what failed, record, acknowledge."""
        while not wait_futures([future], timeout=1.0).done:
            self._ctx.beat("writer")  # waiting for a store that takes its time (it has timeouts of its own)
        exc = future.exception()
        if exc is not None and not isinstance(exc, StoreError):
            raise exc
        if not self._ctx.abort.is_set():
            self._process(items)

    def _process(self, items: list[Item]) -> None:
        """Commit ``items`` (retrying while a store is unavailable), wait for the listeners, then acknowledge."""
        recorded = False  # the records are committed once, however often the store write is retried

        def commit() -> None:
            nonlocal recorded
            self.store_phase(items)
            if not recorded:
                self._record_phase(items)
                recorded = True

        if not self._ctx.retrying(commit, "stores"):
            return  # stopping without draining: nothing acknowledged, the broker keeps it all
        if self._pump.await_items(items):
            self._receiver.ack(items)

    # ------------------------------------------------------------------ telemetry store

    def store_phase(self, items: list[Item]) -> None:
        """Write the telemetry points of ``items`` not yet written (runs in the store threads too)."""
        telemetry = [i for i in items if i.outcome is ItemKind.TELEMETRY and not i.written]
        for item in telemetry:
            if item.points is None:
                item.points = self._points.points(item.telemetry)
        if telemetry:
            self._write_points(telemetry)

    def _write_points(self, telemetry: list[Item]) -> None:
        try:
            self.store.write([p for item in telemetry for p in item.points or ()])
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
                    self.store.write(item.points or ())
                except Exception as item_exc:
                    if not is_data_error(item_exc):
                        raise
                    self._reject(item, item_exc)
                else:
                    written.append(item)
        count = 0
        for item in written:
            item.written = True
            count += len(item.points or ())
        with self._ctx.counters.lock:
            self._ctx.counters.points_written += count

    def _reject(self, item: Item, exc: Exception) -> None:
        """Dead-letter ``item``: a store refused what it carries."""
        d = item.delivery
        log.warning("ingest %s: store refused %s: %s", self._ctx.client_id, d.topic, exc)
        item.dead = DeadLetter.of(d.topic, d.payload, reason=STORE_REJECTED, detail=str(exc),
                                  received_ms=d.received_ms, gateway=item.gateway, limit=self._dl_limit)
        item.event_rows = None

    # ------------------------------------------------------------------ relational store

    def _record_phase(self, items: list[Item]) -> None:
        """Write events, dead letters and gateway state of ``items`` in one transaction."""
        for item in items:
            if item.outcome is ItemKind.EVENTS and item.event_rows is None and isinstance(item.message, EventBatch):
                item.event_rows = rows_for_batch(item.message, item.delivery.received_ms,
                                                 self._points.event_assets(item.message))
        todo = [item for item in items if not item.tracked]  # tracked: its rows are committed
        try:
            self._track_and_commit(todo, with_stats=True)
        except StoreRejected as exc:
            # Some row the database refuses (a data error, not an outage: that is StoreUnavailable
            # and retried as a whole): commit message by message, so the refused one is
            # dead-lettered alone and leaves nothing in the gateway state; the rest commit.
            log.warning("ingest %s: relational store refused a batch: %s", self._ctx.client_id, exc)
            for item in todo:
                self._commit_alone(item)
        self._count(items)

    def _commit_alone(self, item: Item) -> None:
        try:
            self._track_and_commit([item])
        except StoreRejected as exc:
            if item.outcome is not ItemKind.DEAD:
                self._reject(item, exc)
            try:  # the dead letter alone, the message's effect on the gateway state left out
                self._track_and_commit([item], track=False)
            except StoreRejected as again:
                raise StoreUnavailable(f"cannot store a dead letter: {again}") from again

    def _count(self, items: list[Item]) -> None:
        now = self._ctx.now_ms()
        c = self._ctx.counters
        oldest = min((item.delivery.received_ms for item in items), default=now)
        with c.lock:
            c.last_commit_ms = now
            c.commit_lag_ms = max(0, now - oldest)
            for item in items:
                kind = item.outcome
                if kind is ItemKind.TELEMETRY:
                    c.telemetry_batches += 1
                elif kind is ItemKind.EVENTS:
                    c.event_batches += 1
                elif kind is ItemKind.STATUS:
                    c.status_messages += 1
                elif kind is ItemKind.IGNORED:
                    c.ignored += 1
                else:
                    c.dead_lettered += 1

    def _track_and_commit(self, items: list[Item], *, with_stats: bool = False, track: bool = True) -> None:
        """Observe ``items`` in the gateway tracker and commit their rows; on failure, forget them."""
        saved = self._tracker.snapshot(gateway for item in items if (gateway := item.gateway) is not None)
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

    def _track(self, item: Item) -> list[dict[str, Any]]:
        msg, received_ms = item.message, item.delivery.received_ms
        if isinstance(msg, Status):
            self._tracker.observe_status(msg, received_ms)
            return []
        if isinstance(msg, TelemetryBatch):
            return self._tracker.observe_batch("telemetry", msg.gateway, msg.boot, msg.seq, received_ms,
                                               readings=item.weight, last_reading_ts_ms=item.last_ts_ms)
        if isinstance(msg, EventBatch):
            return self._tracker.observe_batch("events", msg.gateway, msg.boot, msg.seq, received_ms)
        return []

    def _commit_records(self, items: list[Item], *, with_stats: bool = False) -> None:
        dead = [i.dead for i in items if i.dead is not None]
        event_rows = [row for i in items if i.outcome is ItemKind.EVENTS for row in (i.event_rows or ())]
        event_rows += [note for i in items for note in i.notes]
        self.records.commit(dead=dead, event_rows=event_rows, gateway_rows=self._tracker.dirty_rows(),
                            sequences=observations(items), now_ms=round(time.time() * 1000),
                            worker=self._worker_row.row_if_due() if with_stats else None)

    # ------------------------------------------------------------------ counters

    def maybe_publish_stats(self) -> None:
        """Publish the worker's counters when due."""
        if not self._worker_row.due() or self._records is None:
            return
        try:
            self._records.commit(worker=self._worker_row.row())
        except StoreError as exc:
            self._ctx.error(f"cannot publish worker counters: {exc}")

    def publish_stats_while_retrying(self) -> None:
        """Publish the counters during a retry too, so health sees a worker stuck retrying."""
        if self._worker_row.due() and self._records is not None:
            try:
                self._records.commit(worker=self._worker_row.row())
            except StoreError:
                pass  # the relational store is what fails: the error being retried says so
