"""Latest and recent readings of an asset or a gateway, with freshness, for pages and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset, Channel, ChannelBinding, Gateway
from wardlink.hub.db.types import from_ms, to_ms
from wardlink.hub.services.gateways import registry as gateway_service
from wardlink.hub.telemetry.model import UNBOUND

RECENT_SPAN = timedelta(minutes=15)
RECENT_LIMIT = 20


def link_states(gateway_list: list[Gateway], now: datetime | None = None) -> dict[str, gateway_service.GatewayState]:
    """Return the link state of each gateway as the app judges it now (by its clock and settings)."""
    from wardlink.hub.db.types import utc_now
    from wardlink.hub.web.state import state

    app = state()
    return gateway_service.gateway_states(app.engine, gateway_list, now=now or utc_now(app.clock),
                                          stall_min_s=app.config.gateway_stall_s)


@dataclass(frozen=True)
class LiveReading:
    """The newest reading of one channel, and whether it can still be trusted as current."""

    gateway: str
    channel: str
    metric: str
    unit: str
    asset: str | None
    value: float | None
    quality: str | None
    ts_ms: int | None
    stale_after_s: float
    gateway_status: str

    def age_s(self, now_ms: int) -> float | None:
        """Return the reading's age in seconds (None when there is no reading)."""
        return None if self.ts_ms is None else max(0.0, (now_ms - self.ts_ms) / 1000)

    def state(self, now_ms: int) -> str:
        """Return 'live', 'stale', 'fault' (the sensor read failed), 'offline' (gateway
        offline) or 'none' (no reading yet)."""
        if self.gateway_status == "offline":
            return "offline"
        if self.ts_ms is None:
            return "none"
        if self.age_s(now_ms) > self.stale_after_s:
            return "stale"
        return "fault" if self.quality == "bad" else "live"

    def to_json(self, now_ms: int) -> dict:
        """Return the API form of this reading."""
        return {
            "gateway": self.gateway, "channel": self.channel, "metric": self.metric,
            "unit": self.unit, "asset": self.asset, "value": self.value, "quality": self.quality,
            "ts_ms": self.ts_ms,
            "ts": None if self.ts_ms is None else from_ms(self.ts_ms).isoformat(timespec="milliseconds"),
            "age_s": self.age_s(now_ms), "stale_after_s": self.stale_after_s,
            "gateway_status": self.gateway_status, "state": self.state(now_ms),
        }


def _reading(binding_or_none: ChannelBinding | None, gateway: Gateway, channel, row,
             status: str) -> LiveReading:
    return LiveReading(
        gateway=gateway.gateway_id, channel=channel.channel_id,
        metric=binding_or_none.metric if binding_or_none else channel.metric, unit=channel.unit,
        asset=binding_or_none.asset.tag if binding_or_none else None,
        value=None if row is None else row.value, quality=None if row is None else row.quality,
        ts_ms=None if row is None else row.ts_ms,
        stale_after_s=gateway_service.stale_after(channel).total_seconds(),
        gateway_status=status,
    )


def asset_live(session: Session, engine: Engine, asset: Asset, telemetry,
               now: datetime) -> list[LiveReading]:
    """Return the newest reading of every channel bound to ``asset`` now."""
    bindings = gateway_service.bindings_at(session, now, asset_id=asset.id)
    if not bindings:
        return []
    states = link_states(list({b.channel.gateway.id: b.channel.gateway for b in bindings}.values()), now)
    rows = {}
    for row in telemetry.latest(asset=asset.tag):
        key = (row.tags.get("gateway"), row.tags.get("channel"), row.measurement)
        if key not in rows or row.ts_ms > rows[key].ts_ms:
            rows[key] = row
    out = []
    for b in bindings:
        gateway = b.channel.gateway
        row = rows.get((gateway.gateway_id, b.channel.channel_id, b.metric))
        out.append(_reading(b, gateway, b.channel, row, states[gateway.gateway_id].status))
    return out


def gateway_live(session: Session, gateway: Gateway, telemetry, now: datetime,
                 status: str) -> list[LiveReading]:
    """Return the newest reading of every channel of ``gateway``, bound or not."""
    newest = {}
    for row in telemetry.latest(gateway=gateway.gateway_id):
        channel = row.tags.get("channel")
        if channel not in newest or row.ts_ms > newest[channel].ts_ms:
            newest[channel] = row
    registered = gateway_service.channels_with_bindings(session, gateway, now)
    known = {channel.channel_id for channel, _ in registered}
    # A channel the gateway reports but the hub has no record of (configured on the gateway, or
    # in its enrollment config) is listed too, unbound, so its readings are seen from the start;
    # the gateway's own health channels (gw.*) are not sensors.
    return ([_reading(binding, gateway, channel, newest.get(channel.channel_id), status)
             for channel, binding in registered]
            + [_unregistered(gateway, channel, row, status) for channel, row in sorted(newest.items())
               if channel and channel not in known and not channel.startswith("gw.")])


def with_unregistered(channels: list[tuple[Channel, ChannelBinding | None]],
                      live: list[LiveReading]) -> list[tuple[Channel, ChannelBinding | None]]:
    """Return the gateway's registered channels and, after them, unsaved stand-ins for the
    channels it reports that the hub has no record of, so each can be bound (binding one
    records it)."""
    known = {channel.channel_id for channel, _ in channels}
    extra = [Channel(channel_id=r.channel, metric="" if r.metric == UNBOUND else r.metric, unit="", driver="")
             for r in live if r.asset is None and r.channel not in known]
    return channels + [(c, None) for c in extra]


def _unregistered(gateway: Gateway, channel: str, row, status: str) -> LiveReading:
    return LiveReading(gateway=gateway.gateway_id, channel=channel, metric=row.measurement, unit="", asset=None,
                       value=row.value, quality=row.quality, ts_ms=row.ts_ms,
                       stale_after_s=gateway_service.STALE_MIN.total_seconds(), gateway_status=status)


def recent(session: Session, asset: Asset, telemetry, now: datetime, *,
           span: timedelta = RECENT_SPAN, limit: int = RECENT_LIMIT) -> list[dict]:
    """Return the newest raw readings of the asset's current channels, newest first."""
    end_ms = to_ms(now) + 1
    start_ms = to_ms(now - span)
    out = []
    for b in gateway_service.bindings_at(session, now, asset_id=asset.id):
        rows = telemetry.range(gateway=b.channel.gateway.gateway_id, channel=b.channel.channel_id,
                               start_ms=max(start_ms, to_ms(b.valid_from)), end_ms=end_ms,
                               measurement=b.metric)
        for row in rows[-limit:]:
            out.append({"channel": b.channel.channel_id, "metric": b.metric, "unit": b.channel.unit,
                        "ts_ms": row.ts_ms, "value": row.value, "quality": row.quality})
    out.sort(key=lambda r: (r["ts_ms"], r["channel"]), reverse=True)
    return out[:limit]
