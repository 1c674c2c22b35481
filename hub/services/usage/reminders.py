"""What people are told about equipment use, each exactly once: a session longer than its
category's maximum continuous use (overuse), equipment not used for a number of days
(inactivity: a candidate for return or reallocation), and a rental or loaner due back (some
days before, on the day, and overdue).

:func:`remind` (the scheduler's ``usage_reminders`` job, run by the leader) finds what is due
now and announces it through the notices (:mod:`wardlink.hub.services.notices.core`); each
reminder has its own notice key, and a person is told about a key at most once, however
often the job runs. The managers of the asset's department hear of overuse and inactivity;
its managers and procurement officers of a rental.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Asset, Rental, UsageSession
from wardlink.hub.db.types import utc_now
from wardlink.hub.i18n import N_, format_date, translate
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.usage import knowledge
from wardlink.hub.services.usage.rentals import site_today
from wardlink.clock import Clock

#: Days before a rental's expected return that its first reminder comes.
RENTAL_NOTICE_DAYS = 7
#: Days without use after which equipment is reported idle.
IDLE_DAYS = 30
USAGE_ROLES = ("manager",)
RENTAL_ROLES = ("manager", "procurement")


@dataclass
class Reminded:
    """The notice keys announced by one run (each to however many people)."""

    keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Return the run's counts for the scheduler's log."""
        return {"reminded": len(self.keys), "keys": self.keys[:50]}


def rental_stage(today: date, due: date, notice_days: int = RENTAL_NOTICE_DAYS) -> str | None:
    """Return which rental reminder is due today: ``before``, ``today``, ``overdue`` or None."""
    if today > due:
        return "overdue"
    if today == due:
        return "today"
    return "before" if today >= due - timedelta(days=notice_days) else None


def _rentals(session: Session, clock: Clock, done: Reminded) -> None:
    subjects = {"before": N_("%(tag)s is due back to %(vendor)s on %(date)s"),
                "today": N_("%(tag)s is due back to %(vendor)s today (%(date)s)"),
                "overdue": N_("%(tag)s is overdue back to %(vendor)s since %(date)s")}
    rows = session.scalars(select(Rental).where(Rental.state != "returned").options(selectinload(Rental.asset))
                           .order_by(Rental.id))
    for rental in rows:
        stage = rental_stage(site_today(session, rental.asset.department_id, clock), rental.expected_return_on)
        if stage is None:
            continue
        key = f"rental:{rental.id}:due:{stage}:{rental.expected_return_on.isoformat()}"
        message, values = subjects[stage], {"tag": rental.asset.tag, "vendor": rental.vendor}
        due = rental.expected_return_on

        def subject(locale: str | None, message=message, values=values, due=due) -> str:
            return translate(locale, message, date=format_date(due, locale), **values)

        if notices.announce(session, "rental_expiring", subject=subject, link=f"/usage/rentals#rental-{rental.id}",
                            key=key, clock=clock, roles=RENTAL_ROLES, department_id=rental.asset.department_id):
            done.keys.append(key)


def _overuse(session: Session, clock: Clock, done: Reminded) -> None:
    now = utc_now(clock)
    rows = session.scalars(select(UsageSession).where(UsageSession.ended_at.is_(None))
                           .options(selectinload(UsageSession.asset)).order_by(UsageSession.id))
    for row in rows:
        limit = knowledge.for_asset(session, row.asset).max_use_hours
        if limit is None or now - row.started_at <= timedelta(hours=float(limit)):
            continue
        key = f"usage:{row.id}:overuse"
        tag, hours = row.asset.tag, f"{limit:g}"

        def subject(locale: str | None, tag=tag, hours=hours) -> str:
            return translate(locale, N_("%(tag)s has been in use for more than %(hours)s h, its maximum continuous "
                                        "use"), tag=tag, hours=hours)

        if notices.announce(session, "usage_overuse", subject=subject, link=f"/usage/assets/{tag}", key=key,
                            clock=clock, roles=USAGE_ROLES, department_id=row.department_id):
            done.keys.append(key)


def _idle(session: Session, clock: Clock, done: Reminded, idle_days: int) -> None:
    now = utc_now(clock)
    last_end = (select(UsageSession.asset_id, func.max(UsageSession.ended_at).label("last"))
                .group_by(UsageSession.asset_id).subquery())
    open_ids = select(UsageSession.asset_id).where(UsageSession.ended_at.is_(None))
    rows = session.execute(select(Asset, last_end.c.last).join(last_end, last_end.c.asset_id == Asset.id)
                           .where(last_end.c.last < now - timedelta(days=idle_days), Asset.id.not_in(open_ids))
                           .order_by(Asset.id))
    for asset, last in rows:
        key = f"usage:{asset.id}:idle:{last.date().isoformat()}"
        tag, days = asset.tag, idle_days

        def subject(locale: str | None, tag=tag, days=days, last=last) -> str:
            return translate(locale, N_("%(tag)s has not been used for %(days)s days (last used %(date)s): "
                                        "return or reallocate it?"), tag=tag, days=days,
                             date=format_date(last.date(), locale))

        if notices.announce(session, "usage_idle", subject=subject, link=f"/usage/assets/{tag}", key=key,
                            clock=clock, roles=USAGE_ROLES, department_id=asset.department_id):
            done.keys.append(key)


def remind(session: Session, *, clock: Clock, idle_days: int = IDLE_DAYS) -> Reminded:
    """Announce every usage reminder due now that nobody was given yet; return the keys announced."""
    done = Reminded()
    _rentals(session, clock, done)
    _overuse(session, clock, done)
    _idle(session, clock, done, idle_days)
    return done
