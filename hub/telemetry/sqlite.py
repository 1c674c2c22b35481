"""The embedded telemetry store: one SQLite file in WAL mode, no server needed.

Layout:

- ``series``: one row per series (measurement + canonical tag JSON, unique), with the
  ``gateway``, ``channel`` and ``asset`` tags copied into indexed columns for the UI queries.
- ``points``: ``(series_id, ts_ms)`` is the primary key of a ``WITHOUT ROWID`` table, so rows
  are clustered by series and time and a re-sent reading hits the key. Writes use
  ``INSERT OR IGNORE``: the first copy of a point wins and duplicates cost one index probe.
  (InfluxDB keeps the last copy instead; re-sent readings are identical, so the difference
  only shows if two different values claim the same series and millisecond.)
- ``rollup_hourly``: count, sum, min and max per series and hour for raw points removed by
  :meth:`SQLiteStore.prune`. Windowed :meth:`SQLiteStore.range` queries whose window is a
  whole number of hours read rollups and raw points together, so history keeps its shape
  after the raw points are gone.

Threads: one writer connection guarded by a lock serialises :meth:`write` and
:meth:`prune`; every reading thread gets its own read-only connection, so the web UI's
request threads never wait for ingest (WAL readers do not block the writer). Other
processes may open the same file for reading at the same time.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Sequence

from wardlink.hub.errors import N_, Message, Plural, StoreError
from wardlink.hub.telemetry.days import local_days
from wardlink.hub.telemetry.model import (
    INDEXED_TAGS,
    DailyRow,
    InvalidPoint,
    LatestRow,
    Point,
    RangeRow,
    StoreRejected,
    StoreUnavailable,
    TelemetryStore,
    check_range,
    check_series,
)

HOUR_MS = 3_600_000
QUALITY_CODES = {"good": 0, "uncertain": 1, "bad": 2}
QUALITY_NAMES = {code: name for name, code in QUALITY_CODES.items()}
_HORIZON_KEY = "pruned_before_ms"

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id          INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    tags        TEXT NOT NULL,
    gateway     TEXT,
    channel     TEXT,
    asset       TEXT,
    UNIQUE (measurement, tags)
);
CREATE INDEX IF NOT EXISTS series_gateway_channel ON series (gateway, channel);
CREATE INDEX IF NOT EXISTS series_asset ON series (asset);
CREATE TABLE IF NOT EXISTS points (
    series_id INTEGER NOT NULL,
    ts_ms     INTEGER NOT NULL,
    value     REAL,
    quality   INTEGER NOT NULL,
    late      INTEGER NOT NULL,
    PRIMARY KEY (series_id, ts_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_hourly (
    series_id INTEGER NOT NULL,
    hour_ms   INTEGER NOT NULL,
    points    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    sum       REAL,
    min       REAL,
    max       REAL,
    PRIMARY KEY (series_id, hour_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


def _translate(exc: sqlite3.Error, doing: Message) -> StoreError:
    text = Message(N_("SQLite telemetry store: %(doing)s: %(reason)s"), doing=doing, reason=str(exc))
    if isinstance(exc, sqlite3.OperationalError):
        return StoreUnavailable(text)
    if isinstance(exc, sqlite3.IntegrityError):
        return StoreRejected(text)
    return StoreError(text)


def _series_filter(gateway: str | None = None, channel: str | None = None,
                   channels: Sequence[str] | None = None, asset: str | None = None,
                   measurement: str | None = None) -> tuple[str, list]:
    """Return a WHERE fragment on table ``series`` (alias s) and its parameters."""
    clauses, params = [], []
    for column, value in (("gateway", gateway), ("channel", channel), ("asset", asset),
                          ("measurement", measurement)):
        if value is not None:
            clauses.append(f"s.{column} = ?")
            params.append(value)
    if channels is not None:
        channels = list(channels)
        if not channels:
            clauses.append("0")
        else:
            clauses.append(f"s.channel IN ({','.join('?' * len(channels))})")
            params.extend(channels)
    return (" AND ".join(clauses) or "1"), params


class SQLiteStore(TelemetryStore):
    """Telemetry in one SQLite file (WAL); see the module docstring for layout and threading."""

    def __init__(self, path: str | os.PathLike, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = timeout_s
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._series_ids: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
            self._writer.execute("PRAGMA journal_mode = WAL")
            # The hub acknowledges a message once write() returns, and the broker and gateway
            # then forget it: a commit must survive a power cut, not only a crash. FULL costs
            # one fsync per write() call, which a batching writer affords.
            self._writer.execute("PRAGMA synchronous = FULL")
            self._writer.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise _translate(exc, Message(N_("open %(path)s"), path=str(self.path))) from exc

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(N_("SQLite telemetry store is closed"))
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._connect()
                conn.execute("PRAGMA query_only = ON")
            except sqlite3.Error as exc:
                raise _translate(exc, Message(N_("open reader"))) from exc
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _query(self, sql: str, params: Iterable = ()) -> list[tuple]:
        try:
            return self._reader().execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, Message(N_("query"))) from exc

    # ------------------------------------------------------------------ writing

    def _series_id(self, key: tuple[str, tuple[tuple[str, str], ...]]) -> int:
        measurement, tags = key
        check_series(measurement, tags)
        tag_map = dict(tags)
        tags_json = json.dumps(tags, ensure_ascii=False, separators=(",", ":"))
        cur = self._writer.execute(
            "INSERT OR IGNORE INTO series (measurement, tags, gateway, channel, asset) VALUES (?,?,?,?,?)",
            (measurement, tags_json, *(tag_map.get(k) for k in INDEXED_TAGS)))
        if cur.rowcount == 1:
            sid = cur.lastrowid
        else:
            sid = self._writer.execute("SELECT id FROM series WHERE measurement = ? AND tags = ?",
                                       (measurement, tags_json)).fetchone()[0]
        self._series_ids[key] = sid
        return sid

    def write(self, points: Sequence[Point]) -> None:
        """Store ``points`` in one transaction; points already stored are left as they are."""
        if self._closed:
            raise StoreError(N_("SQLite telemetry store is closed"))
        if not points:
            return
        quality_codes = QUALITY_CODES
        with self._lock:
            try:
                ids = self._series_ids
                rows = []
                append = rows.append
                for measurement, tags, ts, value, quality, late in points:
                    try:
                        sid = ids.get((measurement, tags))
                    except TypeError:
                        sid = None  # unhashable tags: _series_id explains what is wrong
                    if sid is None:
                        sid = self._series_id((measurement, tags))
                    if type(value) is not float and value is not None:
                        value = _coerce_value(value)
                    elif value is not None and value - value != 0.0:  # NaN or infinity
                        raise InvalidPoint(f"value: must be finite, got {value!r}")
                    if type(ts) is not int:
                        raise InvalidPoint(f"ts_ms: must be an integer, got {ts!r}")
                    try:
                        code = quality_codes[quality]
                    except (KeyError, TypeError):
                        raise InvalidPoint(f"quality: must be one of {', '.join(quality_codes)}, "
                                           f"got {quality!r}") from None
                    append((sid, ts, value, code, 1 if late else 0))
                w = self._writer
                w.execute("BEGIN IMMEDIATE")
                try:
                    horizon = w.execute("SELECT value FROM meta WHERE key = ?", (_HORIZON_KEY,)).fetchone()
                    if horizon is not None:
                        # Raw points older than the last prune were already rolled up; letting a
                        # late copy back in would count it twice.
                        rows = [r for r in rows if r[1] >= horizon[0]]
                    w.executemany("INSERT OR IGNORE INTO points VALUES (?,?,?,?,?)", rows)
                    w.execute("COMMIT")
                except BaseException:
                    w.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise _translate(exc, Plural("write %(num)s point", "write %(num)s points", len(points),
                                                   num=len(points))) from exc

    # ------------------------------------------------------------------ retention

    def prune(self, older_than_ms: int) -> int:
        """Roll raw points older than the hour containing ``older_than_ms`` into hourly rollups and delete them.

        Returns how many raw points were removed. Rolling up and deleting happen in one
        transaction, so every raw point is counted in the rollups exactly once.
        """
        if type(older_than_ms) is not int:
            raise InvalidPoint(f"older_than_ms: must be an integer, got {older_than_ms!r}")
        boundary = older_than_ms - older_than_ms % HOUR_MS
        with self._lock:
            w = self._writer
            try:
                w.execute("BEGIN IMMEDIATE")
                try:
                    w.execute(
                        """
                        INSERT INTO rollup_hourly (series_id, hour_ms, points, count, sum, min, max)
                        SELECT series_id, (ts_ms / :h) * :h, COUNT(*), COUNT(value), SUM(value),
                               MIN(value), MAX(value)
                        FROM points WHERE ts_ms < :b GROUP BY series_id, (ts_ms / :h)
                        ON CONFLICT (series_id, hour_ms) DO UPDATE SET
                            points = points + excluded.points,
                            count = count + excluded.count,
                            sum = CASE WHEN sum IS NULL THEN excluded.sum
                                       WHEN excluded.sum IS NULL THEN sum
                                       ELSE sum + excluded.sum END,
                            min = min(coalesce(min, excluded.min), coalesce(excluded.min, min)),
                            max = max(coalesce(max, excluded.max), coalesce(excluded.max, max))
                        """, {"h": HOUR_MS, "b": boundary})
                    removed = w.execute("DELETE FROM points WHERE ts_ms < ?", (boundary,)).rowcount
                    w.execute(
                        "INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                        (_HORIZON_KEY, boundary))
                    w.execute("COMMIT")
                except BaseException:
                    w.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise _translate(exc, Message(N_("prune"))) from exc
        return removed

    def horizon_ms(self) -> int | None:
        """Return the instant before which raw points have been pruned, or None."""
        row = self._query("SELECT value FROM meta WHERE key = ?", (_HORIZON_KEY,))
        return row[0][0] if row else None

    # ------------------------------------------------------------------ queries

    def latest(self, *, gateway: str | None = None, channels: Sequence[str] | None = None,
               asset: str | None = None) -> list[LatestRow]:
        """Return the newest raw point of every series matching the filters."""
        where, params = _series_filter(gateway=gateway, channels=channels, asset=asset)
        rows = self._query(
            f"""
            SELECT s.measurement, s.tags, p.ts_ms, p.value, p.quality, p.late
            FROM series s JOIN points p ON p.series_id = s.id
            WHERE {where}
              AND p.ts_ms = (SELECT MAX(ts_ms) FROM points WHERE series_id = s.id)
            ORDER BY s.measurement, s.tags
            """, params)
        return [LatestRow(m, dict(map(tuple, json.loads(t))), ts, v, QUALITY_NAMES[q], bool(late))
                for m, t, ts, v, q, late in rows]

    def range(self, *, gateway: str, channel: str, start_ms: int, end_ms: int,
              window_ms: int | None = None, measurement: str | None = None) -> list[RangeRow]:
        """Return the channel's points in ``[start_ms, end_ms)``, raw or aggregated per window."""
        check_range(start_ms, end_ms, window_ms)
        where, params = _series_filter(gateway=gateway, channel=channel, measurement=measurement)
        ids = f"SELECT s.id FROM series s WHERE {where}"
        if window_ms is None:
            rows = self._query(
                f"""SELECT ts_ms, value, quality FROM points
                    WHERE series_id IN ({ids}) AND ts_ms >= ? AND ts_ms < ?
                    ORDER BY ts_ms, series_id""", [*params, start_ms, end_ms])
            return [RangeRow(ts, v, v, v, 0 if v is None else 1, QUALITY_NAMES[q]) for ts, v, q in rows]
        raw = f"""SELECT (ts_ms / {window_ms}) * {window_ms} AS b, COUNT(value) AS n, SUM(value) AS s,
                         MIN(value) AS lo, MAX(value) AS hi
                  FROM points WHERE series_id IN ({ids}) AND ts_ms >= ? AND ts_ms < ?
                    AND value IS NOT NULL GROUP BY b"""
        args = [*params, start_ms, end_ms]
        if window_ms % HOUR_MS == 0:
            rolled = f"""SELECT (hour_ms / {window_ms}) * {window_ms} AS b, count AS n, sum AS s,
                                min AS lo, max AS hi
                         FROM rollup_hourly WHERE series_id IN ({ids}) AND hour_ms >= ? AND hour_ms < ?
                           AND count > 0"""
            sql = f"""SELECT b, SUM(n), SUM(s), MIN(lo), MAX(hi) FROM ({raw} UNION ALL {rolled})
                      GROUP BY b ORDER BY b"""
            args += [*params, start_ms, end_ms]
        else:
            sql = f"SELECT b, n, s, lo, hi FROM ({raw}) ORDER BY b"
        return [RangeRow(b, s / n, lo, hi, n) for b, n, s, lo, hi in self._query(sql, args)]

    def daily_minmax(self, *, gateway: str, channel: str, start_ms: int, end_ms: int,
                     tz: str = "UTC", measurement: str | None = None) -> list[DailyRow]:
        """Return min (with its time), max (with its time), mean and count per local day."""
        check_range(start_ms, end_ms)
        days = local_days(start_ms, end_ms, tz)
        where, params = _series_filter(gateway=gateway, channel=channel, measurement=measurement)
        ids = f"SELECT s.id FROM series s WHERE {where}"
        scope = f"series_id IN ({ids}) AND ts_ms >= ? AND ts_ms < ?"
        out = []
        for day, lo, hi in days:
            args = [*params, lo, hi]
            mn, mx, mean, n = self._query(
                f"SELECT MIN(value), MAX(value), AVG(value), COUNT(value) FROM points WHERE {scope}", args)[0]
            mn_ts = mx_ts = None
            if n:
                mn_ts = self._query(f"SELECT MIN(ts_ms) FROM points WHERE {scope} AND value = ?",
                                    [*args, mn])[0][0]
                mx_ts = self._query(f"SELECT MIN(ts_ms) FROM points WHERE {scope} AND value = ?",
                                    [*args, mx])[0][0]
            out.append(DailyRow(day, lo, hi, mn, mn_ts, mx, mx_ts, mean, n))
        return out

    def count(self, *, measurement: str | None = None, gateway: str | None = None,
              channel: str | None = None, start_ms: int | None = None,
              end_ms: int | None = None) -> int:
        """Return how many raw points match (null-valued points included, rollups not)."""
        clauses, args = [], []
        if any(v is not None for v in (measurement, gateway, channel)):
            where, params = _series_filter(gateway=gateway, channel=channel, measurement=measurement)
            clauses.append(f"series_id IN (SELECT s.id FROM series s WHERE {where})")
            args += params
        if start_ms is not None:
            clauses.append("ts_ms >= ?")
            args.append(start_ms)
        if end_ms is not None:
            clauses.append("ts_ms < ?")
            args.append(end_ms)
        return self._query(f"SELECT COUNT(*) FROM points WHERE {' AND '.join(clauses) or '1'}", args)[0][0]

    # ------------------------------------------------------------------ lifecycle

    def ping(self) -> bool:
        """Return True when the database file answers a query."""
        try:
            self._query("SELECT 1")
        except StoreError:
            return False
        return True

    def close(self) -> None:
        """Close the writer and every reader connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def __repr__(self) -> str:
        return f"<SQLiteStore {self.path}>"


def _coerce_value(value: object) -> float:
    if type(value) is int:
        return float(value)
    raise InvalidPoint(f"value: must be a float or None, got {type(value).__name__} {value!r}")
