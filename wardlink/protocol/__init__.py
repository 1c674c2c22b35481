"""Wardlink wire protocol, version 1: topics, message models, encoding and validation.

The one interface between a gateway and the hub is MQTT 3.1.1 with JSON payloads under
``wardlink/v1/{gateway_id}/``. ``docs/protocol.md`` is the human description and
``wardlink/schema/protocol-v1.json`` the JSON Schema; this package is the executable form
that both sides import, always by this name (``from wardlink.protocol import decode``): this
module is the one place that gathers the public names of its modules.

- :mod:`~wardlink.protocol.limits`: version, topic root, size limits, identifier patterns
- :mod:`~wardlink.protocol.errors`: :class:`ProtocolError` and its subclasses
- :mod:`~wardlink.protocol.topics`: building, parsing and subscribing to topics
- :mod:`~wardlink.protocol.models`: one frozen class per message kind
- :mod:`~wardlink.protocol.encoding`: :func:`encode`, :func:`loads`, :func:`storable`
- :mod:`~wardlink.protocol.validation`: the field checks every decoder applies
- :mod:`~wardlink.protocol.telemetry`: :func:`decode_telemetry` and its fast paths
- :mod:`~wardlink.protocol.decoding`: the other decoders and :func:`decode`

It depends only on the standard library; when orjson is installed (the hub installs it),
telemetry batches are parsed with it first, which is several times faster, and anything it
does not accept is parsed again with :mod:`json`, so results and errors are the same with or
without it.

Decoding never trusts its input: every problem raises a :class:`ProtocolError` subclass whose
``reason`` is a short stable code (``malformed_json``, ``gateway_mismatch``, ...) that the hub
stores in its dead-letter table.
"""

from __future__ import annotations

from wardlink.protocol.decoding import (
    decode,
    decode_command,
    decode_command_result,
    decode_config,
    decode_events,
    decode_status,
)
from wardlink.protocol.encoding import encode, loads, storable
from wardlink.protocol.errors import (
    DuplicateKey,
    FutureTimestamp,
    GatewayMismatch,
    InvalidField,
    MalformedJSON,
    MissingField,
    NonFiniteNumber,
    PayloadTooLarge,
    ProtocolError,
    UnknownTopic,
    UnstorableText,
    UnsupportedVersion,
)
from wardlink.protocol.limits import (
    CHANNEL_ID_RE,
    COMMAND_NAMES,
    DEFAULT_MAX_FUTURE_MS,
    EVENT_TYPE_RE,
    GATEWAY_ID_RE,
    MAX_INT,
    MAX_PAYLOAD_BYTES,
    MAX_READINGS_PER_BATCH,
    MIN_TIMESTAMP_MS,
    NOT_IN_IDENTIFIER_RE,
    SCHEMA_VERSION,
    TOPIC_ROOT,
    UNSTORABLE_RE,
)
from wardlink.protocol.models import (
    GATEWAY_STATES,
    QUALITIES,
    SEVERITIES,
    Command,
    CommandResult,
    Event,
    EventBatch,
    GatewayConfig,
    Message,
    Quality,
    Reading,
    Status,
    TelemetryBatch,
    batch_readings,
)
from wardlink.protocol.telemetry import decode_telemetry
from wardlink.protocol.topics import Kind, TopicInfo, check_gateway_id, parse_topic, subscription, topic

__all__ = [
    "CHANNEL_ID_RE",
    "COMMAND_NAMES",
    "DEFAULT_MAX_FUTURE_MS",
    "EVENT_TYPE_RE",
    "GATEWAY_ID_RE",
    "GATEWAY_STATES",
    "MAX_INT",
    "MAX_PAYLOAD_BYTES",
    "MAX_READINGS_PER_BATCH",
    "MIN_TIMESTAMP_MS",
    "NOT_IN_IDENTIFIER_RE",
    "QUALITIES",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "TOPIC_ROOT",
    "UNSTORABLE_RE",
    "Command",
    "CommandResult",
    "DuplicateKey",
    "Event",
    "EventBatch",
    "FutureTimestamp",
    "GatewayConfig",
    "GatewayMismatch",
    "InvalidField",
    "Kind",
    "MalformedJSON",
    "Message",
    "MissingField",
    "NonFiniteNumber",
    "PayloadTooLarge",
    "ProtocolError",
    "Quality",
    "Reading",
    "Status",
    "TelemetryBatch",
    "TopicInfo",
    "UnknownTopic",
    "UnstorableText",
    "UnsupportedVersion",
    "batch_readings",
    "check_gateway_id",
    "decode",
    "decode_command",
    "decode_command_result",
    "decode_config",
    "decode_events",
    "decode_status",
    "decode_telemetry",
    "encode",
    "loads",
    "parse_topic",
    "storable",
    "subscription",
    "topic",
]
