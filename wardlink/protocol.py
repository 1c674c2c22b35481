"""Wardlink wire protocol, version 1: topics, message models, encoding and validation.

The one interface between a gateway and the hub is MQTT 3.1.1 with JSON payloads under
``wardlink/v1/{gateway_id}/``. ``docs/protocol.md`` is the human description and
``wardlink/schema/protocol-v1.json`` the JSON Schema; this module is the executable form
that both sides import. It depends only on the standard library; when orjson is installed
(the hub installs it), telemetry batches are parsed with it first, which is several times
faster, and anything it does not accept is parsed again with :mod:`json`, so results and
errors are the same with or without it.

Decoding never trusts its input: every problem raises a :class:`ProtocolError` subclass whose
``reason`` is a short stable code (``malformed_json``, ``gateway_mismatch``, ...) that the hub
stores in its dead-letter table.
"""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from typing import Any, Iterable, Mapping, NamedTuple

from wardlink.errors import WardlinkError

try:  # optional: a faster parser for the one message kind that arrives thousands of times a second
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - exercised where orjson is absent
    _fast_loads = None

SCHEMA_VERSION = 1
TOPIC_ROOT = "wardlink/v1"
#: Largest payload either side accepts. A full telemetry batch (1,000 readings) is ~50 KiB.
MAX_PAYLOAD_BYTES = 256 * 1024
#: Integers must fit a signed 64-bit column in every store.
MAX_INT = 2**63 - 1
#: Largest number of readings in one telemetry batch.
MAX_READINGS_PER_BATCH = 5000
#: How far ahead of the receiver's clock a timestamp may be before it is refused.
DEFAULT_MAX_FUTURE_MS = 5 * 60 * 1000
#: Timestamps before this instant (2000-01-01T00:00:00Z) are refused: a gateway whose clock
#: never synchronised reports 1970, and such readings would land outside every retention window.
MIN_TIMESTAMP_MS = 946_684_800_000

# \Z, not $: Python's $ also matches before a trailing newline, and "gw-1\n" is not an id.
GATEWAY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
CHANNEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\Z")
#: Characters no store can keep, refused in every string of every message: NUL (PostgreSQL
#: text cannot hold it) and lone UTF-16 surrogates (JSON ``"\ud800"``: not encodable as UTF-8).
UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")
#: Characters also refused in identifiers (boot ids, versions, command ids, driver names):
#: C0/C1 controls, soft hyphen, bidirectional marks, embeddings, overrides and isolates
#: (U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069), zero-width and other invisible format
#: characters, line/paragraph separators and BOM — anything that can hide or reorder text.
NOT_IN_IDENTIFIER_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff]")
COMMAND_NAMES = ("identify", "silence-alarm", "reload", "resend-from")


# --------------------------------------------------------------------------- errors


class ProtocolError(WardlinkError, ValueError):
    """A message that does not follow protocol v1; ``reason`` is a stable short code."""

    reason = "invalid"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class UnknownTopic(ProtocolError):
    """The topic is not one of the v1 topics."""

    reason = "unknown_topic"


class UnsupportedVersion(ProtocolError):
    """The payload declares a schema version this build does not speak."""

    reason = "unsupported_version"


class MalformedJSON(ProtocolError):
    """The payload is not a UTF-8 JSON object."""

    reason = "malformed_json"


class PayloadTooLarge(ProtocolError):
    """The payload exceeds the size limit."""

    reason = "payload_too_large"


class GatewayMismatch(ProtocolError):
    """The gateway id in the body differs from the one in the topic."""

    reason = "gateway_mismatch"


class NonFiniteNumber(ProtocolError):
    """A number is NaN or infinite."""

    reason = "non_finite_number"


class FutureTimestamp(ProtocolError):
    """A timestamp lies too far ahead of the receiver's clock."""

    reason = "future_timestamp"


class MissingField(ProtocolError):
    """A required field is absent."""

    reason = "missing_field"


class InvalidField(ProtocolError):
    """A field is present but has the wrong type or an out-of-range value."""

    reason = "invalid_field"


class UnstorableText(InvalidField):
    """A string holds a character no store keeps (NUL, a lone surrogate), or an identifier holds
    a control or bidirectional-formatting character."""

    reason = "invalid_text"


class DuplicateKey(MalformedJSON):
    """An object names the same key twice: parsers disagree on which value wins."""

    reason = "duplicate_key"


