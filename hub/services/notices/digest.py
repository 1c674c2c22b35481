"""The daily digest: what each person should look at today, sent once per local day.

A person's digest lists, in the site's local time and with links to each thing:

- the open work orders assigned to them that are due today or already overdue (due: the
  order's due time, else its resolution due time);
- the planned maintenance services due in the next seven days (today included) for the
  equipment of their department (all departments for a person without one);
- the open (not yet resolved) alerts in their department.

:func:`send_due` runs on every scheduler round: for each site time zone where the local time
has reached the configured send time, it claims the day's run (:mod:`.runs`) and announces one
``daily_digest`` notice per person whose preferences want it, keyed by the local day, so nobody
is told twice. A round after a missed send time (the hub was down) still sends that day; an
empty digest is not sent.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Alert, Asset, Gateway, PmOccurrence, User, WorkOrder
from wardlink.hub.db.vocab import label
from wardlink.hub.i18n import N_, default_locale, format_date, format_pattern, translate
from wardlink.hub.services import messages
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.alerts import records as alert_records
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.notices import core, runs
from wardlink.hub.services.people import language
from wardlink.hub.services.people.permissions import can
from wardlink.clock import Clock

KIND = "digest"
EVENT = "daily_digest"
#: Items listed per section; the rest are counted and linked.
MAX_ITEMS = 25
#: Days of planned maintenance a digest looks ahead, today included.
PM_DAYS = 7
ACTIVE_ORDER_STATES = ("pending", "assigned", "in_progress", "on_hold")
OPEN_ALERT_STATES = ("open", "acknowledged")
SCHEDULER = Actor.system("scheduler")


@dataclass
class Section:
    """One list of a digest: a heading, its lines (text and link) and how many there are in all."""

    heading: str  # in English, translated where written
    more_link: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0
    count_noun: str = ""  # what the subject counts ("overdue work orders"), in English


@dataclass
class Digest:
    """One person's digest for one local day."""

    user: User
    day: date
    zone: ZoneInfo
    sections: list[Section]
    locale: str | None = None  # the reader's language (None: the source language)

    @property
    def is_empty(self) -> bool:
        """Return True when there is nothing to tell."""
        return not any(s.total for s in self.sections)

    def subject(self) -> str:
        """Return the e-mail subject: the day and how many things each list holds."""
        counts = ", ".join(f"{s.total} {translate(self.locale, s.count_noun, days=PM_DAYS)}" for s in self.sections
                           if s.total)
        return translate(self.locale, "Daily digest %(day)s: %(counts)s", day=format_date(self.day, self.locale),
                         counts=counts)

    def body(self, public_url: str) -> str:
        """Return the text: each list with its lines and links under ``public_url``."""
        base = public_url.rstrip("/")
        out = [translate(self.locale, "Good morning %(name)s,", name=self.user.display_name or self.user.username), "",
               translate(self.locale, "Your digest for %(day)s (times in %(zone)s).",
                         day=format_pattern(self.day, "EEEE dd MMMM y", self.locale), zone=self.zone.key)]
        for section in self.sections:
            if not section.total:
                continue
            out += ["", f"{translate(self.locale, section.heading, days=PM_DAYS)}: {section.total}"]
            out += [f"- {text}\n  {base}{link}" for text, link in section.lines]
            if section.total > len(section.lines):
                more, link = section.total - len(section.lines), base + section.more_link
                out.append("- " + translate(self.locale, "and %(count)s more: %(link)s", count=more, link=link))
        return "\n".join(out) + "\n"


def _local(moment: datetime | None, zone: ZoneInfo, locale: str | None = None) -> str:
    return core.local_text(moment, zone, locale)


def _orders(session: Session, user: User, now: datetime, day_end: datetime, zone: ZoneInfo,
            locale: str | None = None) -> tuple[Section, ...]:
    due = func.coalesce(WorkOrder.due_at, WorkOrder.resolution_due_at)
    rows = session.execute(select(WorkOrder, due).where(
        WorkOrder.assigned_to_id == user.id, WorkOrder.state.in_(ACTIVE_ORDER_STATES), due < day_end)
        .order_by(due, WorkOrder.id)).all()
    overdue = Section(N_("Overdue work orders"), f"/work-orders?assigned_to={user.id}",
                      count_noun=N_("overdue work orders"))
    today = Section(N_("Work orders due today"), f"/work-orders?assigned_to={user.id}",
                    count_noun=N_("work orders due today"))
    for order, when in rows:
        when = when if when.tzinfo else when.replace(tzinfo=now.tzinfo)
        target = overdue if when < now else today
        target.total += 1
        if len(target.lines) < MAX_ITEMS:
            target.lines.append((translate(locale, "%(code)s %(title)s (%(priority)s, %(state)s), due %(time)s",
                                           code=order.code, title=order.title,
                                           priority=translate(locale, label(order.priority)),
                                           state=translate(locale, label(order.state)),
                                           time=_local(when, zone, locale)), f"/work-orders/{order.id}"))
    return overdue, today


