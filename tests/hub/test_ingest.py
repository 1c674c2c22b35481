"""The ingest worker against a real Mosquitto broker, real SQLite files and a real influxd."""

from __future__ import annotations

import json

import pytest

from wardlink.hub.ingest import IngestRecords, IngestWorker, Resolved, StaticResolver
from wardlink.hub.ingest.deadletter import STORE_REJECTED
from wardlink.hub.ingest.gateways import RESTARTED, SEQUENCE_GAP
from wardlink.hub.telemetry.influx import InfluxStore
from wardlink.hub.telemetry.sqlite import SQLiteStore
from ingest_support import (
    T0,
    Publisher,
    events,
    hub_config,
    migrated_engine,
    readings,
    status,
    telemetry,
    wait_until,
)
from wardlink import protocol
from wardlink.clock import ManualClock
from wardlink.protocol import Event

pytestmark = pytest.mark.timeout(120)

BINDINGS = {
    "gw-icu": {
        "fridge1.temp": {"measurement": "temperature", "tags": {"asset": "FR-1", "ward": "ICU", "site": "Main"}},
        "fridge1.door": {"measurement": "door", "tags": {"asset": "FR-1", "ward": "ICU", "site": "Main"}},
        # dock1.current was re-bound from pump P-7 to pump P-9 at T0 + 30 s
        "dock1.current": [
            {"measurement": "current", "tags": {"asset": "P-7"}, "valid_until_ms": T0 + 30_000},
            {"measurement": "current", "tags": {"asset": "P-9"}, "valid_from_ms": T0 + 30_000},
        ],
    },
}


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def sqlite_store(tmp_path):
    store = SQLiteStore(tmp_path / "telemetry.db")
    yield store
    store.close()


@pytest.fixture
def records(tmp_path):
    engine = migrated_engine(f"sqlite:///{tmp_path / 'wardlink.db'}")
    yield IngestRecords(engine)
    engine.dispose()


@pytest.fixture
def publisher(mosquitto):
    pub = Publisher(mosquitto.host, mosquitto.port)
    yield pub
    pub.close()


@pytest.fixture
def make_worker(tmp_path, mosquitto, clock, records):
    """Build ingest workers on the test broker; all are stopped at the end."""
    made = []

    def make(store, *, resolver=None, client_id="hub-ingest-test", **kwargs):
        config = hub_config(tmp_path, mosquitto.url, mqtt_client_id=client_id,
                            **{k: kwargs.pop(k) for k in list(kwargs) if k.startswith("mqtt_")})
        kwargs.setdefault("records", records)
        kwargs.setdefault("retry_initial_s", 0.05)
        kwargs.setdefault("retry_max_s", 0.2)
        worker = IngestWorker(config, store, resolver or StaticResolver(BINDINGS), clock, **kwargs)
        made.append(worker)
        worker.start()
        wait_until(lambda: worker.stats().subscribed, what="worker subscribed")
        return worker

    yield make
    for worker in made:
        worker.stop(drain=False, timeout=5)


def influx_store(influxd, **kwargs):
    kwargs.setdefault("retries", 0)
    return InfluxStore(influxd.url, influxd.database, **kwargs)


# --------------------------------------------------------------------------- happy path


@pytest.mark.parametrize("backend", ["sqlite", "influxdb"])
def test_published_telemetry_is_stored_then_acknowledged(backend, request, make_worker, publisher, sqlite_store):
    store = sqlite_store if backend == "sqlite" else influx_store(request.getfixturevalue("influxd"))
    worker = make_worker(store)
    start = T0 - 3_600_000
    batches = [telemetry("gw-icu", seq, readings("fridge1.temp", start + seq * 100_000, 100)) for seq in range(5)]
    publisher.publish_all(batches)
    wait_until(lambda: worker.stats().acked == 5, what="5 acknowledgements")
    assert store.count() == 500
    stats = worker.stats()
    assert (stats.received, stats.telemetry_batches, stats.points_written, stats.dead_lettered) == (5, 5, 500, 0)
    assert stats.pending == 0
    rows = store.range(gateway="gw-icu", channel="fridge1.temp", start_ms=start, end_ms=T0)
    expected = [r for _, payload in batches for r in protocol.decode_telemetry(payload).readings]
    assert [(r.ts_ms, r.value) for r in rows] == [(r.ts_ms, r.value) for r in expected]


