"""Gateways, their channels, and the bindings that say which asset a channel measures.

A binding covers ``[valid_from, valid_to)``; ``valid_to`` None means "until further notice".
Rebinding a channel closes its open binding at the new binding's ``valid_from``, so every
reading maps to exactly one asset (or none) by its own timestamp, however late it arrives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Asset, Channel, ChannelBinding, Gateway, GatewayLink
from wardlink.hub.db.types import from_ms, to_ms, utc_now
from wardlink.hub.db.vocab import GATEWAY_STATUSES
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.telemetry.model import UNBOUND as UNBOUND_METRIC
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets.register import get_asset
from wardlink.hub.services.gateways.ingest_records import list_gateways as wire_records
from wardlink.hub.services.people.org import check_refs
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.validate import choice, text
from wardlink.clock import Clock
from wardlink.protocol import CHANNEL_ID_RE, check_gateway_id

METRIC = text(64, required=True)

#: A reading older than this many channel intervals (and at least STALE_MIN) counts as stale.
STALE_INTERVALS = 5
STALE_MIN = timedelta(seconds=60)

#: Default of the ``gateway_stall_s`` setting: an online gateway heard from within this many
#: seconds is never called stalled.
STALL_MIN_S = 90.0
#: How often a gateway refreshes its retained status at the latest (the gateway's default
#: ``health.interval``), so the longest silence a healthy gateway keeps even without channels.
STATUS_REFRESH_S = 60.0
#: A gateway is stalled after this many of its expected gaps without a word.
STALL_GAPS = 3
#: The link states the hub reports: ``stalled`` is an online status with nothing heard for too long.
LINK_STATES = ("online", "stalled", "offline", "unknown")


def stale_after(channel: Channel) -> timedelta:
    """Return how old a channel's newest reading may be before the UI calls it stale."""
    if channel.interval_s is None:
        return STALE_MIN
    return max(STALE_MIN, timedelta(seconds=channel.interval_s * STALE_INTERVALS))


def binding_snapshot(binding: ChannelBinding) -> dict:
    """Return the audited fields of a binding."""
    return {"gateway": binding.channel.gateway.gateway_id, "channel": binding.channel.channel_id,
            "asset": binding.asset.tag, "metric": binding.metric,
            "valid_from": binding.valid_from, "valid_to": binding.valid_to}


# ------------------------------------------------------------------ reading


def list_gateways(session: Session, *, actor: Actor | None) -> list[Gateway]:
    """Return the gateways the actor may see, by gateway id."""
    who = resolve_actor(actor)
    require(who, "gateway.view")
    stmt = (select(Gateway).options(selectinload(Gateway.channels), selectinload(Gateway.department),
                                    selectinload(Gateway.location))
            .order_by(Gateway.gateway_id))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Gateway.department_id == scope)
    return list(session.scalars(stmt))


def find_gateway(session: Session, gateway_id: str) -> Gateway | None:
    """Return the gateway known on the wire as ``gateway_id`` or None (internal use)."""
    return session.scalar(select(Gateway).where(Gateway.gateway_id == gateway_id))


def get_gateway(session: Session, gateway_id: str, *, actor: Actor | None) -> Gateway:
    """Return a gateway or raise :class:`NotFound`; department-scoped users see only theirs."""
    who = resolve_actor(actor)
    require(who, "gateway.view")
    gateway = find_gateway(session, gateway_id)
    scope = department_scope(who)
    if gateway is None or (scope is not None and gateway.department_id != scope):
        raise NotFound(N_("gateway '%(gateway_id)s' does not exist"), gateway_id=gateway_id)
    return gateway


def get_channel(session: Session, gateway_id: str, channel_id: str) -> Channel:
    """Return one channel of a gateway or raise :class:`NotFound`."""
    channel = session.scalar(select(Channel).join(Gateway).where(
        Gateway.gateway_id == gateway_id, Channel.channel_id == channel_id))
    if channel is None:
        raise NotFound(N_("gateway '%(gateway_id)s' has no channel '%(channel_id)s'"),
                       gateway_id=gateway_id, channel_id=channel_id)
    return channel


