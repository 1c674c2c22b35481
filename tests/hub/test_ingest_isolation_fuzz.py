"""Arbitrary strings in every string field of every message kind never stop another gateway's
data: hypothesis-generated messages (lone surrogates, NUL, controls, bidi overrides, any
Unicode) from one gateway, each followed by a valid batch from another, through a real
Mosquitto and one real worker per test, on SQLite and on PostgreSQL.

The worker must store the other gateway's batch every time, acknowledge everything, and put the
generated message where the protocol says: stored when it decodes, else a dead letter with the
protocol's reason. The kinds ingest does not take (config, cmd, cmd-result) are checked at the
protocol: whatever decodes holds only strings a store keeps."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from wardlink.hub.ingest import IngestRecords, IngestWorker, StaticResolver
from wardlink.hub.telemetry.sqlite import SQLiteStore
from ingest_support import T0, Publisher, hub_config, migrated_engine, telemetry, wait_until
from wardlink import protocol
from wardlink.clock import ManualClock

pytestmark = pytest.mark.timeout(240)

FUZZ, GOOD = "gw-fuzz", "gw-good"
NOW = T0  # the ManualClock's time, which the worker uses to judge timestamps

#: Every Unicode category, surrogates (Cs) and unassigned code points included.
_ANY_CHAR = st.characters(categories=["Cc", "Cf", "Cs", "Co", "Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc",
                                      "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm",
                                      "Sc", "Sk", "So", "Zs", "Zl", "Zp"])
_SPECIAL = st.sampled_from(["\ud800", "\udfff", "x\ud800y", "\x00", "a\x00", "\u202e", "id\u2066", "\x1b[2J",
                            "\n", "\ufeff", "b1", "", "ok", "online", "info", "door.open", "t1", "é" * 65])
_STRINGS = st.one_of(_SPECIAL, _SPECIAL, st.text(_ANY_CHAR, max_size=12), st.text(_ANY_CHAR, min_size=60, max_size=70))

BASES = {
    "telemetry": lambda: {"v": 1, "gateway": FUZZ, "boot": "b1", "seq": 0,
                          "readings": [["t1", NOW - 1000, 4.0, "uncertain"]]},
    "events": lambda: {"v": 1, "gateway": FUZZ, "boot": "b1", "seq": 0,
                       "events": [{"type": "door.open", "ts": NOW - 1000, "ch": "t1", "severity": "info",
                                   "data": {"who": "x"}}]},
    "status": lambda: {"v": 1, "gateway": FUZZ, "state": "online", "boot": "b1", "ts": NOW, "version": "1.0"},
    "config": lambda: {"v": 1, "gateway": FUZZ, "version": 1, "channels": [{"id": "t1", "driver": "ds18b20"}]},
    "cmd": lambda: {"v": 1, "id": "c-1", "ts": NOW, "args": {}},
    "cmd-result": lambda: {"v": 1, "gateway": FUZZ, "id": "c-1", "cmd": "identify", "ok": True, "ts": NOW,
                           "detail": "done"},
}
#: Every string field of each kind (a path into the body); ("key", ...) replaces an object key.
FIELDS = {
    "telemetry": [("gateway",), ("boot",), ("readings", 0, 0), ("readings", 0, 3), ("extra",)],
    "events": [("gateway",), ("boot",), ("events", 0, "type"), ("events", 0, "ch"), ("events", 0, "severity"),
               ("events", 0, "data", "who"), ("key", "events", 0, "data", "who"), ("extra",)],
    "status": [("gateway",), ("boot",), ("state",), ("version",), ("extra",)],
    "config": [("gateway",), ("channels", 0, "id"), ("channels", 0, "driver"), ("key", "channels", 0, "id")],
    "cmd": [("id",), ("args", "note"), ("key", "args", "note")],
    "cmd-result": [("gateway",), ("id",), ("cmd",), ("detail",)],
}
INGESTED = ("telemetry", "events", "status")


@st.composite
def fuzzed(draw, kinds) -> tuple[str, bytes, str]:
    """(kind, payload, what was replaced) with one or two string fields replaced by arbitrary text."""
    kind = draw(st.sampled_from(kinds))
    body = BASES[kind]()
    paths = draw(st.lists(st.sampled_from(FIELDS[kind]), min_size=1, max_size=2, unique=True))
    for path in paths:
        value = draw(_STRINGS)
        if path[0] == "key":
            target = body
            for step in path[1:-1]:
                target = target[step]
            old = path[-1]
            if old in target:
                target[value] = target.pop(old)
        else:
            target = body
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
    # ensure_ascii writes surrogates and controls as \u escapes, as a hand-written payload would;
    # the other form puts the characters in the bytes (a surrogate then is invalid UTF-8).
    if draw(st.booleans()):
        payload = json.dumps(body).encode()
    else:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return kind, payload, "+".join(".".join(map(str, p)) for p in paths)


def decoded(kind: str, payload: bytes):
    """Return the message the protocol makes of ``payload`` (ProtocolError when refused)."""
    if kind == "cmd":
        return protocol.decode_command(payload, name="identify")
    return protocol.decode(protocol.topic(FUZZ, kind), payload, now_ms=NOW)


def strings_in(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings_in(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings_in(v)]
    if hasattr(value, "__dataclass_fields__") or hasattr(value, "_fields"):
        names = getattr(value, "__dataclass_fields__", None) or value._fields
        return [s for n in names for s in strings_in(getattr(value, n))]
    return []


@settings(max_examples=400, deadline=None)
@given(fuzzed(tuple(BASES)))
def test_whatever_the_protocol_accepts_holds_only_storable_strings(case):
    kind, payload, _ = case
    try:
        message = decoded(kind, payload)
    except protocol.ProtocolError as exc:
        assert exc.reason and str(exc)
        return
    for text in strings_in(message):
        assert not protocol.UNSTORABLE_RE.search(text), (kind, payload)
        text.encode("utf-8")  # every database takes it


@pytest.fixture
def rig(tmp_path, mosquitto, empty_relational_url):
    """One worker for all of a test's examples, on SQLite or PostgreSQL."""
    engine = migrated_engine(empty_relational_url)
    records = IngestRecords(engine)
    store = SQLiteStore(tmp_path / "telemetry.db")
    config = hub_config(tmp_path, mosquitto.url, mqtt_client_id="hub-fuzz-isolation")
    worker = IngestWorker(config, store, StaticResolver(), ManualClock(), records=records, idle_flush_s=0.002,
                          retry_initial_s=0.05, retry_max_s=0.2)
    worker.start()
    wait_until(lambda: worker.stats().subscribed, what="worker subscribed")
    publisher = Publisher(mosquitto.host, mosquitto.port, "fuzz-gateways")
    state = {"good": 0}
    try:
        yield worker, store, records, publisher, state
    finally:
        publisher.close()
        worker.stop(drain=False, timeout=5)
        store.close()
        engine.dispose()


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=fuzzed(INGESTED))
# Always tried first: the messages that stalled ingest before it isolated them.
@example(case=("telemetry", json.dumps({**BASES["telemetry"](), "boot": "\ud800"}).encode(), "boot"))
@example(case=("status", json.dumps({**BASES["status"](), "boot": "\u0000"}).encode(), "boot"))
@example(case=("events", json.dumps({**BASES["events"](), "boot": "x\udfff"}).encode(), "boot"))
def test_arbitrary_strings_from_one_gateway_never_stop_another_gateways_data(rig, case):
    worker, store, records, publisher, state = rig
    kind, payload, replaced = case
    before = worker.stats()
    n = state["good"]
    publisher.publish_all([(protocol.topic(FUZZ, kind), payload),
                           telemetry(GOOD, n, [("t1", NOW - 10_000_000 + n, float(n))])])
    state["good"] = n + 1
    wait_until(lambda: worker.stats().acked == before.acked + 2, timeout=20,
               what=f"both acknowledged after a {kind} with {replaced} = {payload!r}")
    assert store.count(gateway=GOOD) == n + 1, payload
    after = worker.stats()
    assert after.pending == 0
    try:
        decoded(kind, payload)
    except protocol.ProtocolError as exc:
        event(f"{kind}: dead letter {exc.reason}")
        letters = [d for d in records.dead_letters(gateway=FUZZ, limit=10_000) if d.payload == payload]
        assert letters and letters[0].reason == exc.reason, (payload, exc.reason)
        assert after.dead_lettered == before.dead_lettered + 1
    else:
        event(f"{kind}: accepted")
        # What the protocol accepts, every store accepts: nothing was refused at the database.
        assert after.dead_lettered == before.dead_lettered, (payload, records.dead_letters(limit=3))
