"""The ingest worker's counters, its shared running state, and the row it publishes for health pages.

:class:`IngestContext` is what every part of a worker shares: its id and clock, the counters,
the stop/abort signals, the last error and the retry loop that counts store errors.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from wardlink.hub.errors import StoreError
from wardlink.hub.ingest.deadletter import storable
from wardlink.clock import Clock
from wardlink.retry import Backoff, OutageLog, RetryAborted, retry
from wardlink.systemd import Heartbeat

log = logging.getLogger(__name__)

#: How long a worker's loops may go without a round before the watchdog calls them wedged
#: (``wardlink hub ingest`` sets it to half the systemd watchdog period).
DEFAULT_MAX_SILENCE_S = 150.0


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
    readings_received: int = 0  # readings in the telemetry messages received, re-deliveries included
    reconnects: int = 0  # connections made again after the first
    commit_lag_ms: int | None = None  # last committed batch: from its oldest message's arrival to the commit


@dataclass(slots=True)
class Counters:
    """The running counts; read and written under :attr:`lock`."""

    lock: threading.Lock
    received: int = 0
    telemetry_batches: int = 0
    event_batches: int = 0
    status_messages: int = 0
    ignored: int = 0
    points_written: int = 0
    dead_lettered: int = 0
    acked: int = 0
    store_errors: int = 0
    pending: int = 0  # received, not yet acknowledged (acknowledged in the same step as ``acked``)
    resend_requests: int = 0
    readings_received: int = 0
    reconnects: int = 0
    commit_lag_ms: int | None = None
    last_error: str | None = None
    last_error_ms: int | None = None
    started_ms: int | None = None
    last_commit_ms: int | None = None

    def reset_pending(self) -> None:
        with self.lock:
            self.pending = 0


class IngestContext:
    """What the parts of one worker share: identity, clock, counters, signals and the retry loop."""

    def __init__(self, client_id: str, clock: Clock, *, retry_initial_s: float, retry_max_s: float) -> None:
        self.client_id = client_id
        self.clock = clock
        self.counters = Counters(threading.Lock())
        self.stopping = threading.Event()  # stop asked: take in nothing new
        self.abort = threading.Event()  # stop now: acknowledge nothing more
        self.stopped = threading.Event()  # stopped, or a thread failed (run_forever returns)
        self.drain = True  # on stop, commit and acknowledge what is in hand first
        self.retrying_since: dict[str, int] = {}  # "stores"/"listeners" -> when its retries began (ms)
        # What is being retried, logged at a bounded rate: the stores (telemetry, relational)
        # and the listeners' database.
        self.outages = {what: OutageLog(log, f"ingest {client_id}: {text}", clock=clock)
                        for what, text in (("stores", "a store"), ("listeners", "the rules engine's database"))}
        # Each loop beats on every round, its waits included; the systemd watchdog reads them.
        self.heartbeats = {loop: Heartbeat(f"ingest {client_id}'s {loop} loop", DEFAULT_MAX_SILENCE_S, clock)
                           for loop in ("writer", "listener")}
        self.on_retry: Callable[[], None] = lambda: None  # called after each failed attempt
        self._retry_initial = retry_initial_s
        self._retry_max = retry_max_s

    def now_ms(self) -> int:
        return round(self.clock.now() * 1000)

    def beat(self, loop: str) -> None:
        """Record that the ``writer`` or ``listener`` loop went round."""
        self.heartbeats[loop].beat()

    def error(self, text: str, *, log_it: bool = True) -> None:
        """Record ``text`` as the last error (published in the worker's row), and log it."""
        c = self.counters
        with c.lock:
            c.last_error = storable(text)
            c.last_error_ms = self.now_ms()
        if log_it:
            log.warning("ingest %s: %s", self.client_id, text)

    def retrying(self, step: Callable[[], None], what: str) -> bool:
        """Run ``step`` until it does not raise StoreError, backing off; False if aborted meanwhile.

        The first failure is logged at once (one line: the server and the reason), then a
        reminder at most every minute while it lasts, and its end (:class:`OutageLog`).
        """
        outage = self.outages[what]
        loop = "writer" if what == "stores" else "listener"

        def failed(exc: BaseException, failures: int) -> None:
            self.beat(loop)  # alive, and retrying
            with self.counters.lock:
                self.counters.store_errors += 1
            self.error(str(exc), log_it=False)
            outage.failed(str(exc))
            self.retrying_since.setdefault(what, self.now_ms())
            self.on_retry()

        try:
            retry(step, Backoff(self._retry_initial, self._retry_max), retry_on=StoreError, stop=self.abort,
                  on_error=failed)
        except RetryAborted:
            return False
        self.retrying_since.pop(what, None)
        outage.recovered()
        return True


class WorkerRow:
    """Builds the row of counters a worker publishes to the relational store, every ``interval_s``."""

    def __init__(self, ctx: IngestContext, stats: Callable[[], IngestStats], oldest_pending: Callable[[], int | None],
                 share_group: str | None, interval_s: float) -> None:
        self._ctx = ctx
        self._stats = stats
        self._oldest_pending = oldest_pending
        self._share_group = share_group
        self._interval = interval_s
        self._next = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def row(self) -> dict[str, Any]:
        """Return the row to publish now (the next one is due an interval later)."""
        self._next = time.monotonic() + self._interval
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        """Return the row as it stands, without changing when the next one is published."""
        s = self._stats()
        return {"client_id": s.client_id, "hostname": socket.gethostname(), "pid": os.getpid(),
                "started_ms": s.started_ms or 0, "updated_ms": self._ctx.now_ms(), "connected": s.connected,
                "received": s.received, "points_written": s.points_written, "dead_lettered": s.dead_lettered,
                "acked": s.acked, "store_errors": s.store_errors, "pending": s.pending,
                "last_error": s.last_error, "last_error_ms": s.last_error_ms,
                "oldest_pending_ms": self._oldest_pending(),
                "retrying_since_ms": min(list(self._ctx.retrying_since.values()), default=None),
                "share_group": self._share_group}

    def row_if_due(self) -> dict[str, Any] | None:
        return self.row() if self.due() else None

    def final_row(self) -> dict[str, Any]:
        """The row of a stopped worker that holds nothing (unacknowledged messages stay with the broker)."""
        return {**self.row(), "connected": False, "pending": 0, "oldest_pending_ms": None,
                "retrying_since_ms": None}


def publish_final(commit: Callable[[dict[str, Any]], None], row: dict[str, Any], client_id: str) -> None:
    """Commit a stopped worker's final row on a thread of its own, waited for a few seconds at most.

    A database that does not answer must not hold up the stop (the row then just ages, and
    health says so).
    """

    def publish() -> None:
        try:
            commit(row)
        except StoreError as exc:
            log.info("ingest %s: cannot publish the final counters: %s", client_id, exc)

    thread = threading.Thread(target=publish, name=f"ingest-final-stats[{client_id}]", daemon=True)
    thread.start()
    thread.join(5)
