"""The v1 message models, one frozen class per message kind, each with its JSON-ready ``to_dict``."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, NamedTuple

from wardlink.protocol.limits import SCHEMA_VERSION


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
