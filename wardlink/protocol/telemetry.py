"""Decoding telemetry batches, the one message kind that arrives thousands of times a second.

Two fast paths, each checked against the general one: orjson (when installed; the hub installs
it) parses payloads without escapes several times faster than :mod:`json`, and a batch of the
common shape is checked a column at a time. Anything either is unsure of goes the general way
(:func:`wardlink.protocol.encoding.loads`, :func:`_readings_one_by_one`), so results and errors
are the same with or without them (tests/test_protocol_fastpath.py).
"""

from __future__ import annotations

from functools import partial
from itertools import repeat
from typing import Any, Callable

from wardlink.protocol.encoding import loads
from wardlink.protocol.errors import InvalidField, MalformedJSON, NonFiniteNumber
from wardlink.protocol.limits import (
    CHANNEL_ID_RE,
    DEFAULT_MAX_FUTURE_MS,
    MAX_INT,
    MAX_PAYLOAD_BYTES,
    MAX_READINGS_PER_BATCH,
    MIN_TIMESTAMP_MS,
)
from wardlink.protocol.models import QUALITIES, Reading, TelemetryBatch
from wardlink.protocol.validation import (
    check_gateway,
    check_sequence_header,
    check_ts,
    check_version,
    describe,
    require,
)


def _orjson_loads() -> Callable[[bytes], Any] | None:
    """Return orjson's parser, or None where orjson is not installed."""
    try:
        from orjson import loads as fast_loads
    except ImportError:  # pragma: no cover - exercised where orjson is absent
        return None
    return fast_loads


_fast_loads = _orjson_loads()


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
    check_version(obj)
    gateway = check_gateway(obj, gateway_id)
    boot, seq = check_sequence_header(obj)
    late = obj.get("late", False)
    if type(late) is not bool:
        raise InvalidField(f"must be a boolean, got {describe(late)}", path="late")
    raw = require(obj, "readings")
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
    readings: list[Reading] = []
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
                raise InvalidField(f"channel must match {CHANNEL_ID_RE.pattern}, got {describe(ch)}",
                                   path=f"readings[{i}][0]")
            checked.add(ch)
        if type(ts) is not int or ts < MIN_TIMESTAMP_MS or ts > limit:
            ts = check_ts(ts, f"readings[{i}][1]", now_ms, max_future_ms)
        quality = "good"
        if len(r) == 4:
            quality = r[3]
            if quality not in QUALITIES:
                raise InvalidField(f"quality must be one of {sorted(QUALITIES)}, got {describe(quality)}",
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
            raise InvalidField(f"value must be a number, boolean or null, got {describe(value)}",
                               path=f"readings[{i}][2]")
        append(_new_reading((ch, ts, value, quality)))
    return tuple(readings)