def bindings_at(session: Session, moment: datetime, *, asset_id: int | None = None,
                gateway_pk: int | None = None) -> list[ChannelBinding]:
    """Return the bindings valid at ``moment`` for one asset or one gateway."""
    stmt = (select(ChannelBinding).join(Channel)
            .options(selectinload(ChannelBinding.channel).selectinload(Channel.gateway),
                     selectinload(ChannelBinding.asset))
            .where(ChannelBinding.valid_from <= moment,
                   or_(ChannelBinding.valid_to.is_(None), ChannelBinding.valid_to > moment))
            .order_by(Channel.channel_id))
    if asset_id is not None:
        stmt = stmt.where(ChannelBinding.asset_id == asset_id)
    if gateway_pk is not None:
        stmt = stmt.where(Channel.gateway_pk == gateway_pk)
    return list(session.scalars(stmt))


def binding_history(session: Session, *, asset_id: int) -> list[ChannelBinding]:
    """Return every binding of an asset, newest first."""
    return list(session.scalars(select(ChannelBinding).where(ChannelBinding.asset_id == asset_id)
                                .order_by(ChannelBinding.valid_from.desc())))


# ------------------------------------------------------------------ registering


def register_gateway(session: Session, *, gateway_id: str, name: str = "",
                     department_id: int | None = None, location_id: int | None = None,
                     actor: Actor | None, clock: Clock | None = None) -> Gateway:
    """Create a gateway, or update its name and placement; return it."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "gateway.manage")
    try:
        check_gateway_id(gateway_id)
    except ValueError as exc:
        raise InvalidInput(N_("gateway_id: %(exc)s"), exc=exc) from None
    name = text(200)("name", name)
    check_refs(session, department_id, location_id)
    now = utc_now(clock)
    gateway = find_gateway(session, gateway_id)
    wanted = {"name": name, "department_id": department_id, "location_id": location_id}
    if gateway is None:
        gateway = Gateway(gateway_id=gateway_id, enabled=True, created_at=now, updated_at=now, **wanted)
        session.add(gateway)
        session.flush()
        audit.record(session, actor=who, action="gateway.create", entity="gateway",
                     entity_id=gateway_id, after=wanted, clock=clock)
        return gateway
    before = {k: getattr(gateway, k) for k in wanted}
    old, new = audit.changes(before, wanted)
    if new:
        for key, value in new.items():
            setattr(gateway, key, value)
        gateway.updated_at = now
        session.flush()
        audit.record(session, actor=who, action="gateway.update", entity="gateway",
                     entity_id=gateway_id, before=old, after=new, clock=clock)
    return gateway


def set_gateway_enabled(session: Session, gateway_id: str, enabled: bool, *, actor: Actor | None,
                        clock: Clock | None = None) -> Gateway:
    """Enable or disable a gateway (a disabled gateway's data is refused by ingest)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "gateway.manage")
    gateway = get_gateway(session, gateway_id, actor=who)
    if gateway.enabled != enabled:
        gateway.enabled = enabled
        gateway.updated_at = utc_now(clock)
        session.flush()
        audit.record(session, actor=who, action="gateway.enable" if enabled else "gateway.disable",
                     entity="gateway", entity_id=gateway_id, before={"enabled": not enabled},
                     after={"enabled": enabled}, clock=clock)
    return gateway


def upsert_channel(session: Session, *, gateway_id: str, channel_id: str, metric: str,
                   unit: str = "", driver: str = "", interval_s: float | None = None,
                   actor: Actor | None, clock: Clock | None = None) -> Channel:
    """Create a channel on a gateway, or update its description; return it."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "gateway.manage")
    gateway = get_gateway(session, gateway_id, actor=who)
    if not isinstance(channel_id, str) or not CHANNEL_ID_RE.match(channel_id):
        raise InvalidInput(N_("channel_id: must match %(pattern)s, got %(channel_id)r"),
                           pattern=CHANNEL_ID_RE.pattern, channel_id=channel_id)
    if interval_s is not None and not (isinstance(interval_s, (int, float)) and interval_s > 0):
        raise InvalidInput(N_("interval_s: must be a positive number of seconds, got %(interval_s)r"),
                           interval_s=interval_s)
    wanted = {"metric": METRIC("metric", metric), "unit": text(32)("unit", unit),
              "driver": text(64)("driver", driver),
              "interval_s": None if interval_s is None else float(interval_s)}
    channel = session.scalar(select(Channel).where(Channel.gateway_pk == gateway.id,
                                                   Channel.channel_id == channel_id))
    if channel is None:
        channel = Channel(gateway_pk=gateway.id, channel_id=channel_id, created_at=utc_now(clock),
                          **wanted)
        session.add(channel)
        session.flush()
        audit.record(session, actor=who, action="channel.create", entity="channel",
                     entity_id=f"{gateway_id}/{channel_id}", after=wanted, clock=clock)
        return channel
    old, new = audit.changes({k: getattr(channel, k) for k in wanted}, wanted)
    if new:
        for key, value in new.items():
            setattr(channel, key, value)
        session.flush()
        audit.record(session, actor=who, action="channel.update", entity="channel",
                     entity_id=f"{gateway_id}/{channel_id}", before=old, after=new, clock=clock)
    return channel


# ------------------------------------------------------------------ binding


def bind_channel(session: Session, *, gateway_id: str, channel_id: str, asset_tag: str,
                 metric: str | None = None, valid_from: datetime | None = None,
                 valid_to: datetime | None = None, actor: Actor | None,
                 clock: Clock | None = None) -> ChannelBinding:
    """Bind a channel to an asset from ``valid_from`` (default now) until ``valid_to``.

    An open binding that started earlier is closed at ``valid_from``. Any other overlap with
    the channel's history is refused: history is corrected explicitly, never overwritten.
    """
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "binding.manage")
    gateway = get_gateway(session, gateway_id, actor=who)
    asset = get_asset(session, asset_tag, actor=who)
    channel = _channel_to_bind(session, gateway, channel_id, metric, who, clock)
    start = valid_from or utc_now(clock)
    _check_aware("valid_from", start)
    if valid_to is not None:
        _check_aware("valid_to", valid_to)
        if valid_to <= start:
            raise InvalidInput(N_("valid_to: must be after valid_from (%(start)s)"), start=start.isoformat())
    metric = METRIC("metric", metric or channel.metric)
    where = f"{gateway_id}/{channel_id}"

    open_binding = session.scalar(select(ChannelBinding).where(
        ChannelBinding.channel_pk == channel.id, ChannelBinding.valid_to.is_(None)))
    if open_binding is not None:
        if valid_to is not None and valid_to <= open_binding.valid_from:
            open_binding = None  # a closed interval entirely before the open one: no closing
        elif open_binding.valid_from >= start:
            raise InvalidInput(N_("valid_from: channel %(where)s is bound to %(tag)s from %(valid_from)s; a new "
                                  "binding must start after that"),
                               where=where, tag=open_binding.asset.tag, valid_from=open_binding.valid_from.isoformat())
    end = valid_to
    overlap = session.scalar(select(ChannelBinding).where(
        ChannelBinding.channel_pk == channel.id,
        ChannelBinding.id != (open_binding.id if open_binding else -1),
        ChannelBinding.valid_from < (end if end is not None else datetime.max.replace(tzinfo=start.tzinfo)),
        or_(ChannelBinding.valid_to.is_(None), ChannelBinding.valid_to > start),
    ).limit(1))
    if overlap is not None:
        until = overlap.valid_to.isoformat() if overlap.valid_to else "now"
        raise InvalidInput(N_("valid_from: channel %(where)s was bound to %(tag)s from %(valid_from)s to %(until)s; "
                              "bindings must not overlap"),
                           where=where, tag=overlap.asset.tag, valid_from=overlap.valid_from.isoformat(), until=until)
    if open_binding is not None:
        _close(session, open_binding, start, who, clock)

    binding = ChannelBinding(channel_pk=channel.id, asset_id=asset.id, metric=metric,
                             valid_from=start, valid_to=end, created_at=utc_now(clock))
    session.add(binding)
    session.flush()
    audit.record(session, actor=who, action="binding.create", entity="channel", entity_id=where,
                 after=binding_snapshot(binding), clock=clock)
    return binding


def _channel_to_bind(session: Session, gateway: Gateway, channel_id: str, metric: str | None,
                     who: Actor, clock: Clock) -> Channel:
    """Return the channel, recording it first when the hub has none yet: a gateway configured on
    site (or by its enrollment config) sends channels nobody registered, and binding one is how
    a person says what it measures."""
    channel = session.scalar(select(Channel).where(Channel.gateway_pk == gateway.id,
                                                   Channel.channel_id == channel_id))
    if channel is not None:
        return channel
    if not isinstance(channel_id, str) or not CHANNEL_ID_RE.match(channel_id):
        raise InvalidInput(N_("channel_id: must match %(pattern)s, got %(channel_id)r"),
                           pattern=CHANNEL_ID_RE.pattern, channel_id=channel_id)
    if not metric or metric == UNBOUND_METRIC:
        raise InvalidInput(N_("metric: channel %(gateway_id)s/%(channel_id)s is new to the hub; say what it "
                              "measures (e.g. temperature)"), gateway_id=gateway.gateway_id, channel_id=channel_id)
    channel = Channel(gateway_pk=gateway.id, channel_id=channel_id, metric=METRIC("metric", metric),
                      unit="", driver="", interval_s=None, created_at=utc_now(clock))
    session.add(channel)
    session.flush()
    audit.record(session, actor=who, action="channel.create", entity="channel",
                 entity_id=f"{gateway.gateway_id}/{channel_id}", after={"metric": channel.metric,
                                                                      "registered_by": "binding"}, clock=clock)
    return channel


def unbind_channel(session: Session, *, gateway_id: str, channel_id: str,
                   at: datetime | None = None, actor: Actor | None,
                   clock: Clock | None = None) -> ChannelBinding | None:
    """Close the channel's open binding at ``at`` (default now); return it, or None if unbound."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "binding.manage")
    gateway = get_gateway(session, gateway_id, actor=who)
    channel = get_channel(session, gateway.gateway_id, channel_id)
    open_binding = session.scalar(select(ChannelBinding).where(
        ChannelBinding.channel_pk == channel.id, ChannelBinding.valid_to.is_(None)))
    if open_binding is None:
        return None
    end = at or utc_now(clock)
    _check_aware("at", end)
    if end <= open_binding.valid_from:
        raise InvalidInput(N_("at: must be after the binding's start %(valid_from)s"),
                           valid_from=open_binding.valid_from.isoformat())
    _close(session, open_binding, end, who, clock)
    return open_binding


def _close(session: Session, binding: ChannelBinding, end: datetime, who: Actor, clock: Clock) -> None:
    binding.valid_to = end
    session.flush()
    audit.record(session, actor=who, action="binding.close", entity="channel",
                 entity_id=f"{binding.channel.gateway.gateway_id}/{binding.channel.channel_id}",
                 before={"valid_to": None}, after=binding_snapshot(binding), clock=clock)


def _check_aware(name: str, moment: datetime) -> None:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidInput(N_("%(field)s: must be a timezone-aware date and time, got %(moment)r"),
                           field=name, moment=moment)


# ------------------------------------------------------------------ status from the wire


def record_status(session: Session, *, gateway_id: str, state: str, seen_at: datetime,
                  boot_id: str | None = None, buffer_depth: int | None = None,
                  software_version: str | None = None) -> Gateway:
    """Store what a gateway's status says in ingest's columns of its link (not audited per message).

    For tools and imports that learn a gateway's status outside ingest (which writes the same
    columns itself, :mod:`wardlink.hub.ingest.gateways`). A gateway that was never registered is
    created, with an audit row, so an unexpected device shows up in the UI instead of being
    silently ignored. Return the gateway.
    """
    choice(GATEWAY_STATUSES)("state", state)
    _check_aware("seen_at", seen_at)
    gateway = find_gateway(session, gateway_id)
    if gateway is None:
        gateway = register_gateway(session, gateway_id=gateway_id, actor=Actor.system("ingest"))
    seen_ms = to_ms(seen_at)
    link = session.get(GatewayLink, gateway_id)
    if link is None:
        link = GatewayLink(gateway=gateway_id)
        session.add(link)
    elif link.last_seen_ms is not None and seen_ms < link.last_seen_ms:
        return gateway  # an older retained or replayed status must not overwrite a newer one
    link.state, link.state_received_ms, link.last_seen_ms = state, seen_ms, seen_ms
    if boot_id is not None:
        link.status_boot = boot_id
    if buffer_depth is not None:
        link.buffer_depth = buffer_depth
    if software_version is not None:
        link.version = software_version
    session.flush()
    return gateway


def get_link(session: Session, gateway_id: str) -> GatewayLink | None:
    """Return the link row of the gateway known on the wire as ``gateway_id``, or None (internal use)."""
    return session.get(GatewayLink, gateway_id)


def channels_with_bindings(session: Session, gateway: Gateway,
                           moment: datetime) -> list[tuple[Channel, ChannelBinding | None]]:
    """Return each channel of ``gateway`` with its binding at ``moment`` (or None)."""
    current = {b.channel_pk: b for b in bindings_at(session, moment, gateway_pk=gateway.id)}
    channels = session.scalars(select(Channel).where(Channel.gateway_pk == gateway.id)
                               .order_by(Channel.channel_id))
    return [(c, current.get(c.id)) for c in channels]


def assets_for_binding(session: Session, *, actor: Actor | None) -> list[Asset]:
    """Return the assets a channel may be bound to by ``actor``, by tag."""
    who = resolve_actor(actor)
    stmt = select(Asset).where(Asset.equipment_status != "retired").order_by(Asset.tag)
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Asset.department_id == scope)
    return list(session.scalars(stmt))


