"""What a channel's chart shows: the period fitted to the data, and a digital input's totals.

A digital input (unit ``state``: a door, a button) holds 0 or 1. Its chart is a step chart
and its summary says how long it was at level 1 (open / on) within the period, and how
often it went there. The level a reading reports lasts until the next reading (inputs often
report only on change); the level at the start of the period is the last one reported before
it. Time before any known level is not counted either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

#: The periods a chart offers, in milliseconds, shortest first.
SPANS_MS: dict[str, int] = {"1h": 3_600_000, "6h": 21_600_000, "24h": 86_400_000, "7d": 604_800_000}
#: The period shown when the data allows it.
DEFAULT_SPAN = "6h"
#: How far back the level at the start of a period is looked for.
LEVEL_LOOKBACK_MS = 86_400_000
#: Longest period summed from raw readings; longer ones use hourly windows (their mean level).
MAX_RAW_SUMMARY_MS = 86_400_000
SUMMARY_WINDOW_MS = 3_600_000


def fit_span(now_ms: int, newest_ms: int | None, bound_from_ms: int | None) -> str:
    """Return the period a chart opens on: the default, unless the data says otherwise.

    The newest reading must be inside the period (a sensor silent for two days opens on 7 d,
    not on an empty 6 h); a channel bound an hour ago opens on 1 h rather than a mostly
    empty 6 h.
    """
    names = list(SPANS_MS)
    wanted = DEFAULT_SPAN
    if bound_from_ms is not None:
        age = now_ms - bound_from_ms
        wanted = next((n for n in names if SPANS_MS[n] >= age), names[-1])
        if SPANS_MS[wanted] > SPANS_MS[DEFAULT_SPAN]:
            wanted = DEFAULT_SPAN
    if newest_ms is not None:
        age = now_ms - newest_ms
        needed = next((n for n in names if SPANS_MS[n] > age), names[-1])
        if SPANS_MS[needed] > SPANS_MS[wanted]:
            wanted = needed
    return wanted


@dataclass(frozen=True)
class StateSummary:
    """How long a digital input spent at each level within a period."""

    start_ms: int
    end_ms: int
    on_ms: int  # at level 1 (open / on)
    off_ms: int  # at level 0
    openings: int | None  # changes from 0 to 1 within the period (None: not counted)

    @property
    def unknown_ms(self) -> int:
        """Return the time no level was known for (before the first reading)."""
        return self.end_ms - self.start_ms - self.on_ms - self.off_ms

    def to_json(self) -> dict:
        """Return the API form."""
        return {"on_ms": self.on_ms, "off_ms": self.off_ms, "unknown_ms": self.unknown_ms,
                "openings": self.openings}


def time_in_state(readings: Iterable[tuple[int, float | None]], start_ms: int, end_ms: int, *,
                  level_before: float | None = None) -> StateSummary:
    """Sum the time at each level over ``[start_ms, end_ms)`` from ``(ts_ms, value)`` readings.

    ``level_before`` is the level reported last before ``start_ms`` (None: unknown). Readings
    without a value (failed reads) leave the level as it was.
    """
    on = off = openings = 0
    level = None if level_before is None else bool(level_before)
    since = start_ms
    for ts, value in sorted((r for r in readings if start_ms <= r[0] < end_ms), key=lambda r: r[0]):
        if value is None:
            continue
        if level is True:
            on += ts - since
        elif level is False:
            off += ts - since
        new = bool(value)
        openings += new and level is False
        level, since = new, ts
    if level is True:
        on += end_ms - since
    elif level is False:
        off += end_ms - since
    return StateSummary(start_ms, end_ms, on, off, openings)


class _Ranges(Protocol):
    def range(self, *, gateway: str, channel: str, start_ms: int, end_ms: int,
              window_ms: int | None = None, measurement: str | None = None) -> list: ...


def state_summary(telemetry: _Ranges, *, gateway: str, channel: str, start_ms: int, end_ms: int,
                  measurement: str | None = None, known_from_ms: int | None = None) -> StateSummary:
    """Return a digital channel's :class:`StateSummary` from the telemetry store.

    Up to a day is summed from the raw readings; longer periods from hourly windows, each
    counted at its mean level (exact for inputs sampled at a steady rate), without counting
    openings. ``known_from_ms``
    (the start of the channel's binding) keeps older readings out.
    """
    floor = known_from_ms if known_from_ms is not None else start_ms - LEVEL_LOOKBACK_MS
    start_ms = max(start_ms, known_from_ms or start_ms)
    if end_ms - start_ms <= MAX_RAW_SUMMARY_MS:
        before = telemetry.range(gateway=gateway, channel=channel, measurement=measurement,
                                 start_ms=max(floor, start_ms - LEVEL_LOOKBACK_MS), end_ms=start_ms)
        known = [r.value for r in before if r.value is not None]
        rows = telemetry.range(gateway=gateway, channel=channel, measurement=measurement,
                               start_ms=start_ms, end_ms=end_ms)
        return time_in_state([(r.ts_ms, r.value) for r in rows], start_ms, end_ms,
                             level_before=known[-1] if known else None)
    on = off = 0
    rows = telemetry.range(gateway=gateway, channel=channel, measurement=measurement,
                           start_ms=start_ms, end_ms=end_ms, window_ms=SUMMARY_WINDOW_MS)
    for row in rows:
        if row.value is None:
            continue
        span = min(SUMMARY_WINDOW_MS, end_ms - max(row.ts_ms, start_ms))
        on += round(span * row.value)
        off += span - round(span * row.value)
    return StateSummary(start_ms, end_ms, on, off, None)
