"""The store-and-forward buffer: every reading and event is committed here before it is sent.

One SQLite file in WAL mode, through the standard library's sqlite3. Rows are deleted only
after the broker acknowledged them.
The durability contract is written in ``docs/edge.md``; in short:

* a reading is durable once :meth:`Buffer.add_readings` returns (the sampler group-commits at
  most ``buffer.commit_interval`` <= 1 s after sampling); events commit at once;
* with ``synchronous = "full"`` (default) each commit fsyncs the WAL, so a committed row
  survives ``kill -9`` and power loss;
* the buffer is bounded by rows and bytes; when full, the oldest telemetry goes first, events
  keep ``reserved_event_rows`` of room, and every drop is counted and marked by a
  ``buffer.overflow`` event (first/last timestamp and count);
* a corrupt file is renamed aside (never deleted) and reported with a ``buffer.corrupt`` event;
  SQLITE_FULL from the disk makes the buffer shed its oldest telemetry and lower its byte cap.

A :class:`Buffer` must be used from one thread at a time; the gateway gives it a thread of its own.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Sequence

from wardlink.clock import Clock, SystemClock, now_ms
from wardlink.protocol import Event, storable

from wardlink.edge.buffer_file import (
    DB_NAME, EVENT_ROW_BYTES, JOURNAL_NAME, JOURNAL_SCHEMA, SCHEMA, SCHEMA_VERSION, BufferStats, is_corruption,
    is_disk_full, move_aside, read_stats,
)
from wardlink.edge.config import BufferConfig
from wardlink.edge.errors import StoreError, StoreFullError

__all__ = ["DB_NAME", "Buffer", "BufferStats", "Row", "is_corruption", "is_disk_full", "move_aside", "read_stats"]

log = logging.getLogger(__name__)

#: One buffered reading as the forwarder sees it: (row id, channel, ts_ms, value, quality).
Row = tuple[int, str, int, float | None, str]


class Buffer:
    """A bounded, durable SQLite buffer of readings and events awaiting acknowledgement."""

    def __init__(self, data_dir: str | os.PathLike, config: BufferConfig | None = None, *,
                 clock: Clock | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self.config = config or BufferConfig()
        self.clock = clock or SystemClock()
        self._conn: sqlite3.Connection | None = None
        self._channels: dict[str, int] = {}
        self._names: dict[int, str] = {}
        self._readings = 0
        self._id_watermark: dict[str, int] = {}
        self._sent = 0
        self._sent_limit = 0  # trim the kept acknowledged readings when there are more than this
        self._events = 0
        self._meta: dict[str, Any] = {}
        self._byte_cap = self.config.max_bytes
        self._page_size = 4096
        #: Events created by the buffer itself (corruption, overflow) since the last call to
        #: :meth:`take_notices`; the gateway logs them and wakes the forwarder.
        self._notices: list[str] = []

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> Buffer:
        """Open (creating if needed) the database; move a corrupt file aside and start afresh."""
        if self._conn is not None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._connect()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise StoreError(f"cannot open buffer {self.path}: {exc}") from exc
            self._recover_from_corruption(exc)
        return self

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch to WAL journal mode (got {mode})")
            conn.execute(f"PRAGMA synchronous = {self.config.synchronous.upper()}")
            conn.execute("PRAGMA journal_size_limit = 67108864")
            check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check}")
            conn.executescript(SCHEMA)
            if "acked_ms" not in {row[1] for row in conn.execute("PRAGMA table_info(sent)")}:
                conn.execute("ALTER TABLE sent ADD COLUMN acked_ms INTEGER")  # a buffer from before the column
            if self.config.journal:
                conn.execute("ATTACH DATABASE ? AS journal", (str(self.data_dir / JOURNAL_NAME),))
                conn.execute("PRAGMA journal.journal_mode = WAL")
                conn.execute(f"PRAGMA journal.synchronous = {self.config.synchronous.upper()}")
                conn.executescript(JOURNAL_SCHEMA)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if "quick_check" in str(exc):
                exc.sqlite_errorcode = sqlite3.SQLITE_CORRUPT
            raise
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        self._load_state()

    def _load_state(self) -> None:
        conn = self._connection
        self._channels = {name: cid for cid, name in conn.execute("SELECT id, name FROM channels")}
        self._names = {cid: name for name, cid in self._channels.items()}
        self._readings = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        self._sent = conn.execute("SELECT count(*) FROM sent").fetchone()[0]
        self._events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        self._meta = {k: v for k, v in conn.execute("SELECT key, value FROM meta")}
        if "schema" not in self._meta:
            self._set_meta(schema=SCHEMA_VERSION, created_ms=now_ms(self.clock))

    def _recover_from_corruption(self, exc: BaseException) -> None:
        # Ids handed out so far may still be in flight: the new file continues after them.
        last_ids = self._last_ids()
        self._close_conn()
        moved = move_aside(self.path, self.clock)
        log.error("buffer %s is corrupt (%s); moved aside to %s and starting a new buffer", self.path, exc, moved)
        self._connect()
        for table, seq in last_ids.items():
            self._connection.execute("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)", (table, seq))
        self.add_event(Event("buffer.corrupt", now_ms(self.clock), severity="critical",
                             data={"moved_to": str(moved), "error": str(exc)[:200]}))

    def _last_ids(self) -> dict[str, int]:
        if self._conn is None:
            return {}
        try:
            return {name: seq for name, seq in self._conn.execute("SELECT name, seq FROM sqlite_sequence")}
        except sqlite3.DatabaseError:
            return dict(self._id_watermark)

    def _close_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        """Checkpoint and close the database; idempotent."""
        if self._conn is None:
            return
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # a checkpoint is an optimisation; the WAL is still valid
            log.warning("buffer checkpoint on close failed: %s", exc)
        self._close_conn()

    def __enter__(self) -> Buffer:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            raise StoreError("buffer is not open")
        return conn

    @property
    def db(self) -> sqlite3.Connection:
        """Return the open database's connection (for inspection; the buffer's methods write)."""
        return self._connection

    # ------------------------------------------------------------------ transactions

    def _write(self, fn, *args):
        """Run ``fn`` in one immediate transaction, handling disk-full and corruption."""
        if self._conn is None:
            raise StoreError("buffer is not open")
        for attempt in range(3):
            try:
                return self._transaction(fn, *args)
            except sqlite3.DatabaseError as exc:
                if is_corruption(exc):
                    self._recover_from_corruption(exc)
                    continue
                if is_disk_full(exc) and attempt == 0:
                    self._shed_for_disk_full(exc)
                    continue
                if is_disk_full(exc):
                    raise StoreFullError(f"buffer {self.path}: disk full even after dropping old telemetry") from exc
                raise StoreError(f"buffer {self.path}: {exc}") from exc
        raise StoreError(f"buffer {self.path}: write failed repeatedly")

    def _transaction(self, fn, *args):
        conn = self._connection
        saved = (self._readings, self._events, dict(self._meta), dict(self._channels))
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(*args)
            conn.execute("COMMIT")
            return result
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._readings, self._events, self._meta, self._channels = saved
            self._names = {cid: name for name, cid in self._channels.items()}
            raise

    def _set_meta(self, **values: Any) -> None:
        self._connection.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )
        self._meta.update(values)

    def _channel_id(self, name: str) -> int:
        cid = self._channels.get(name)
        if cid is None:
            cid = self._connection.execute("INSERT INTO channels(name) VALUES (?)", (name,)).lastrowid
            assert cid is not None  # every INSERT sets it
            self._channels[name] = cid
            self._names[cid] = name
        return cid

    # ------------------------------------------------------------------ writing

    def add_readings(self, readings: Sequence[tuple[str, int, float | None, str]]) -> tuple[int, int]:
        """Commit readings ``(channel, ts_ms, value, quality)``; return their (first, last) row ids.

        Ids are contiguous and increase forever (AUTOINCREMENT), so a range identifies them.
        Returns ``(0, -1)`` for an empty list.
        """
        if not readings:
            return (0, -1)
        return self._write(self._add_readings, readings)

    def _add_readings(self, readings):
        conn = self._connection
        cid = self._channel_id
        rows = [(cid(ch), ts, value, None if quality == "good" else quality) for ch, ts, value, quality in readings]
        cur = conn.executemany("INSERT INTO readings(ch, ts, value, quality) VALUES (?, ?, ?, ?)", rows)
        last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'readings'").fetchone()[0]
        first = last - len(rows) + 1
        self._id_watermark["readings"] = last
        self._readings += cur.rowcount if cur.rowcount >= 0 else len(rows)
        if self.config.journal:
            conn.executemany(
                "INSERT INTO journal.readings(row_id, channel, ts, value, quality) VALUES (?, ?, ?, ?, ?)",
                [(first + i, r[0], r[1], r[2], r[3]) for i, r in enumerate(readings)],
            )
        self._enforce_bounds()
        return first, last

    def add_event(self, event: Event) -> int:
        """Commit one event at once and return its row id."""
        return self._write(self._add_events, [event])[0]

    def add_events(self, events: Iterable[Event]) -> list[int]:
        """Commit events in one transaction and return their row ids."""
        events = list(events)
        return self._write(self._add_events, events) if events else []

    def _add_events(self, events):
        ids = []
        for e in events:
            # Free text from drivers and devices: NUL and lone surrogates (e.g. bytes a device sent,
            # decoded with surrogateescape) would make the hub refuse the whole event batch.
            data = json.dumps(storable(dict(e.data)), separators=(",", ":"), default=str) if e.data else None
            ids.append(self._connection.execute(
                "INSERT INTO events(ts, type, ch, severity, data) VALUES (?, ?, ?, ?, ?)",
                (e.ts_ms, e.type, e.channel, e.severity, data),
            ).lastrowid)
        self._events += len(ids)
        self._enforce_bounds()
        return ids

    # ------------------------------------------------------------------ bounds

    def used_bytes(self) -> int:
        """Return the bytes of the main database file in use (pages minus free pages)."""
        conn = self._connection
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * self._page_size

    def _enforce_bounds(self) -> None:
        # Twice: the gap marker written by the first pass is itself a row that needs room.
        for _ in range(2):
            self._shed_to_bounds()
            self._maybe_gap_event()

    def _shed_to_bounds(self) -> None:
        cfg = self.config
        # Events may always use the reserved room; beyond it they compete with telemetry.
        telemetry_rows = cfg.max_rows - max(cfg.reserved_event_rows, self._events)
        excess = self._readings - max(telemetry_rows, 0)
        used = self.used_bytes()
        # Room for events, but never more than a tenth of the cap (a lowered cap after disk-full
        # must still leave room for telemetry).
        telemetry_bytes = self._byte_cap - min(cfg.reserved_event_rows * EVENT_ROW_BYTES, self._byte_cap // 10)
        if used > telemetry_bytes and self._sent:
            # Copies kept for resend-from go before any reading that was never sent.
            self._connection.execute("DELETE FROM sent")
            log.warning("buffer near its byte cap: dropped the %d acknowledged readings kept for resend-from",
                        self._sent)
            self._sent = 0
            used = self.used_bytes()
        if used > telemetry_bytes and self._readings:
            per_row = used / max(self._readings + self._events, 1)
            # Shed a little below the cap so that the next commits do not each shed again.
            excess = max(excess, math.ceil((used - telemetry_bytes * 0.98) / per_row))
        if excess > 0 and self._readings:
            self._drop_oldest_readings(min(excess, self._readings))
        over_events = self._events + self._readings - cfg.max_rows
        if over_events > 0 and self._events:
            self._drop_oldest_events(min(over_events, self._events))

    def _drop_oldest_readings(self, count: int) -> None:
        conn = self._connection
        first_id = conn.execute("SELECT id FROM readings ORDER BY id LIMIT 1").fetchone()[0]
        last_id = conn.execute("SELECT id FROM readings ORDER BY id LIMIT 1 OFFSET ?", (count - 1,)).fetchone()[0]
        lo, hi, n = conn.execute(
            "SELECT min(ts), max(ts), count(*) FROM readings WHERE id BETWEEN ? AND ?", (first_id, last_id)
        ).fetchone()
        conn.execute("DELETE FROM readings WHERE id BETWEEN ? AND ?", (first_id, last_id))
        self._readings -= n
        m = self._meta
        gap_n = m.get("gap_count", 0) or 0
        self._set_meta(
            dropped=(m.get("dropped", 0) or 0) + n,
            gap_count=gap_n + n,
            gap_first_ts=lo if not gap_n else min(lo, m.get("gap_first_ts", lo)),
            gap_last_ts=hi if not gap_n else max(hi, m.get("gap_last_ts", hi)),
            gap_first_id=first_id if not gap_n else m.get("gap_first_id", first_id),
            gap_last_id=last_id,
        )
        log.warning("buffer full: dropped %d oldest readings (ids %d..%d)", n, first_id, last_id)

    def _drop_oldest_events(self, count: int) -> None:
        conn = self._connection
        cur = conn.execute("DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)", (count,))
        self._events -= cur.rowcount
        self._set_meta(dropped_events=(self._meta.get("dropped_events", 0) or 0) + cur.rowcount)
        log.error("buffer full of events: dropped %d oldest events", cur.rowcount)

    def _maybe_gap_event(self, *, force: bool = False) -> None:
        m = self._meta
        if not m.get("gap_count"):
            return
        now = self.clock.monotonic()
        last = self._last_gap_event
        if not force and last is not None and now - last < self.config.gap_event_interval:
            return
        self._last_gap_event = now
        data = {
            "dropped": m["gap_count"], "first_ts": m["gap_first_ts"], "last_ts": m["gap_last_ts"],
            "first_id": m.get("gap_first_id"), "last_id": m.get("gap_last_id"),
            "dropped_total": m.get("dropped", 0),
        }
        self._set_meta(gap_count=0)
        self._add_events_unbounded([Event("buffer.overflow", now_ms(self.clock), severity="warning", data=data)])
        self._notices.append(f"buffer overflow: {data['dropped']} oldest readings dropped "
                             f"({data['first_ts']}..{data['last_ts']} ms)")

    _last_gap_event: float | None = None

    def _add_events_unbounded(self, events) -> None:
        for e in events:
            self._connection.execute(
                "INSERT INTO events(ts, type, ch, severity, data) VALUES (?, ?, ?, ?, ?)",
                (e.ts_ms, e.type, e.channel, e.severity, json.dumps(storable(dict(e.data)), separators=(",", ":"))),
            )
            self._events += 1

    def flush_gap_marker(self, *, force: bool = False) -> None:
        """Write a pending ``buffer.overflow`` event if its coalescing interval has passed."""
        if self._meta.get("gap_count"):
            self._write(self._maybe_gap_event_tx, force)

    def _maybe_gap_event_tx(self, force: bool) -> None:
        self._maybe_gap_event(force=force)

    def _shed_for_disk_full(self, exc: BaseException) -> None:
        used = self.used_bytes()
        self._byte_cap = max(min(self._byte_cap, int(used * 0.9)), 64 * 1024)
        log.error("disk full writing the buffer (%s); lowering the byte cap to %d and dropping old telemetry",
                  exc, self._byte_cap)
        self._notices.append(f"disk full: buffer byte cap lowered to {self._byte_cap}")
        try:
            self._transaction(self._shed_tx)
        except sqlite3.Error as exc2:
            log.error("could not free space in the buffer: %s", exc2)

    def _shed_tx(self) -> None:
        count = max(self._readings // 10, min(self._readings, 1000))
        if count:
            self._drop_oldest_readings(count)
        self._maybe_gap_event(force=True)

    def take_notices(self) -> list[str]:
        """Return and forget what the buffer had to do on its own (drops, recoveries)."""
        notices, self._notices = self._notices, []
        return notices

    # ------------------------------------------------------------------ reading

    def fetch_readings(self, after_id: int, before_id: int | None, limit: int) -> list[Row]:
        """Return up to ``limit`` rows with after_id < id < before_id, oldest first."""
        if before_id is None:
            before_id = 1 << 62
        names = self._names
        return [
            (rid, names[ch], ts, value, quality or "good")
            for rid, ch, ts, value, quality in self._connection.execute(
                "SELECT id, ch, ts, value, quality FROM readings WHERE id > ? AND id < ? ORDER BY id LIMIT ?",
                (after_id, before_id, limit),
            )
        ]

    def fetch_events(self, after_id: int, limit: int) -> list[tuple[int, Event]]:
        """Return up to ``limit`` events with id > after_id, oldest first."""
        out = []
        for rid, ts, etype, ch, severity, data in self._connection.execute(
            "SELECT id, ts, type, ch, severity, data FROM events WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ):
            out.append((rid, Event(etype, ts, ch, severity, json.loads(data) if data else {})))
        return out

    def max_reading_id(self) -> int:
        """Return the largest reading id ever handed out (0 if none)."""
        row = self._connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'readings'").fetchone()
        return row[0] if row else 0

    # ------------------------------------------------------------------ acknowledgement

    def ack(self, reading_runs: Sequence[tuple[int, int]] = (), event_ids: Sequence[int] = (), *,
            keep_sent: int = 0, keep_sent_s: float = 0) -> int:
        """Delete acknowledged rows (reading id ranges, event ids); return readings deleted.

        Acknowledged readings are kept aside (table ``sent``) so that ``resend-from`` can publish
        them again: at least the newest ``keep_sent`` ones, and every one acknowledged in the
        last ``keep_sent_s`` seconds (a broker that crashes between two saves of its persistence
        loses what it acknowledged since the last one). Near the byte cap these copies are
        dropped before any unsent reading.
        """
        if not reading_runs and not event_ids:
            return 0
        return self._write(self._ack, reading_runs, event_ids, keep_sent, keep_sent_s)

    def _ack(self, reading_runs, event_ids, keep_sent, keep_sent_s=0) -> int:
        conn = self._connection
        deleted = 0
        keep = bool(keep_sent or keep_sent_s)
        now = now_ms(self.clock)
        for lo, hi in reading_runs:
            if keep:
                conn.execute("INSERT OR REPLACE INTO sent(id, ch, ts, value, quality, acked_ms) "
                             "SELECT id, ch, ts, value, quality, ? FROM readings WHERE id BETWEEN ? AND ?",
                             (now, lo, hi))
            deleted += conn.execute("DELETE FROM readings WHERE id BETWEEN ? AND ?", (lo, hi)).rowcount
        if keep:
            self._sent += deleted
            # Trim in steps of a tenth so that not every acknowledgement pays for a trim.
            if self._sent > max(self._sent_limit, keep_sent + keep_sent // 10):
                row = conn.execute("SELECT id FROM sent ORDER BY id DESC LIMIT 1 OFFSET ?", (keep_sent,)).fetchone()
                if row is not None:
                    conn.execute("DELETE FROM sent WHERE id <= ? AND (acked_ms IS NULL OR acked_ms < ?)",
                                 (row[0], now - round(keep_sent_s * 1000)))
                self._sent = conn.execute("SELECT count(*) FROM sent").fetchone()[0]
                self._sent_limit = self._sent + self._sent // 10
        if event_ids:
            cur = conn.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in event_ids])
            self._events -= cur.rowcount
        self._readings -= deleted
        self._set_meta(last_publish_ms=now_ms(self.clock), published=(self._meta.get("published", 0) or 0) + deleted)
        return deleted

    def fetch_for_resend(self, runs: Sequence[tuple[int, int]]) -> list[Row]:
        """Return the readings with ids in ``runs`` that are still kept (sent or unsent), by id."""
        names = self._names
        found: dict[int, Row] = {}
        for table in ("sent", "readings"):
            for lo, hi in runs:
                for rid, ch, ts, value, quality in self._connection.execute(
                    f"SELECT id, ch, ts, value, quality FROM {table} WHERE id BETWEEN ? AND ?", (lo, hi)
                ):
                    found[rid] = (rid, names[ch], ts, value, quality or "good")
        return [found[k] for k in sorted(found)]

    # ------------------------------------------------------------------ stats

    def oldest_ts(self) -> int | None:
        """Return the timestamp of the oldest buffered reading, or None."""
        row = self._connection.execute("SELECT ts FROM readings ORDER BY id LIMIT 1").fetchone()
        return row[0] if row else None

    def stats(self) -> BufferStats:
        """Return the buffer's depth, drops and last publish time."""
        m = self._meta
        return BufferStats(
            readings=self._readings, events=self._events, oldest_ts_ms=self.oldest_ts(),
            dropped=m.get("dropped", 0) or 0, dropped_events=m.get("dropped_events", 0) or 0,
            used_bytes=self.used_bytes(), last_publish_ms=m.get("last_publish_ms"),
            published=m.get("published", 0) or 0,
        )

    @property
    def depth(self) -> int:
        """Return the number of buffered readings."""
        return self._readings

    @property
    def dropped(self) -> int:
        """Return how many readings were ever dropped because the buffer was full."""
        return self._meta.get("dropped", 0) or 0

