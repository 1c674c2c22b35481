"""The PM calendar's gathered ranges, kept in memory while nothing they derive from changes.

Gathering a month of a large hospital's calendar reads every active plan on every covered
asset and the generated services of the month (some 5,000 and 3,000 rows at 5,000 plans), and
a year more; most requests ask again for a range someone has just read. A gathered range is
kept under a key of everything its answer depends on:

- the ``pm_calendar`` change counter (:mod:`wardlink.hub.db.stamps`), raised by every commit
  that changes a plan, a generated service, or an asset column the calendar reads; it is read
  before the data, so a range is never filed under a counter newer than what it was read at;
- the reader's department scope, the filters and the range;
- each department's time zone and today's date in each zone (the colours are judged as of
  today at the asset's site, and a plan's start date is read in its zone).

A range whose colours depend on a meter's current reading (an open metered service) is not
kept, as readings arrive without a commit to the plans; nor is one read from a database without
the counter, or by a session that has changed the calendar and not committed yet. Each process
keeps its own ranges, the newest :data:`KEEP` of them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from datetime import datetime
from threading import Lock
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from wardlink.hub.db import stamps
from wardlink.hub.services.maintenance.pm import department_zones, local_date

#: Gathered ranges each process keeps (a month is some 8,000 pairs of plans and assets).
KEEP = 32
T = TypeVar("T")


def zone_key(zones: dict[int | None, ZoneInfo], now: datetime) -> tuple:
    """Return what of the time zones a range's answer depends on: each department's zone, and
    today's date in each zone (and in UTC, the zone of a department without a site)."""
    named = tuple(sorted((dept, str(zone)) for dept, zone in zones.items() if dept is not None))
    todays = {str(zone): local_date(now, zone) for zone in (*zones.values(), ZoneInfo("UTC"))}
    return named, tuple(sorted(todays.items()))


class Kept:
    """The newest :data:`KEEP` answers, each under its key; thread-safe."""

    def __init__(self, size: int = KEEP) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = Lock()
        self.made = self.reused = 0

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._answers.clear()

    @contextmanager
    def set_aside(self) -> Iterator[None]:
        """Keep nothing for the duration (as a process that has just started, or after a
        change), then have the answers kept before back."""
        with self._lock:
            saved = self._answers
            self._answers = OrderedDict()
        try:
            yield
        finally:
            with self._lock:
                self._answers = saved

    def get(self, key: Hashable | None, make: Callable[[], tuple[T, bool]]) -> T:
        """Return the answer kept under ``key``, or make it with ``make`` (which returns the
        answer and whether it may be kept) and keep it; with no key, just make it."""
        if key is None:
            return make()[0]
        with self._lock:
            found = self._answers.get(key)
            if found is not None:
                self._answers.move_to_end(key)
                self.reused += 1
                return found
        answer, keep = make()
        with self._lock:
            self.made += 1
            if keep:
                self._answers[key] = answer
                self._answers.move_to_end(key)
                while len(self._answers) > self.size:
                    self._answers.popitem(last=False)
        return answer


#: The PM calendar's gathered ranges in this process.
RANGES = Kept()


def range_key(session: Session, scope: int | None, filters: Hashable, first: Any, last: Any,
              now: datetime) -> tuple[tuple | None, dict[int | None, ZoneInfo]]:
    """Return the key of a range's answer for a reader of department ``scope`` (None: every
    department), None when it may not be kept, and the departments' zones read for it. The
    change counter is read first."""
    version = stamps.read(session, stamps.PM_CALENDAR)
    zones = department_zones(session)
    if version is None or stamps.unsettled(session, stamps.PM_CALENDAR):
        return None, zones
    return (version, scope, filters, first, last, zone_key(zones, now)), zones
