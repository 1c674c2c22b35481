"""When a planned service falls due (pure functions, no database).

- **calendar** plans keep a fixed grid counted from the anchor date: the n-th service is due
  ``anchor + (n + 1) * interval``, whenever the previous one was done, so a late service
  never pushes the next one back and compliance windows keep their meaning. Month steps
  are counted from the anchor each time (31 Jan -> 28 Feb -> 31 Mar), so they never drift.
- **meter** plans count from the meter reading at the last completed service (or the
  anchor reading): due at ``last reading + meter interval``.
- **whichever_first** plans are due at ``last completion date + interval`` or at
  ``last reading + meter interval``, whichever comes first; both restart from the service.

A service is generated ``lead_days`` before its due date, or once the meter is within
``meter_lead`` of its due reading. Meter and whichever-first plans wait for the previous
service to be completed, because the next due point depends on it. A calendar service whose
window closed before the generator saw it, when the next one is already up, is recorded as
skipped (it counts as missed) instead of opening a work order nobody can do on time.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from wardlink.hub.services.maintenance.compliance import window_days

#: The most services one plan may skip in one call, so a daily plan restored after years
#: catches up over several runs instead of one giant transaction.
MAX_CATCH_UP = 400


def add_months(start: date, months: int) -> date:
    """Return ``start`` moved by ``months``, clamped to the end of shorter months."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def shift(start: date, count: int, unit: str, times: int = 1) -> date:
    """Return ``start`` moved by ``times`` intervals of ``count`` ``unit``s."""
    steps = count * times
    if unit == "day":
        return start + timedelta(days=steps)
    if unit == "week":
        return start + timedelta(weeks=steps)
    if unit == "month":
        return add_months(start, steps)
    if unit == "year":
        return add_months(start, 12 * steps)
    raise ValueError(f"unknown interval unit {unit!r}")


@dataclass(frozen=True)
class Schedule:
    """The timing fields of a plan."""

    trigger: str
    anchor_date: date
    interval_count: int | None = None
    interval_unit: str | None = None
    meter_interval: float | None = None
    anchor_meter: float | None = None
    lead_days: int = 14
    meter_lead: float = 0.0

    @property
    def window_days(self) -> int:
        """Return the compliance window of this plan's calendar interval."""
        return window_days(self.interval_count, self.interval_unit)

    def calendar_due(self, seq: int) -> date:
        """Return the due date of the ``seq``-th service of a calendar plan (0 = first)."""
        return shift(self.anchor_date, self.interval_count, self.interval_unit, seq + 1)


@dataclass(frozen=True)
class Previous:
    """The latest service generated for a plan on an asset."""

    seq: int
    state: str  # open, completed or skipped
    due_date: date | None = None
    due_meter: float | None = None
    completed_on: date | None = None
    completion_meter: float | None = None


@dataclass(frozen=True)
class Due:
    """A service to generate now."""

    seq: int
    due_date: date | None
    due_meter: float | None
    skipped: bool = False


def first_calendar_seq(schedule: Schedule, start_on: date) -> int:
    """Return the first service of a calendar plan whose window has not closed by ``start_on``."""
    seq, window = 0, schedule.window_days
    while schedule.calendar_due(seq) + timedelta(days=window) < start_on:
        seq += 1
    return seq


@dataclass(frozen=True)
class Upcoming:
    """The next service of a plan on an asset, due or not."""

    seq: int
    due_date: date | None
    due_meter: float | None


def upcoming(schedule: Schedule, last: Previous | None, *, start_on: date) -> Upcoming | None:
    """Return the service that follows ``last``; None while a floating plan's last one is open.

    ``start_on`` is the day the plan started: calendar services whose window had closed by
    then belong to no one and are never generated.
    """
    if schedule.trigger == "calendar":
        if last is None:
            seq = first_calendar_seq(schedule, start_on)
        else:
            seq = last.seq + 1
            # After an interval change the new grid may fall behind the last service.
            while last.due_date is not None and schedule.calendar_due(seq) <= last.due_date:
                seq += 1
        return Upcoming(seq, schedule.calendar_due(seq), None)
    if last is not None and last.state == "open":
        return None
    if last is None:
        seq, base_date, base_meter = 0, schedule.anchor_date, schedule.anchor_meter or 0.0
    else:
        seq = last.seq + 1
        base_date = last.completed_on or last.due_date or schedule.anchor_date
        # Without a reading at the service, assume it was done at its due reading.
        base_meter = next((m for m in (last.completion_meter, last.due_meter, schedule.anchor_meter)
                           if m is not None), 0.0)
    due_date = None
    if schedule.trigger == "whichever_first":
        due_date = shift(base_date, schedule.interval_count, schedule.interval_unit)
    return Upcoming(seq, due_date, base_meter + schedule.meter_interval)


def next_due(schedule: Schedule, last: Previous | None, *, today: date, meter_now: float | None,
             start_on: date) -> Due | None:
    """Return the service to generate now after ``last``, or None when nothing is due yet."""
    nxt = upcoming(schedule, last, start_on=start_on)
    if nxt is None:
        return None
    lead = timedelta(days=schedule.lead_days)
    if schedule.trigger == "calendar":
        if today < nxt.due_date - lead:
            return None
        window_closed = today > nxt.due_date + timedelta(days=schedule.window_days)
        next_up = today >= schedule.calendar_due(nxt.seq + 1) - lead
        return Due(nxt.seq, nxt.due_date, None, skipped=window_closed and next_up)
    by_date = nxt.due_date is not None and today >= nxt.due_date - lead
    by_meter = meter_now is not None and meter_now >= nxt.due_meter - schedule.meter_lead
    return Due(nxt.seq, nxt.due_date, nxt.due_meter) if by_date or by_meter else None
