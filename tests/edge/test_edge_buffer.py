"""The SQLite buffer: durability across kill -9, bounds, gap markers, disk full, corruption."""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap

import pytest

from wardlink.clock import ManualClock
from wardlink.protocol import Event

from wardlink.edge.buffer import DB_NAME, Buffer, read_stats
from wardlink.edge.config import BufferConfig

from edge_support import PYTHON, ROOT, edge_env


def readings(n: int, start_ms: int = 1_767_225_600_000, channel: str = "fridge1.temp", step: int = 1000):
    return [(channel, start_ms + i * step, 4.0 + i / 1000, "good") for i in range(n)]


def test_committed_readings_come_back_in_order_and_ack_deletes_them(tmp_path):
    with Buffer(tmp_path, BufferConfig()) as buf:
        first, last = buf.add_readings(readings(5))
        assert last - first == 4
        buf.add_readings([("door", 1_767_225_700_000, None, "bad")])
        rows = buf.fetch_readings(0, None, 100)
        assert [r[0] for r in rows] == list(range(first, last + 2))
        assert rows[-1][1:] == ("door", 1_767_225_700_000, None, "bad")
        assert rows[0][1:] == ("fridge1.temp", 1_767_225_600_000, 4.0, "good")
        assert buf.ack([(first, first + 2)]) == 3
        assert [r[0] for r in buf.fetch_readings(0, None, 100)] == [first + 3, first + 4, last + 1]
        assert buf.stats().published == 3


def test_row_ids_are_never_reused_after_the_buffer_empties(tmp_path):
    # The forwarder maps in-flight messages to row ids; a reused id could delete a new reading.
    with Buffer(tmp_path) as buf:
        _, last = buf.add_readings(readings(3))
        buf.ack([(1, last)])
        assert buf.depth == 0
    with Buffer(tmp_path) as buf:
        first, _ = buf.add_readings(readings(1))
        assert first == last + 1


def test_full_buffer_drops_oldest_telemetry_keeps_events_and_marks_the_gap(tmp_path):
    clock = ManualClock()
    cfg = BufferConfig(max_rows=1000, reserved_event_rows=100)
    with Buffer(tmp_path, cfg, clock=clock) as buf:
        buf.add_event(Event("door.open", 1_767_225_600_000, "door"))
        for chunk in range(12):
            buf.add_readings(readings(100, start_ms=1_767_225_600_000 + chunk * 100_000, step=1000))
        stats = buf.stats()
        assert stats.readings == 900, "telemetry may use max_rows minus the reserved event rows"
        assert stats.dropped == 300
        remaining = buf.fetch_readings(0, None, 10_000)
        # Exactly the 300 oldest are gone.
        assert remaining[0][2] == 1_767_225_600_000 + 300 * 1000
        events = [e for _, e in buf.fetch_events(0, 100)]
        assert events[0].type == "door.open", "events are never displaced by telemetry"
        gaps = [e for e in events if e.type == "buffer.overflow"]
        assert gaps, "a gap marker is recorded"
        first_gap = gaps[0].data
        assert first_gap["first_ts"] == 1_767_225_600_000
        assert first_gap["dropped"] >= 100
        # Later drops within the coalescing interval are reported by the next marker.
        clock.advance(cfg.gap_event_interval + 1)
        buf.flush_gap_marker()
        gaps = [e for _, e in buf.fetch_events(0, 100) if e.type == "buffer.overflow"]
        assert sum(g.data["dropped"] for g in gaps) == 300
        assert max(g.data["last_ts"] for g in gaps) == 1_767_225_600_000 + 299 * 1000
    # The dropped count survives a restart (it is reported in every status message).
    assert read_stats(tmp_path).dropped == 300


def test_events_beyond_their_reservation_take_room_from_telemetry(tmp_path):
    cfg = BufferConfig(max_rows=200, reserved_event_rows=10)
    with Buffer(tmp_path, cfg) as buf:
        buf.add_readings(readings(150))
        buf.add_events(Event("sensor.error", 1_767_225_600_000 + i, "x") for i in range(80))
        stats = buf.stats()
        assert stats.events == 81, "80 errors and one buffer.overflow marker"
        assert stats.readings + stats.events == 200
        assert stats.dropped == 150 - (200 - 81)


