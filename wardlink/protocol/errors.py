"""The errors of protocol v1: every problem with a message raises a :class:`ProtocolError`
subclass whose ``reason`` is a short stable code the hub stores in its dead-letter table."""

from __future__ import annotations

from wardlink.errors import WardlinkError


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

