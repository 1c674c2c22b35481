"""Reading a long stretch of the PM calendar: its counts per day, or one page at a time.

A year of a large hospital's plans is some 50,000 services (a 10 MB answer), which neither a
person nor a client reads at once. :func:`day_summary` counts the services of each local day
by status without making one object per service (the UI's year view, :func:`year_view`, shows
those counts); :func:`calendar_page` returns the services
in the calendar's order (by date, worst colour first, then asset tag and plan) a page at a time,
making only the days the page reaches.

A page ends with a :class:`Cursor`: the key of its last service and the instant its statuses
were judged at. The following pages are judged at that same instant, so a service whose colour
changes at midnight while a client walks the pages is neither listed twice nor missed.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor
from wardlink.hub.services.maintenance.pm_calendar import (
    STATUS_RANK, CALENDAR_STATUSES_BY_RANK, Filters, Occurrence, Slot, gather, parse_day, parse_filters, viewer_today)
from wardlink.hub.services.maintenance.pm_standing import CALENDAR_STATUSES

#: Services per page when the caller does not say, and the most one page may hold.
DEFAULT_LIMIT = 500
MAX_LIMIT = 2000
#: Where a service stands in the calendar's order: (due date, rank of its status, asset tag, plan id).
Key = tuple[date, int, str, int]


def key_of(occ: Occurrence) -> Key:
    """Return the position of ``occ`` in the calendar's order."""
    return occ.due_date, STATUS_RANK[occ.status], occ.asset, occ.plan_id


# ------------------------------------------------------------------ counts per day


@dataclass(frozen=True)
class DayCounts:
    """The services due on one day, by status."""

    day: date
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Return how many services are due on the day."""
        return sum(self.counts.values())

    @property
    def worst(self) -> str | None:
        """Return the worst status of the day's services (None when nothing is due)."""
        return next((status for status, _ in sorted(STATUS_RANK.items(), key=lambda item: item[1])
                     if self.counts.get(status)), None)


@dataclass(frozen=True)
class Summary:
    """How many services fall on each day of ``first``..``last``, by status."""

    first: date
    last: date
    days: list[DayCounts]

    @property
    def total(self) -> int:
        """Return how many services the range holds."""
        return sum(d.total for d in self.days)

    @property
    def counts(self) -> dict[str, int]:
        """Return the range's services by status."""
        out = {status: 0 for status in CALENDAR_STATUSES}
        for day in self.days:
            for status, n in day.counts.items():
                out[status] += n
        return out


def day_summary(session: Session, *, actor: Actor | None, first: date, last: date, now: datetime,
                filters: Filters | None = None) -> Summary:
    """Return the services due each day of ``first``..``last`` the actor may see, counted by
    status (every day of the range, with zeros)."""
    per_slot = gather(session, actor=actor, first=first, last=last, now=now, filters=filters or Filters()).counts()
    by_day: dict[date, dict[str, int]] = {}
    for (day, rank), n in per_slot.items():
        counts = by_day.setdefault(day, {status: 0 for status in CALENDAR_STATUSES})
        counts[CALENDAR_STATUSES_BY_RANK[rank]] += n
    days = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        days.append(DayCounts(day, by_day.get(day) or {status: 0 for status in CALENDAR_STATUSES}))
    return Summary(first, last, days)


@dataclass(frozen=True)
class YearView:
    """A year of the calendar as counts per day, month by month (the UI's year view)."""

    focus: date
    today: date
    summary: Summary
    filters: Filters
    view: str = "year"

    @property
    def first(self) -> date:
        """Return the year's first day."""
        return self.summary.first

    @property
    def previous(self) -> date:
        """Return the first day of the year before."""
        return self.first.replace(year=self.first.year - 1)

    @property
    def following(self) -> date:
        """Return the first day of the year after."""
        return self.first.replace(year=self.first.year + 1)

    @property
    def total(self) -> int:
        """Return how many services the year holds."""
        return self.summary.total

    @property
    def counts(self) -> dict[str, int]:
        """Return the year's services by status."""
        return self.summary.counts

    @property
    def months(self) -> list[tuple[date, list[list[DayCounts | None]]]]:
        """Return each month's first day and its weeks, Monday first (None before the 1st and
        after the last day)."""
        out: list[tuple[date, list[list[DayCounts | None]]]] = []
        for day in self.summary.days:
            if day.day.day == 1:
                out.append((day.day, [[None] * day.day.weekday()]))
            weeks = out[-1][1]
            if len(weeks[-1]) == 7:
                weeks.append([])
            weeks[-1].append(day)
        for _, weeks in out:
            weeks[-1].extend([None] * (7 - len(weeks[-1])))
        return out


