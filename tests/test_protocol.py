"""Protocol v1: topics, round trips, and every rejection the hub's dead-letter table relies on."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from wardlink import protocol as p
from wardlink.schema import validator

NOW = 1_795_341_600_000  # 2026-11-22T10:00:00Z
GW = "gw-icu-01"
TOPIC = f"wardlink/v1/{GW}/telemetry"


def batch(**overrides) -> dict:
    body = {"v": 1, "gateway": GW, "boot": "b00t", "seq": 3,
            "readings": [["fridge1.temp", NOW, 4.5], ["fridge1.door", NOW, 1]]}
    body.update(overrides)
    return body


def raw(obj) -> bytes:
    return json.dumps(obj).encode()


# ------------------------------------------------------------------ topics

def test_topic_builders_and_parser_agree_for_every_kind():
    for kind in p.Kind:
        command = "identify" if kind is p.Kind.CMD else None
        name = p.topic(GW, kind, command)
        info = p.parse_topic(name)
        assert (info.gateway_id, info.kind, info.command) == (GW, kind, command)


def test_shared_subscription_has_share_prefix():
    assert p.subscription("telemetry", group="ingest") == "$share/ingest/wardlink/v1/+/telemetry"
    assert p.subscription(p.Kind.CMD, gateway_id=GW) == f"wardlink/v1/{GW}/cmd/+"


@pytest.mark.parametrize("name", [
    "wardlink/v2/gw/telemetry", "other/v1/gw/telemetry", "wardlink/v1/gw/unknown",
    "wardlink/v1/gw/cmd/self-destruct", "wardlink/v1/gw", "wardlink/v1/+/telemetry",
    "wardlink/v1/gw/telemetry/extra",
])
def test_foreign_topics_are_rejected(name):
    with pytest.raises(p.UnknownTopic):
        p.parse_topic(name)


def test_topic_refuses_gateway_ids_that_would_break_topic_levels():
    for bad in ("a/b", "+", "#", "", "x" * 65, "gw-1\n"):
        with pytest.raises(p.InvalidField):
            p.topic(bad, "telemetry")


# ------------------------------------------------------------------ round trips

def test_telemetry_round_trip_keeps_every_field():
    b = p.TelemetryBatch(GW, "b00t", 9, (p.Reading("a", NOW, 1.25), p.Reading("b", NOW + 1, None, "bad")), late=True)
    decoded = p.decode(TOPIC, p.encode(b), now_ms=NOW)
    assert decoded == b


def test_integral_float_timestamps_are_integers_as_in_json_schema():
    decoded = p.decode_telemetry(raw(batch(readings=[["a", float(NOW), 1]])))
    assert decoded.readings[0].ts_ms == NOW and type(decoded.readings[0].ts_ms) is int


def test_optional_integer_fields_are_integers_too():
    """The optional status and config timestamps are the checked integers, as required ones are:
    a 3.0 on the wire is the integer 3 in the message, and in the message encoded again."""
    status = p.decode_status(raw({"v": 1, "gateway": GW, "state": "online", "boot": "b00t",
                                  "ts": float(NOW), "last_seq": 7.0}))
    assert (type(status.ts_ms), type(status.last_seq)) == (int, int)
    assert b'"ts":%d,' % NOW in p.encode(status)
    config = p.decode_config(raw({"v": 1, "gateway": GW, "version": 2.0, "channels": [],
                                  "issued": float(NOW)}))
    assert (type(config.version), type(config.issued_ms)) == (int, int)
    assert p.encode(config).endswith(b'"issued":%d}' % NOW)


def test_integer_and_boolean_values_become_floats():
    decoded = p.decode_telemetry(raw(batch(readings=[["a", NOW, 3], ["b", NOW, True]])))
    assert [r.value for r in decoded.readings] == [3.0, 1.0]
    assert all(type(r.value) is float for r in decoded.readings)


def test_every_message_kind_round_trips():
    messages = {
        f"wardlink/v1/{GW}/events": p.EventBatch(GW, "b", 0, (p.Event("door.open", NOW, "d1", "info", {"x": 1}),)),
        f"wardlink/v1/{GW}/status": p.Status(GW, "online", "b", NOW, "0.1.0", 12.5, 3, 100, 0, 2),
        f"wardlink/v1/{GW}/config": p.GatewayConfig(GW, 2, ({"id": "c1", "driver": "sht3x"},), (), NOW),
        f"wardlink/v1/{GW}/cmd/resend-from": p.Command("resend-from", "id1", NOW, {"seq": 4}),
        f"wardlink/v1/{GW}/cmd-result": p.CommandResult(GW, "id1", "identify", True, NOW, "blinked"),
    }
    for name, msg in messages.items():
        assert p.decode(name, p.encode(msg), now_ms=NOW) == msg


# ------------------------------------------------------------------ rejections

@pytest.mark.parametrize("payload, error", [
    (b"{not json", p.MalformedJSON),
    (b"\xff\xfe", p.MalformedJSON),
    (b"[1, 2]", p.MalformedJSON),
    (raw(batch(v=2)), p.UnsupportedVersion),
    (raw(batch(v="1")), p.UnsupportedVersion),
    (raw({k: v for k, v in batch().items() if k != "v"}), p.MissingField),
    (raw({k: v for k, v in batch().items() if k != "readings"}), p.MissingField),
    (raw({k: v for k, v in batch().items() if k != "boot"}), p.MissingField),
    (raw(batch(gateway="gw-other")), p.GatewayMismatch),
    (raw(batch(readings=[])), p.InvalidField),
    (raw(batch(readings=[["a", NOW]])), p.InvalidField),
    (raw(batch(readings=[["a", NOW, "4.5"]])), p.InvalidField),
    (raw(batch(readings=[["a", NOW, None]])), p.InvalidField),
    (raw(batch(readings=[["a", NOW, 1, "excellent"]])), p.InvalidField),
    (raw(batch(readings=[["a/b", NOW, 1]])), p.InvalidField),
    (raw(batch(readings=[["a\n", NOW, 1]])), p.InvalidField),
    (raw(batch(readings=[["a", 12345, 1]])), p.InvalidField),
    (raw(batch(readings=[["a", NOW + 0.5, 1]])), p.InvalidField),
    (raw(batch(seq=-1)), p.InvalidField),
    (raw(batch(seq=True)), p.InvalidField),
    (raw(batch(seq=2**63)), p.InvalidField),
    (raw(batch(readings=[["a", 2**63, 1]])), p.InvalidField),
    (raw(batch(readings=[["a", NOW, 10**400]])), p.NonFiniteNumber),
    (raw(batch(readings=[[["a"], NOW, 1]])), p.InvalidField),
    (raw(batch(readings=[["a", NOW + 10 * 60_000, 1]])), p.FutureTimestamp),
    (b'{"v":1,"gateway":"gw-icu-01","boot":"b","seq":1,"readings":[["a",1795341600000,NaN]]}', p.NonFiniteNumber),
    (b'{"v":1,"gateway":"gw-icu-01","boot":"b","seq":1,"readings":[["a",1795341600000,-Infinity]]}', p.NonFiniteNumber),
    (b'{"v":1,"gateway":"gw-icu-01","boot":"b","seq":1,"readings":[["a",1795341600000,1e999]]}', p.NonFiniteNumber),
])
def test_bad_telemetry_is_rejected_with_a_typed_error(payload, error):
    with pytest.raises(error) as info:
        p.decode(TOPIC, payload, now_ms=NOW)
    assert info.value.reason == error.reason
    assert str(info.value)  # a message a person can read


def test_oversize_payload_is_rejected_before_parsing():
    payload = b" " * (p.MAX_PAYLOAD_BYTES + 1)
    with pytest.raises(p.PayloadTooLarge):
        p.decode(TOPIC, payload, now_ms=NOW)


def test_any_bytes_like_payload_is_parsed_or_refused_with_a_protocol_error():
    body = raw(batch())
    for payload in (body, bytearray(body), memoryview(body)):
        assert p.loads(payload) == batch()
    with pytest.raises(p.MalformedJSON):
        p.loads(memoryview(b'{"a": "\xff"}'))
    with pytest.raises(p.PayloadTooLarge):
        p.loads(memoryview(body), max_bytes=len(body) - 1)


def test_too_many_readings_are_rejected():
    readings = [["a", NOW, 1.0]] * (p.MAX_READINGS_PER_BATCH + 1)
    with pytest.raises(p.InvalidField, match="at most"):
        p.decode_telemetry(raw(batch(readings=readings)))


def test_error_names_the_offending_reading():
    with pytest.raises(p.InvalidField) as info:
        p.decode_telemetry(raw(batch(readings=[["a", NOW, 1], ["b", NOW, "x"]])))
    assert info.value.path == "readings[1][2]"


def test_future_check_is_off_without_a_clock_but_pre_2000_is_always_refused():
    p.decode_telemetry(raw(batch(readings=[["a", NOW + 10**9, 1]])))
    with pytest.raises(p.InvalidField, match="2000"):
        p.decode_telemetry(raw(batch(readings=[["a", 1000, 1]])))


def test_status_rejects_unknown_state_and_command_needs_known_name():
    with pytest.raises(p.InvalidField):
        p.decode(f"wardlink/v1/{GW}/status", raw({"v": 1, "gateway": GW, "state": "sleepy", "boot": "b"}))
    with pytest.raises(p.MissingField):
        p.decode(f"wardlink/v1/{GW}/cmd/resend-from", raw({"v": 1, "id": "x", "ts": NOW, "args": {}}))


def test_config_rejects_duplicate_channel_ids():
    body = {"v": 1, "gateway": GW, "version": 1,
            "channels": [{"id": "a", "driver": "x"}, {"id": "a", "driver": "y"}]}
    with pytest.raises(p.InvalidField, match="duplicate"):
        p.decode(f"wardlink/v1/{GW}/config", raw(body))


def test_encode_refuses_non_finite_values():
    b = p.TelemetryBatch(GW, "b", 0, (p.Reading("a", NOW, float("nan")),))
    with pytest.raises(ValueError):
        p.encode(b)


# ------------------------------------------------------------------ schema and decoder agree

reading_st = st.tuples(
    st.sampled_from(["a", "fridge1.temp", "x:y", "bad/ch", ""]),
    st.one_of(st.integers(min_value=0, max_value=NOW + 10**6), st.floats(allow_nan=False, allow_infinity=False),
              st.integers(min_value=0, max_value=NOW + 10**6).map(float)),
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=3)),
    st.sampled_from([None, "good", "uncertain", "bad", "meh"]),
).map(lambda t: list(t[:3]) if t[3] is None else list(t))

body_st = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 1, 2]), "gateway": st.sampled_from([GW, GW, "bad gw"]),
     "boot": st.sampled_from(["b", "", "x" * 70]), "seq": st.one_of(st.integers(-1, 5), st.sampled_from([2.0, 2.5])),
     "readings": st.lists(reading_st, max_size=4)},
    optional={"late": st.sampled_from([True, False, 1])},
)


@settings(max_examples=400, deadline=None)
@given(body_st)
def test_json_schema_and_decoder_accept_exactly_the_same_batches(body):
    """Every batch the schema accepts, the decoder accepts, and vice versa (no clock check)."""
    schema_ok = validator("telemetry").is_valid(body)
    try:
        p.decode_telemetry(raw(body))
        decoder_ok = True
    except p.ProtocolError:
        decoder_ok = False
    assert schema_ok == decoder_ok, body


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_give_a_message_or_a_protocol_error(data):
    try:
        p.decode(TOPIC, data, now_ms=NOW)
    except p.ProtocolError:
        pass
