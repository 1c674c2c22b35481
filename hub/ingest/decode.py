"""Received MQTT message -> :class:`~wardlink.hub.ingest.items.Item`, in paho's network thread.

Each message is decoded with :mod:`wardlink.protocol` (the injected clock's time refuses
far-future timestamps) and a telemetry batch's points are built at once through the resolver,
so that this work overlaps the committer's wait for the stores. Anything invalid becomes a dead
letter.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import paho.mqtt.client as mqtt

from wardlink.hub.errors import StoreError
from wardlink.hub.ingest.deadletter import INTERNAL_ERROR, DeadLetter
from wardlink.hub.ingest.items import Delivery, Item, ItemKind, LastBatch, Message
from wardlink.hub.ingest.points import PointBuilder
from wardlink import protocol
from wardlink.protocol import Kind, ProtocolError, Status, TelemetryBatch

#: The topic kinds ingest subscribes to, in subscription order.
KINDS = (Kind.TELEMETRY, Kind.EVENTS, Kind.STATUS)
_ITEM_KINDS = {Kind.TELEMETRY: ItemKind.TELEMETRY, Kind.EVENTS: ItemKind.EVENTS, Kind.STATUS: ItemKind.STATUS}
_INT64 = 2**63 - 1
_ts_of = itemgetter(1)  # a Reading's ts_ms


class Decoder:
    """Decodes messages into items; remembers each gateway's newest telemetry batch when asked to."""

    def __init__(self, points: PointBuilder, *, max_future_ms: int, dead_letter_limit: int,
                 remember_batches: bool) -> None:
        self._points = points
        self._max_future = max_future_ms
        self._dl_limit = dead_letter_limit
        self._remember = remember_batches
        self.last_batch: dict[str, LastBatch] = {}  # gateway -> newest telemetry batch seen

    def decode(self, msg: mqtt.MQTTMessage, generation: int, received_ms: int) -> Item:
        """Return the item of ``msg`` (kind DEAD with its dead letter when it is invalid)."""
        delivery = Delivery(msg.mid, msg.qos, generation, received_ms, topic_of(msg), bytes(msg.payload))
        gateway = None
        try:
            info = protocol.parse_topic(delivery.topic)
            gateway = info.gateway_id
            kind = _ITEM_KINDS.get(info.kind)
            if kind is None or (kind is ItemKind.STATUS and not delivery.payload):
                return Item(delivery, ItemKind.IGNORED)  # (an empty status: an operator cleared the retained one)
            message = self._message(info.kind, delivery, gateway)
        except ProtocolError as exc:
            # A refused message carries no message: it must not count as a batch seen.
            return Item(delivery, ItemKind.DEAD, dead=DeadLetter.of(
                delivery.topic, delivery.payload, reason=exc.reason, detail=str(exc), received_ms=received_ms,
                gateway=gateway, limit=self._dl_limit))
        item = Item(delivery, kind, message)
        if isinstance(message, TelemetryBatch):
            self._telemetry(item, message)
        return item

    def internal_error(self, msg: mqtt.MQTTMessage, generation: int, received_ms: int, exc: Exception) -> Item:
        """Return the dead item of a message whose decoding failed on a bug."""
        delivery = Delivery(msg.mid, msg.qos, generation, received_ms, topic_of(msg), bytes(msg.payload))
        return Item(delivery, ItemKind.DEAD, dead=DeadLetter.of(
            delivery.topic, delivery.payload, reason=INTERNAL_ERROR, detail=repr(exc), received_ms=received_ms,
            limit=self._dl_limit))

    def _message(self, kind: Kind, delivery: Delivery, gateway: str) -> Message:
        message: Message
        if kind is Kind.STATUS:
            message = protocol.decode_status(delivery.payload, gateway_id=gateway)
        elif kind is Kind.TELEMETRY:
            message = protocol.decode_telemetry(delivery.payload, gateway_id=gateway, now_ms=delivery.received_ms,
                                                max_future_ms=self._max_future)
        else:
            message = protocol.decode_events(delivery.payload, gateway_id=gateway, now_ms=delivery.received_ms,
                                             max_future_ms=self._max_future)
        check_int64(message)
        return message

    def _telemetry(self, item: Item, batch: TelemetryBatch) -> None:
        if self._remember and not batch.late:
            seen = self.last_batch.get(batch.gateway)
            if seen is None or seen.boot != batch.boot or seen.seq < batch.seq:
                self.last_batch[batch.gateway] = LastBatch(batch.boot, batch.seq)
        item.weight = len(batch.readings)
        item.last_ts_ms = max(map(_ts_of, batch.readings))
        try:
            # Built here, in the network thread, so that it overlaps the committer's wait for
            # the store; if the resolver cannot answer now, the committer retries it.
            item.points = self._points.points(batch)
        except StoreError:
            pass
        else:
            # The points carry everything the readings did; holding both until the
            # acknowledgement would double what the garbage collector walks.
            item.message = TelemetryBatch(batch.gateway, batch.boot, batch.seq, (), batch.late)


def check_int64(message: Any) -> None:
    """Refuse integers the relational store cannot hold (the protocol bounds them from below only)."""
    names = ("seq",) if not isinstance(message, Status) else (
        "ts_ms", "buffer_depth", "oldest_unsent_ms", "dropped", "config_version", "last_seq")
    for name in names:
        value = getattr(message, name)
        if value is not None and not -_INT64 <= value <= _INT64:
            raise protocol.InvalidField(f"must be at most {_INT64}, got {value}", path=name)


def topic_of(msg: mqtt.MQTTMessage) -> str:
    """The message's topic; the repr of its raw bytes when they are not UTF-8."""
    try:
        return msg.topic
    except UnicodeDecodeError:
        return repr(bytes(msg._topic))  # not UTF-8: paho keeps the raw bytes there
