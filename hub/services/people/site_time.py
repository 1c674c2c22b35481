"""Local dates of a site: which time zone a filter's dates are in, and the UTC instants a range
of local days covers.

People pick dates, not instants: "opened between 1 and 31 March" means from local midnight of
the first day to local midnight after the last, in the time zone of the site the records belong
to. A day on which the clocks change is 23 or 25 hours long; :func:`day_bounds` gets that right
because it converts each midnight on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people.local_time import department_zone, first_site_zone
from wardlink.hub.services.people.permissions import department_scope
from wardlink.hub.services.validate import optional_date


def zone_for(session: Session, who: Actor, department_id: int | None = None) -> ZoneInfo:
    """Return the time zone dates are read in: the site of the chosen department, else of the
    actor's department, else the hub's first site; UTC when there is none."""
    for dept in (department_id, department_scope(who), who.department_id):
        zone = department_zone(session, dept)
        if zone is not None:
            return zone
    return first_site_zone(session)


@dataclass(frozen=True)
class DayRange:
    """Local days ``start``..``end`` (both included, either may be open) and their UTC bounds."""

    start: date | None
    end: date | None
    zone: ZoneInfo

    @property
    def since(self) -> datetime | None:
        """The first instant included (UTC), or None."""
        return None if self.start is None else _midnight(self.start, self.zone)

    @property
    def until(self) -> datetime | None:
        """The first instant after the range (UTC), or None."""
        return None if self.end is None else _midnight(self.end + timedelta(days=1), self.zone)

    @property
    def is_open(self) -> bool:
        """Return True when neither end is set."""
        return self.start is None and self.end is None

    def label(self) -> str:
        """Return the range as people write it (``2026-03-01..2026-03-31``, ``..2026-03-31``)."""
        return f"{self.start.isoformat() if self.start else ''}..{self.end.isoformat() if self.end else ''}"


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def day_range(start: Any, end: Any, zone: ZoneInfo, *, names: tuple[str, str] = ("date_from", "date_to"),
              max_days: int | None = None) -> DayRange:
    """Parse two local dates (YYYY-MM-DD, blank for open) into a :class:`DayRange`; an end before
    the start, or a range longer than ``max_days``, is refused with :class:`InvalidInput`."""
    first, last = optional_date(names[0], start), optional_date(names[1], end)
    if first is not None and last is not None:
        if last < first:
            raise InvalidInput(N_("%(names)s: must not be before %(names2)s (%(first)s), got %(last)s"),
                               names=names[1], names2=names[0], first=first.isoformat(), last=last.isoformat())
        if max_days is not None and (last - first).days + 1 > max_days:
            raise InvalidInput(N_("%(names)s: a range covers at most %(max_days)s days, got %(days)s"),
                               names=names[1], max_days=max_days, days=(last - first).days + 1)
    return DayRange(first, last, zone)
