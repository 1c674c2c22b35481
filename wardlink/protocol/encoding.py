"""Payload text: a message encoded to JSON, a payload parsed into a JSON object with the size,
UTF-8, finite-number, unique-key and storable-text rules applied, and free text made storable.

When orjson is installed (the hub installs it), telemetry batches are parsed with it first
(:mod:`wardlink.protocol.telemetry`); this module is the standard parser every answer is
measured against.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from wardlink.protocol.errors import DuplicateKey, MalformedJSON, NonFiniteNumber, PayloadTooLarge, ProtocolError
from wardlink.protocol.limits import MAX_PAYLOAD_BYTES, UNSTORABLE_RE
from wardlink.protocol.models import Message
from wardlink.protocol.validation import check_text


def encode(message: Message) -> bytes:
    """Serialise a message to its compact UTF-8 JSON payload."""
    payload = json.dumps(message.to_dict(), separators=(",", ":"), allow_nan=False).encode()
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"encoded payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    return payload


def _reject_constant(name: str) -> Any:
    raise NonFiniteNumber(f"{name} is not a finite number")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e999 overflows to inf
        raise NonFiniteNumber(f"{text} is not a finite number")
    return value


def loads(payload: bytes | bytearray | memoryview | str, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> dict[str, Any]:
    """Parse a payload (text, or UTF-8 in any bytes-like object) into a JSON object, enforcing
    size, UTF-8 and finite numbers."""
    size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
    if size > max_bytes:
        raise PayloadTooLarge(f"payload is {size} bytes; the limit is {max_bytes}")
    try:
        if isinstance(payload, memoryview):  # no .decode() of its own
            text = bytes(payload).decode("utf-8")
        else:
            text = payload.decode("utf-8") if isinstance(payload, (bytes, bytearray)) else payload
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
        check_text(obj, "")
    return obj


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(f"key {key!r} appears more than once in one object", path=key)
            seen.add(key)
    return obj


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
