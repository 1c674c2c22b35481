"""Map a reading's (gateway, channel, timestamp) to its measurement and tags, from bindings.

:class:`DbResolver` implements :class:`wardlink.hub.ingest.resolver.Resolver`: the answer is a
:class:`Resolved` (defined here, below ingest, which imports it) with the binding's metric as measurement, tags
``asset``, ``ward`` and ``site``, and the binding's validity span; ``None`` when the channel
had no binding at that instant (ingest then stores the reading as ``unbound``).

The ingest worker calls :meth:`DbResolver.resolve` for every reading, so answers come from a
per-gateway cache. Other processes (the web UI) change bindings, so the cache checks a cheap
fingerprint of the bindings table at most every ``check_interval_s`` and reloads when it
moved; a full reload also happens after ``ttl_s`` regardless. Within one process,
:meth:`DbResolver.invalidate` drops the cache at once.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Mapping

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset, Channel, ChannelBinding, Department, Gateway, Site
from wardlink.hub.db.types import to_ms
from wardlink.hub.errors import StoreError
from wardlink.clock import Clock, SystemClock


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where readings of a channel go: the metric family and extra tags (asset, site, ward...)."""

    measurement: str
    tags: Mapping[str, str] = field(default_factory=dict)
    valid_from_ms: int | None = None  # inclusive; None = since ever
    valid_until_ms: int | None = None  # exclusive; None = until further notice

    def covers(self, ts_ms: int) -> bool:
        """Return True if this answer holds at ``ts_ms``."""
        return ((self.valid_from_ms is None or self.valid_from_ms <= ts_ms)
                and (self.valid_until_ms is None or ts_ms < self.valid_until_ms))


@dataclass(slots=True)
class _Interval:
    start_ms: int
    end_ms: int | None
    resolved: Resolved


@dataclass(slots=True)
class _GatewayEntry:
    loaded_at: float
    channels: dict[str, list[_Interval]]


class DbResolver:
    """Resolve channels to measurement and tags through the channel bindings table."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None, check_interval_s: float = 1.0,
                 ttl_s: float = 300.0) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()
        self._check_interval = check_interval_s
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._cache: dict[str, _GatewayEntry] = {}
        self._fingerprint: tuple | None = None
        self._checked_at: float | None = None

    def resolve(self, gateway: str, channel: str, ts_ms: int) -> Resolved | None:
        """Return where a reading of ``channel`` taken at ``ts_ms`` belongs, or None if unbound."""
        with self._lock:
            entry = self._entry(gateway)
        for interval in self._intervals_at(entry, channel, ts_ms):
            return interval.resolved
        return None

    def invalidate(self, gateway: str | None = None) -> None:
        """Forget cached bindings of ``gateway`` (all gateways when None)."""
        with self._lock:
            if gateway is None:
                self._cache.clear()
                self._fingerprint = None
            else:
                self._cache.pop(gateway, None)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _intervals_at(entry: _GatewayEntry, channel: str, ts_ms: int):
        intervals = entry.channels.get(channel, ())
        # Intervals of a channel never overlap, so the last one starting at or before ts_ms is
        # the only candidate.
        index = bisect.bisect_right([i.start_ms for i in intervals], ts_ms) - 1
        if index >= 0:
            candidate = intervals[index]
            if candidate.end_ms is None or ts_ms < candidate.end_ms:
                yield candidate

    def _entry(self, gateway: str) -> _GatewayEntry:
        now = self._clock.monotonic()
        try:
            if self._checked_at is None or now - self._checked_at >= self._check_interval:
                fingerprint = self._read_fingerprint()
                if fingerprint != self._fingerprint:
                    self._cache.clear()
                    self._fingerprint = fingerprint
                self._checked_at = now
            entry = self._cache.get(gateway)
            if entry is None or now - entry.loaded_at >= self._ttl:
                entry = _GatewayEntry(now, self._load(gateway))
                self._cache[gateway] = entry
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read channel bindings: {exc.__class__.__name__}: {exc}") from exc
        return entry

    def _read_fingerprint(self) -> tuple:
        # Services only ever insert bindings or close open ones, so (rows, newest id, closed rows)
        # changes with every edit. Channel rows matter too: a new channel may be bound later.
        with Session(self._engine) as session:
            bindings = session.execute(select(func.count(), func.max(ChannelBinding.id),
                                              func.count(ChannelBinding.valid_to))).one()
            channels = session.execute(select(func.count(), func.max(Channel.id))).one()
            assets = session.execute(select(func.max(Asset.updated_at))).scalar()
        return (*bindings, *channels, assets)

    def _load(self, gateway: str) -> dict[str, list[_Interval]]:
        stmt = (
            select(Channel.channel_id, ChannelBinding.metric, ChannelBinding.valid_from,
                   ChannelBinding.valid_to, Asset.tag, Department.code, Site.code)
            .select_from(ChannelBinding)
            .join(Channel, ChannelBinding.channel_pk == Channel.id)
            .join(Gateway, Channel.gateway_pk == Gateway.id)
            .join(Asset, ChannelBinding.asset_id == Asset.id)
            .outerjoin(Department, Asset.department_id == Department.id)
            .outerjoin(Site, Department.site_id == Site.id)
            .where(Gateway.gateway_id == gateway)
            .order_by(Channel.channel_id, ChannelBinding.valid_from)
        )
        channels: dict[str, list[_Interval]] = {}
        with Session(self._engine) as session:
            for channel_id, metric, start, end, tag, ward, site in session.execute(stmt):
                # gateway and channel tags come from the message itself, never from here.
                tags = {"asset": tag}
                if ward:
                    tags["ward"] = ward
                if site:
                    tags["site"] = site
                start_ms, end_ms = to_ms(start), None if end is None else to_ms(end)
                channels.setdefault(channel_id, []).append(
                    _Interval(start_ms, end_ms, Resolved(metric, tags, start_ms, end_ms)))
        return channels
