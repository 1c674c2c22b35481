"""MQTT ingest: gateway messages -> validated -> telemetry store + relational records -> PUBACK.

- :class:`IngestWorker` (``hub.ingest.worker``): the worker, its lifecycle and :class:`IngestStats`.
- :class:`Resolver`, :class:`Resolved`, :class:`StaticResolver` (``hub.ingest.resolver``):
  channel -> metric and asset mapping.
- :class:`IngestRecords` (``hub.ingest.records``): dead letters, events, gateway state and
  worker counters in the relational store (the services read them through
  ``hub.services.ingest_records``, whose row types ingest fills in).

Names are imported on first use, so ``from hub.ingest.resolver import Resolved`` does not
load paho-mqtt.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "IngestWorker": "hub.ingest.worker",
    "IngestStats": "hub.ingest.worker",
    "Resolver": "hub.ingest.resolver",
    "Resolved": "hub.ingest.resolver",
    "StaticResolver": "hub.ingest.resolver",
    "IngestRecords": "hub.ingest.records",
    "DeadLetter": "hub.ingest.deadletter",
    "DeadLetterRow": "hub.services.ingest_records",
    "EventRow": "hub.ingest.events",
    "GatewayRecord": "hub.services.ingest_records",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from hub.ingest.deadletter import DeadLetter
    from hub.ingest.events import EventRow
    from hub.ingest.records import IngestRecords
    from hub.ingest.resolver import Resolved, Resolver, StaticResolver
    from hub.ingest.worker import IngestStats, IngestWorker
    from hub.services.ingest_records import DeadLetterRow, GatewayRecord


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hub.ingest' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
