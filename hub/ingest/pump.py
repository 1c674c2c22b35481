"""The listener pump: hands decoded items to the listeners (the rules engine) on a thread of its own.

Everything decoded since its previous call, in arrival order, without waiting for the store
write or the batch age bound, so an alarm is raised as soon as its reading arrives and an
outage of the telemetry store does not hold alarms back. A listener whose database is down is
retried with backoff, and its items are not acknowledged meanwhile (the committer waits for
:meth:`ListenerPump.await_items` before it acknowledges).
"""

from __future__ import annotations

import logging
import threading
from typing import Sequence

from wardlink.hub.errors import ConfigError, StoreError
from wardlink.hub.ingest.batcher import Batcher
from wardlink.hub.ingest.counters import IngestContext
from wardlink.hub.ingest.deadletter import LISTENER_REJECTED, DeadLetter
from wardlink.hub.ingest.isolate import is_data_error
from wardlink.hub.ingest.items import LISTENER_METHODS, IngestListener, Item, ItemKind
from wardlink.hub.ingest.points import PointBuilder
from wardlink.hub.ingest.records import IngestRecords
from wardlink.hub.telemetry.model import Point
from wardlink.protocol import EventBatch, Status

log = logging.getLogger(__name__)


def checked_listeners(listeners: Sequence[IngestListener]) -> tuple[IngestListener, ...]:
    """Return ``listeners``, or raise ConfigError naming a listener without a method ingest calls."""
    for listener in listeners:
        if not isinstance(listener, IngestListener):
            raise ConfigError(f"listeners: {type(listener).__name__} is not an ingest listener "
                              f"(one implements {', '.join(LISTENER_METHODS)})")
    return tuple(listeners)


class ListenerPump:
    """The listener thread: takes items from the batcher and hands them to each listener once."""

    def __init__(self, ctx: IngestContext, listeners: tuple[IngestListener, ...], batcher: Batcher,
                 points: PointBuilder, *, dead_letter_limit: int) -> None:
        self._ctx = ctx
        self.listeners = listeners
        self._batcher = batcher
        self._points = points
        self._dl_limit = dead_letter_limit
        self._records: IngestRecords | None = None
        self._thread: threading.Thread | None = None

    def start(self, records: IngestRecords) -> None:
        self._records = records
        if not self.listeners:
            return
        self._thread = threading.Thread(target=self._run, name=f"ingest-listeners[{self._ctx.client_id}]",
                                        daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None:
            self._batcher.wake()
            thread.join(timeout)
            self._batcher.wake_listened()

    def alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def await_items(self, items: list[Item]) -> bool:
        """Wait until the listeners have taken ``items``; False when stopping without them."""
        return self._batcher.await_listened(items, self.alive)

    def _run(self) -> None:
        try:
            while True:
                self._ctx.beat("listener")
                items = self._batcher.take_for_listeners()
                if items is None or not self._notify_until_done(items):
                    break
                self._batcher.mark_listened(items)
        except Exception:  # a bug: log it loudly; nothing unacknowledged is lost
            log.exception("ingest %s: listener thread failed", self._ctx.client_id)
            self._ctx.error("listener thread failed; see the log")
            self._ctx.stopped.set()  # let run_forever() return so a supervisor restarts the process
            raise
        finally:
            self._batcher.wake_listened()  # a committer waiting for this thread sees it gone

    def _notify_until_done(self, items: list[Item]) -> bool:
        """Hand ``items`` to the listeners, retrying while one's database is down; False if aborted."""
        notified: set[int] = set()  # listeners done with these items: a retry does not repeat them

        def hand_over() -> None:
            for item in items:
                if item.outcome is ItemKind.TELEMETRY and item.points is None:
                    # The resolver could not answer in the network thread (its database was
                    # down); the store thread may be building the same list: either will do.
                    item.points = self._points.points(item.telemetry)
            self._notify(items, notified)

        return self._ctx.retrying(hand_over, "listeners")

    def _notify(self, items: list[Item], notified: set[int]) -> None:
        """Hand committed points, events and statuses to the listeners (e.g. the rules engine).

        A listener's :class:`StoreError` (its database is down) fails the batch, which is then
        retried without acknowledging, so no alarm is lost to an outage; when its database
        refused the data instead, the items are handed over one by one and the refused one
        becomes a ``listener_rejected`` dead letter. Any other exception is a bug in the
        listener, logged and counted, and ingest goes on.
        """
        for index, listener in enumerate(self.listeners):
            if index in notified:
                continue
            try:
                hand_to(listener, items)
            except StoreError as exc:
                if not is_data_error(exc):
                    raise
                self._notify_each(listener, items, exc)
            except Exception:  # another area's code: its failure must not stop ingest
                log.exception("ingest %s: listener %r failed", self._ctx.client_id, listener)
                self._ctx.error(f"listener {type(listener).__name__} failed; see the log")
            notified.add(index)

    def _notify_each(self, listener: IngestListener, items: list[Item], exc: Exception) -> None:
        """Hand ``items`` to ``listener`` one at a time; dead-letter each one whose data it refuses."""
        name = type(listener).__name__
        log.warning("ingest %s: listener %s refused a batch: %s", self._ctx.client_id, name, exc)
        for item in items:
            try:
                hand_to(listener, [item])
            except StoreError as item_exc:
                if not is_data_error(item_exc):
                    raise
                d = item.delivery
                letter = DeadLetter.of(d.topic, d.payload, reason=LISTENER_REJECTED, received_ms=d.received_ms,
                                       detail=f"{name}: {item_exc}", gateway=item.gateway, limit=self._dl_limit)
                if self._records is None:
                    raise StoreError("ingest records not open") from item_exc
                self._records.commit(dead=[letter])
                self._ctx.error(f"listener {name} refused {d.topic}: {item_exc}")
                with self._ctx.counters.lock:
                    self._ctx.counters.dead_lettered += 1


def hand_to(listener: IngestListener, items: list[Item]) -> None:
    """Call ``listener`` for ``items`` in arrival order, consecutive telemetry batches in one call."""
    points: list[Point] = []
    for item in items:
        kind, message = item.outcome, item.message
        if kind is ItemKind.TELEMETRY:
            points.extend(item.points or ())
            continue
        if points:
            listener.on_points(points)
        points = []
        if kind is ItemKind.EVENTS and isinstance(message, EventBatch):
            listener.on_events(message.gateway, message.events)
        elif kind is ItemKind.STATUS and isinstance(message, Status):
            listener.on_status(message.gateway, message, item.delivery.received_ms)
    if points:
        listener.on_points(points)

