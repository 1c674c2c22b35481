"""The v1 topics: ``wardlink/v1/{gateway_id}/{kind}``, built, parsed and subscribed to."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from wardlink.protocol.errors import InvalidField, UnknownTopic
from wardlink.protocol.limits import COMMAND_NAMES, GATEWAY_ID_RE, TOPIC_ROOT


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

