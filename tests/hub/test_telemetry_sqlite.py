"""What only the SQLite store does: file layout, retention with hourly rollups, threads."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from wardlink.hub.errors import StoreError
from wardlink.hub.telemetry import Point, canonical_tags
from wardlink.hub.telemetry.sqlite import HOUR_MS, SQLiteStore

T0 = 1_767_225_600_000
TAGS = canonical_tags({"gateway": "gw-1", "channel": "t1", "asset": "FR-1"})


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "telemetry.db")
    yield s
    s.close()


def day_of_points(start=T0, hours=24, per_hour=60):
    """Return one point a minute; every 23rd is a failed read (null, quality bad)."""
    step = HOUR_MS // per_hour
    return [Point("temperature", TAGS, start + i * step, 4.0 + (i % 17) / 4) if i % 23
            else Point("temperature", TAGS, start + i * step, None, "bad")
            for i in range(hours * per_hour)]


def values_per_hour(points):
    counts: dict[int, int] = {}
    for p in points:
        if p.value is not None:
            counts[p.ts_ms - p.ts_ms % HOUR_MS] = counts.get(p.ts_ms - p.ts_ms % HOUR_MS, 0) + 1
    return [counts[k] for k in sorted(counts)]


def test_file_is_in_wal_mode_with_a_clustered_points_table(store):
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'points'").fetchone()[0]
    assert "WITHOUT ROWID" in sql and "PRIMARY KEY (series_id, ts_ms)" in sql
    conn.close()


def test_the_first_copy_of_a_point_wins(store):
    store.write([Point("temperature", TAGS, T0, 4.0)])
    store.write([Point("temperature", TAGS, T0, 9.0, "uncertain", True)])
    [row] = store.latest()
    assert (row.value, row.quality, row.late) == (4.0, "good", False)


def test_series_survive_reopening_without_duplicate_series_rows(tmp_path):
    with SQLiteStore(tmp_path / "t.db") as first:
        first.write([Point("temperature", TAGS, T0, 1.0)])
    with SQLiteStore(tmp_path / "t.db") as second:
        second.write([Point("temperature", TAGS, T0 + 1, 2.0)])
        assert second.count() == 2
    conn = sqlite3.connect(tmp_path / "t.db")
    assert conn.execute("SELECT COUNT(*) FROM series").fetchone()[0] == 1
    conn.close()


def test_pruning_keeps_hourly_history_identical(store):
    points = day_of_points()
    store.write(points)
    before = store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + 24 * HOUR_MS, window_ms=HOUR_MS)
    six_hours = store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + 24 * HOUR_MS,
                            window_ms=6 * HOUR_MS)
    removed = store.prune(T0 + 12 * HOUR_MS + 5 * 60_000)  # cut at the hour: 12:00
    assert removed == 12 * 60
    assert store.horizon_ms() == T0 + 12 * HOUR_MS
    assert store.count() == 12 * 60
    after = store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + 24 * HOUR_MS, window_ms=HOUR_MS)
    assert [(r.ts_ms, r.count, r.min, r.max) for r in after] == [(r.ts_ms, r.count, r.min, r.max) for r in before]
    assert [r.value for r in after] == pytest.approx([r.value for r in before], rel=1e-12)
    assert [(r.count, r.min, r.max) for r in store.range(
        gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + 24 * HOUR_MS, window_ms=6 * HOUR_MS)] == \
        [(r.count, r.min, r.max) for r in six_hours]
    # Raw queries and non-hourly windows see only what is left.
    assert store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + HOUR_MS) == []
    assert store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + HOUR_MS, window_ms=60_000) == []


def test_pruning_again_never_counts_a_point_twice(store):
    points = day_of_points(hours=4)
    store.write(points)
    store.prune(T0 + 2 * HOUR_MS)
    store.prune(T0 + 2 * HOUR_MS)
    store.prune(T0 + 3 * HOUR_MS)
    windows = store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + 4 * HOUR_MS, window_ms=HOUR_MS)
    assert [w.count for w in windows] == values_per_hour(points)
    assert store.count() == 60


def test_a_late_copy_older_than_the_prune_horizon_is_not_stored_again(store):
    points = day_of_points(hours=2)
    store.write(points)
    store.prune(T0 + HOUR_MS)
    store.write(points[:60])  # re-sent backlog of the pruned hour
    assert store.count() == 60
    windows = store.range(gateway="gw-1", channel="t1", start_ms=T0, end_ms=T0 + 2 * HOUR_MS, window_ms=HOUR_MS)
    assert [w.count for w in windows] == values_per_hour(points)


def test_readers_in_other_threads_never_block_or_see_partial_writes(store):
    batch = 500
    errors: list[BaseException] = []
    seen: list[list[int]] = [[], [], []]
    done = threading.Event()

    def read(mine: list[int]):
        try:
            while not done.is_set():
                n = store.count()
                assert n % batch == 0, "a write must be all or nothing"
                mine.append(n)
        except BaseException as exc:  # report to the main thread
            errors.append(exc)

    readers = [threading.Thread(target=read, args=(seen[i],)) for i in range(3)]
    for t in readers:
        t.start()
    for b in range(20):
        store.write([Point("temperature", TAGS, T0 + b * batch + i, 1.0) for i in range(batch)])
    done.set()
    for t in readers:
        t.join()
    assert not errors
    for mine in seen:
        assert mine and mine == sorted(mine)  # each reader only ever sees the count grow
    assert store.count() == 20 * batch


def test_another_process_reading_the_file_sees_committed_points(tmp_path, store):
    store.write([Point("temperature", TAGS, T0, 1.0)])
    with SQLiteStore(store.path) as other:
        assert other.count() == 1
        store.write([Point("temperature", TAGS, T0 + 1, 2.0)])
        assert other.latest()[0].value == 2.0


def test_close_is_idempotent_and_final(tmp_path):
    s = SQLiteStore(tmp_path / "t.db")
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.write([Point("temperature", TAGS, T0, 1.0)])
    with pytest.raises(StoreError, match="closed"):
        s.latest()
    assert s.ping() is False
