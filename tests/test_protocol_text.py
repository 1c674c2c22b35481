"""Strings no store can keep, invisible characters in identifiers and repeated keys are refused
by every decoder with a clear reason and path, so they become dead letters instead of rows that
a database refuses."""

from __future__ import annotations

import json

import pytest

from wardlink import protocol as p
from wardlink.schema import validator

NOW = 1_795_341_600_000
GW = "gw-icu-01"

BASES = {
    "telemetry": {"v": 1, "gateway": GW, "boot": "b1", "seq": 0, "readings": [["t1", NOW, 4.0]]},
    "events": {"v": 1, "gateway": GW, "boot": "b1", "seq": 0,
               "events": [{"type": "door.opened", "ts": NOW, "data": {"who": "x"}}]},
    "status": {"v": 1, "gateway": GW, "state": "online", "boot": "b1", "version": "1.0"},
    "config": {"v": 1, "gateway": GW, "version": 1, "channels": [{"id": "t1", "driver": "ds18b20"}]},
    "cmd": {"v": 1, "id": "c-1", "ts": NOW, "args": {}},
    "cmd-result": {"v": 1, "gateway": GW, "id": "c-1", "cmd": "identify", "ok": True, "ts": NOW, "detail": "done"},
}
# (kind, path into the body, what the error names)
STRING_FIELDS = [
    ("telemetry", ("boot",), "boot"),
    ("events", ("boot",), "boot"),
    ("events", ("events", 0, "data", "who"), "events[0].data.who"),
    ("status", ("boot",), "boot"),
    ("status", ("version",), "version"),
    ("config", ("channels", 0, "driver"), "channels[0].driver"),
    ("cmd", ("id",), "id"),
    ("cmd-result", ("id",), "id"),
    ("cmd-result", ("detail",), "detail"),
]
IDENTIFIERS = [f for f in STRING_FIELDS if f[2] not in ("events[0].data.who", "detail")]


def decode(kind: str, payload: bytes):
    if kind == "cmd":
        return p.decode_command(payload, name="identify")
    return p.decode(p.topic(GW, kind), payload, now_ms=NOW)


def with_value(kind: str, path: tuple, value) -> dict:
    body = json.loads(json.dumps(BASES[kind]))
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize("kind", list(BASES))
def test_the_bases_decode(kind):
    decode(kind, json.dumps(BASES[kind]).encode())


@pytest.mark.parametrize("kind,path,where", STRING_FIELDS)
@pytest.mark.parametrize("bad", ["\ud800", "x\udfff", "\u0000", "ok\u0000"])
def test_nul_and_lone_surrogates_are_refused_in_every_string(kind, path, where, bad):
    payload = json.dumps(with_value(kind, path, bad)).encode()  # "\ud800" as JSON escapes
    with pytest.raises(p.UnstorableText) as err:
        decode(kind, payload)
    assert err.value.reason == "invalid_text" and err.value.path == where
    assert "no store can keep" in str(err.value)


@pytest.mark.parametrize("kind,path,where", IDENTIFIERS)
@pytest.mark.parametrize("bad", ["a\u202eb", "\u2066x", "x\u200f", "a\nb", "\x1b[31m", "a\x7f", "\u2028", "\ufeffx"])
def test_control_and_bidi_characters_are_refused_in_identifiers(kind, path, where, bad):
    body = with_value(kind, path, bad)
    for payload in (json.dumps(body).encode(), json.dumps(body, ensure_ascii=False).encode()):
        with pytest.raises(p.UnstorableText) as err:
            decode(kind, payload)
        assert err.value.path == where and f"U+{ord(next(c for c in bad if p.NOT_IN_IDENTIFIER_RE.match(c))):04X}" \
            in str(err.value)
    if kind in ("telemetry", "events", "status", "cmd-result"):
        assert not validator(kind).is_valid(body)  # the JSON Schema says the same