def test_channels_map_to_the_binding_valid_at_each_reading(make_worker, publisher, sqlite_store):
    worker = make_worker(sqlite_store)
    publisher.publish(*telemetry("gw-icu", 0, [
        ("fridge1.temp", T0, 4.5), ("fridge1.door", T0, True), ("dock1.current", T0 + 29_999, 0.4),
        ("dock1.current", T0 + 30_000, 0.6), ("spare.input", T0, 1.0), ("room.humidity", T0, None, "bad"),
    ]))
    wait_until(lambda: worker.stats().acked == 1)
    got = {(r.measurement, r.tags["channel"], r.tags.get("asset")): (r.value, r.quality) for r in sqlite_store.latest()}
    assert got == {
        ("temperature", "fridge1.temp", "FR-1"): (4.5, "good"),
        ("door", "fridge1.door", "FR-1"): (1.0, "good"),
        ("current", "dock1.current", "P-7"): (0.4, "good"),
        ("current", "dock1.current", "P-9"): (0.6, "good"),
        ("unbound", "spare.input", None): (1.0, "good"),
        ("unbound", "room.humidity", None): (None, "bad"),
    }
    [fridge] = sqlite_store.latest(asset="FR-1", channels=["fridge1.temp"])
    assert fridge.tags == {"gateway": "gw-icu", "channel": "fridge1.temp", "asset": "FR-1", "ward": "ICU",
                           "site": "Main"}


def test_late_batches_keep_their_flag(make_worker, publisher, sqlite_store):
    worker = make_worker(sqlite_store)
    publisher.publish(*telemetry("gw-icu", 0, [("fridge1.temp", T0 - 3_600_000, 5.0)], late=True))
    wait_until(lambda: worker.stats().acked == 1)
    [row] = sqlite_store.latest()
    assert row.late is True


def test_a_resolver_that_ignores_gateway_and_channel_cannot_misfile_readings(make_worker, publisher, sqlite_store):
    class Careless:
        def resolve(self, gateway, channel, ts_ms):
            return Resolved("temperature", {"gateway": "someone-else", "channel": "x", "asset": "A1"})

    worker = make_worker(sqlite_store, resolver=Careless())
    publisher.publish(*telemetry("gw-icu", 0, [("c1", T0, 1.0)]))
    wait_until(lambda: worker.stats().acked == 1)
    [row] = sqlite_store.latest()
    assert row.tags == {"gateway": "gw-icu", "channel": "c1", "asset": "A1"}


def test_a_binding_no_store_can_hold_is_stored_unbound_not_lost(make_worker, publisher, sqlite_store):
    class BadTags:
        def resolve(self, gateway, channel, ts_ms):
            return Resolved("temperature", {"asset": "bad\\tag"})

    worker = make_worker(sqlite_store, resolver=BadTags())
    publisher.publish(*telemetry("gw-icu", 0, [("c1", T0, 1.0)]))
    wait_until(lambda: worker.stats().acked == 1)
    assert [r.measurement for r in sqlite_store.latest()] == ["unbound"]
    assert "backslash" in worker.stats().last_error


def test_a_failing_resolver_holds_the_batch_instead_of_misfiling_it(make_worker, publisher, sqlite_store):
    class Flaky:
        calls = 0

        def resolve(self, gateway, channel, ts_ms):
            Flaky.calls += 1
            if Flaky.calls <= 3:
                raise RuntimeError("bindings cache corrupted")
            return Resolved("temperature", {"asset": "FR-1"})

    worker = make_worker(sqlite_store, resolver=Flaky())
    publisher.publish(*telemetry("gw-icu", 0, [("fridge1.temp", T0, 4.0)]))
    wait_until(lambda: worker.stats().acked == 1)
    stats = worker.stats()
    assert stats.store_errors >= 1 and "bindings cache corrupted" in stats.last_error
    assert Flaky.calls == 4  # three failures, then the answer used for the stored point
    assert [(r.measurement, r.tags.get("asset")) for r in sqlite_store.latest()] == [("temperature", "FR-1")]


