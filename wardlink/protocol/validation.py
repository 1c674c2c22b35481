"""The checks every decoder applies to the fields of a parsed payload.

A parsed value is an ``object`` until a check has returned it with its type: so a type
checker finds a field that reaches a message model unchecked.
"""

from __future__ import annotations

import json
import re
from typing import Mapping

from wardlink.protocol.errors import (
    FutureTimestamp,
    GatewayMismatch,
    InvalidField,
    MissingField,
    UnstorableText,
    UnsupportedVersion,
)
from wardlink.protocol.limits import (
    GATEWAY_ID_RE,
    MAX_INT,
    MIN_TIMESTAMP_MS,
    NOT_IN_IDENTIFIER_RE,
    SCHEMA_VERSION,
    UNSTORABLE_RE,
)


def require(obj: Mapping[str, object], key: str, path: str = "") -> object:
    """Return ``obj[key]``; raise :class:`MissingField` when it is absent."""
    try:
        return obj[key]
    except KeyError:
        raise MissingField(f"required field {key!r} is missing", path=path or None) from None


def check_int(value: object, path: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as an integer that fits 64 bits (``3.0`` is the integer 3)."""
    if type(value) is int:  # exactly: bool is an int subclass and is refused on purpose
        number = value
    elif type(value) is float and value.is_integer():
        number = int(value)  # JSON has one number type: 3.0 is the integer 3, as JSON Schema says
    else:
        raise InvalidField(f"must be an integer, got {describe(value)}", path=path)
    if minimum is not None and number < minimum:
        raise InvalidField(f"must be >= {minimum}, got {number}", path=path)
    if not -MAX_INT - 1 <= number <= MAX_INT:
        raise InvalidField(f"must fit a signed 64-bit integer, got {number}", path=path)
    return number


def check_optional_int(obj: Mapping[str, object], key: str, *, minimum: int | None = None) -> int | None:
    """Return the integer field ``key`` of ``obj``, or None when it is absent or null."""
    value = obj.get(key)
    return None if value is None else check_int(value, key, minimum=minimum)


def check_str(value: object, path: str, pattern: re.Pattern[str] | None = None, *, max_len: int = 256,
              identifier: bool = False) -> str:
    """Return the string ``value``, checked for length, ``pattern`` and storable characters
    (``identifier``: no control or bidirectional-formatting characters either)."""
    if not isinstance(value, str):
        raise InvalidField(f"must be a string, got {describe(value)}", path=path)
    if len(value) > max_len:
        raise InvalidField(f"must be at most {max_len} characters, got {len(value)}", path=path)
    if pattern is not None and not pattern.match(value):
        raise InvalidField(f"must match {pattern.pattern}, got {value!r}", path=path)
    found = (NOT_IN_IDENTIFIER_RE if identifier else UNSTORABLE_RE).search(value)
    if found:
        char = found.group()
        if UNSTORABLE_RE.match(char):
            raise UnstorableText(unstorable(char, found.start()), path=path)
        raise UnstorableText(f"an identifier must not contain control or bidirectional-formatting characters, "
                             f"found U+{ord(char):04X} at position {found.start()}", path=path)
    return value


def describe(value: object) -> str:
    """Return a short description of a JSON value for an error message."""
    text = json.dumps(value, default=str) if not isinstance(value, (bytes, bytearray)) else repr(value)
    return f"{type(value).__name__} {text[:40]}"


def check_version(obj: Mapping[str, object]) -> None:
    """Raise :class:`UnsupportedVersion` unless the payload declares this schema version."""
    v = require(obj, "v")
    if v != SCHEMA_VERSION or type(v) is not int:
        raise UnsupportedVersion(f"schema version {v!r} is not supported; this build speaks v{SCHEMA_VERSION}")


def check_gateway(obj: Mapping[str, object], topic_gateway: str | None) -> str:
    """Return the body's gateway id; raise :class:`GatewayMismatch` when the topic names another."""
    gateway = check_str(require(obj, "gateway"), "gateway", GATEWAY_ID_RE)
    if topic_gateway is not None and gateway != topic_gateway:
        raise GatewayMismatch(f"body names gateway {gateway!r} but the topic belongs to {topic_gateway!r}")
    return gateway


def check_ts(value: object, path: str, now_ms: int | None, max_future_ms: int) -> int:
    """Return a timestamp in ms, refused before 2000 and too far ahead of ``now_ms``."""
    ts = check_int(value, path)
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


def check_sequence_header(obj: Mapping[str, object]) -> tuple[str, int]:
    """Return a batch's ``boot`` and ``seq``."""
    boot = check_str(require(obj, "boot"), "boot", max_len=64, identifier=True)
    if not boot:
        raise InvalidField("must not be empty", path="boot")
    seq = check_int(require(obj, "seq"), "seq", minimum=0)
    return boot, seq


def check_text(value: object, path: str) -> None:
    """Raise :class:`UnstorableText` naming the first string (key or value) no store can keep."""
    if type(value) is str:
        found = UNSTORABLE_RE.search(value)
        if found:
            raise UnstorableText(unstorable(found.group(), found.start()), path=path or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            found = UNSTORABLE_RE.search(key)
            if found:
                raise UnstorableText(f"object key {unstorable(found.group(), found.start())}", path=sub)
            check_text(item, sub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_text(item, f"{path}[{i}]")


def unstorable(char: str, position: int) -> str:
    """Describe the unstorable character ``char`` found at ``position``."""
    what = "a NUL character" if char == "\x00" else "a lone surrogate"
    return f"contains {what} (U+{ord(char):04X}) at position {position}, which no store can keep"
