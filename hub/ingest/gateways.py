"""Per-gateway state from the wire: status / Last Will, boot ids, batch sequence gaps.

Each telemetry and event batch carries the gateway's ``boot`` id (new on every gateway
process start) and a ``seq`` counting from 0 per boot and per topic. From those the tracker
derives:

- **restarts**: a boot id not seen recently (a late batch of the previous boot is not one);
- **gaps**: ``seq`` jumping ahead; the skipped numbers are *missing* until they turn up
  (out-of-order delivery after a reconnect fills them again);
- **duplicates**: a ``seq`` already seen — normal under at-least-once delivery.

Restarts and gaps are also written as hub events (``hub.gateway_restarted``,
``hub.sequence_gap``) so the UI timeline shows them next to the gateway's own events.

With a shared subscription every worker sees only a share of each gateway's batches, so the
worker turns gap and duplicate counting off (``track_gaps=False``); restarts, last sequence
numbers and status are still kept. Counters are absolute values owned by the writing worker.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, fields
from typing import Iterable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from wardlink.hub.services.gateways.ingest_records import GatewayRecord, gateway_links, list_gateways
from wardlink.protocol import Status

RESTARTED = "hub.gateway_restarted"
SEQUENCE_GAP = "hub.sequence_gap"
_NOTE_IDX = {"restart": -1, "telemetry": -2, "events": -3}
_RECENT_BOOTS = 8
_MAX_MISSING_RANGES = 64


@dataclass
class _Stream:
    boot: str
    high: int
    missing: list[list[int]] = field(default_factory=list)  # [lo, hi] inclusive ranges

    def fill(self, seq: int) -> bool:
        """Remove ``seq`` from the missing ranges; return True if it was missing."""
        for i, (lo, hi) in enumerate(self.missing):
            if lo <= seq <= hi:
                pieces = [r for r in ([lo, seq - 1], [seq + 1, hi]) if r[0] <= r[1]]
                self.missing[i:i + 1] = pieces
                return True
        return False


class GatewayTracker:
    """Follow boots, sequences and status of every gateway; collect rows to persist."""

    def __init__(self, *, track_gaps: bool = True) -> None:
        self.track_gaps = track_gaps
        self._records: dict[str, GatewayRecord] = {}
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._recent: dict[str, deque[str]] = {}
        self._dirty: set[str] = set()

    def load(self, records: list[GatewayRecord]) -> None:
        """Start from persisted state (so a worker restart is not mistaken for gateway restarts)."""
        for rec in records:
            self._records[rec.gateway] = rec
            if rec.boot is not None:
                self._recent[rec.gateway] = deque([rec.boot], maxlen=_RECENT_BOOTS)
                for kind, seq in (("telemetry", rec.telemetry_seq), ("events", rec.events_seq)):
                    if seq is not None:
                        self._streams[(rec.gateway, kind)] = _Stream(rec.boot, seq)

    def record(self, gateway: str) -> GatewayRecord:
        """Return the (mutable) record of ``gateway``, creating it on first sight."""
        rec = self._records.get(gateway)
        if rec is None:
            rec = self._records[gateway] = GatewayRecord(gateway)
        return rec

    def observe_batch(self, kind: str, gateway: str, boot: str, seq: int, received_ms: int, *,
                      readings: int = 0, last_reading_ts_ms: int | None = None) -> list[dict]:
        """Account for one telemetry or event batch; return hub event rows it gives rise to."""
        rec = self.record(gateway)
        self._dirty.add(gateway)
        notes: list[dict] = []
        rec.last_seen_ms = received_ms if rec.last_seen_ms is None else max(rec.last_seen_ms, received_ms)
        if kind == "telemetry":
            rec.batches += 1
            rec.readings += readings
            if last_reading_ts_ms is not None:
                rec.last_reading_ts_ms = max(rec.last_reading_ts_ms or 0, last_reading_ts_ms)
        recent = self._recent.setdefault(gateway, deque(maxlen=_RECENT_BOOTS))
        new_boot = boot != rec.boot and boot not in recent
        if new_boot:
            if rec.boot is not None:
                rec.restarts += 1
                notes.append(_note(gateway, boot, seq, "restart", RESTARTED, received_ms,
                                   {"previous_boot": rec.boot, "first_seq": seq, "topic": kind}))
            rec.boot = boot
            recent.append(boot)
        stream = self._streams.get((gateway, kind))
        if stream is None or (stream.boot != boot and boot == rec.boot):
            start = 0 if (new_boot and len(recent) > 1) else seq
            stream = self._streams[(gateway, kind)] = _Stream(boot, start - 1)
        if stream.boot != boot:
            return notes  # a late batch of an earlier boot: nothing to compare it with
        if not self.track_gaps:
            stream.high = max(stream.high, seq)
        elif seq == stream.high + 1:
            stream.high = seq
        elif seq > stream.high + 1:
            lo, hi = stream.high + 1, seq - 1
            rec.gaps += 1
            rec.missing_batches += hi - lo + 1
            stream.missing.append([lo, hi])
            del stream.missing[:-_MAX_MISSING_RANGES]
            notes.append(_note(gateway, boot, seq, kind, SEQUENCE_GAP, received_ms,
                               {"topic": kind, "first_missing": lo, "last_missing": hi, "count": hi - lo + 1}))
            stream.high = seq
        elif stream.fill(seq):
            rec.missing_batches -= 1
        else:
            rec.duplicate_batches += 1
        setattr(rec, f"{kind}_seq", stream.high)
        return notes

    def observe_status(self, status: Status, received_ms: int) -> bool:
        """Apply a status message; return False when it is older than what is known."""
        rec = self.record(status.gateway)
        if (status.state == "offline" and rec.state == "online" and rec.status_boot is not None
                and status.boot != rec.status_boot):
            return False  # the Last Will of an earlier boot, published after the new boot said hello
        if (status.ts_ms is not None and rec.state_ts_ms is not None and status.boot == rec.status_boot
                and (status.ts_ms < rec.state_ts_ms
                     or (status.ts_ms == rec.state_ts_ms and status.state == rec.state
                         and all(getattr(status, f) == getattr(rec, f) for f in _STATUS_FIGURES)))):
            # An older status of the same boot (replayed), or the retained one delivered again
            # on a new subscription: its receipt says nothing about when the gateway sent it.
            return False
        rec.state = status.state
        rec.state_ts_ms = status.ts_ms
        rec.state_received_ms = received_ms
        rec.status_boot = status.boot
        for name in _STATUS_FIGURES:
            value = getattr(status, name)
            if value is not None or status.state == "online":
                setattr(rec, name, value)
        rec.last_seen_ms = received_ms if rec.last_seen_ms is None else max(rec.last_seen_ms, received_ms)
        self._dirty.add(status.gateway)
        return True

    def dirty_rows(self) -> list[dict]:
        """Return the rows of gateways changed since :meth:`clear_dirty`."""
        # Every field is a scalar, so a copy of the instance dict is what asdict() would build,
        # for a fraction of its cost (this runs for every batch ingest commits).
        return [dict(vars(self._records[g])) for g in sorted(self._dirty)]

    def clear_dirty(self) -> None:
        """Forget which gateways changed (after their rows were committed)."""
        self._dirty.clear()

    def snapshot(self, gateways: Iterable[str]) -> tuple:
        """Return what :meth:`restore` needs to undo everything observed about ``gateways`` from now on.

        The ingest worker takes one before it observes a batch of messages, so that when the
        database refuses a message's rows it can forget that message and commit the others.
        """
        saved = {}
        for g in gateways:
            if g in saved:
                continue
            rec = self._records.get(g)
            streams = {k: (s.boot, s.high, [list(r) for r in s.missing])
                       for k in ("telemetry", "events") if (s := self._streams.get((g, k))) is not None}
            recent = self._recent.get(g)
            saved[g] = (None if rec is None else GatewayRecord(**vars(rec)), streams,
                        None if recent is None else list(recent))
        return saved, set(self._dirty)

    def restore(self, snapshot: tuple) -> None:
        """Put back the state :meth:`snapshot` saved (copies: the snapshot may be restored again)."""
        saved, dirty = snapshot
        for g, (rec, streams, recent) in saved.items():
            if rec is None:
                self._records.pop(g, None)
            else:
                self._records[g] = GatewayRecord(**vars(rec))
            for kind in ("telemetry", "events"):
                state = streams.get(kind)
                if state is None:
                    self._streams.pop((g, kind), None)
                else:
                    self._streams[(g, kind)] = _Stream(state[0], state[1], [list(r) for r in state[2]])
            if recent is None:
                self._recent.pop(g, None)
            else:
                self._recent[g] = deque(recent, maxlen=_RECENT_BOOTS)
        self._dirty = set(dirty)


#: The figures a status message carries besides its state, boot and timestamp.
_STATUS_FIGURES = ("version", "uptime_s", "buffer_depth", "oldest_unsent_ms", "dropped", "config_version")


def _note(gateway: str, boot: str, seq: int, what: str, type_: str, received_ms: int, data: dict) -> dict:
    return {"gateway": gateway, "boot": boot, "seq": seq, "idx": _NOTE_IDX[what], "ts_ms": received_ms,
            "type": type_, "severity": "warning", "channel": None, "asset": None, "data": data,
            "received_ms": received_ms}


def store(session: Session, insert, rows: list[dict]) -> None:
    """Insert gateway link rows or overwrite ingest's columns of them (``insert`` is the dialect's insert).

    The rules engine's columns of the same rows are left alone: each writer sets only its own.
    """
    if not rows:
        return
    stmt = _UPSERTS.get(insert)
    if stmt is None:
        # Built once per dialect: ingest runs this for every batch it commits.
        stmt = insert(gateway_links)
        stmt = _UPSERTS[insert] = stmt.on_conflict_do_update(
            index_elements=[gateway_links.c.gateway],
            set_={name: stmt.excluded[name] for name in _OWNED},
        )
    session.execute(stmt, rows)


_UPSERTS: dict = {}  # the dialect's insert function -> the upsert statement
_OWNED = tuple(f.name for f in fields(GatewayRecord) if f.name != "gateway")  # ingest's columns of gateway_links


def load(engine: Engine) -> list[GatewayRecord]:
    """Return every stored gateway record."""
    return list_gateways(engine)