# --------------------------------------------------------------------------- invalid input


def _now(clock):
    return round(clock.now() * 1000)


def bad_messages(clock) -> dict[str, tuple[str, bytes]]:
    """One message per rejection reason, keyed by the reason the dead letter must carry."""
    good = protocol.decode_telemetry(telemetry("gw-icu", 0, [("fridge1.temp", T0, 1.0)])[1])
    topic = protocol.topic("gw-icu", "telemetry")

    def body(**changes) -> bytes:
        d = {**good.to_dict(), **changes}
        return json.dumps(d, separators=(",", ":")).encode()

    return {
        "malformed_json": (topic, b'{"v": 1, "gateway": "gw-icu", '),
        "unsupported_version": (topic, body(v=2)),
        "gateway_mismatch": (topic, body(gateway="gw-other")),
        "non_finite_number": (topic, body(readings=[["fridge1.temp", T0, "NaN"]]).replace(b'"NaN"', b"NaN")),
        "future_timestamp": (topic, body(readings=[["fridge1.temp", _now(clock) + 10 * 60_000, 1.0]])),
        "payload_too_large": (topic, body(pad="x" * (protocol.MAX_PAYLOAD_BYTES + 1))),
        "missing_field": (topic, body(readings=None).replace(b',"readings":null', b"")),
        "invalid_field": (topic, body(readings=[["fridge1.temp", T0, 1.0, "good", "extra"]])),
        "unknown_topic": ("wardlink/v1/bad gateway!/telemetry", body()),
    }


def test_invalid_messages_become_dead_letters_and_ingest_carries_on(make_worker, publisher, sqlite_store, clock,
                                                                   records):
    worker = make_worker(sqlite_store)
    bad = bad_messages(clock)
    for topic, payload in bad.values():
        publisher.publish(topic, payload)
    publisher.publish(*telemetry("gw-icu", 1, [("fridge1.temp", T0, 3.0)]))
    wait_until(lambda: worker.stats().acked == len(bad) + 1, what="every message acknowledged")
    assert worker.stats().dead_lettered == len(bad)
    assert sqlite_store.count() == 1
    letters = {d.reason: d for d in records.dead_letters()}
    assert set(letters) == set(bad)
    for reason, (topic, payload) in bad.items():
        letter = letters[reason]
        assert letter.topic == topic
        assert letter.payload == payload[:64 * 1024]
        assert letter.payload_size == len(payload)
        assert letter.count == 1 and letter.first_received_ms == _now(clock)
        assert letter.detail
    assert letters["payload_too_large"].truncated
    assert letters["gateway_mismatch"].gateway == "gw-icu"
    assert letters["unknown_topic"].gateway is None


def test_integers_beyond_64_bits_are_dead_letters_not_a_stuck_worker(make_worker, publisher, sqlite_store, records):
    worker = make_worker(sqlite_store)
    huge = 2**64
    tele = json.loads(telemetry("gw-icu", 0, [("fridge1.temp", T0, 1.0)])[1])
    stat = json.loads(status("gw-icu")[1])
    publisher.publish(protocol.topic("gw-icu", "telemetry"), json.dumps({**tele, "seq": huge}))
    publisher.publish(protocol.topic("gw-icu", "status"), json.dumps({**stat, "buffer_depth": huge}))
    publisher.publish(*telemetry("gw-icu", 1, [("fridge1.temp", T0, 2.0)]))
    wait_until(lambda: worker.stats().acked == 3)
    assert sorted((d.reason, d.detail.split(":")[0]) for d in records.dead_letters()) == [
        ("invalid_field", "buffer_depth"), ("invalid_field", "seq")]
    assert sqlite_store.count() == 1


def test_a_repeated_bad_message_is_one_dead_letter_with_a_count(make_worker, publisher, sqlite_store, records, clock):
    worker = make_worker(sqlite_store)
    for i in range(3):
        publisher.publish("wardlink/v1/gw-icu/telemetry", b"not json")
        wait_until(lambda: worker.stats().received == i + 1)
        clock.advance(1)
    wait_until(lambda: worker.stats().acked == 3)
    [letter] = records.dead_letters()
    assert letter.count == 3
    assert letter.last_received_ms - letter.first_received_ms == 2000


