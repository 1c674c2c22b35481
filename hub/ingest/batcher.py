"""The batcher: decoded items queued by the network thread, taken in batches by the committer.

Batches hold at most ``max_points`` readings and are at most ``max_delay_s`` old, or are taken
sooner when no new message arrives for ``idle_flush_s`` (the broker may be holding the rest
until it sees acknowledgements). The same items are queued for the listener pump, which takes
everything waiting at once without any age bound. While two batches' worth of readings wait,
:meth:`Batcher.put` holds the network thread back (for a bounded time), so the broker keeps
the rest.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable

from wardlink.hub.ingest.counters import IngestContext
from wardlink.hub.ingest.items import Item


class Batcher:
    """The queues between the network thread, the committer and the listener pump."""

    def __init__(self, ctx: IngestContext, *, max_points: int, max_delay_s: float, idle_flush_s: float,
                 max_pending: int, max_pending_points: int, put_wait_s: float, listening: bool) -> None:
        self._ctx = ctx
        self._max_points = max_points
        self._max_delay = max_delay_s
        self._idle_flush = idle_flush_s
        self._max_pending = max_pending
        self._max_pending_points = max_pending_points
        self._put_wait = put_wait_s
        self._listening = listening
        lock = threading.RLock()
        self._cond = threading.Condition(lock)  # the queues changed (or stopping)
        # The listeners took items: a committer waiting to acknowledge them wakes. Kept apart
        # from _cond, whose wake-ups the committer reads as "new message" while it gathers a batch.
        self._listened = threading.Condition(lock)
        self._queue: deque[Item] = deque()
        self._queued_weight = 0
        self._listen_queue: deque[Item] = deque()  # the same items, for the listener pump
        self._unacked_since: deque[int] = deque()  # received_ms of each unacknowledged item, oldest first

    def clear(self) -> None:
        """Forget everything queued (on start: it was never acknowledged, the broker sends it again)."""
        with self._cond:
            self._queue.clear()
            self._listen_queue.clear()
            self._queued_weight = 0
            self._unacked_since.clear()
            self._ctx.counters.reset_pending()

    def wake(self, _future: Future[Any] | None = None) -> None:
        """Wake every thread waiting on the queues (a store write finished, or stopping)."""
        with self._cond:
            self._cond.notify_all()

    def put(self, item: Item) -> None:
        """Queue ``item`` (network thread), first waiting a while if too much is queued already."""
        stopping = self._ctx.stopping
        with self._cond:
            # Back-pressure: stop reading the socket (TCP pushes back, the broker keeps the rest)
            # until the committer catches up. Bounding the readings decoded ahead of it bounds
            # memory, and the objects the garbage collector walks on every full pass. This is
            # paho's network thread, which also sends the keep-alive pings: it waits at most
            # ``put_wait_s`` per message (a quarter of the keep-alive), so a long store outage
            # never lets the broker drop the connection. While we wait nothing is acknowledged,
            # so the broker's in-flight window (max_inflight_messages) bounds what arrives meanwhile.
            deadline = time.monotonic() + self._put_wait
            while ((len(self._queue) >= self._max_pending or self._queued_weight >= self._max_pending_points)
                   and not stopping.is_set()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(0.5, remaining))
            item.queued_at = time.monotonic()
            self._queue.append(item)
            if self._listening and item.kind.listened:
                self._listen_queue.append(item)
            else:
                item.listened = True
            self._queued_weight += item.weight
            self._unacked_since.append(item.delivery.received_ms)
            with self._ctx.counters.lock:
                self._ctx.counters.pending += 1
            self._cond.notify_all()

    def take(self, *, wake: Future[Any] | None = None) -> list[Item] | None:
        """Wait for items and return a batch; [] on an idle tick or when ``wake`` completes, None when stopping."""
        ctx = self._ctx
        with self._cond:
            if not self._queue:
                if ctx.stopping.is_set():
                    return None
                if wake is None or not wake.done():
                    self._cond.wait(0.5)
                if not self._queue:
                    return None if ctx.stopping.is_set() else []
            if ctx.stopping.is_set() and not ctx.drain:
                return None
            self._gather(wake)
            items = self._pop(self._queue)
            self._queued_weight -= sum(item.weight for item in items)
            self._cond.notify_all()
            return items

    def _gather(self, wake: Future[Any] | None) -> None:
        """Wait (holding the lock's condition) until a batch is full, old enough, or idle."""
        # The age bound counts from the oldest item's arrival: one that waited while the
        # committer was busy with the previous batch does not wait a full delay more.
        deadline = self._queue[0].queued_at + self._max_delay
        while (self._queued_weight < self._max_points and not self._ctx.stopping.is_set()
               and (wake is None or not wake.done())):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            before = len(self._queue)
            self._cond.wait(min(left, self._idle_flush))
            if len(self._queue) == before:
                break  # nothing new: the broker may be waiting for our acknowledgements

    def _pop(self, queue: deque[Item]) -> list[Item]:
        """Take items off ``queue`` up to a batch's readings (at least one)."""
        items: list[Item] = []
        weight = 0
        while queue and (not items or weight + queue[0].weight <= self._max_points):
            item = queue.popleft()
            weight += item.weight
            items.append(item)
        return items

    def take_for_listeners(self) -> list[Item] | None:
        """Return every item waiting for the listeners (up to a batch); None when stopping."""
        ctx = self._ctx
        with self._cond:
            while not self._listen_queue:
                if ctx.stopping.is_set():
                    return None  # the network thread takes in nothing more once stopping
                self._cond.wait(0.5)
                ctx.beat("listener")
            if ctx.abort.is_set():
                return None
            return self._pop(self._listen_queue)

    def mark_listened(self, items: list[Item]) -> None:
        """Record that the listeners took ``items``; wake the committer waiting for them."""
        with self._listened:
            for item in items:
                item.listened = True
            self._listened.notify_all()

    def wake_listened(self) -> None:
        with self._listened:
            self._listened.notify_all()

    def await_listened(self, items: list[Item], pump_alive: Callable[[], bool]) -> bool:
        """Wait until the listeners have taken ``items``; False when aborting or the pump is gone."""
        with self._listened:
            while not all(item.listened for item in items):
                if self._ctx.abort.is_set() or not pump_alive():
                    return False  # not acknowledged: the broker sends them again
                self._listened.wait(0.5)
                self._ctx.beat("writer")  # waiting for the listener loop, which has a heartbeat of its own
        return True

    def acknowledged(self, count: int, acked: int) -> None:
        """``count`` items left the worker (oldest first), ``acked`` of them with a PUBACK sent."""
        with self._cond:
            for _ in range(min(count, len(self._unacked_since))):
                self._unacked_since.popleft()  # acknowledged in arrival order: the oldest ones
            c = self._ctx.counters
            with c.lock:  # pending and acked move in one step: a reader sees both or neither
                c.pending -= count
                c.acked += acked

    def depth(self) -> tuple[int, int]:
        """Return (messages, readings) queued for the committer, not yet taken into a store write."""
        with self._cond:
            return len(self._queue), self._queued_weight

    def oldest_pending_ms(self) -> int | None:
        try:
            return self._unacked_since[0]
        except IndexError:  # none pending (or the last one acknowledged meanwhile)
            return None
