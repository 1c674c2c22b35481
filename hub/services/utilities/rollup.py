"""Daily use of pulse meters, rolled up from the telemetry store into ``utility_days``.

A pulse meter's gateway channel reports the count of pulses since the gateway's counter
started, sampled on the channel's interval. The pulses of a day are the rises of that count
between consecutive readings, each rise belonging to the day of the reading that reports it:
an interval ``(t0, t1]`` is counted on the local day holding ``t1`` (a reading at midnight
reports the last pulses of the day that ended). A count lower than the one before means the
counter started again (the gateway restarted): the new count is the rise. A day's quantity is
its pulses times the meter's units per pulse.

The scheduler's ``utility_rollup`` job (:func:`roll_up`) recomputes the last
:data:`CATCH_UP_DAYS` closed days of every active pulse meter each time it runs and writes
them in place (one row per meter and day, same value when nothing changed), so readings a
gateway delivers late are counted when they arrive and running it twice changes nothing.
After each day it asks :mod:`.baseline` whether the day was far above its baseline. Days
older than the SQLite store's retention are no longer raw points: roll-ups must run within it
(they run every 15 minutes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import UtilityDay, UtilityMeter
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.people.local_time import zone_named
from wardlink.hub.services.utilities import baseline
from wardlink.hub.services.utilities.meters import pulse_meters
from wardlink.clock import Clock

#: Closed days recomputed by each run of the job.
CATCH_UP_DAYS = 7
#: How far before a day's start to look for the reading its first interval starts from.
LOOKBACK_MS = 6 * 3_600_000
PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class DayCount:
    """What a day of a pulse meter's readings came to."""

    pulses: int
    points: int


def count_day(readings: Iterable[tuple[int, float | None]], start_ms: int, end_ms: int) -> DayCount:
    """Return the pulses counted in ``(start_ms, end_ms]`` from ``(ts_ms, count)`` readings in time
    order (readings before the day give the count its first interval starts from)."""
    previous: float | None = None
    pulses = points = 0
    for ts_ms, value in readings:
        if value is None or ts_ms > end_ms:
            continue
        if ts_ms > start_ms:
            points += 1
            if previous is not None:
                pulses += round(value - previous) if value >= previous else round(value)
        previous = value
    return DayCount(pulses, points)


def day_bounds(day: dt.date, zone: dt.tzinfo) -> tuple[int, int]:
    """Return the UTC milliseconds of local midnight starting and ending ``day``."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def meter_day(store: Any, meter: UtilityMeter, day: dt.date) -> DayCount:
    """Count one local day of a pulse meter from the telemetry store."""
    start_ms, end_ms = day_bounds(day, zone_named(meter.site.timezone))
    assert meter.gateway_id is not None and meter.channel_id is not None  # a pulse meter's binding
    rows = store.range(gateway=meter.gateway_id, channel=meter.channel_id, start_ms=start_ms - LOOKBACK_MS,
                       end_ms=end_ms + 1)
    return count_day(((r.ts_ms, r.value if r.quality != "bad" else None) for r in rows), start_ms, end_ms)


def write_day(session: Session, meter: UtilityMeter, day: dt.date, count: DayCount, *,
              clock: Clock) -> UtilityDay | None:
    """Write (or rewrite) a meter's day; a day without readings and without a row is left out."""
    row = session.scalar(select(UtilityDay).where(UtilityDay.meter_id == meter.id, UtilityDay.day == day)
                         .with_for_update())
    if row is None and count.points == 0:
        return None
    assert meter.units_per_pulse is not None
    quantity = (meter.units_per_pulse * count.pulses).quantize(PLACES)
    if row is None:
        row = UtilityDay(meter_id=meter.id, day=day)
        session.add(row)
    elif (row.quantity, row.pulses, row.points) == (quantity, count.pulses, count.points):
        return row
    row.quantity, row.pulses, row.points, row.rolled_at = quantity, count.pulses, count.points, utc_now(clock)
    session.flush()
    return row


def closed_days(meter: UtilityMeter, clock: Clock, days: int = CATCH_UP_DAYS) -> list[dt.date]:
    """Return the last ``days`` local days at the meter's site that have ended, oldest first."""
    today = utc_now(clock).astimezone(zone_named(meter.site.timezone)).date()
    return [today - dt.timedelta(days=n) for n in range(days, 0, -1)]


def roll_up(session: Session, store: Any, *, clock: Clock, meters: Sequence[UtilityMeter] | None = None,
            days: int = CATCH_UP_DAYS) -> dict[str, int]:
    """Recompute the closed days of every active pulse meter and judge them against their
    baselines; return how many days were written and alerts raised."""
    written = alerts = 0
    for meter in pulse_meters(session) if meters is None else meters:
        for day in closed_days(meter, clock, days):
            row = write_day(session, meter, day, meter_day(store, meter, day), clock=clock)
            if row is None:
                continue
            written += 1
            if baseline.judge(session, meter, row, clock=clock) is not None:
                alerts += 1
    return {"days": written, "alerts": alerts}
