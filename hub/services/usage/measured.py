"""Measured usage: sessions opened and closed from telemetry, reconciled with scanned ones.

A measure (``usage_measures``, one per category or per asset, the asset's winning) names the
metric of the asset's channel that shows use. :func:`refresh` reads what the telemetry store
received since the last run, finds the stretches of use (:mod:`.measuring`) and turns each one
that lasted ``min_s`` into a ``measured`` session: opened while the stretch runs (the asset is
*in use*), closed when it ends (the asset becomes what its knowledge says).

No time is counted twice. A stretch, or the part of it, that a scanned session covers is not
measured: a measured session is never opened while a scanned one is open, only the uncovered
parts of a stretch are recorded (each still at least ``min_s`` long), and a person who scans an
asset while a measured session runs ends it there (:func:`wardlink.hub.services.usage.sessions.start`).
Running it again over the same readings changes nothing; readings that arrive after a run read
past their time are not read back.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import (Asset, Channel, ChannelBinding, Gateway, UsageMeasure, UsageSession,
                                    UsageTrack)
from wardlink.hub.db.types import from_ms, to_ms, utc_now
from wardlink.hub.db.vocab import USAGE_MEASURE_MODES
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets.register import get_asset
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import key_of
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import choice, parse_fields, text, whole_number
from wardlink.hub.services.usage import knowledge, measuring
from wardlink.hub.services.usage.sessions import open_session, set_state, status_of
from wardlink.clock import Clock

ACTOR = Actor.system("usage")
#: Readings older than this before an asset's first run are not read back.
LOOKBACK_MS = 86_400_000
#: Readings further apart than this many sampling intervals end a stretch (an outage is not use).
GAP_INTERVALS = 3
#: The gap when the channel's interval is unknown.
DEFAULT_GAP_MS = 300_000


class Readings(Protocol):
    """What measuring needs from a telemetry store."""

    def range(self, *, gateway: str, channel: str, start_ms: int, end_ms: int) -> Any:
        """Return the channel's readings in [start_ms, end_ms), each with ``ts_ms`` and ``value``."""