def test_byte_bound_keeps_the_file_under_max_bytes(tmp_path):
    cfg = BufferConfig(max_rows=10_000_000, max_bytes=1024 * 1024, reserved_event_rows=100)
    with Buffer(tmp_path, cfg) as buf:
        for chunk in range(40):
            buf.add_readings(readings(2000, start_ms=1_767_225_600_000 + chunk * 2_000_000))
            assert buf.used_bytes() <= cfg.max_bytes
        stats = buf.stats()
        assert stats.dropped > 0
        assert stats.readings + stats.dropped == 80_000
        newest = buf.fetch_readings(0, None, 10_000_000)[-1]
        assert newest[2] == 1_767_225_600_000 + 39 * 2_000_000 + 1999 * 1000, "the newest readings are kept"


def test_disk_full_sheds_old_telemetry_and_keeps_accepting(tmp_path):
    # SQLite's max_page_count produces the same SQLITE_FULL a full disk does.
    with Buffer(tmp_path, BufferConfig(max_rows=10_000_000)) as buf:
        buf.add_readings(readings(100))
        pages = buf.db.execute("PRAGMA page_count").fetchone()[0]
        buf.db.execute(f"PRAGMA max_page_count = {pages + 40}")
        for chunk in range(30):
            buf.add_readings(readings(1000, start_ms=1_767_300_000_000 + chunk * 1_000_000))
        stats = buf.stats()
        assert stats.dropped > 0
        assert stats.readings > 0
        assert any("disk full" in n for n in buf.take_notices())
        assert any(e.type == "buffer.overflow" for _, e in buf.fetch_events(0, 100))


def test_corrupt_database_is_moved_aside_reported_and_never_deleted(tmp_path):
    garbage = b"this is not an SQLite database" * 200
    (tmp_path / DB_NAME).write_bytes(garbage)
    with Buffer(tmp_path) as buf:
        aside = [p for p in tmp_path.iterdir() if p.name.startswith(f"{DB_NAME}.corrupt-")]
        assert len(aside) == 1
        assert aside[0].read_bytes() == garbage
        events = [e for _, e in buf.fetch_events(0, 10)]
        assert events[0].type == "buffer.corrupt"
        assert events[0].data["moved_to"] == str(aside[0])
        first, last = buf.add_readings(readings(3))
        assert last - first == 2


def test_damaged_pages_are_detected_at_open(tmp_path):
    with Buffer(tmp_path) as buf:
        buf.add_readings(readings(5000))
    path = tmp_path / DB_NAME
    data = bytearray(path.read_bytes())
    # Overwrite the middle of the file (table b-tree pages) but keep the valid header.
    mid = len(data) // 2
    data[mid:mid + 8192] = b"\xff" * 8192
    path.write_bytes(bytes(data))
    with Buffer(tmp_path) as buf:
        assert any(p.name.startswith(f"{DB_NAME}.corrupt-") for p in tmp_path.iterdir())
        assert [e.type for _, e in buf.fetch_events(0, 10)] == ["buffer.corrupt"]


WRITER = textwrap.dedent("""
    import sys
    from wardlink.edge.buffer import Buffer
    from wardlink.edge.config import BufferConfig
    buf = Buffer(sys.argv[1], BufferConfig(synchronous="full")).open()
    n = 0
    while True:
        batch = [("ch%d" % (i % 7), 1767225600000 + n + i, float(n + i), "good") for i in range(50)]
        first, last = buf.add_readings(batch)
        n += 50
        print(first, last, flush=True)
""")