def _pm(session: Session, user: User, day: date, locale: str | None = None) -> Section:
    section = Section(N_("Planned maintenance due in the next %(days)s days"), "/maintenance/calendar",
                      count_noun=N_("planned maintenance due in the next %(days)s days"))
    stmt = (select(PmOccurrence).join(Asset, Asset.id == PmOccurrence.asset_id)
            .options(selectinload(PmOccurrence.asset), selectinload(PmOccurrence.plan))
            .where(PmOccurrence.state == "open",
                   PmOccurrence.due_date.between(day, day + timedelta(days=PM_DAYS - 1))))
    if user.department_id is not None:
        stmt = stmt.where(Asset.department_id == user.department_id)
    for occ in session.scalars(stmt.order_by(PmOccurrence.due_date, PmOccurrence.id)):
        section.total += 1
        if len(section.lines) < MAX_ITEMS:
            link = f"/work-orders/{occ.work_order_id}" if occ.work_order_id else f"/maintenance/{occ.plan_id}"
            section.lines.append((translate(locale, "%(tag)s %(name)s: %(plan)s, due %(day)s", tag=occ.asset.tag,
                                            name=occ.asset.name, plan=occ.plan.name,
                                            day=format_date(occ.due_date, locale)), link))
    return section


def _alerts(session: Session, user: User, zone: ZoneInfo, locale: str | None = None) -> Section:
    section = Section(N_("Open alerts"), "/alerts", count_noun=N_("open alerts"))
    stmt = (select(Alert).outerjoin(Asset, Asset.id == Alert.asset_id)
            .outerjoin(Gateway, Gateway.id == Alert.gateway_pk)
            .options(selectinload(Alert.asset)).where(Alert.state.in_(OPEN_ALERT_STATES)))
    if user.department_id is not None:
        stmt = stmt.where(or_(Asset.department_id == user.department_id,
                              Asset.id.is_(None) & (Gateway.department_id == user.department_id)))
    for alert in session.scalars(stmt.order_by(Alert.opened_at, Alert.id)):
        section.total += 1
        if len(section.lines) < MAX_ITEMS:
            where = f"{alert.asset.tag}: " if alert.asset is not None else ""
            link = f"/assets/{alert.asset.tag}" if alert.asset is not None else "/alerts"
            section.lines.append((where + translate(locale, "%(title)s (%(severity)s, %(state)s), since %(time)s",
                                                    title=messages.render(alert_records.title_of(alert),
                                                                          locale, zone),
                                                    severity=translate(locale, label(alert.severity)),
                                                    state=translate(locale, label(alert.state)),
                                                    time=_local(alert.opened_at, zone, locale)), link))
    return section


def build(session: Session, user: User, *, now: datetime, zone: ZoneInfo, locale: str | None = None) -> Digest:
    """Return ``user``'s digest for the local day of ``now`` in ``zone``, written in ``locale``
    (lists they may not see by their role stay empty)."""
    day = now.astimezone(zone).date()
    day_end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    who = Actor.for_user(user)
    sections = list(_orders(session, user, now, day_end, zone, locale)) if can(who, "workorder.view") else []
    if can(who, "pm.view"):
        sections.append(_pm(session, user, day, locale))
    if can(who, "alert.view"):
        sections.append(_alerts(session, user, zone, locale))
    return Digest(user, day, zone, sections, locale)


def _wants(session: Session, user: User) -> bool:
    prefs = core.preferences(session, user.id)[EVENT]
    return prefs["in_app"] or (prefs["email"] and bool(user.email))


def send_due(session: Session, *, clock: Clock, at: time, public_url: str, holder: str = "") -> dict:
    """Send the digests whose local send time ``at`` has come today and which were not sent yet;
    return what happened per site time zone."""
    by_zone: dict[str, list[User]] = defaultdict(list)
    zones: dict[str, ZoneInfo] = {}
    for user in session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.id)):
        zone = core.site_zone(session, user.department_id)
        zones[zone.key] = zone
        by_zone[zone.key].append(user)
    summary: dict[str, dict] = {}
    for key, people in sorted(by_zone.items()):
        local = runs.local_now(clock, zones[key])
        if not runs.is_time(local, at):
            continue
        run = runs.claim(session, KIND, f"{local.date().isoformat()}@{key}", clock=clock, holder=holder)
        if run is None:
            continue
        sent = empty = 0
        for user in people:
            if not _wants(session, user):
                continue
            digest = build(session, user, now=local, zone=zones[key],
                           locale=language.user_language(session, user.id, default=default_locale()))
            if digest.is_empty:
                empty += 1
                continue
            core.announce(session, EVENT, subject=digest.subject(), body=digest.body(public_url),
                          link="/notices", key=f"digest:{digest.day.isoformat()}", clock=clock, users=(user.id,))
            sent += 1
        run.summary = {"day": local.date().isoformat(), "zone": key, "sent": sent, "empty": empty}
        audit.record(session, actor=SCHEDULER, action="digest.send", entity="scheduled_run", entity_id=run.id,
                     after=run.summary, clock=clock)
        summary[key] = run.summary
    return {"zones": summary}