# ------------------------------------------------------------------ link state


def stall_after(intervals: Iterable[float | None], minimum_s: float = STALL_MIN_S) -> timedelta:
    """Return how long an online gateway may stay silent before it counts as stalled.

    A healthy gateway is heard at least every ``min(its shortest channel interval,
    STATUS_REFRESH_S)`` (a telemetry batch, or its status refreshed with its health report);
    it is stalled after :data:`STALL_GAPS` such gaps, and never sooner than ``minimum_s``.
    """
    gap = min([STATUS_REFRESH_S, *(float(i) for i in intervals if i)])
    return timedelta(seconds=max(float(minimum_s), STALL_GAPS * gap))


@dataclass(frozen=True)
class Link:
    """The hub's judgement of a gateway's link: what it says, and whether it is really there."""

    state: str  # online | stalled | offline | unknown
    reported: str  # what its newest status (or Last Will) says
    last_heard: datetime | None
    stall_after: timedelta

    @property
    def stalled_since(self) -> datetime | None:
        """Return since when a stalled gateway has been silent (its last word), else None."""
        return self.last_heard if self.state == "stalled" else None


def judge_link(reported: str | None, last_heard: datetime | None, now: datetime,
               after: timedelta, *, hub_deaf: bool = False) -> Link:
    """Return the link state of a gateway: ``stalled`` when its status says online but nothing
    (telemetry, events, status) has been heard from it for longer than ``after``.

    A frozen gateway process keeps its broker connection open until the broker's keepalive
    check fires the Last Will (never, on a broker that does not check), and its retained status
    keeps saying online: silence is the only sign. But silence means nothing while the hub
    itself hears nothing (``hub_deaf``, see :func:`ingest_deaf`): then no gateway is called
    stalled, and the ingest health says what is wrong. This is the one place that judgement is
    made; the UI, the JSON API and the ``gateway_offline`` rule all ask it.
    """
    reported = reported or "unknown"
    state = reported
    if reported == "online" and not hub_deaf and last_heard is not None and now - last_heard > after:
        state = "stalled"
    return Link(state, reported, last_heard, after)


