"""The buffer's file: its schema, telling damage from a full disk, and a read-only look inside.

:class:`wardlink.edge.buffer.Buffer` writes the file; :func:`read_stats` reads it from another
process (``wardlink-edge status``, ``doctor``) without taking part in writing.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from wardlink.clock import Clock

from wardlink.edge.errors import StoreError

DB_NAME = "buffer.db"
JOURNAL_NAME = "journal.db"
SCHEMA_VERSION = 1
#: Room kept for events when the byte bound is computed (a generous estimate per event row).
EVENT_ROW_BYTES = 256
CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}

SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ch INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    value REAL,
    quality TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL,
    type TEXT NOT NULL,
    ch TEXT,
    severity TEXT NOT NULL,
    data TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
-- Acknowledged readings kept for a while so the hub can ask for them again (resend-from).
CREATE TABLE IF NOT EXISTS sent (
    id INTEGER PRIMARY KEY,
    ch INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    value REAL,
    quality TEXT,
    acked_ms INTEGER
);
"""

JOURNAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal.readings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    row_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    ts INTEGER NOT NULL,
    value REAL,
    quality TEXT
);
"""


@dataclass(frozen=True)
class BufferStats:
    """What is in the buffer right now."""

    readings: int
    events: int
    oldest_ts_ms: int | None
    dropped: int
    dropped_events: int
    used_bytes: int
    last_publish_ms: int | None
    published: int


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_corruption(exc: BaseException) -> bool:
    """Return True if ``exc`` says the database file is damaged or not a database."""
    return isinstance(exc, sqlite3.DatabaseError) and _code(exc) in CORRUPT_CODES


def is_disk_full(exc: BaseException) -> bool:
    """Return True if ``exc`` is SQLITE_FULL."""
    return isinstance(exc, sqlite3.Error) and _code(exc) == sqlite3.SQLITE_FULL


def move_aside(path: Path, clock: Clock) -> Path:
    """Rename a damaged database (and its -wal/-shm) next to itself with a timestamp; return the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(clock.now()))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    return target


def read_stats(data_dir: str | os.PathLike) -> BufferStats:
    """Read buffer statistics without taking part in writing (for ``wardlink-edge status``)."""
    path = Path(data_dir) / DB_NAME
    if not path.exists():
        raise StoreError(f"no buffer at {path}; has the gateway run with this data_dir?")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        meta = {k: v for k, v in conn.execute("SELECT key, value FROM meta")}
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        oldest = conn.execute("SELECT ts FROM readings ORDER BY id LIMIT 1").fetchone()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read buffer {path}: {exc}") from exc
    finally:
        conn.close()
    return BufferStats(
        readings=readings, events=events, oldest_ts_ms=oldest[0] if oldest else None,
        dropped=meta.get("dropped", 0) or 0, dropped_events=meta.get("dropped_events", 0) or 0,
        used_bytes=(pages - free) * page_size, last_publish_ms=meta.get("last_publish_ms"),
        published=meta.get("published", 0) or 0,
    )