def test_free_text_may_hold_controls_and_other_scripts():
    body = with_value("cmd-result", ("detail",), "line 1\nline 2 \u202e\u05e9\u05dc\u05d5\u05dd")
    assert decode("cmd-result", json.dumps(body).encode()).detail.startswith("line 1\n")
    assert decode("status", json.dumps(with_value("status", ("version",), "v2.1-é")).encode()).version == "v2.1-é"


def test_raw_text_with_a_surrogate_is_refused_too():
    text = json.dumps(BASES["status"]).replace('"b1"', '"b\ud8001"')
    with pytest.raises(p.UnstorableText):
        p.decode_status(text)


@pytest.mark.parametrize("kind", list(BASES))
def test_a_repeated_key_is_refused(kind):
    body = json.dumps(BASES[kind])
    first_key = next(iter(BASES[kind]))
    payload = body.replace("{", "{" + json.dumps(first_key) + ": 1, ", 1).encode()
    with pytest.raises(p.DuplicateKey) as err:
        decode(kind, payload)
    assert err.value.reason == "duplicate_key" and err.value.path == first_key


@pytest.mark.parametrize("payload", [
    # the fast path (orjson, no backslash) would let the last value win
    b'{"v":1,"gateway":"gw-icu-01","boot":"b1","boot":"b2","seq":0,"readings":[["t1",%d,1.0]]}' % NOW,
    b'{"v":1,"gateway":"gw-icu-01","boot":"b1","seq":0,"seq":5,"readings":[["t1",%d,1.0]]}' % NOW,
    b'{"v":1,"gateway":"gw-icu-01","boot":"b1","seq":0,"readings":[["t1",%d,1.0]],"readings":[["t2",%d,2.0]]}'
    % (NOW, NOW),
    b'{"v":1,"gateway":"gw-icu-01","boot":"b1","seq":0,"late":true,"late" : false,"readings":[["t1",%d,1.0]]}' % NOW,
    b'{"v":1,"gateway":"gw-icu-01","boot":"b1","seq":0,"x":1,"x":{"a":"b"},"readings":[["t1",%d,1.0]]}' % NOW,
    # a colon inside a string: the colon count alone cannot tell, the quote count does
    b'{"v":1,"gateway":"gw-icu-01","boot":"b1","seq":0,"seq":1,"readings":[["dock:1",%d,1.0]]}' % NOW,
    b'{"v":1,"gateway":"gw-icu-01","boot":"b:1","boot":"b:1","seq":0,"readings":[["t1",%d,1.0,"bad"]]}' % NOW,
    b'{ "v" : 1, "gateway" : "gw-icu-01", "boot" : "b1", "seq" : 0, "seq" : 0, "readings" : [["t1", %d, 1.0]] }' % NOW,
])
def test_a_repeated_key_is_refused_on_the_fast_path_too(payload):
    with pytest.raises(p.DuplicateKey):
        p.decode_telemetry(payload, gateway_id=GW, now_ms=NOW)


def test_a_repeated_key_in_nested_event_data_is_refused():
    payload = json.dumps(BASES["events"]).replace('{"who": "x"}', '{"who": "x", "who": "y"}').encode()
    with pytest.raises(p.DuplicateKey) as err:
        p.decode_events(payload, gateway_id=GW, now_ms=NOW)
    assert err.value.path == "who"


@pytest.mark.parametrize("payload", [
    b'{"v":1,"gateway":"gw-icu-01","boot":"b:1","seq":0,"readings":[["dock:1",%d,1.0],["t1",%d,null,"bad"]]}'
    % (NOW, NOW),
    b'{ "v" : 1, "gateway" : "gw-icu-01", "boot" : "b1", "seq" : 0, "readings" : [["t1", %d, 1.0]] }' % NOW,
])
def test_colons_in_strings_and_whitespace_are_not_taken_for_repeated_keys(payload):
    assert p.decode_telemetry(payload, gateway_id=GW, now_ms=NOW).readings