def test_a_message_the_store_refuses_is_dead_lettered_and_the_rest_of_the_batch_lands(influxd, make_worker,
                                                                                    publisher, records):
    # Someone wrote an integer `value` into measurement `unbound`: InfluxDB now refuses floats there.
    influxd.write([f"unbound,channel=x,gateway=gw-icu value=1i {T0}"])
    store = influx_store(influxd)
    worker = make_worker(store, max_batch_delay_s=0.5, idle_flush_s=0.3)
    poison = telemetry("gw-icu", 0, [("spare.input", T0, 1.0)])
    fine = [telemetry("gw-icu", seq, [("fridge1.temp", T0 + seq, 2.0)]) for seq in (1, 2)]
    publisher.publish_all([fine[0], poison, fine[1]])
    wait_until(lambda: worker.stats().acked == 3)
    assert store.count(measurement="temperature") == 2
    [letter] = records.dead_letters()
    assert letter.reason == STORE_REJECTED
    assert "field type conflict" in letter.detail
    assert letter.payload == poison[1]


def test_a_message_the_relational_store_refuses_is_dead_lettered_and_the_rest_is_kept(
        make_worker, publisher, sqlite_store, records):
    # A site policy in the database itself: events of this type are refused.
    with records.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TRIGGER refuse_pills BEFORE INSERT ON ingest_events "
                             "WHEN NEW.type = 'poison.pill' BEGIN SELECT RAISE(ABORT, 'refused by policy'); END")
    worker = make_worker(sqlite_store, max_batch_delay_s=1.0, idle_flush_s=0.3)
    pill = events("gw-icu", 0, [Event("poison.pill", T0)])
    publisher.publish_all([telemetry("gw-icu", 0, [("fridge1.temp", T0, 4.0)]), pill,
                           events("gw-icu", 1, [Event("door.open", T0, "fridge1.door")])])
    wait_until(lambda: worker.stats().acked == 3)
    assert sqlite_store.count() == 1
    assert [e.type for e in records.events()] == ["door.open"]
    [letter] = records.dead_letters()
    assert (letter.reason, letter.payload) == (STORE_REJECTED, pill[1])
    assert "refused by policy" in letter.detail


# --------------------------------------------------------------------------- events and status


def test_events_are_stored_once_with_their_asset(make_worker, publisher, sqlite_store, records):
    worker = make_worker(sqlite_store)
    batch = events("gw-icu", 0, [
        Event("door.open", T0, "fridge1.door"),
        Event("alarm.raised", T0 + 5000, "fridge1.temp", "critical", {"rule": "above 8.0", "value": 8.4}),
        Event("buffer.overflow", T0 + 6000, severity="warning", data={"dropped": 12}),
    ])
    publisher.publish(*batch)
    publisher.publish(*batch)  # re-sent after a lost PUBACK
    wait_until(lambda: worker.stats().acked == 2)
    rows = records.events(gateway="gw-icu")
    assert [(e.type, e.asset, e.severity, e.seq, e.idx) for e in rows] == [
        ("buffer.overflow", None, "warning", 0, 2),
        ("alarm.raised", "FR-1", "critical", 0, 1),
        ("door.open", "FR-1", "info", 0, 0),
    ]
    assert rows[1].data == {"rule": "above 8.0", "value": 8.4}
    assert records.events(asset="FR-1", types=["door.open"])[0].ts_ms == T0
    assert worker.stats().event_batches == 2


def test_status_and_last_will_track_online_offline(mosquitto, make_worker, sqlite_store, records):
    worker = make_worker(sqlite_store)
    topic, offline = status("gw-ward3", "offline", boot="b7")
    gateway = Publisher(mosquitto.host, mosquitto.port, "gw-ward3", will=(topic, offline))
    gateway.publish(*status("gw-ward3", boot="b7", ts_ms=T0, version="0.1.0", buffer_depth=42, uptime_s=12.5),
                    retain=True)
    wait_until(lambda: records.gateways("gw-ward3") and records.gateways("gw-ward3")[0].state == "online")
    [rec] = records.gateways("gw-ward3")
    assert (rec.buffer_depth, rec.version, rec.uptime_s, rec.status_boot) == (42, "0.1.0", 12.5, "b7")
    gateway.drop()  # the broker publishes the Last Will
    # The row is visible as soon as the records commit; the counters follow it and the
    # acknowledgement comes last: wait for that, not the row, before reading the counters.
    wait_until(lambda: worker.stats().acked == 2, what="the status and the Last Will acknowledged")
    assert records.gateways("gw-ward3")[0].state == "offline"
    assert (worker.stats().status_messages, worker.stats().pending) == (2, 0)


