"""What the forwarder tracks per message: the rows a message carries, and its counters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Sequence


def id_runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Collapse ascending ids into inclusive (first, last) runs."""
    runs: list[tuple[int, int]] = []
    if not ids:
        return runs
    lo = prev = ids[0]
    for i in ids[1:]:
        if i != prev + 1:
            runs.append((lo, prev))
            lo = i
        prev = i
    runs.append((lo, prev))
    return runs


@dataclass
class Pending:
    """One message handed to paho and awaiting its PUBACK."""

    kind: str  # telemetry | events | other
    ids: list[int] = field(default_factory=list)
    seq: int = -1
    late: bool = False
    done: asyncio.Future | None = None


@dataclass
class ForwarderStats:
    """Counters of what the forwarder has done since start."""

    connected: bool = False
    connects: int = 0
    batches_sent: int = 0
    readings_sent: int = 0
    readings_acked: int = 0
    late_readings_sent: int = 0
    events_acked: int = 0
    inflight: int = 0
    backlog_active: bool = False
    last_ack_ms: int | None = None