def ingest_deaf(engine: Engine, now: datetime, within: timedelta) -> bool:
    """Return True when ingest workers are known but none hears gateways now.

    A worker hears when it is connected, refreshed its row within ``within``, and has not been
    retrying a write for longer than that (its gateway records are not committed meanwhile).
    False when no worker ever ran against this database (nothing to judge by), or its table
    cannot be read.
    """
    from wardlink.hub.db.models.ingest import workers

    try:
        with engine.connect() as conn:
            rows = conn.execute(select(workers.c.connected, workers.c.updated_ms,
                                       workers.c.retrying_since_ms)).all()
    except SQLAlchemyError:
        return False
    now_ms, limit = to_ms(now), within.total_seconds() * 1000
    return bool(rows) and not any(
        connected and now_ms - updated <= limit and (retrying is None or now_ms - retrying <= limit)
        for connected, updated, retrying in rows)


def heard_at(engine: Engine) -> dict[str, datetime]:
    """Return when the hub last heard each gateway (any message), per the ingest workers' records.

    Empty when ingest never ran against this database. ``engine`` must not be the engine of a
    SQLite write transaction held by the caller.
    """
    try:
        return {r.gateway: from_ms(r.last_seen_ms) for r in wire_records(engine) if r.last_seen_ms is not None}
    except SQLAlchemyError:
        return {}