def test_retained_status_reaches_a_worker_that_starts_later(mosquitto, make_worker, publisher, sqlite_store, records):
    publisher.publish(*status("gw-ward4", buffer_depth=7), retain=True)
    worker = make_worker(sqlite_store)
    # Not "until the row is visible": the worker commits the row, then counts the message, then
    # acknowledges it, so a test that reads the counters when the row appears can see 0 and
    # pending=1. The acknowledgement is the last step, and it moves acked and pending in one
    # step under the counters' lock: once it is counted, so is everything else, in one snapshot.
    wait_until(lambda: worker.stats().acked == 1, what="retained status delivered and acknowledged")
    assert records.gateways("gw-ward4")[0].buffer_depth == 7
    stats = worker.stats()
    assert (stats.status_messages, stats.pending, stats.acked) == (1, 0, 1)


def test_sequence_gaps_restarts_and_duplicates_are_tracked(make_worker, publisher, sqlite_store, records):
    worker = make_worker(sqlite_store)
    msgs = [telemetry("gw-icu", seq, [("fridge1.temp", T0 + seq, 1.0)]) for seq in (0, 1, 2, 5, 5, 3)]
    msgs += [telemetry("gw-icu", seq, [("fridge1.temp", T0 + 100 + seq, 1.0)], boot="boot-2") for seq in (0, 1)]
    publisher.publish_all(msgs)
    wait_until(lambda: worker.stats().acked == len(msgs))
    [rec] = records.gateways("gw-icu")
    assert (rec.boot, rec.telemetry_seq, rec.restarts, rec.gaps) == ("boot-2", 1, 1, 1)
    assert rec.missing_batches == 1  # 3 and 4 went missing; 3 turned up late
    assert rec.duplicate_batches == 1
    assert (rec.batches, rec.readings) == (8, 8)
    notes = {e.type: e for e in records.events(gateway="gw-icu")}
    assert notes[SEQUENCE_GAP].data == {"topic": "telemetry", "first_missing": 3, "last_missing": 4, "count": 2}
    assert notes[RESTARTED].data["previous_boot"] == "boot-1"


def test_a_worker_restart_is_not_mistaken_for_a_gateway_restart(make_worker, publisher, sqlite_store, records):
    first = make_worker(sqlite_store, client_id="hub-a")
    publisher.publish(*telemetry("gw-icu", 0, [("fridge1.temp", T0, 1.0)]))
    wait_until(lambda: first.stats().acked == 1)
    first.stop()
    second = make_worker(sqlite_store, client_id="hub-a")
    publisher.publish(*telemetry("gw-icu", 1, [("fridge1.temp", T0 + 1, 1.0)]))
    wait_until(lambda: second.stats().acked == 1)
    [rec] = records.gateways("gw-icu")
    assert (rec.restarts, rec.gaps, rec.telemetry_seq, rec.batches) == (0, 0, 1, 2)


def test_the_same_worker_object_can_be_stopped_and_started_again(make_worker, publisher, sqlite_store):
    worker = make_worker(sqlite_store)
    publisher.publish(*telemetry("gw-icu", 0, [("fridge1.temp", T0, 1.0)]))
    wait_until(lambda: worker.stats().acked == 1)
    worker.stop()
    assert not worker.is_running and not worker.stats().connected
    worker.start()
    assert worker.is_running
    wait_until(lambda: worker.stats().connected)
    publisher.publish(*telemetry("gw-icu", 1, [("fridge1.temp", T0 + 1, 2.0)]))
    wait_until(lambda: worker.stats().acked == 2)
    assert sqlite_store.count() == 2