@pytest.mark.timeout(60)
def test_every_committed_reading_survives_kill_9(tmp_path):
    """A writer commits batches and reports each commit; SIGKILL at an arbitrary point loses none."""
    proc = subprocess.Popen([PYTHON, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            env=edge_env(), cwd=ROOT)
    committed: list[tuple[int, int]] = []
    try:
        for line in proc.stdout:
            first, last = map(int, line.split())
            committed.append((first, last))
            if len(committed) == 60:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(committed) == 60
    with Buffer(tmp_path) as buf:
        present = {r[0]: r for r in buf.fetch_readings(0, None, 10_000_000)}
    for first, last in committed:
        for rid in range(first, last + 1):
            assert rid in present, f"reading {rid} was reported committed but is gone after kill -9"
    # The values are intact, not just the ids.
    rid = committed[-1][1]
    assert present[rid][3] == float(rid - 1)


def test_status_reader_sees_what_the_writer_committed(tmp_path):
    with Buffer(tmp_path, clock=ManualClock()) as buf:
        buf.add_readings(readings(10))
        stats = read_stats(tmp_path)
        assert stats.readings == 10
        assert stats.oldest_ts_ms == 1_767_225_600_000
        assert stats.last_publish_ms is None
        buf.ack([(1, 4)])
        after = read_stats(tmp_path)
        assert after.readings == 6
        assert after.last_publish_ms == ManualClock().now_ms()
        assert json.dumps(after.__dict__)


def test_a_buffer_that_turns_corrupt_while_running_continues_its_ids(tmp_path):
    # Messages in flight carry the old ids; the fresh file must not hand them out again.
    with Buffer(tmp_path) as buf:
        _, last = buf.add_readings(readings(3000))
        path = tmp_path / DB_NAME
        buf.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        buf.db.execute("PRAGMA cache_size = 0")  # make SQLite read the damaged pages from disk
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.seek(4096)
            fh.write(b"\xff" * (size - 4096))
        first, _ = buf.add_readings(readings(10, start_ms=1_767_300_000_000))
        assert first > last
        assert any(p.name.startswith(f"{DB_NAME}.corrupt-") for p in tmp_path.iterdir())
        assert [e.type for _, e in buf.fetch_events(0, 10)] == ["buffer.corrupt"]


def _kept(buf: Buffer) -> list[int]:
    """Ids of the acknowledged readings kept for resend-from."""
    return [row[0] for row in buf.db.execute("SELECT id FROM sent ORDER BY id")]


def test_acknowledged_readings_are_kept_for_resend_for_a_time_as_well_as_a_count(tmp_path):
    """A broker that crashes between two saves loses what it acknowledged since the last one, so
    acknowledged readings stay for ``keep_sent_s`` seconds even beyond the ``keep_sent`` newest."""
    clock = ManualClock()
    with Buffer(tmp_path, clock=clock) as buf:
        first, last = buf.add_readings(readings(300))
        for lo in range(first, last + 1, 10):  # acknowledged ten at a time within one minute
            buf.ack([(lo, lo + 9)], keep_sent=50, keep_sent_s=60)
        assert buf.depth == 0 and _kept(buf) == list(range(first, last + 1)), "all acknowledged within 60 s"
        clock.advance(61)
        more, _ = buf.add_readings(readings(100, start_ms=1_767_225_900_000))
        for lo in range(more, more + 100, 10):
            buf.ack([(lo, lo + 9)], keep_sent=50, keep_sent_s=60)
        kept = _kept(buf)
        assert kept[-1] == more + 99 and set(range(more, more + 100)) <= set(kept), "the last minute's are kept"
        assert not set(range(first, last + 1)) & set(kept), "older ones beyond the count window are trimmed"


def test_copies_kept_for_resend_go_before_unsent_readings_when_the_buffer_is_full(tmp_path):
    cfg = BufferConfig(max_rows=10_000_000, max_bytes=1024 * 1024, reserved_event_rows=100)
    with Buffer(tmp_path, cfg, clock=ManualClock()) as buf:
        first, last = buf.add_readings(readings(8000))
        buf.ack([(first, last)], keep_sent=100_000, keep_sent_s=3600)
        assert len(_kept(buf)) == 8000
        for chunk in range(1, 200):
            buf.add_readings(readings(1000, start_ms=1_767_225_600_000 + chunk * 10_000_000))
            assert buf.used_bytes() <= cfg.max_bytes
            if not _kept(buf):
                break
        stats = buf.stats()
        assert not _kept(buf), "the copies kept for resend-from made room"
        assert stats.dropped == 0 and stats.readings == chunk * 1000, "before any unsent reading was dropped"


def test_event_text_no_store_keeps_is_escaped_so_the_hub_accepts_the_batch(tmp_path):
    # A driver's error text can hold bytes a device sent (decoded with surrogateescape) or NUL;
    # the hub refuses such characters and would dead-letter the whole batch, alarms included.
    from wardlink import protocol

    with Buffer(tmp_path) as buf:
        buf.add_event(Event("sensor.error", 1_767_225_600_000, "t1", "warning",
                            {"error": "reply b'\udc80\x00'", "raw\x00": ["\ud800"]}))
        buf.add_event(Event("alarm.raised", 1_767_225_600_001, "t1", "critical", {"value": 9.5}))
        events = tuple(e for _, e in buf.fetch_events(0, 10))
    payload = protocol.encode(protocol.EventBatch("gw-1", "b1", 0, events))
    decoded = protocol.decode_events(payload, gateway_id="gw-1")
    assert decoded.events[0].data == {"error": "reply b'\\udc80\\x00'", "raw\\x00": ["\\ud800"]}
    assert decoded.events[1].type == "alarm.raised"
