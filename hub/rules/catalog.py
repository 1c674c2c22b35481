"""Cached facts the rules engine looks up for every reading: assets, gateways and channels.

Loaded from the relational store in three queries, so a rule selecting ``category = "Medical
refrigerator"`` costs a dict lookup per channel, not a query. After ``refresh_s`` of the
clock's monotonic time a cheap fingerprint of the tables (row counts, newest ids and update
times, sums over the channel and ward columns) is compared with the last one, and the facts
are reloaded when it moved, or at the latest after ``max_age_s``, or at once after
:meth:`Catalog.invalidate`. A hospital has tens of thousands of channels: reloading them all
takes a fifth of a second or more, during which the ingest worker calling the engine waits.
:attr:`Catalog.version` changes only when a reload found different facts, so what callers
derived from them (which rules select which series) can be kept until then.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, aliased

from wardlink.hub.db.models import Asset, Channel, ChannelBinding, Department, Gateway, Site
from wardlink.clock import Clock


@dataclass(frozen=True, slots=True)
class AssetInfo:
    """An asset as rules see it."""

    id: int
    tag: str
    name: str
    category: str
    department_id: int | None
    ward: str | None  # department code
    site: str | None

    @property
    def label(self) -> str:
        """Return 'TAG name' for messages."""
        return f"{self.tag} {self.name}"


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    """A registered gateway."""

    pk: int
    gateway_id: str
    ward: str | None


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A registered channel and its current binding."""

    gateway: str
    channel: str
    interval_s: float | None
    unit: str
    metric: str
    asset: str | None  # tag of the asset it is bound to now
    measurement: str | None  # metric of that binding


class Catalog:
    """Assets, gateways and channels by their wire identifiers."""

    def __init__(self, engine: Engine, clock: Clock, *, refresh_s: float = 30.0, max_age_s: float = 300.0) -> None:
        self._engine = engine
        self._clock = clock
        self._refresh = refresh_s
        self._max_age = max(max_age_s, refresh_s)
        self._lock = threading.Lock()
        self._loaded_at: float | None = None  # last check
        self._full_at: float | None = None  # last full load
        self._fingerprint: tuple | None = None
        self.assets: dict[str, AssetInfo] = {}
        self.assets_by_id: dict[int, AssetInfo] = {}
        self.gateways: dict[str, GatewayInfo] = {}
        self.gateways_by_pk: dict[int, GatewayInfo] = {}
        self.channels: dict[tuple[str, str], ChannelInfo] = {}
        self.version = 0  # incremented whenever a reload changed any fact

    def invalidate(self) -> None:
        """Reload on the next use."""
        with self._lock:
            self._loaded_at = self._full_at = None

    def refresh(self) -> Catalog:
        """Reload from the store if it changed since the last load (checked every ``refresh_s``); return self."""
        with self._lock:
            now = self._clock.monotonic()
            if self._loaded_at is not None and now - self._loaded_at < self._refresh:
                return self
            fingerprint = self._read_fingerprint()
            if (fingerprint != self._fingerprint or self._full_at is None
                    or now - self._full_at >= self._max_age):
                self._load()
                self._full_at = now
                self._fingerprint = fingerprint
            self._loaded_at = now
        return self

    def asset(self, tag: str | None) -> AssetInfo | None:
        """Return the asset with ``tag``, or None."""
        return self.assets.get(tag) if tag else None

    def gateway_ward(self, gateway_id: str | None) -> str | None:
        """Return the ward (department code) a gateway is installed in, or None."""
        info = self.gateways.get(gateway_id) if gateway_id else None
        return info.ward if info else None

    def channel(self, gateway_id: str, channel: str) -> ChannelInfo | None:
        """Return a registered channel, or None."""
        return self.channels.get((gateway_id, channel))

    def _read_fingerprint(self) -> tuple:
        # Services stamp updated_at on assets and gateways and only ever add or close bindings;
        # channels, wards and sites have no update time, so sums over the columns the catalog
        # reads stand in (the periodic full load catches what a sum cannot).
        with Session(self._engine) as session:
            return (
                *session.execute(select(func.count(), func.max(Asset.updated_at))).one(),
                *session.execute(select(func.count(), func.max(Gateway.updated_at))).one(),
                *session.execute(select(func.count(), func.max(Channel.id), func.sum(Channel.interval_s),
                                        func.sum(func.length(Channel.unit) + func.length(Channel.metric)))).one(),
                *session.execute(select(func.count(), func.max(ChannelBinding.id),
                                        func.count(ChannelBinding.valid_to))).one(),
                *session.execute(select(func.count(), func.max(Department.id),
                                        func.sum(func.length(Department.code)))).one(),
                *session.execute(select(func.count(), func.max(Site.id), func.sum(func.length(Site.code)))).one(),
            )

    def _load(self) -> None:
        dept_site = aliased(Site)
        with Session(self._engine) as session:
            assets = {}
            rows = session.execute(
                select(Asset.id, Asset.tag, Asset.name, Asset.category, Asset.department_id,
                       Department.code, dept_site.code)
                .outerjoin(Department, Asset.department_id == Department.id)
                .outerjoin(dept_site, Department.site_id == dept_site.id))
            for aid, tag, name, category, dept_id, ward, site in rows:
                assets[tag] = AssetInfo(aid, tag, name, category, dept_id, ward, site)
            gateways = {
                gid: GatewayInfo(pk, gid, ward)
                for pk, gid, ward in session.execute(
                    select(Gateway.id, Gateway.gateway_id, Department.code)
                    .outerjoin(Department, Gateway.department_id == Department.id))
            }
            channels = {}
            rows = session.execute(
                select(Gateway.gateway_id, Channel.channel_id, Channel.interval_s, Channel.unit,
                       Channel.metric, Asset.tag, ChannelBinding.metric)
                .join(Gateway, Channel.gateway_pk == Gateway.id)
                .outerjoin(ChannelBinding, (ChannelBinding.channel_pk == Channel.id)
                           & ChannelBinding.valid_to.is_(None))
                .outerjoin(Asset, ChannelBinding.asset_id == Asset.id))
            for gid, cid, interval, unit, metric, tag, bound_metric in rows:
                channels[(gid, cid)] = ChannelInfo(gid, cid, interval, unit or "", metric, tag, bound_metric)
        if (assets, gateways, channels) != (self.assets, self.gateways, self.channels) or not self.version:
            self.version += 1
        self.assets = assets
        self.assets_by_id = {a.id: a for a in assets.values()}
        self.gateways = gateways
        self.gateways_by_pk = {g.pk: g for g in gateways.values()}
        self.channels = channels
