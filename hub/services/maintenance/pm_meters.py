"""Asset meters for meter-based maintenance: run-hours from telemetry and readings people enter.

Telemetry counts running time from the day a sensor was fitted (``asset_meters``, kept by
the rules engine); a device's own counter (a ventilator's operating hours, a steriliser's
cycle count) says more. A reading entered by a person is the reference: the current value
is the newest reading plus the running time telemetry has counted since it was entered.
Without a reading, the telemetry meter alone counts; without either, the value is unknown.
Telemetry meters hold time, so they only ever add hours.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset, MeterReading
from wardlink.hub.db.models.rules import AssetMeter
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets.register import get_asset
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import text
from wardlink.clock import Clock

METER_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Largest meter value accepted (a hundred years of hours is far beyond any device).
MAX_METER_VALUE = 1e9


def meter_name(name: str, value: Any) -> str:
    """Parse a meter name such as run_hours or cycles."""
    if not isinstance(value, str) or not METER_RE.match(value):
        raise InvalidInput(N_("%(field)s: must be a meter name of a-z, 0-9 and _ starting with a letter (e.g. "
                              "run_hours, cycles), got %(value)r"), field=name, value=value)
    return value


def meter_value(name: str, value: Any) -> float:
    """Parse a finite, non-negative meter value."""
    if isinstance(value, bool):
        raise InvalidInput(N_("%(field)s: must be a number, got %(value)r"), field=name, value=value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(N_("%(field)s: must be a number, got %(value)r"), field=name, value=value) from None
    if not math.isfinite(number) or not 0 <= number <= MAX_METER_VALUE:
        raise InvalidInput(N_("%(field)s: must be between 0 and %(max_meter_value)s, got %(value)r"),
                           field=name, max_meter_value=format(MAX_METER_VALUE, 'g'), value=value)
    return number


def _telemetry_seconds(session: Session, asset_id: int, meter: str) -> float | None:
    row = session.get(AssetMeter, (asset_id, meter))
    return None if row is None else row.seconds


def latest_reading(session: Session, asset_id: int, meter: str) -> MeterReading | None:
    """Return the newest reading a person entered for an asset's meter."""
    return session.scalar(select(MeterReading).where(
        MeterReading.asset_id == asset_id, MeterReading.meter == meter,
    ).order_by(MeterReading.read_at.desc(), MeterReading.id.desc()).limit(1))


def current_value(session: Session, asset_id: int, meter: str) -> float | None:
    """Return an asset's meter now: the newest reading plus telemetry since, or None if unknown."""
    telemetry = _telemetry_seconds(session, asset_id, meter)
    reading = latest_reading(session, asset_id, meter)
    if reading is None:
        return None if telemetry is None else telemetry / 3600.0
    if telemetry is None or reading.telemetry_seconds is None:
        return reading.value
    return reading.value + max(0.0, telemetry - reading.telemetry_seconds) / 3600.0


def reading_snapshot(reading: MeterReading) -> dict:
    """Return the audited fields of a reading."""
    return {"meter": reading.meter, "value": reading.value, "read_at": reading.read_at,
            "work_order_id": reading.work_order_id, "note": reading.note}


def store_reading(session: Session, asset: Asset, *, meter: str, value: Any, note: str = "",
                  work_order_id: int | None = None, actor: Actor, clock: Clock) -> MeterReading:
    """Store and audit a reading for an asset the caller has already checked access to."""
    meter = meter_name("meter", meter)
    reading = MeterReading(asset_id=asset.id, meter=meter, value=meter_value("value", value),
                           read_at=utc_now(clock), work_order_id=work_order_id,
                           telemetry_seconds=_telemetry_seconds(session, asset.id, meter),
                           entered_by=actor.username[:100], note=text(2000)("note", note))
    session.add(reading)
    session.flush()
    audit.record(session, actor=actor, action="meter.read", entity="asset", entity_id=asset.tag,
                 after=reading_snapshot(reading), clock=clock)
    return reading


def record_reading(session: Session, asset_tag: str, *, meter: str, value: Any, note: str = "",
                   actor: Actor | None, clock: Clock | None = None) -> MeterReading:
    """Record a meter value read off a device and return it."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "pm.record")
    asset = get_asset(session, asset_tag, actor=who)
    return store_reading(session, asset, meter=meter, value=value, note=note, actor=who, clock=clock)


def asset_meters(session: Session, asset_tag: str, *, meter: str | None = None, actor: Actor | None,
                 limit: int = 100) -> tuple[Asset, dict[str, float | None], list[MeterReading]]:
    """Return an asset, the current value of each of its meters, and its readings, newest first."""
    who = resolve_actor(actor)
    require(who, "pm.view")
    asset = get_asset(session, asset_tag, actor=who)
    if meter is not None:
        meter = meter_name("meter", meter)
    names = set(session.scalars(select(AssetMeter.meter).where(AssetMeter.asset_id == asset.id)))
    names |= set(session.scalars(select(MeterReading.meter).where(MeterReading.asset_id == asset.id)))
    if meter is not None:
        names &= {meter}
    current = {name: current_value(session, asset.id, name) for name in sorted(names)}
    stmt = select(MeterReading).where(MeterReading.asset_id == asset.id)
    if meter is not None:
        stmt = stmt.where(MeterReading.meter == meter)
    readings = list(session.scalars(stmt.order_by(MeterReading.read_at.desc(), MeterReading.id.desc())
                                    .limit(limit)))
    return asset, current, readings


#: The meter telemetry feeds (running time counted by the rules engine), offered for every asset.
TELEMETRY_METER = "run_hours"


def meter_choices(session: Session, asset_id: int | None = None) -> dict[str, float | None]:
    """Return the meters a plan may use, each with its current value on ``asset_id`` (None when
    unknown or no asset is given): the asset's telemetry-fed meters and the meters read off it
    (every asset's when none is given), and always :data:`TELEMETRY_METER`."""
    telemetry = select(AssetMeter.meter).distinct()
    readings = select(MeterReading.meter).distinct()
    if asset_id is not None:
        telemetry = telemetry.where(AssetMeter.asset_id == asset_id)
        readings = readings.where(MeterReading.asset_id == asset_id)
    names = {TELEMETRY_METER} | set(session.scalars(telemetry)) | set(session.scalars(readings))
    return {name: current_value(session, asset_id, name) if asset_id is not None else None
            for name in sorted(names)}