# --------------------------------------------------------------------------- topics


class Kind(str, enum.Enum):
    """The v1 topic kinds; the value is the topic suffix."""

    TELEMETRY = "telemetry"
    EVENTS = "events"
    STATUS = "status"
    CONFIG = "config"
    CMD = "cmd"
    CMD_RESULT = "cmd-result"


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A parsed v1 topic."""

    gateway_id: str
    kind: Kind
    command: str | None = None


def topic(gateway_id: str, kind: Kind | str, command: str | None = None) -> str:
    """Return the v1 topic for ``gateway_id`` and ``kind`` (``command`` for ``cmd`` topics)."""
    kind = Kind(kind)
    check_gateway_id(gateway_id)
    if kind is Kind.CMD:
        if command not in COMMAND_NAMES:
            raise UnknownTopic(f"unknown command {command!r}; known: {', '.join(COMMAND_NAMES)}")
        return f"{TOPIC_ROOT}/{gateway_id}/cmd/{command}"
    if command is not None:
        raise ValueError("only cmd topics take a command name")
    return f"{TOPIC_ROOT}/{gateway_id}/{kind.value}"


def subscription(kind: Kind | str, *, gateway_id: str = "+", group: str | None = None) -> str:
    """Return a subscription filter for ``kind`` from one or all gateways, optionally shared.

    ``group`` makes it an MQTT shared subscription (``$share/<group>/...``) so that several hub
    workers split the messages; Mosquitto 2 accepts this from MQTT 3.1.1 clients.
    """
    kind = Kind(kind)
    suffix = "cmd/+" if kind is Kind.CMD else kind.value
    filt = f"{TOPIC_ROOT}/{gateway_id}/{suffix}"
    if group is not None:
        if not group or any(c in group for c in "/+#"):
            raise ValueError(f"shared subscription group {group!r} must be non-empty without / + #")
        filt = f"$share/{group}/{filt}"
    return filt


def parse_topic(name: str) -> TopicInfo:
    """Parse a v1 topic name; raise :class:`UnknownTopic` for anything else."""
    parts = name.split("/")
    if len(parts) < 4 or parts[0] != "wardlink" or parts[1] != "v1":
        raise UnknownTopic(f"not a wardlink/v1 topic: {name!r}")
    gateway_id = parts[2]
    if not GATEWAY_ID_RE.match(gateway_id):
        raise UnknownTopic(f"invalid gateway id in topic: {gateway_id!r}")
    rest = parts[3:]
    if rest[0] == "cmd" and len(rest) == 2 and rest[1] in COMMAND_NAMES:
        return TopicInfo(gateway_id, Kind.CMD, rest[1])
    if len(rest) == 1 and rest[0] != "cmd":
        try:
            return TopicInfo(gateway_id, Kind(rest[0]))
        except ValueError:
            pass
    raise UnknownTopic(f"unknown wardlink/v1 topic suffix {'/'.join(rest)!r}")


def check_gateway_id(gateway_id: str) -> str:
    """Return ``gateway_id`` if valid, else raise :class:`InvalidField`."""
    if not isinstance(gateway_id, str) or not GATEWAY_ID_RE.match(gateway_id):
        raise InvalidField(
            f"gateway id must match {GATEWAY_ID_RE.pattern} (letters, digits, _ . -), got {gateway_id!r}"
        )
    return gateway_id


# --------------------------------------------------------------------------- models


class Quality(str, enum.Enum):
    """How far a reading can be trusted."""

    GOOD = "good"  # a valid measurement
    UNCERTAIN = "uncertain"  # a value exists but is suspect (e.g. out of the sensor's range)
    BAD = "bad"  # the read failed; value is null


QUALITIES = frozenset(q.value for q in Quality)


class Reading(NamedTuple):
    """One sample of one channel: ``[channel, ts_ms, value, quality]`` on the wire.

    A named tuple rather than a dataclass: the hub builds one per reading it ingests, and a
    tuple is built about three times faster.
    """

    channel: str
    ts_ms: int
    value: float | None
    quality: str = "good"

    def to_wire(self) -> list:
        """Return the compact array form; quality is omitted when good."""
        if self.quality == "good":
            return [self.channel, self.ts_ms, self.value]
        return [self.channel, self.ts_ms, self.value, self.quality]


@dataclass(frozen=True, slots=True)
class TelemetryBatch:
    """A batch of readings from one gateway boot, numbered by ``seq``."""

    gateway: str
    boot: str
    seq: int
    readings: tuple[Reading, ...]
    late: bool = False  # replayed backlog rather than live data

    def to_dict(self) -> dict:
        """Return the JSON-ready dict."""
        d: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "gateway": self.gateway,
            "boot": self.boot,
            "seq": self.seq,
            "readings": [r.to_wire() for r in self.readings],
        }
        if self.late:
            d["late"] = True
        return d


@dataclass(frozen=True, slots=True)
class Event:
    """A discrete happening on a gateway (door opened, alarm raised, buffer overflow...)."""

    type: str
    ts_ms: int
    channel: str | None = None
    severity: str = "info"
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return the JSON-ready dict."""
        d: dict[str, Any] = {"type": self.type, "ts": self.ts_ms, "severity": self.severity}
        if self.channel is not None:
            d["ch"] = self.channel
        if self.data:
            d["data"] = dict(self.data)
        return d


SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True, slots=True)
class EventBatch:
    """One or more events, numbered like telemetry batches."""

    gateway: str
    boot: str
    seq: int
    events: tuple[Event, ...]

    def to_dict(self) -> dict:
        """Return the JSON-ready dict."""
        return {
            "v": SCHEMA_VERSION,
            "gateway": self.gateway,
            "boot": self.boot,
            "seq": self.seq,
            "events": [e.to_dict() for e in self.events],
        }


GATEWAY_STATES = ("online", "offline")


@dataclass(frozen=True, slots=True)
class Status:
    """Retained gateway status; the Last Will carries ``state='offline'``."""

    gateway: str
    state: str
    boot: str
    ts_ms: int | None = None
    version: str | None = None
    uptime_s: float | None = None
    buffer_depth: int | None = None
    oldest_unsent_ms: int | None = None
    dropped: int | None = None
    config_version: int | None = None
    #: ``seq`` of the newest telemetry batch this boot published (absent before the first one,
    #: and from gateways older than the field): lets the hub notice batches lost after it.
    last_seq: int | None = None

    _OPTIONAL = ("version", "uptime_s", "buffer_depth", "oldest_unsent_ms", "dropped", "config_version",
                 "last_seq")

    def to_dict(self) -> dict:
        """Return the JSON-ready dict, leaving out unknown optional fields."""
        d: dict[str, Any] = {"v": SCHEMA_VERSION, "gateway": self.gateway, "state": self.state, "boot": self.boot}
        if self.ts_ms is not None:
            d["ts"] = self.ts_ms
        for name in self._OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                d[name] = value
        return d


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Desired gateway configuration published retained by the hub.

    The protocol checks the envelope; the gateway validates ``channels`` and ``alarms`` against
    its own driver registry before applying them atomically.
    """

    gateway: str
    version: int
    channels: tuple[Mapping[str, Any], ...]
    alarms: tuple[Mapping[str, Any], ...] = ()
    issued_ms: int | None = None

    def to_dict(self) -> dict:
        """Return the JSON-ready dict."""
        d: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "gateway": self.gateway,
            "version": self.version,
            "channels": [dict(c) for c in self.channels],
            "alarms": [dict(a) for a in self.alarms],
        }
        if self.issued_ms is not None:
            d["issued"] = self.issued_ms
        return d


@dataclass(frozen=True, slots=True)
class Command:
    """A command from the hub to one gateway; ``id`` pairs it with its result."""

    name: str
    id: str
    ts_ms: int
    args: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return the JSON-ready dict."""
        return {"v": SCHEMA_VERSION, "id": self.id, "ts": self.ts_ms, "args": dict(self.args)}


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a gateway reports after carrying out (or refusing) a command."""

    gateway: str
    id: str
    cmd: str
    ok: bool
    ts_ms: int
    detail: str = ""

    def to_dict(self) -> dict:
        """Return the JSON-ready dict."""
        return {
            "v": SCHEMA_VERSION,
            "gateway": self.gateway,
            "id": self.id,
            "cmd": self.cmd,
            "ok": self.ok,
            "ts": self.ts_ms,
            "detail": self.detail,
        }


Message = TelemetryBatch | EventBatch | Status | GatewayConfig | Command | CommandResult


def encode(message: Message) -> bytes:
    """Serialise a message to its compact UTF-8 JSON payload."""
    payload = json.dumps(message.to_dict(), separators=(",", ":"), allow_nan=False).encode()
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"encoded payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    return payload


# --------------------------------------------------------------------------- decoding


def _reject_constant(name: str) -> Any:
    raise NonFiniteNumber(f"{name} is not a finite number")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e999 overflows to inf
        raise NonFiniteNumber(f"{text} is not a finite number")
    return value


def loads(payload: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> dict:
    """Parse a payload into a JSON object, enforcing size, UTF-8 and finite numbers."""
    size = len(payload)
    if size > max_bytes:
        raise PayloadTooLarge(f"payload is {size} bytes; the limit is {max_bytes}")
    try:
        text = payload.decode("utf-8") if isinstance(payload, (bytes, bytearray, memoryview)) else payload
        if isinstance(text, memoryview):
            text = bytes(text).decode("utf-8")
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float,
                         object_pairs_hook=_unique_keys)
    except ProtocolError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedJSON(f"not valid UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedJSON(f"payload must be a JSON object, got {type(obj).__name__}")
    # NUL and surrogates reach a parsed string only through a \u escape (raw control characters
    # are invalid JSON, and UTF-8 bytes cannot encode a surrogate) or in text handed in as str.
    if "\\u" in text or (text is payload and UNSTORABLE_RE.search(text)):
        _check_text(obj, "")
    return obj


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(f"key {key!r} appears more than once in one object", path=key)
            seen.add(key)
    return obj


def _check_text(value: Any, path: str) -> None:
    """Raise :class:`UnstorableText` naming the first string (key or value) no store can keep."""
    if type(value) is str:
        found = UNSTORABLE_RE.search(value)
        if found:
            raise UnstorableText(_unstorable(found.group(), found.start()), path=path or None)
    elif type(value) is dict:
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            found = UNSTORABLE_RE.search(key)
            if found:
                raise UnstorableText(f"object key {_unstorable(found.group(), found.start())}", path=sub)
            _check_text(item, sub)
    elif type(value) is list:
        for i, item in enumerate(value):
            _check_text(item, f"{path}[{i}]")


def storable(value: Any) -> Any:
    """Return ``value`` (a string, or JSON-like lists and objects of them) with NUL and lone
    surrogates written as visible escapes (``\\x00``, ``\\udc80``), so a receiver accepts it.

    A gateway passes free text it did not write itself (a driver's error message, text a device
    sent) through this before publishing: the hub refuses such characters, and would otherwise
    dead-letter the whole batch the text came in.
    """
    if type(value) is str:
        if UNSTORABLE_RE.search(value) is None:
            return value
        return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    if isinstance(value, Mapping):
        return {storable(k) if type(k) is str else k: storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return value


def _unstorable(char: str, position: int) -> str:
    what = "a NUL character" if char == "\x00" else "a lone surrogate"
    return f"contains {what} (U+{ord(char):04X}) at position {position}, which no store can keep"


def _require(obj: Mapping, key: str, path: str = "") -> Any:
    try:
        return obj[key]
    except KeyError:
        raise MissingField(f"required field {key!r} is missing", path=path or None) from None


def _int(value: Any, path: str, *, minimum: int | None = None) -> int:
    if type(value) is float and value.is_integer():
        value = int(value)  # JSON has one number type: 3.0 is the integer 3, as JSON Schema says
    elif type(value) is not int:  # bool is an int subclass and is refused on purpose
        raise InvalidField(f"must be an integer, got {_describe(value)}", path=path)
    if minimum is not None and value < minimum:
        raise InvalidField(f"must be >= {minimum}, got {value}", path=path)
    if not -MAX_INT - 1 <= value <= MAX_INT:
        raise InvalidField(f"must fit a signed 64-bit integer, got {value}", path=path)
    return value


def _str(value: Any, path: str, pattern: re.Pattern | None = None, *, max_len: int = 256,
         identifier: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidField(f"must be a string, got {_describe(value)}", path=path)
    if len(value) > max_len:
        raise InvalidField(f"must be at most {max_len} characters, got {len(value)}", path=path)
    if pattern is not None and not pattern.match(value):
        raise InvalidField(f"must match {pattern.pattern}, got {value!r}", path=path)
    found = (NOT_IN_IDENTIFIER_RE if identifier else UNSTORABLE_RE).search(value)
    if found:
        char = found.group()
        if UNSTORABLE_RE.match(char):
            raise UnstorableText(_unstorable(char, found.start()), path=path)
        raise UnstorableText(f"an identifier must not contain control or bidirectional-formatting characters, "
                             f"found U+{ord(char):04X} at position {found.start()}", path=path)
    return value


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, (bytes, bytearray)) else repr(value)
    return f"{type(value).__name__} {text[:40]}"


def _check_version(obj: Mapping) -> None:
    v = _require(obj, "v")
    if v != SCHEMA_VERSION or type(v) is not int:
        raise UnsupportedVersion(f"schema version {v!r} is not supported; this build speaks v{SCHEMA_VERSION}")


def _check_gateway(obj: Mapping, topic_gateway: str | None) -> str:
    gateway = _str(_require(obj, "gateway"), "gateway", GATEWAY_ID_RE)
    if topic_gateway is not None and gateway != topic_gateway:
        raise GatewayMismatch(f"body names gateway {gateway!r} but the topic belongs to {topic_gateway!r}")
    return gateway


def _check_ts(value: Any, path: str, now_ms: int | None, max_future_ms: int) -> int:
    ts = _int(value, path)
    if ts < MIN_TIMESTAMP_MS:
        raise InvalidField(
            f"timestamp {ts} ms is before 2000-01-01; is the gateway clock set?", path=path
        )
    if now_ms is not None and ts > now_ms + max_future_ms:
        raise FutureTimestamp(
            f"timestamp {ts} ms is {(ts - now_ms) / 1000:.1f} s ahead of the receiver's clock "
            f"(limit {max_future_ms / 1000:.0f} s)",
            path=path,
        )
    return ts


def _check_sequence_header(obj: Mapping) -> tuple[str, int]:
    boot = _str(_require(obj, "boot"), "boot", max_len=64, identifier=True)
    if not boot:
        raise InvalidField("must not be empty", path="boot")
    seq = _int(_require(obj, "seq"), "seq", minimum=0)
    return boot, seq


def decode_telemetry(
    payload: bytes | str,
    *,
    gateway_id: str | None = None,
    now_ms: int | None = None,
    max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> TelemetryBatch:
    """Validate and decode a telemetry batch; ``gateway_id`` is the one from the topic."""
    # orjson lets a repeated key's last value win and accepts "\u0000", so it is used only on
    # payloads without a backslash (no escapes: what every gateway sends) and its answer is kept
    # only when no key can have been repeated (see _no_repeated_keys).
    if _fast_loads is not None and len(payload) <= max_bytes and type(payload) is bytes and b"\\" not in payload:
        try:
            obj = _fast_loads(payload)
            batch = _telemetry(obj, gateway_id, now_ms, max_future_ms)
        except Exception:
            pass
        else:
            if _no_repeated_keys(payload, obj):
                return batch
    return _telemetry(loads(payload, max_bytes=max_bytes), gateway_id, now_ms, max_future_ms)


def _no_repeated_keys(payload: bytes, obj: dict) -> bool:
    """Return True when the valid batch ``obj`` parsed from ``payload`` cannot have had a repeated key.

    Every key in JSON text is followed by one colon, and every other colon is inside a string: so
    when the payload holds no more colons than the parsed object has keys (the usual case: no
    colon in a channel id or the boot id), no key can have been repeated. Otherwise, without a
    backslash every quote in the payload delimits a string, and a repeated key drops at least one
    string (the key) from the parsed object, so the payload's quotes outnumber twice the parsed
    object's strings. Both count one byte, at memory speed.
    """
    if payload.count(b":") == len(obj):
        return True
    strings = len(obj)  # the keys
    for key, value in obj.items():
        if type(value) is str:
            strings += 1
        elif key == "readings":
            # A valid reading holds its channel and, when it has four items, its quality.
            strings += sum(map(len, value)) - 2 * len(value)
        elif type(value) in (list, dict):
            return False  # an unknown key with a nested value: the standard parser decides
    return payload.count(b'"') == 2 * strings


def _telemetry(obj: Any, gateway_id: str | None, now_ms: int | None, max_future_ms: int) -> TelemetryBatch:
    """Validate a parsed telemetry payload and build the batch."""
    if type(obj) is not dict:
        raise MalformedJSON(f"payload must be a JSON object, got {type(obj).__name__}")
    _check_version(obj)
    gateway = _check_gateway(obj, gateway_id)
    boot, seq = _check_sequence_header(obj)
    late = obj.get("late", False)
    if type(late) is not bool:
        raise InvalidField(f"must be a boolean, got {_describe(late)}", path="late")
    raw = _require(obj, "readings")
    if not isinstance(raw, list) or not raw:
        raise InvalidField("must be a non-empty array", path="readings")
    if len(raw) > MAX_READINGS_PER_BATCH:
        raise InvalidField(f"at most {MAX_READINGS_PER_BATCH} readings per batch, got {len(raw)}", path="readings")
    limit = MAX_INT if now_ms is None else min(now_ms + max_future_ms, MAX_INT)
    readings = _readings_by_column(raw, limit)
    if readings is None:
        readings = _readings_one_by_one(raw, now_ms, max_future_ms, limit)
    return TelemetryBatch(gateway, boot, seq, readings, late)


_new_reading = partial(tuple.__new__, Reading)  # skips Reading's Python-level __new__
_ONLY_LISTS = {list}
_ONLY_THREE = {3}
_ONLY_INTS = {int}
_ONLY_FLOATS = {float}
_NUMBERS = frozenset((float, int, bool))


def _readings_by_column(raw: list, limit: int) -> tuple[Reading, ...] | None:
    """Return the readings of the common shape, checked a column at a time; None when unsure.

    The common shape is every reading ``[channel, integer ts_ms, number]`` (quality good).
    Each check runs over a whole column in C; None sends the batch through
    :func:`_readings_one_by_one`, which accepts exactly the same readings and names the
    first offending one when there is one.
    """
    if set(map(type, raw)) != _ONLY_LISTS or set(map(len, raw)) != _ONLY_THREE:
        return None
    channels, stamps, values = zip(*raw)
    try:
        names = set(channels)
    except TypeError:  # an array or object where a channel belongs
        return None
    for name in names:
        if type(name) is not str or not CHANNEL_ID_RE.match(name):
            return None
    if set(map(type, stamps)) != _ONLY_INTS or min(stamps) < MIN_TIMESTAMP_MS or max(stamps) > limit:
        return None
    kinds = set(map(type, values))
    if kinds != _ONLY_FLOATS:
        if not kinds <= _NUMBERS:
            return None
        try:
            values = tuple(map(float, values))  # integers and booleans become floats
        except OverflowError:
            return None
        # Floats come from the parser, which refuses non-finite numbers.
    return tuple(map(_new_reading, zip(channels, stamps, values, repeat("good"))))


def _readings_one_by_one(raw: list, now_ms: int | None, max_future_ms: int, limit: int) -> tuple[Reading, ...]:
    """Check and build every reading in turn; raise naming the first invalid one."""
    readings = []
    append = readings.append
    channel_match = CHANNEL_ID_RE.match
    checked: set[str] = set()  # channel ids already matched in this batch
    for i, r in enumerate(raw):
        if type(r) is not list or not 3 <= len(r) <= 4:
            raise InvalidField("must be [channel, ts_ms, value] or [channel, ts_ms, value, quality]",
                               path=f"readings[{i}]")
        ch, ts, value = r[0], r[1], r[2]
        if type(ch) is not str or ch not in checked:
            if type(ch) is not str or not channel_match(ch):
                raise InvalidField(f"channel must match {CHANNEL_ID_RE.pattern}, got {_describe(ch)}",
                                   path=f"readings[{i}][0]")
            checked.add(ch)
        if type(ts) is not int or ts < MIN_TIMESTAMP_MS or ts > limit:
            ts = _check_ts(ts, f"readings[{i}][1]", now_ms, max_future_ms)
        quality = "good"
        if len(r) == 4:
            quality = r[3]
            if quality not in QUALITIES:
                raise InvalidField(f"quality must be one of {sorted(QUALITIES)}, got {_describe(quality)}",
                                   path=f"readings[{i}][3]")
        vt = type(value)
        if vt is float:
            if value - value != 0.0:  # NaN or infinity; the parsers refuse them, this is a last guard
                raise NonFiniteNumber(f"{value!r} is not a finite number", path=f"readings[{i}][2]")
        elif vt is int:
            try:
                value = float(value)
            except OverflowError:
                raise NonFiniteNumber(f"an integer of {len(str(abs(value)))} digits does not fit a double",
                                      path=f"readings[{i}][2]") from None
        elif vt is bool:
            value = 1.0 if value else 0.0
        elif value is None:
            if quality == "good":
                raise InvalidField("a null value needs quality 'uncertain' or 'bad'", path=f"readings[{i}][2]")
        else:
            raise InvalidField(f"value must be a number, boolean or null, got {_describe(value)}",
                               path=f"readings[{i}][2]")
        append(_new_reading((ch, ts, value, quality)))
    return tuple(readings)


def decode_events(
    payload: bytes | str,
    *,
    gateway_id: str | None = None,
    now_ms: int | None = None,
    max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> EventBatch:
    """Validate and decode an event batch."""
    obj = loads(payload, max_bytes=max_bytes)
    _check_version(obj)
    gateway = _check_gateway(obj, gateway_id)
    boot, seq = _check_sequence_header(obj)
    raw = _require(obj, "events")
    if not isinstance(raw, list) or not raw:
        raise InvalidField("must be a non-empty array", path="events")
    events = []
    for i, e in enumerate(raw):
        path = f"events[{i}]"
        if not isinstance(e, dict):
            raise InvalidField(f"must be an object, got {_describe(e)}", path=path)
        etype = _str(_require(e, "type", path), f"{path}.type", EVENT_TYPE_RE, max_len=64)
        ts = _check_ts(_require(e, "ts", path), f"{path}.ts", now_ms, max_future_ms)
        ch = e.get("ch")
        if ch is not None:
            _str(ch, f"{path}.ch", CHANNEL_ID_RE)
        severity = e.get("severity", "info")
        if severity not in SEVERITIES:
            raise InvalidField(f"must be one of {', '.join(SEVERITIES)}, got {_describe(severity)}",
                               path=f"{path}.severity")
        data = e.get("data", {})
        if not isinstance(data, dict):
            raise InvalidField(f"must be an object, got {_describe(data)}", path=f"{path}.data")
        events.append(Event(etype, ts, ch, severity, data))
    return EventBatch(gateway, boot, seq, tuple(events))


def decode_status(payload: bytes | str, *, gateway_id: str | None = None,
                  max_bytes: int = MAX_PAYLOAD_BYTES) -> Status:
    """Validate and decode a retained status (or Last Will) message."""
    obj = loads(payload, max_bytes=max_bytes)
    _check_version(obj)
    gateway = _check_gateway(obj, gateway_id)
    state = _require(obj, "state")
    if state not in GATEWAY_STATES:
        raise InvalidField(f"must be one of {', '.join(GATEWAY_STATES)}, got {_describe(state)}", path="state")
    boot = _str(_require(obj, "boot"), "boot", max_len=64, identifier=True)
    ts = obj.get("ts")
    if ts is not None:
        _int(ts, "ts", minimum=0)
    kwargs: dict[str, Any] = {}
    for name in ("buffer_depth", "oldest_unsent_ms", "dropped", "config_version", "last_seq"):
        if obj.get(name) is not None:
            kwargs[name] = _int(obj[name], name, minimum=0)
    if obj.get("uptime_s") is not None:
        up = obj["uptime_s"]
        if type(up) not in (int, float) or up < 0:
            raise InvalidField(f"must be a number >= 0, got {_describe(up)}", path="uptime_s")
        kwargs["uptime_s"] = float(up)
    if obj.get("version") is not None:
        kwargs["version"] = _str(obj["version"], "version", max_len=64, identifier=True)
    return Status(gateway, state, boot, ts, **kwargs)


def decode_config(payload: bytes | str, *, gateway_id: str | None = None,
                  max_bytes: int = MAX_PAYLOAD_BYTES) -> GatewayConfig:
    """Validate and decode the envelope of a retained gateway config."""
    obj = loads(payload, max_bytes=max_bytes)
    _check_version(obj)
    gateway = _check_gateway(obj, gateway_id)
    version = _int(_require(obj, "version"), "version", minimum=1)
    channels = _require(obj, "channels")
    if not isinstance(channels, list):
        raise InvalidField("must be an array", path="channels")
    seen = set()
    for i, ch in enumerate(channels):
        if not isinstance(ch, dict):
            raise InvalidField(f"must be an object, got {_describe(ch)}", path=f"channels[{i}]")
        cid = _str(_require(ch, "id", f"channels[{i}]"), f"channels[{i}].id", CHANNEL_ID_RE)
        if cid in seen:
            raise InvalidField(f"duplicate channel id {cid!r}", path=f"channels[{i}].id")
        seen.add(cid)
        _str(_require(ch, "driver", f"channels[{i}]"), f"channels[{i}].driver", max_len=64, identifier=True)
    alarms = obj.get("alarms", [])
    if not isinstance(alarms, list) or not all(isinstance(a, dict) for a in alarms):
        raise InvalidField("must be an array of objects", path="alarms")
    issued = obj.get("issued")
    if issued is not None:
        _int(issued, "issued", minimum=0)
    return GatewayConfig(gateway, version, tuple(channels), tuple(alarms), issued)


def decode_command(payload: bytes | str, *, name: str, max_bytes: int = MAX_PAYLOAD_BYTES) -> Command:
    """Validate and decode a command sent on ``.../cmd/{name}``."""
    if name not in COMMAND_NAMES:
        raise UnknownTopic(f"unknown command {name!r}; known: {', '.join(COMMAND_NAMES)}")
    obj = loads(payload, max_bytes=max_bytes)
    _check_version(obj)
    cid = _str(_require(obj, "id"), "id", max_len=64, identifier=True)
    ts = _int(_require(obj, "ts"), "ts", minimum=0)
    args = obj.get("args", {})
    if not isinstance(args, dict):
        raise InvalidField(f"must be an object, got {_describe(args)}", path="args")
    if name == "resend-from":
        _int(_require(args, "seq", "args"), "args.seq", minimum=0)
    return Command(name, cid, ts, args)


def decode_command_result(payload: bytes | str, *, gateway_id: str | None = None,
                          max_bytes: int = MAX_PAYLOAD_BYTES) -> CommandResult:
    """Validate and decode a gateway's command result."""
    obj = loads(payload, max_bytes=max_bytes)
    _check_version(obj)
    gateway = _check_gateway(obj, gateway_id)
    cid = _str(_require(obj, "id"), "id", max_len=64, identifier=True)
    cmd = _require(obj, "cmd")
    if cmd not in COMMAND_NAMES:
        raise InvalidField(f"must be one of {', '.join(COMMAND_NAMES)}, got {_describe(cmd)}", path="cmd")
    ok = _require(obj, "ok")
    if type(ok) is not bool:
        raise InvalidField(f"must be a boolean, got {_describe(ok)}", path="ok")
    ts = _int(_require(obj, "ts"), "ts", minimum=0)
    detail = _str(obj.get("detail", ""), "detail", max_len=2000)
    return CommandResult(gateway, cid, cmd, ok, ts, detail)