# --------------------------------------------------------------------------- listeners


class Recording:
    """A listener that records what it is handed and what was committed at that moment."""

    def __init__(self, worker_ref, store, fail_first: Exception | None = None):
        self.worker_ref, self.store, self.fail_first = worker_ref, store, fail_first
        self.calls: list[tuple] = []

    def _check(self):
        if self.fail_first is not None:
            exc, self.fail_first = self.fail_first, None
            raise exc

    def on_points(self, points):
        self.calls.append(("points", [(p.tags, p.ts_ms, p.value) for p in points],
                           None if self.store is None else self.store.count(), self.worker_ref[0].stats().acked))
        self._check()

    def on_events(self, gateway, evs):
        self.calls.append(("events", gateway, [e.type for e in evs]))

    def on_status(self, gateway, st, received_ms):
        self.calls.append(("status", gateway, st.state, received_ms))


def test_listeners_get_points_events_and_status_in_arrival_order_before_the_acknowledgement(
        make_worker, publisher, sqlite_store, clock):
    ref = []
    listener = Recording(ref, sqlite_store)
    ref.append(make_worker(sqlite_store, listeners=[listener], max_batch_delay_s=1.0, idle_flush_s=0.3))
    publisher.publish_all([
        telemetry("gw-icu", 0, [("fridge1.temp", T0, 4.0), ("fridge1.temp", T0 + 1, 4.5)]),
        events("gw-icu", 0, [Event("door.open", T0, "fridge1.door")]),
        status("gw-icu", buffer_depth=3),
    ])
    wait_until(lambda: ref[0].stats().acked == 3)
    assert listener.calls[0][0] == "points"
    kind, points, committed, acked = listener.calls[0]
    assert [(ts, v) for _, ts, v in points] == [(T0, 4.0), (T0 + 1, 4.5)]
    assert dict(points[0][0])["asset"] == "FR-1"
    assert acked == 0  # handed over before the acknowledgement
    assert sqlite_store.count() == 2
    assert listener.calls[1:] == [("events", "gw-icu", ["door.open"]),
                                  ("status", "gw-icu", "online", _now(clock))]


def test_listeners_do_not_wait_for_the_store_write_or_a_store_outage(tmp_path, make_worker, publisher):
    """An alarm must not wait for the batch age bound, nor for InfluxDB to come back."""
    from servers import InfluxServer

    server = InfluxServer(tmp_path / "influxd").start()
    try:
        database = server.create_database("outage")
        store = InfluxStore(server.url, database, retries=0, timeout_s=2)
        server.stop()
        ref = []
        listener = Recording(ref, None)
        ref.append(make_worker(store, listeners=[listener], max_batch_delay_s=3.0, idle_flush_s=3.0))
        publisher.publish(*telemetry("gw-icu", 0, [("fridge1.temp", T0, 9.5)]))
        wait_until(lambda: listener.calls, what="listener called while influxd is down")
        assert [(ts, v) for _, ts, v in listener.calls[0][1]] == [(T0, 9.5)]
        # The writer is still gathering its batch (3 s bound): it has not tried the store yet.
        assert (ref[0].stats().store_errors, ref[0].stats().acked) == (0, 0)
        publisher.publish(*telemetry("gw-icu", 1, [("fridge1.temp", T0 + 1000, 9.6)]))
        wait_until(lambda: len(listener.calls) == 2, what="second message handed over on its own")
        wait_until(lambda: ref[0].stats().store_errors > 0, what="store write failing")
        assert ref[0].stats().acked == 0  # nothing acknowledged while the points are not stored
        server.start()
        wait_until(lambda: ref[0].stats().acked == 2, timeout=30, what="acknowledged once influxd is back")
        assert store.count() == 2
        assert len(listener.calls) == 2  # the store's retries did not repeat the listeners
    finally:
        server.close()