def year_view(session: Session, *, actor: Actor | None, now: datetime, day: Any = None, department_id: Any = None,
              category: Any = None, assignee: Any = None) -> YearView:
    """Return the year around ``day`` (this year by default) counted per day and status, as
    :func:`day_summary` counts it for the API's ``summary=day``."""
    who = resolve_actor(actor)
    today = viewer_today(session, who, now)
    focus = parse_day(day, today)
    filters = parse_filters(department_id, category, assignee)
    first, last = date(focus.year, 1, 1), date(focus.year, 12, 31)
    return YearView(focus, today, day_summary(session, actor=who, first=first, last=last, now=now, filters=filters),
                    filters)


# ------------------------------------------------------------------ pages


#: The years a cursor's instant may lie in (the calendar's own bounds).
_YEARS = (2000, 2100)
_CURSOR_VERSION = 1


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after the service at ``after``, judged as at ``at``."""

    at: datetime
    after: Key

    def encode(self) -> str:
        """Return the cursor as URL-safe text."""
        day, rank, tag, plan_id = self.after
        raw = json.dumps([_CURSOR_VERSION, self.at.isoformat(), day.isoformat(), rank, tag, plan_id],
                         separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: Any) -> Cursor:
        """Return the cursor ``text`` encodes; :class:`InvalidInput` when it is not one."""
        refused = InvalidInput(N_("cursor: not a cursor of the PM calendar; leave it out to start from the first "
                                  "page"))
        if not isinstance(text, str) or not 0 < len(text) <= 1000:
            raise refused
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            version, at, day, rank, tag, plan_id = json.loads(raw.decode("utf-8"))
            moment, due = datetime.fromisoformat(at), date.fromisoformat(day)
        except (ValueError, TypeError, UnicodeDecodeError, binascii.Error):
            raise refused from None
        if (version != _CURSOR_VERSION or moment.tzinfo is None or not _YEARS[0] <= moment.year <= _YEARS[1]
                or type(rank) is not int or rank not in CALENDAR_STATUSES_BY_RANK or not isinstance(tag, str)
                or type(plan_id) is not int or not 0 < plan_id < 2**31):
            raise refused
        return cls(moment, (due, rank, tag, plan_id))


@dataclass(frozen=True)
class CalendarPage:
    """One page of the services due in ``first``..``last``, and where the next one starts."""

    first: date
    last: date
    total: int
    limit: int
    items: list[Occurrence]
    next: Cursor | None


def _reach(counts: dict[Slot, int], start: Slot, needed: int) -> date | None:
    """Return the last day to make so that the slots from ``start`` on hold ``needed``
    services (the range's last busy day if they hold fewer), or None when none follow."""
    reached, held = None, 0
    for slot in sorted(s for s in counts if s >= start):
        held += counts[slot]
        reached = slot[0]
        if held >= needed:
            break
    return reached


def calendar_page(session: Session, *, actor: Actor | None, first: date, last: date, now: datetime,
                  filters: Filters | None = None, limit: int = DEFAULT_LIMIT,
                  cursor: Cursor | None = None) -> CalendarPage:
    """Return the first ``limit`` services due in ``first``..``last`` the actor may see (after
    ``cursor``'s, when given), in the calendar's order, with the range's total.

    Every service of the range is counted, but only the days the page reaches are made into
    services: a page costs the counting of the range and about ``limit`` services."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(N_("limit: must be 1..%(max_limit)s, got %(limit)s"), max_limit=MAX_LIMIT, limit=limit)
    at = cursor.at if cursor is not None else now
    gathered = gather(session, actor=actor, first=first, last=last, now=at, filters=filters or Filters())
    counts = gathered.counts()
    after = cursor.after if cursor is not None else None
    start: Slot = (after[0], after[1]) if after is not None else (first, -1)
    # The start slot's services up to the cursor are made again and dropped.
    reached = _reach(counts, start, limit + 1 + counts.get(start, 0))
    items = [] if reached is None else gathered.ordered(max(start[0], first), reached)
    if after is not None:
        items = [occ for occ in items if key_of(occ) > after]
    shown = items[:limit]
    following = Cursor(at, key_of(shown[-1])) if len(items) > limit else None
    return CalendarPage(first, last, sum(counts.values()), limit, shown, following)