def decode(
    topic_name: str,
    payload: bytes | str,
    *,
    now_ms: int | None = None,
    max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> Message:
    """Decode any v1 message, choosing the model from the topic; raise :class:`ProtocolError`."""
    info = parse_topic(topic_name)
    gw = info.gateway_id
    if info.kind is Kind.TELEMETRY:
        return decode_telemetry(payload, gateway_id=gw, now_ms=now_ms, max_future_ms=max_future_ms,
                                max_bytes=max_bytes)
    if info.kind is Kind.EVENTS:
        return decode_events(payload, gateway_id=gw, now_ms=now_ms, max_future_ms=max_future_ms,
                             max_bytes=max_bytes)
    if info.kind is Kind.STATUS:
        return decode_status(payload, gateway_id=gw, max_bytes=max_bytes)
    if info.kind is Kind.CONFIG:
        return decode_config(payload, gateway_id=gw, max_bytes=max_bytes)
    if info.kind is Kind.CMD:
        return decode_command(payload, name=info.command, max_bytes=max_bytes)
    return decode_command_result(payload, gateway_id=gw, max_bytes=max_bytes)


def batch_readings(readings: Iterable[Reading], size: int) -> Iterable[tuple[Reading, ...]]:
    """Yield ``readings`` in tuples of at most ``size``."""
    chunk: list[Reading] = []
    for r in readings:
        chunk.append(r)
        if len(chunk) >= size:
            yield tuple(chunk)
            chunk = []
    if chunk:
        yield tuple(chunk)
