"""Decoding every v1 message kind but telemetry (:mod:`wardlink.protocol.telemetry`), and
:func:`decode`, which picks the decoder from the topic.

Decoding never trusts its input: every problem raises a :class:`ProtocolError` subclass.
"""

from __future__ import annotations

from typing import Any, Mapping

from wardlink.protocol.encoding import loads
from wardlink.protocol.errors import InvalidField, UnknownTopic
from wardlink.protocol.limits import (
    CHANNEL_ID_RE,
    COMMAND_NAMES,
    DEFAULT_MAX_FUTURE_MS,
    EVENT_TYPE_RE,
    MAX_PAYLOAD_BYTES,
)
from wardlink.protocol.models import (
    GATEWAY_STATES,
    SEVERITIES,
    Command,
    CommandResult,
    Event,
    EventBatch,
    GatewayConfig,
    Message,
    Status,
)
from wardlink.protocol.telemetry import decode_telemetry
from wardlink.protocol.topics import Kind, parse_topic
from wardlink.protocol.validation import (
    check_gateway,
    check_int,
    check_optional_int,
    check_sequence_header,
    check_str,
    check_ts,
    check_version,
    describe,
    require,
)


def decode_events(
    payload: bytes | str,
    *,
    gateway_id: str | None = None,
    now_ms: int | None = None,
    max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> EventBatch:
    """Validate and decode an event batch."""
    obj: Mapping[str, object] = loads(payload, max_bytes=max_bytes)
    check_version(obj)
    gateway = check_gateway(obj, gateway_id)
    boot, seq = check_sequence_header(obj)
    raw = require(obj, "events")
    if not isinstance(raw, list) or not raw:
        raise InvalidField("must be a non-empty array", path="events")
    events = []
    for i, e in enumerate(raw):
        path = f"events[{i}]"
        if not isinstance(e, dict):
            raise InvalidField(f"must be an object, got {describe(e)}", path=path)
        etype = check_str(require(e, "type", path), f"{path}.type", EVENT_TYPE_RE, max_len=64)
        ts = check_ts(require(e, "ts", path), f"{path}.ts", now_ms, max_future_ms)
        ch = e.get("ch")
        if ch is not None:
            ch = check_str(ch, f"{path}.ch", CHANNEL_ID_RE)
        severity = e.get("severity", "info")
        if severity not in SEVERITIES:
            raise InvalidField(f"must be one of {', '.join(SEVERITIES)}, got {describe(severity)}",
                               path=f"{path}.severity")
        data = e.get("data", {})
        if not isinstance(data, dict):
            raise InvalidField(f"must be an object, got {describe(data)}", path=f"{path}.data")
        events.append(Event(etype, ts, ch, severity, data))
    return EventBatch(gateway, boot, seq, tuple(events))


def decode_status(payload: bytes | str, *, gateway_id: str | None = None,
                  max_bytes: int = MAX_PAYLOAD_BYTES) -> Status:
    """Validate and decode a retained status (or Last Will) message."""
    obj: Mapping[str, object] = loads(payload, max_bytes=max_bytes)
    check_version(obj)
    gateway = check_gateway(obj, gateway_id)
    state = require(obj, "state")
    if state not in GATEWAY_STATES:
        raise InvalidField(f"must be one of {', '.join(GATEWAY_STATES)}, got {describe(state)}", path="state")
    boot = check_str(require(obj, "boot"), "boot", max_len=64, identifier=True)
    # An optional field is the value its check returned, never the raw one: "ts": 3.0 is the integer 3.
    ts = check_optional_int(obj, "ts", minimum=0)
    kwargs: dict[str, Any] = {}
    for name in ("buffer_depth", "oldest_unsent_ms", "dropped", "config_version", "last_seq"):
        if obj.get(name) is not None:
            kwargs[name] = check_int(obj[name], name, minimum=0)
    up = obj.get("uptime_s")
    if up is not None:
        if (type(up) is not int and type(up) is not float) or up < 0:
            raise InvalidField(f"must be a number >= 0, got {describe(up)}", path="uptime_s")
        kwargs["uptime_s"] = float(up)
    if obj.get("version") is not None:
        kwargs["version"] = check_str(obj["version"], "version", max_len=64, identifier=True)
    return Status(gateway, state, boot, ts, **kwargs)


def decode_config(payload: bytes | str, *, gateway_id: str | None = None,
                  max_bytes: int = MAX_PAYLOAD_BYTES) -> GatewayConfig:
    """Validate and decode the envelope of a retained gateway config."""
    obj: Mapping[str, object] = loads(payload, max_bytes=max_bytes)
    check_version(obj)
    gateway = check_gateway(obj, gateway_id)
    version = check_int(require(obj, "version"), "version", minimum=1)
    channels = require(obj, "channels")
    if not isinstance(channels, list):
        raise InvalidField("must be an array", path="channels")
    seen = set()
    for i, ch in enumerate(channels):
        if not isinstance(ch, dict):
            raise InvalidField(f"must be an object, got {describe(ch)}", path=f"channels[{i}]")
        cid = check_str(require(ch, "id", f"channels[{i}]"), f"channels[{i}].id", CHANNEL_ID_RE)
        if cid in seen:
            raise InvalidField(f"duplicate channel id {cid!r}", path=f"channels[{i}].id")
        seen.add(cid)
        check_str(require(ch, "driver", f"channels[{i}]"), f"channels[{i}].driver", max_len=64, identifier=True)
    alarms = obj.get("alarms", [])
    if not isinstance(alarms, list) or not all(isinstance(a, dict) for a in alarms):
        raise InvalidField("must be an array of objects", path="alarms")
    issued = check_optional_int(obj, "issued", minimum=0)
    return GatewayConfig(gateway, version, tuple(channels), tuple(alarms), issued)


def decode_command(payload: bytes | str, *, name: str, max_bytes: int = MAX_PAYLOAD_BYTES) -> Command:
    """Validate and decode a command sent on ``.../cmd/{name}``."""
    if name not in COMMAND_NAMES:
        raise UnknownTopic(f"unknown command {name!r}; known: {', '.join(COMMAND_NAMES)}")
    obj: Mapping[str, object] = loads(payload, max_bytes=max_bytes)
    check_version(obj)
    cid = check_str(require(obj, "id"), "id", max_len=64, identifier=True)
    ts = check_int(require(obj, "ts"), "ts", minimum=0)
    args = obj.get("args", {})
    if not isinstance(args, dict):
        raise InvalidField(f"must be an object, got {describe(args)}", path="args")
    if name == "resend-from":
        check_int(require(args, "seq", "args"), "args.seq", minimum=0)
    return Command(name, cid, ts, args)


def decode_command_result(payload: bytes | str, *, gateway_id: str | None = None,
                          max_bytes: int = MAX_PAYLOAD_BYTES) -> CommandResult:
    """Validate and decode a gateway's command result."""
    obj: Mapping[str, object] = loads(payload, max_bytes=max_bytes)
    check_version(obj)
    gateway = check_gateway(obj, gateway_id)
    cid = check_str(require(obj, "id"), "id", max_len=64, identifier=True)
    cmd = require(obj, "cmd")
    if cmd not in COMMAND_NAMES:
        raise InvalidField(f"must be one of {', '.join(COMMAND_NAMES)}, got {describe(cmd)}", path="cmd")
    ok = require(obj, "ok")
    if type(ok) is not bool:
        raise InvalidField(f"must be a boolean, got {describe(ok)}", path="ok")
    ts = check_int(require(obj, "ts"), "ts", minimum=0)
    detail = check_str(obj.get("detail", ""), "detail", max_len=2000)
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
    if info.command is not None:  # a cmd topic, which always names its command
        return decode_command(payload, name=info.command, max_bytes=max_bytes)
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
    return decode_command_result(payload, gateway_id=gw, max_bytes=max_bytes)