def _threshold(name: str, value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise InvalidInput(N_("%(field)s: must be a number, got %(value)r"), field=name, value=value)
    return number


FIELDS = {"category": text(100), "asset_tag": text(64), "metric": text(64, required=True),
          "mode": choice(USAGE_MEASURE_MODES), "threshold": _threshold, "min_s": whole_number(0, 86_400)}


def create_measure(session: Session, data: Any, *, actor: Actor | None, clock: Clock | None = None) -> UsageMeasure:
    """Add a measure for a category (``category``) or one asset (``asset_tag``). Audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "knowledge.manage")
    fields = parse_fields(FIELDS, data, partial=False)
    if bool(fields["category"]) == bool(fields["asset_tag"]):
        raise InvalidInput(N_("%(field)s: name a category or an asset, not both"), field="category")
    if fields["mode"] == "above" and fields["threshold"] is None:
        raise InvalidInput(N_("%(field)s: is required"), field="threshold")
    asset = get_asset(session, fields["asset_tag"], actor=who) if fields["asset_tag"] else None
    now = utc_now(clock)
    row = UsageMeasure(category=fields["category"], category_key=key_of(fields["category"]),
                       asset_id=asset.id if asset else None, metric=fields["metric"], mode=fields["mode"],
                       threshold=fields["threshold"], min_s=float(fields["min_s"] or 0), enabled=True,
                       created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor=who, action="usage.measure", entity="usage_measure", entity_id=row.id,
                 after={**fields, "id": row.id}, clock=clock)
    return row


@dataclass
class Refreshed:
    """What one run did."""

    assets: int = 0
    readings: int = 0
    opened: int = 0
    closed: int = 0
    recorded: int = 0  # stretches that ended before a run saw them: recorded closed
    skipped: int = 0  # assets without a department: a session needs one

    def as_dict(self) -> dict:
        """Return the run's counts for the scheduler's log."""
        return dict(vars(self))


@dataclass(frozen=True)
class Subject:
    """An asset measured by a measure through one of its channels."""

    asset: Asset
    measure: UsageMeasure
    gateway_id: str
    channel_id: str
    interval_s: float | None


def subjects(session: Session) -> list[Subject]:
    """Return every asset a measure applies to, with the channel bound to it with the measure's metric."""
    measures = list(session.scalars(select(UsageMeasure).where(UsageMeasure.enabled.is_(True))
                                    .order_by(UsageMeasure.id)))
    by_asset = {m.asset_id: m for m in measures if m.asset_id is not None}
    by_category = {m.category_key: m for m in measures if m.asset_id is None}
    if not measures:
        return []
    metrics = {m.metric for m in measures}
    rows = session.execute(
        select(Asset, Gateway.gateway_id, Channel.channel_id, Channel.interval_s, ChannelBinding.metric)
        .join(ChannelBinding, ChannelBinding.asset_id == Asset.id)
        .join(Channel, Channel.id == ChannelBinding.channel_pk)
        .join(Gateway, Gateway.id == Channel.gateway_pk)
        .where(ChannelBinding.valid_to.is_(None), ChannelBinding.metric.in_(metrics))
        .order_by(Asset.id, Gateway.gateway_id, Channel.channel_id))
    found: dict[int, Subject] = {}
    for asset, gateway_id, channel_id, interval_s, metric in rows:
        measure = by_asset.get(asset.id) or by_category.get(key_of(asset.category))
        if measure is not None and measure.metric == metric and asset.id not in found:
            found[asset.id] = Subject(asset, measure, gateway_id, channel_id, interval_s)
    return list(found.values())


def refresh(session: Session, store: Readings, *, clock: Clock) -> Refreshed:
    """Measure every asset a measure applies to up to now: open, close and record measured sessions."""
    result = Refreshed()
    now_ms = round(clock.now() * 1000)
    for subject in subjects(session):
        result.assets += 1
        if subject.asset.department_id is None:
            result.skipped += 1
            continue
        _refresh_one(session, store, subject, now_ms, clock, result)
    return result


def _track_of(session: Session, subject: Subject, now_ms: int, clock: Clock) -> UsageTrack:
    track = session.get(UsageTrack, subject.asset.id, with_for_update=True)
    where = (subject.measure.id, subject.gateway_id, subject.channel_id)
    if track is None:
        track = UsageTrack(asset_id=subject.asset.id, updated_at=utc_now(clock))
        session.add(track)
    elif (track.measure_id, track.gateway_id, track.channel_id) == where:
        return track
    # A new measure or channel starts afresh (an open measured session is closed by its stretch's end).
    track.measure_id, track.gateway_id, track.channel_id = where
    old = json.loads(track.tracking or "{}")
    track.tracking = json.dumps({**measuring.new_state(), "session": old.get("session")})
    track.tracked_until_ms = now_ms - LOOKBACK_MS
    return track


def _refresh_one(session: Session, store: Readings, subject: Subject, now_ms: int, clock: Clock,
                 result: Refreshed) -> None:
    track = _track_of(session, subject, now_ms, clock)
    readings = [(r.ts_ms, r.value) for r in store.range(gateway=subject.gateway_id, channel=subject.channel_id,
                                                         start_ms=track.tracked_until_ms + 1, end_ms=now_ms + 1)]
    result.readings += len(readings)
    interval = subject.interval_s
    gap_ms = round(interval * 1000 * GAP_INTERVALS) if interval else DEFAULT_GAP_MS
    settings = measuring.Settings(subject.measure.mode, subject.measure.threshold, gap_ms)
    state, stretches = measuring.track({**measuring.new_state(), **json.loads(track.tracking or "{}")},
                                       readings, settings)
    for stretch in stretches:
        _account(session, subject, state, stretch.start_ms, stretch.end_ms, False, clock, result)
    if state["since"] is not None:
        _account(session, subject, state, state["since"], state["seen"], True, clock, result)
    elif state.get("session") is not None:  # a new measure or channel: the old stretch is over
        _account(session, subject, state, state["last"] or now_ms, state["last"] or now_ms, False, clock, result)
    track.tracking = json.dumps(state)
    if readings:
        track.tracked_until_ms = readings[-1][0]
    track.updated_at = utc_now(clock)
    session.flush()


def uncovered(session: Session, asset_id: int, start_ms: int, end_ms: int) -> tuple[list[tuple[int, int]], bool]:
    """Return the parts of [start_ms, end_ms] no scanned session of the asset covers, and whether
    the last part reaches ``end_ms`` (an open scanned session covers everything after its start)."""
    scanned = session.scalars(
        select(UsageSession).where(UsageSession.asset_id == asset_id, UsageSession.source == "scanned",
                                   UsageSession.started_at < from_ms(end_ms),
                                   (UsageSession.ended_at.is_(None)) | (UsageSession.ended_at > from_ms(start_ms)))
        .order_by(UsageSession.started_at))
    parts, cursor = [], start_ms
    for row in scanned:
        begins = to_ms(row.started_at)
        ends = to_ms(row.ended_at) if row.ended_at is not None else math.inf
        if begins > cursor:
            parts.append((cursor, min(begins, end_ms)))
        cursor = max(cursor, ends)
        if cursor >= end_ms:
            return parts, False
    parts.append((cursor, end_ms))
    return parts, True


def _account(session: Session, subject: Subject, state: dict, start_ms: int, end_ms: int, running: bool,
             clock: Clock, result: Refreshed) -> None:
    """Turn the stretch [start_ms, end_ms] (``running``: not over yet) into measured sessions."""
    asset, min_ms = subject.asset, subject.measure.min_s * 1000
    open_id = state.get("session")
    if open_id is not None:
        row = session.get(UsageSession, open_id)
        if row is not None and row.ended_at is None:
            if not running:
                _close(session, row, end_ms, clock, result)
                state.update(session=None, counted=None)
            return
        # A person scanned the asset and ended the measured session: what follows is theirs.
        state["session"] = None
        state["counted"] = to_ms(row.ended_at) if row is not None and row.ended_at is not None else None
    begin = max(start_ms, state.get("counted") or start_ms)
    parts, reaches_end = uncovered(session, asset.id, begin, end_ms) if begin < end_ms else ([], False)
    counted = end_ms
    for index, (part_start, part_end) in enumerate(parts):
        last = running and reaches_end and index == len(parts) - 1
        if part_end - part_start < min_ms:
            if last:
                counted = part_start  # it may yet last long enough
            continue
        if last and open_session(session, asset.id) is None:
            state["session"] = _open(session, subject, part_start, clock, result).id
        else:
            _record(session, subject, part_start, part_end, clock, result)
    state["counted"] = counted if running else None


def _new(subject: Subject, start_ms: int) -> UsageSession:
    return UsageSession(asset_id=subject.asset.id, source="measured", department_id=subject.asset.department_id,
                        user_id=None, username=ACTOR.username, reason="", encounter_hash=None,
                        started_at=from_ms(start_ms), ended_by="", override_reason="", override_by="",
                        untrained=False)


def _open(session: Session, subject: Subject, start_ms: int, clock: Clock, result: Refreshed) -> UsageSession:
    row = _new(subject, start_ms)
    session.add(row)
    session.flush()
    set_state(session, subject.asset.id, "in_use", row.id, utc_now(clock))
    audit.record(session, actor=ACTOR, action="usage.measured_start", entity="asset", entity_id=subject.asset.tag,
                 after={"session_id": row.id, "started_at": row.started_at}, clock=clock)
    result.opened += 1
    return row


def _close(session: Session, row: UsageSession, end_ms: int, clock: Clock, result: Refreshed) -> None:
    after = knowledge.for_asset(session, row.asset).return_status
    row.ended_at, row.ended_by, row.return_status = from_ms(end_ms), ACTOR.username, after
    session.flush()
    set_state(session, row.asset_id, after, None, utc_now(clock))
    audit.record(session, actor=ACTOR, action="usage.measured_end", entity="asset", entity_id=row.asset.tag,
                 after={"session_id": row.id, "ended_at": row.ended_at, "return_status": after}, clock=clock)
    result.closed += 1


def _record(session: Session, subject: Subject, start_ms: int, end_ms: int, clock: Clock, result: Refreshed) -> None:
    row = _new(subject, start_ms)
    after = knowledge.for_asset(session, subject.asset).return_status
    row.ended_at, row.ended_by, row.return_status = from_ms(end_ms), ACTOR.username, after
    session.add(row)
    session.flush()
    if open_session(session, subject.asset.id) is None and status_of(session, subject.asset.id) == "available":
        set_state(session, subject.asset.id, after, None, utc_now(clock))
    audit.record(session, actor=ACTOR, action="usage.measured", entity="asset", entity_id=subject.asset.tag,
                 after={"session_id": row.id, "started_at": row.started_at, "ended_at": row.ended_at}, clock=clock)
    result.recorded += 1
