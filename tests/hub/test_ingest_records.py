"""Gateway tracking, and the ingest tables on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import inspect

from wardlink.hub.db.engine import open_engine
from wardlink.hub.errors import StoreError
from wardlink.hub.ingest import IngestRecords
from wardlink.hub.ingest.deadletter import DeadLetter
from wardlink.hub.ingest.gateways import RESTARTED, SEQUENCE_GAP, GatewayRecord, GatewayTracker
from wardlink.hub.telemetry import StoreUnavailable
from ingest_support import migrated_engine
from wardlink.protocol import Status

T0 = 1_767_225_600_000


# --------------------------------------------------------------------------- tracker


def feed(tracker, seqs, boot="b1", kind="telemetry", gateway="gw"):
    notes = []
    for seq in seqs:
        notes += tracker.observe_batch(kind, gateway, boot, seq, T0 + seq, readings=2, last_reading_ts_ms=T0 - seq)
    return notes


def test_in_order_batches_leave_no_gaps():
    tracker = GatewayTracker()
    assert feed(tracker, range(5)) == []
    rec = tracker.record("gw")
    assert (rec.telemetry_seq, rec.gaps, rec.missing_batches, rec.duplicate_batches) == (4, 0, 0, 0)
    assert (rec.batches, rec.readings, rec.last_reading_ts_ms) == (5, 10, T0)


def test_a_jump_is_a_gap_until_the_missing_batches_turn_up():
    tracker = GatewayTracker()
    [note] = feed(tracker, [0, 1, 4])
    assert (note["type"], note["data"]["first_missing"], note["data"]["last_missing"]) == (SEQUENCE_GAP, 2, 3)
    rec = tracker.record("gw")
    assert (rec.gaps, rec.missing_batches) == (1, 2)
    feed(tracker, [3])
    assert rec.missing_batches == 1
    feed(tracker, [3, 2, 2])
    assert (rec.missing_batches, rec.duplicate_batches, rec.telemetry_seq) == (0, 2, 4)


def test_a_new_boot_is_a_restart_and_a_late_batch_of_the_old_boot_is_not():
    tracker = GatewayTracker()
    feed(tracker, [0, 1, 2], boot="b1")
    [note] = feed(tracker, [0, 1], boot="b2")
    assert note["type"] == RESTARTED and note["data"]["previous_boot"] == "b1"
    assert feed(tracker, [3], boot="b1") == []  # delayed batch from before the restart
    feed(tracker, [0], boot="b2", kind="events")  # the other topic switching boot is the same restart
    rec = tracker.record("gw")
    assert (rec.boot, rec.restarts, rec.telemetry_seq, rec.gaps) == ("b2", 1, 1, 0)


def test_a_restarted_gateway_whose_first_batches_are_missing_has_a_gap():
    tracker = GatewayTracker()
    feed(tracker, [0], boot="b1")
    notes = feed(tracker, [2], boot="b2")
    assert [n["type"] for n in notes] == [RESTARTED, SEQUENCE_GAP]
    assert tracker.record("gw").missing_batches == 2


def test_state_loaded_from_the_database_continues_the_sequence():
    tracker = GatewayTracker()
    tracker.load([GatewayRecord("gw", boot="b1", telemetry_seq=41, restarts=3, batches=42)])
    assert feed(tracker, [42]) == []
    rec = tracker.record("gw")
    assert (rec.restarts, rec.gaps, rec.batches) == (3, 0, 43)


def test_without_gap_tracking_only_the_highest_sequence_is_kept():
    tracker = GatewayTracker(track_gaps=False)
    assert feed(tracker, [0, 5, 3, 9]) == []
    rec = tracker.record("gw")
    assert (rec.telemetry_seq, rec.gaps, rec.duplicate_batches) == (9, 0, 0)


def test_status_ordering_rules():
    tracker = GatewayTracker()
    assert tracker.observe_status(Status("gw", "online", "b1", ts_ms=T0, buffer_depth=5), T0)
    assert not tracker.observe_status(Status("gw", "online", "b1", ts_ms=T0 - 1, buffer_depth=9), T0 + 1)
    rec = tracker.record("gw")
    assert rec.buffer_depth == 5
    # The retained status delivered again (a worker subscribed anew) keeps its first receipt.
    assert not tracker.observe_status(Status("gw", "online", "b1", ts_ms=T0, buffer_depth=5), T0 + 90_000)
    assert rec.state_received_ms == T0
    assert tracker.observe_status(Status("gw", "online", "b2", ts_ms=T0 + 5, buffer_depth=1), T0 + 5)
    # The Last Will of boot b1, published by the broker after b2 came online, changes nothing.
    assert not tracker.observe_status(Status("gw", "offline", "b1"), T0 + 6)
    assert rec.state == "online"
    assert tracker.observe_status(Status("gw", "offline", "b2"), T0 + 7)
    assert (rec.state, rec.buffer_depth, rec.state_received_ms) == ("offline", 1, T0 + 7)


# --------------------------------------------------------------------------- tables


@pytest.fixture(params=["sqlite", "postgresql"])
def records(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'wardlink.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    engine = migrated_engine(url)
    yield IngestRecords(engine)
    engine.dispose()


def letter(payload: bytes, received_ms: int, reason="malformed_json", topic="wardlink/v1/gw/telemetry"):
    return DeadLetter.of(topic, payload, reason=reason, detail="broken", received_ms=received_ms, gateway="gw",
                         limit=8)


def test_the_tables_come_from_the_migrations_and_a_second_worker_starts_on_them(records):
    IngestRecords(records.engine)  # a second worker starting against the same database
    names = set(inspect(records.engine).get_table_names())
    assert {"ingest_dead_letters", "ingest_events", "gateway_links", "ingest_workers",
            "ingest_batch_sequence"} <= names


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_worker_on_a_database_never_migrated_says_to_upgrade_and_creates_nothing(backend, tmp_path, request):
    url = (f"sqlite:///{tmp_path / 'wardlink.db'}" if backend == "sqlite"
           else request.getfixturevalue("postgres_url"))
    engine = open_engine(url)
    try:
        with pytest.raises(StoreError, match="run 'wardlink db upgrade' first"):
            IngestRecords(engine)
        assert not [n for n in inspect(engine).get_table_names() if n.startswith("ingest_")]
    finally:
        engine.dispose()


def test_the_ingest_command_on_a_database_never_migrated_says_to_upgrade(tmp_path):
    db = tmp_path / "wardlink.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "WARDLINK_DATA_DIR": str(tmp_path),
           "WARDLINK_MQTT_URL": "mqtt://127.0.0.1:1", "WARDLINK_DATABASE_URL": f"sqlite:///{db}"}
    done = subprocess.run([sys.executable, "-m", "wardlink.hub.cli", "hub", "ingest", "--client-id", "hub-new"], env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 3, done.stderr  # the database is not ready: docs/deployment.md, exit codes
    assert "the database is empty" in done.stderr and "run 'wardlink db upgrade' first" in done.stderr
    assert "Traceback" not in done.stderr
    engine = open_engine(f"sqlite:///{db}")
    try:
        assert inspect(engine).get_table_names() == []  # nothing created behind the operator's back
    finally:
        engine.dispose()


def test_dead_letters_count_repeats_within_and_across_commits(records):
    records.commit(dead=[letter(b"aaaaaaaaaaaa", T0), letter(b"aaaaaaaaaaaa", T0 + 1), letter(b"b", T0 + 2)])
    records.commit(dead=[letter(b"aaaaaaaaaaaa", T0 + 10, reason="invalid_field")])
    rows = {r.payload: r for r in records.dead_letters()}
    a = rows[b"aaaaaaaa"]
    assert (a.count, a.first_received_ms, a.last_received_ms, a.payload_size, a.reason) == (3, T0, T0 + 10, 12,
                                                                                          "invalid_field")
    assert a.truncated and not rows[b"b"].truncated
    assert [r.payload for r in records.dead_letters(limit=1)] == [b"aaaaaaaa"]
    assert records.dead_letters(reason="nothing") == []
    assert len(records.dead_letters(gateway="gw")) == 2


def event_row(seq, idx, ts, type_="door.open", asset="FR-1", **extra):
    row = {"gateway": "gw", "boot": "b1", "seq": seq, "idx": idx, "ts_ms": ts, "type": type_, "severity": "info",
           "channel": "d1", "asset": asset, "data": {"n": seq, "text": "ü\u0000?"}, "received_ms": ts}
    row.update(extra)
    return row


def test_events_are_unique_by_gateway_boot_seq_and_position(records):
    records.commit(event_rows=[event_row(0, 0, T0), event_row(0, 0, T0), event_row(0, 1, T0 + 1, "door.close")])
    records.commit(event_rows=[event_row(0, 1, T0 + 1, "door.close"), event_row(1, 0, T0 + 2, asset="FR-2")])
    rows = records.events()
    assert [(e.seq, e.idx, e.type) for e in rows] == [(1, 0, "door.open"), (0, 1, "door.close"), (0, 0, "door.open")]
    assert rows[0].data == {"n": 1, "text": "ü\u0000?"}
    assert [e.ts_ms for e in records.events(asset="FR-1")] == [T0 + 1, T0]
    assert [e.type for e in records.events(types=["door.close"])] == ["door.close"]
    assert [e.ts_ms for e in records.events(start_ms=T0 + 1, end_ms=T0 + 2)] == [T0 + 1]
    assert len(records.events(limit=1)) == 1


def test_gateway_rows_are_overwritten_with_the_latest_state(records):
    tracker = GatewayTracker()
    feed(tracker, [0, 1])
    records.commit(gateway_rows=tracker.dirty_rows())
    tracker.clear_dirty()
    assert tracker.dirty_rows() == []
    feed(tracker, [3])
    tracker.observe_status(Status("gw", "online", "b1", ts_ms=T0, buffer_depth=12, version="1.2"), T0)
    records.commit(gateway_rows=tracker.dirty_rows())
    [rec] = records.gateways()
    assert rec == tracker.record("gw")
    assert records.gateways("other") == []


def test_worker_rows(records):
    row = {"client_id": "w1", "hostname": "h", "pid": 1, "started_ms": T0, "updated_ms": T0, "connected": True,
           "received": 5, "points_written": 50, "dead_lettered": 1, "acked": 5, "store_errors": 0, "pending": 0,
           "last_error": None, "last_error_ms": None}
    records.commit(worker=row)
    records.commit(worker={**row, "received": 6, "updated_ms": T0 + 5, "last_error": "x", "last_error_ms": T0})
    [w] = records.workers()
    assert (w.received, w.updated_ms, w.last_error, w.connected) == (6, T0 + 5, "x", True)


def test_an_unreachable_database_is_store_unavailable(tmp_path, postgres_db):
    records = IngestRecords(migrated_engine(postgres_db.url))
    postgres_db.stop()
    try:
        with pytest.raises(StoreUnavailable, match="relational store"):
            records.commit(dead=[letter(b"x", T0)])
    finally:
        postgres_db.start()
    records.commit(dead=[letter(b"x", T0)])
    assert len(records.dead_letters()) == 1
    records.engine.dispose()