@dataclass(frozen=True)
class GatewayState:
    """What is known about a gateway's link (its ``gateway_links`` row, as ingest wrote it).

    ``status`` is the judged state (``online``, ``stalled``, ``offline``, ``unknown``);
    ``reported_status`` is what the gateway's newest status or Last Will says.
    """

    status: str
    last_seen_at: datetime | None
    buffer_depth: int | None
    software_version: str | None
    boot_id: str | None
    uptime_s: float | None = None
    restarts: int | None = None
    missing_batches: int | None = None
    reported_status: str | None = None
    stalled_since: datetime | None = None
    stall_after_s: float | None = None


UNKNOWN = GatewayState("unknown", None, None, None, None)


def _record_state(record) -> GatewayState:
    return GatewayState(
        status=record.state or "unknown",
        last_seen_at=from_ms(record.last_seen_ms) if record.last_seen_ms is not None else None,
        buffer_depth=record.buffer_depth, software_version=record.version,
        boot_id=record.boot or record.status_boot, uptime_s=record.uptime_s,
        restarts=record.restarts, missing_batches=record.missing_batches)


def _channel_intervals(engine: Engine, gateways: list[Gateway]) -> dict[int, list[float | None]]:
    """Return the declared channel intervals of each gateway (by primary key), read on ``engine``."""
    intervals: dict[int, list[float | None]] = {gw.id: [] for gw in gateways}
    try:
        with engine.connect() as conn:
            for pk, interval in conn.execute(select(Channel.gateway_pk, Channel.interval_s)
                                             .where(Channel.gateway_pk.in_(list(intervals)))):
                intervals[pk].append(interval)
    except SQLAlchemyError:
        pass  # judged on the status refresh alone
    return intervals


