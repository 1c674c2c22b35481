"""The types the ingest worker's parts hand each other: items, their kinds, series spans, listeners.

An :class:`Item` is one received MQTT message on its way from the network thread (decoded,
:mod:`wardlink.hub.ingest.receiver`) through the batcher and the committer to its
acknowledgement; the listener pump hands the same item to the listeners. Its :class:`ItemKind`
is fixed when it is decoded; a message a store refuses later keeps its kind and gets a dead
letter, and :attr:`Item.outcome` then says ``DEAD``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, Sequence, runtime_checkable

from wardlink.hub.ingest.deadletter import DeadLetter
from wardlink.hub.telemetry.model import Point
from wardlink.protocol import Event, EventBatch, Status, TelemetryBatch

#: A series' tags: (key, value) pairs sorted by key, as :class:`Point` holds them.
Tags = tuple[tuple[str, str], ...]
#: A decoded gateway message.
Message = TelemetryBatch | EventBatch | Status


class ItemKind(enum.Enum):
    """What a received message turned out to be when it was decoded."""

    TELEMETRY = "telemetry"
    EVENTS = "events"
    STATUS = "status"
    DEAD = "dead"  # refused on arrival (invalid): only its dead letter is stored
    IGNORED = "ignored"  # valid, of a kind ingest does not handle (or a cleared retained status)

    @property
    def listened(self) -> bool:
        """True for the kinds handed to listeners."""
        return self in _LISTENED


_LISTENED = frozenset((ItemKind.TELEMETRY, ItemKind.EVENTS, ItemKind.STATUS))


class Delivery(NamedTuple):
    """How the broker delivered a message: what its acknowledgement needs, and what it carried."""

    mid: int
    qos: int
    generation: int  # the connection it arrived on (its packet id is only valid there)
    received_ms: int
    topic: str
    payload: bytes


@dataclass(slots=True, eq=False)
class Item:
    """One received message on its way through the batcher, the committer and the listener pump."""

    delivery: Delivery
    kind: ItemKind
    message: Message | None = None
    dead: DeadLetter | None = None  # set on arrival (kind DEAD) or when a store refuses it later
    weight: int = 1  # readings it carries, for batch sizing
    queued_at: float = 0.0  # time.monotonic() when it was queued, for the batch age bound
    last_ts_ms: int | None = None  # newest reading it carries
    points: list[Point] | None = None
    event_rows: list[dict[str, Any]] | None = None
    written: bool = False  # its points are in the telemetry store
    tracked: bool = False  # its relational rows are committed
    listened: bool = False  # the listeners have taken it (always true for kinds they do not get)
    notes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def outcome(self) -> ItemKind:
        """``DEAD`` once the message was dead-lettered (on arrival or later), else its kind."""
        return ItemKind.DEAD if self.dead is not None else self.kind

    @property
    def gateway(self) -> str | None:
        return self.message.gateway if self.message is not None else None

    @property
    def telemetry(self) -> TelemetryBatch:
        """The message of a telemetry item."""
        if not isinstance(self.message, TelemetryBatch):
            raise TypeError(f"not a telemetry batch: {self.delivery.topic}")
        return self.message


class SeriesSpan(NamedTuple):
    """A channel's series (measurement and tags) and the time span ``[valid_from, valid_until)`` it holds for."""

    valid_from: float
    valid_until: float
    measurement: str
    tags: Tags

    def covers(self, lo: float, hi: float) -> bool:
        return self.valid_from <= lo and hi < self.valid_until


class LastBatch(NamedTuple):
    """The newest telemetry batch seen of a gateway."""

    boot: str
    seq: int


@runtime_checkable
class IngestListener(Protocol):
    """What ingest hands its listeners (the rules engine), in arrival order, before acknowledging.

    A listener raising :class:`~wardlink.hub.errors.StoreError` has its messages handed over
    again (an outage) or one by one (a refusal, see :func:`~wardlink.hub.ingest.isolate.is_data_error`);
    any other exception is logged and counted. Return values are ignored.
    """

    def on_points(self, points: Sequence[Point], /) -> object: ...

    def on_events(self, gateway_id: str, events: Sequence[Event], /) -> object: ...

    def on_status(self, gateway_id: str, status: Status, received_ms: int, /) -> object: ...


LISTENER_METHODS = ("on_points", "on_events", "on_status")
