"""Compliance windows and how a scheduled service is judged (pure functions, no database).

A calendar service is on time when it is completed within a window around its due date, as
the Joint Commission applies it to medical equipment maintenance: annual +-30 days,
semi-annual +-20, quarterly +-10. Wardlink adds monthly +-7 days: one working week either
side lets a service that falls on a weekend or holiday move to the neighbouring week, while
consecutive monthly windows stay 16 days apart, so one visit can never count for two months.
Any other interval gets a tenth of its length either side (rounded, at most 30 days): weekly
+-1, daily 0, two-yearly 30.

A service completed before its window opens counts as on time: the interval to the previous
service only got shorter. A meter-based service is on time until the meter has run 10 % of
its interval past the due reading. A whichever-first service must meet both limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

#: Interval in months -> days either side of the due date.
WINDOW_DAYS_BY_MONTHS = {12: 30, 6: 20, 3: 10, 1: 7}
#: The widest window any interval gets.
MAX_WINDOW_DAYS = 30
#: Average length of each interval unit in days, for intervals outside the table.
UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 30.4375, "year": 365.25}
#: Share of a meter interval a service may run past its due reading and still be on time.
METER_TOLERANCE_FRACTION = 0.10

# How a service is judged.
ON_TIME = "on_time"
LATE = "late"
MISSED = "missed"
PENDING = "pending"
JUDGEMENTS = (ON_TIME, LATE, MISSED, PENDING)

# Maintenance status of an asset, worst first (wardlink.hub.db.vocab.MAINTENANCE_STATUSES).
OVERDUE = "overdue"
DUE = "due"
COMPLIANT = "compliant"
_RANK = {COMPLIANT: 0, DUE: 1, OVERDUE: 2}


def window_days(count: int | None, unit: str | None) -> int:
    """Return the days either side of the due date for an interval of ``count`` ``unit``s."""
    if count is None or unit is None:
        return 0
    months = count * 12 if unit == "year" else count if unit == "month" else None
    if months in WINDOW_DAYS_BY_MONTHS:
        return WINDOW_DAYS_BY_MONTHS[months]
    return min(MAX_WINDOW_DAYS, round(count * UNIT_DAYS[unit] / 10))


def past_window(due: date, days: int, today: date) -> bool:
    """Return True when ``today`` is after the window of ``days`` either side of ``due``."""
    return (today - due).days > days


def meter_tolerance(meter_interval: float | None) -> float | None:
    """Return how far past its due reading a meter-based service may run and stay on time."""
    return None if meter_interval is None else meter_interval * METER_TOLERANCE_FRACTION


@dataclass(frozen=True)
class Window:
    """The dates a calendar service counts as on time (both ends included)."""

    due: date
    opens: date
    closes: date

    @classmethod
    def around(cls, due: date, days: int) -> Window:
        """Return the window of ``days`` either side of ``due``."""
        return cls(due, due - timedelta(days=days), due + timedelta(days=days))


@dataclass(frozen=True)
class Target:
    """What a service must meet: a due date with its window, a due meter reading, or both."""

    due_date: date | None
    window_days: int
    due_meter: float | None = None
    tolerance: float | None = None

    @property
    def window(self) -> Window | None:
        """Return the date window, or None for a meter-only service."""
        return None if self.due_date is None else Window.around(self.due_date, self.window_days)

    @property
    def meter_limit(self) -> float | None:
        """Return the last meter reading at which the service is still on time."""
        if self.due_meter is None:
            return None
        return self.due_meter + (self.tolerance or 0.0)

    def is_past(self, today: date, meter_now: float | None) -> bool:
        """Return True when an unfinished service has run past its window or meter limit."""
        limit = self.meter_limit
        return ((self.due_date is not None and past_window(self.due_date, self.window_days, today))
                or (limit is not None and meter_now is not None and meter_now > limit))

    def judge(self, *, completed_on: date | None, completion_meter: float | None,
              today: date, meter_now: float | None) -> str:
        """Return on_time, late, missed (past its limits, not done) or pending (not yet judged)."""
        if completed_on is None:
            return MISSED if self.is_past(today, meter_now) else PENDING
        window, limit = self.window, self.meter_limit
        late = ((window is not None and completed_on > window.closes)
                or (limit is not None and completion_meter is not None and completion_meter > limit))
        return LATE if late else ON_TIME

    def status(self, today: date, meter_now: float | None) -> str:
        """Return the maintenance status an unfinished service gives its asset: due or overdue."""
        return OVERDUE if self.is_past(today, meter_now) else DUE


def worst_status(statuses) -> str:
    """Return the worst of maintenance statuses (compliant when there are none)."""
    return max(statuses, key=_RANK.__getitem__, default=COMPLIANT)


@dataclass
class Tally:
    """Counts of judged services: completion and on-time rates as a JC surveyor reads them."""

    on_time: int = 0
    late: int = 0
    missed: int = 0
    pending: int = 0

    def add(self, judgement: str) -> None:
        """Count one judged service."""
        setattr(self, judgement, getattr(self, judgement) + 1)

    @property
    def judged(self) -> int:
        """Return how many services have a verdict (pending ones do not yet)."""
        return self.on_time + self.late + self.missed

    @property
    def completion_pct(self) -> float | None:
        """Return the share of judged services that were done at all, in percent."""
        return None if not self.judged else round(100.0 * (self.on_time + self.late) / self.judged, 2)

    @property
    def on_time_pct(self) -> float | None:
        """Return the share of judged services done within their window, in percent."""
        return None if not self.judged else round(100.0 * self.on_time / self.judged, 2)

    def as_dict(self) -> dict:
        """Return the counts and rates."""
        return {"on_time": self.on_time, "late": self.late, "missed": self.missed,
                "pending": self.pending, "judged": self.judged,
                "completion_pct": self.completion_pct, "on_time_pct": self.on_time_pct}
