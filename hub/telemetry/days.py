"""Local calendar days as UTC millisecond intervals, daylight-saving changes included."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wardlink.hub.errors import InvalidInput

#: Most days a single daily query may cover (ten years).
MAX_DAYS = 3660


def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name``; raise :class:`InvalidInput` if it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"tz: unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'") from None


def _midnight_ms(day: dt.date, tz: ZoneInfo) -> int:
    # A local midnight that falls in a DST gap does not exist; fold=0 resolves it to the
    # instant the clocks jumped, which is where that day really starts.
    local = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    return int(local.timestamp() * 1000)


def local_days(start_ms: int, end_ms: int, tz: str = "UTC") -> list[tuple[dt.date, int, int]]:
    """Return ``(day, day_start_ms, day_end_ms)`` for each local day overlapping ``[start_ms, end_ms)``.

    Day bounds are clipped to the interval, so the first and last days may be partial. A day
    in which clocks change is 23 or 25 hours long.
    """
    zi = zone(tz)
    if end_ms <= start_ms:
        return []
    first = dt.datetime.fromtimestamp(start_ms / 1000, zi).date()
    last = dt.datetime.fromtimestamp((end_ms - 1) / 1000, zi).date()
    span = (last - first).days + 1
    if span > MAX_DAYS:
        raise InvalidInput(f"end_ms: at most {MAX_DAYS} days per daily query, got {span}")
    days = []
    day = first
    lo = _midnight_ms(day, zi)
    while day <= last:
        nxt = day + dt.timedelta(days=1)
        hi = _midnight_ms(nxt, zi)
        days.append((day, max(lo, start_ms), min(hi, end_ms)))
        day, lo = nxt, hi
    return days