def test_a_listener_whose_database_is_down_holds_the_acknowledgement_until_it_recovers(
        make_worker, publisher, sqlite_store, records):
    from wardlink.hub.errors import StoreError

    ref = []
    flaky = Recording(ref, sqlite_store, fail_first=StoreError("rules database down"))
    steady = Recording(ref, sqlite_store)
    ref.append(make_worker(sqlite_store, listeners=[steady, flaky], max_batch_delay_s=1.0, idle_flush_s=0.3))
    publisher.publish_all([telemetry("gw-icu", 0, [("fridge1.temp", T0, 4.0)]),
                           ("wardlink/v1/gw-icu/telemetry", b"junk")])
    wait_until(lambda: ref[0].stats().acked == 2)
    assert [c[0] for c in flaky.calls] == ["points", "points"]  # called again after the failure
    assert [c[0] for c in steady.calls] == ["points"]  # not repeated: it had succeeded
    assert flaky.calls[1][3] == 0  # still nothing acknowledged on the retry
    assert ref[0].stats().store_errors == 1
    [letter] = records.dead_letters()
    assert letter.count == 1  # the retry did not record the batch twice
    assert [g.batches for g in records.gateways("gw-icu")] == [1]


def test_a_listener_bug_is_logged_and_ingest_goes_on(make_worker, publisher, sqlite_store):
    ref = []
    buggy = Recording(ref, sqlite_store, fail_first=ZeroDivisionError("oops"))
    ref.append(make_worker(sqlite_store, listeners=[buggy]))
    publisher.publish(*telemetry("gw-icu", 0, [("fridge1.temp", T0, 4.0)]))
    wait_until(lambda: ref[0].stats().acked == 1)
    assert "Recording failed" in ref[0].stats().last_error
    assert len(buggy.calls) == 1


# --------------------------------------------------------------------------- stats


def test_worker_counters_are_published_for_other_processes(make_worker, publisher, sqlite_store, records):
    worker = make_worker(sqlite_store, stats_interval_s=0.05)
    publisher.publish(*telemetry("gw-icu", 0, readings("fridge1.temp", T0, 10)))
    wait_until(lambda: worker.stats().acked == 1)
    row = wait_until(lambda: [w for w in records.workers() if w.acked == 1], what="published counters")[0]
    assert (row.client_id, row.connected, row.received, row.points_written) == ("hub-ingest-test", True, 1, 10)


def test_config_errors_name_the_key(tmp_path, sqlite_store, mosquitto):
    config = hub_config(tmp_path, "mqtt://127.0.0.1:notaport")
    with pytest.raises(ValueError, match="mqtt_url"):
        IngestWorker(config, sqlite_store, StaticResolver())
    with pytest.raises(ValueError, match="max_batch_points"):
        IngestWorker(hub_config(tmp_path, mosquitto.url), sqlite_store, StaticResolver(), max_batch_points=0)

    class PointsOnly:
        def on_points(self, points):
            pass

    with pytest.raises(ValueError, match="listeners: PointsOnly is not an ingest listener .*on_events, on_status"):
        IngestWorker(hub_config(tmp_path, mosquitto.url), sqlite_store, StaticResolver(), listeners=[PointsOnly()])


def test_static_resolver_checks_its_mapping_at_start():
    with pytest.raises(ValueError, match=r"bindings\.gw\.c1\.measurement: required"):
        StaticResolver({"gw": {"c1": {"tags": {}}}})
    with pytest.raises(ValueError, match=r"bindings\.gw\.c1: bindings overlap"):
        StaticResolver({"gw": {"c1": [{"measurement": "t"}, {"measurement": "t", "valid_from_ms": 5}]}})
    with pytest.raises(ValueError, match=r"bindings\.gw\.c1\.tags: gateway and channel"):
        StaticResolver({"gw": {"c1": {"measurement": "t", "tags": {"gateway": "x"}}}})
    with pytest.raises(ValueError, match=r"bindings\.gw\.c1: .*backslash"):
        StaticResolver({"gw": {"c1": {"measurement": "t", "tags": {"asset": "a\\b"}}}})
    resolver = StaticResolver(BINDINGS)
    assert resolver.resolve("gw-icu", "dock1.current", T0 + 29_999).tags == {"asset": "P-7"}
    assert resolver.resolve("gw-icu", "dock1.current", T0 + 30_000).tags == {"asset": "P-9"}
    assert resolver.resolve("gw-icu", "nothing", T0) is None
    assert resolver.resolve("gw-other", "fridge1.temp", T0) is None
