"""MQTT ingest: gateway messages -> validated -> telemetry store + relational records -> PUBACK.

- :class:`IngestWorker` (``wardlink.hub.ingest.worker``): the worker, its lifecycle and :class:`IngestStats`;
  it wires its parts: ``receiver`` (the MQTT side), ``batcher``, ``committer`` and ``pump`` (the
  listeners), with ``decode`` and ``points`` for the decoding and the channel -> series mapping.
- :class:`IngestListener` (``wardlink.hub.ingest.items``): what a listener such as the rules
  engine implements.
- :class:`Resolver`, :class:`Resolved`, :class:`StaticResolver` (``wardlink.hub.ingest.resolver``):
  channel -> metric and asset mapping.
- :class:`IngestRecords` (``wardlink.hub.ingest.records``): dead letters, events, gateway state and
  worker counters in the relational store (the services read them through
  ``wardlink.hub.services.gateways.ingest_records``, whose row types ingest fills in).

Names are imported on first use, so ``from wardlink.hub.ingest.resolver import Resolved`` does not
load paho-mqtt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wardlink.lazy import lazy_exports

_EXPORTS = {
    "IngestWorker": "wardlink.hub.ingest.worker",
    "IngestStats": "wardlink.hub.ingest.worker",
    "IngestListener": "wardlink.hub.ingest.items",
    "Resolver": "wardlink.hub.ingest.resolver",
    "Resolved": "wardlink.hub.ingest.resolver",
    "StaticResolver": "wardlink.hub.ingest.resolver",
    "IngestRecords": "wardlink.hub.ingest.records",
    "DeadLetter": "wardlink.hub.ingest.deadletter",
    "DeadLetterRow": "wardlink.hub.services.gateways.ingest_records",
    "EventRow": "wardlink.hub.ingest.events",
    "GatewayRecord": "wardlink.hub.services.gateways.ingest_records",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from wardlink.hub.ingest.deadletter import DeadLetter
    from wardlink.hub.ingest.events import EventRow
    from wardlink.hub.ingest.items import IngestListener
    from wardlink.hub.ingest.records import IngestRecords
    from wardlink.hub.ingest.resolver import Resolved, Resolver, StaticResolver
    from wardlink.hub.ingest.worker import IngestStats, IngestWorker
    from wardlink.hub.services.gateways.ingest_records import DeadLetterRow, GatewayRecord

__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
