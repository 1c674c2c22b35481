"""Hypothesis-generated payloads through a real broker: the worker never crashes, and every
message ends up exactly where ``wardlink.protocol`` says it belongs — stored, or a dead letter
with the reason the protocol gives."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from wardlink.hub.ingest import IngestRecords, IngestWorker, StaticResolver
from wardlink.hub.telemetry.sqlite import SQLiteStore
from ingest_support import T0, Publisher, hub_config, migrated_engine, wait_until
from wardlink import protocol
from wardlink.clock import ManualClock

pytestmark = pytest.mark.timeout(180)

GATEWAY = "gw-fuzz"
TOPIC = protocol.topic(GATEWAY, "telemetry")

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_good_reading = st.tuples(st.sampled_from(["t1", "door.2", "dock:1"]), st.integers(T0 - 10**7, T0),
                          st.floats(-50, 50)).map(list)
_channel = st.sampled_from(["t1", "bad channel", "", "x" * 200]) | st.text(max_size=4)
_ts = st.sampled_from([T0, T0 + 299_000, T0 + 301_000, 0, 946_684_799_999, -5, 1.5e12]) | st.integers()
_value = st.floats() | st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=3)
_quality = st.sampled_from(["good", "uncertain", "bad", "excellent", 1])
_wild_reading = st.one_of(
    st.tuples(_channel, _ts, _value).map(list),
    st.tuples(_channel, _ts, _value, _quality).map(list),
    _json,
)
_reading = st.one_of(_good_reading, _good_reading, _good_reading, _wild_reading)


@st.composite
def near_valid_batches(draw) -> bytes:
    """A telemetry batch with some fields replaced by arbitrary JSON."""
    batch = {"v": 1, "gateway": GATEWAY, "boot": "b1", "seq": draw(st.integers(0, 10)),
             "readings": draw(st.lists(_reading, min_size=1, max_size=4))}
    keys = ["v", "gateway", "boot", "seq", "readings", "late", "extra"]
    for key in draw(st.lists(st.sampled_from(keys), max_size=1) | st.lists(st.sampled_from(keys), max_size=3)):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            batch.pop(key, None)
        elif choice == 1 and key == "gateway":
            batch[key] = "gw-other"  # a well-formed id that is not the topic's
        else:
            batch[key] = draw(_json)
    text = json.dumps(batch, allow_nan=True)  # lets NaN and Infinity reach the wire
    return text.encode()


_payloads = st.one_of(
    near_valid_batches(), near_valid_batches(), near_valid_batches(), near_valid_batches(),
    st.binary(max_size=64),
    _json.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    near_valid_batches().map(lambda b: b[: len(b) // 2]),  # truncated
    near_valid_batches().map(lambda b: b.replace(b"1", b"\xff", 1)),  # broken UTF-8
)


@pytest.fixture
def rig(tmp_path, mosquitto):
    """One worker for all examples; each example publishes into it."""
    tmp, broker = tmp_path, mosquitto
    store = SQLiteStore(tmp / "telemetry.db")
    engine = migrated_engine(f"sqlite:///{tmp / 'wardlink.db'}")
    records = IngestRecords(engine)
    clock = ManualClock()
    config = hub_config(tmp, broker.url, mqtt_client_id="hub-fuzz")
    worker = IngestWorker(config, store, StaticResolver(), clock, records=records, idle_flush_s=0.002)
    worker.start()
    wait_until(lambda: worker.stats().subscribed)
    pub = Publisher(broker.host, broker.port, "fuzz-gateway")
    yield worker, store, records, clock, pub
    pub.close()
    worker.stop()
    store.close()
    engine.dispose()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=_payloads)
def test_every_payload_is_stored_or_dead_lettered_with_the_protocols_reason(rig, payload):
    worker, store, records, clock, pub = rig
    before = worker.stats()
    points_before = store.count(gateway=GATEWAY)
    pub.publish(TOPIC, payload)
    wait_until(lambda: worker.stats().acked == before.acked + 1, timeout=10, what="the message acknowledged")
    after = worker.stats()
    try:
        batch = protocol.decode_telemetry(payload, gateway_id=GATEWAY, now_ms=round(clock.now() * 1000))
    except protocol.ProtocolError as exc:
        event(f"dead letter: {exc.reason}")
        letters = [d for d in records.dead_letters(limit=1000) if d.payload == payload[:64 * 1024]]
        assert letters, f"no dead letter for {payload!r} ({exc.reason})"
        assert letters[0].reason == exc.reason
        assert after.dead_lettered == before.dead_lettered + 1
    else:
        event("stored")
        assert store.count(gateway=GATEWAY) >= points_before
        assert after.points_written == before.points_written + len(batch.readings)
    assert after.pending == 0