def _judged(state: GatewayState, intervals: list[float | None], now: datetime, minimum_s: float,
            deaf: bool) -> GatewayState:
    link = judge_link(state.status, state.last_seen_at, now, stall_after(intervals, minimum_s), hub_deaf=deaf)
    return replace(state, status=link.state, reported_status=link.reported, stalled_since=link.stalled_since,
                   stall_after_s=link.stall_after.total_seconds())


def gateway_states(engine: Engine, gateways: list[Gateway], *, now: datetime,
                   stall_min_s: float = STALL_MIN_S) -> dict[str, GatewayState]:
    """Return each gateway's link state from its ``gateway_links`` row (``unknown`` without one).

    An online gateway silent for longer than its :func:`stall_after` at ``now`` is ``stalled``.
    ``engine`` must not be the engine of a SQLite write transaction held by the caller (use
    the plain engine).
    """
    if not gateways:
        return {}
    try:
        records = {r.gateway: r for r in wire_records(engine)}
    except SQLAlchemyError:
        records = {}
    states = {gw.gateway_id: _record_state(records[gw.gateway_id]) if gw.gateway_id in records else UNKNOWN
              for gw in gateways}
    intervals = _channel_intervals(engine, gateways)
    deaf = ingest_deaf(engine, now, timedelta(seconds=stall_min_s))
    return {gw.gateway_id: _judged(states[gw.gateway_id], intervals[gw.id], now, stall_min_s, deaf)
            for gw in gateways}
