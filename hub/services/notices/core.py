"""Tell people about the work: one :class:`~wardlink.hub.db.models.Notice` per recipient,
written in the transaction of the change it reports.

:func:`announce` is the one hook every area calls (work orders, SLA, PM, ending service
contracts, later low stock, overdue requisitions, expiring rentals): it takes the event, who
is told (user ids, or roles of a department resolved by :func:`recipients`), the text and a
link, and a ``key`` that makes the
notice exactly-once per person (announcing the same key again does nothing). Each person's
preferences (:func:`preferences`) decide whether it shows in the app and whether an e-mail copy
is queued (``notice_emails``) for the delivery side to send after the commit.

Times in the text are in the site's time zone; links are paths under the hub's public URL,
which the delivery side prepends. Someone without an account who reported a problem on the QR
page with an e-mail address hears of each status change of the order through
:func:`reporter_status` (an e-mail without a notice).
"""

from __future__ import annotations

import functools

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, String, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from wardlink.hub.db.models import Department, Notice, NoticeEmail, NoticePreference, User, WorkOrder
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import label
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_, default_locale, format_datetime, translate
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people import language
from wardlink.hub.services.people.local_time import department_zone, first_site_zone
from wardlink.clock import Clock


@dataclass(frozen=True)
class Event:
    """A kind of notice, what people read about it, and its default channels."""

    name: str
    text: str
    in_app: bool = True
    email: bool = True
    #: Roles the default channels apply to; everyone else starts with neither (None: everyone).
    roles: frozenset[str] | None = None

    def channels(self, role: str | None) -> dict[str, bool]:
        """Return the channels of someone of ``role`` who chose nothing for this event."""
        if self.roles is None or role in self.roles:
            return {"in_app": self.in_app, "email": self.email}
        return {"in_app": False, "email": False}


#: Every event a notice may report, in the order the preferences form lists them.
EVENTS: Mapping[str, Event] = {e.name: e for e in (
    Event("work_opened", "New request or work order in my department", email=False),
    Event("work_assigned", "Work order assigned to me"),
    Event("sla_warning", "Work order at 75 % of its time"),
    Event("sla_breached", "Work order past its time (escalation)"),
    Event("pm_overdue", "Planned maintenance overdue"),
    Event("low_stock", "Spare part below its minimum stock"),
    Event("consumable_low", "Department consumable at its reorder level"),
    Event("utility_high", "A utility meter's day far above its baseline"),
    Event("requisition_overdue", "Requisition past its delivery date"),
    Event("rental_expiring", "Rental or loan equipment due back"),
    Event("usage_overuse", "Equipment in use longer than its maximum continuous use"),
    Event("usage_idle", "Equipment not used for a month"),
    Event("contract_expiring", "Service contract or warranty ending (90 and 30 days ahead)"),
    Event("daily_digest", "Daily digest: my work orders due today and overdue, PM due this week, "
                          "open alerts in my department", in_app=False,
          roles=frozenset({"technician", "manager"})),
    Event("monthly_report", "Monthly KPI report (PDF) of my department", roles=frozenset({"manager"})),
)}


def _event(name: str) -> Event:
    if name not in EVENTS:
        raise InvalidInput(N_("event: unknown event %(event)r; known: %(choices)s"),
                           event=name, choices=', '.join(EVENTS))
    return EVENTS[name]


# ------------------------------------------------------------------ recipients


def _named(roles: bool, department: bool, ids: bool):
    """Return the condition on ``users`` rows naming the active people :func:`recipients` returns,
    with the bound parameters ``ids`` (a list of user ids), ``roles`` and ``department_id``
    present as asked (None when nobody is named)."""
    named = []
    if ids:
        named.append(User.id.in_(bindparam("ids", expanding=True)))
    if roles:
        holders = User.role.in_(bindparam("roles", expanding=True))
        if department:
            dept = bindparam("department_id", type_=Integer)
            holders = and_(holders, or_(User.department_id == dept, User.department_id.is_(None)))
        named.append(holders)
    return and_(User.is_active.is_(True), or_(*named)) if named else None


def _naming(roles: Iterable[str], department_id: int | None,
            users: Iterable[int | None]) -> tuple[tuple[bool, bool, bool], dict]:
    """Return the shape of the condition that names these people and its parameters."""
    ids, roles = sorted({u for u in users if u is not None}), sorted(set(roles))
    params = {"ids": ids, "roles": roles, "department_id": department_id}
    return (bool(roles), bool(roles) and department_id is not None, bool(ids)), params


def recipients(session: Session, *, roles: Iterable[str] = (), department_id: int | None = None,
               users: Iterable[int | None] = ()) -> list[User]:
    """Return the active users named by id plus those holding ``roles`` for ``department_id``.

    A role holder counts for a department when scoped to it or not scoped at all (a hospital-wide
    manager hears about every department).
    """
    shape, params = _naming(roles, department_id, users)
    named = _named(*shape)
    if named is None:
        return []
    return list(session.scalars(select(User).where(named).order_by(User.id), _used(params, shape)))


def _used(params: dict, shape: tuple[bool, bool, bool]) -> dict:
    """Return the parameters a condition of ``shape`` binds."""
    roles, department, ids = shape
    return {k: v for k, v, used in (("roles", params["roles"], roles), ("department_id", params["department_id"],
                                    department), ("ids", params["ids"], ids)) if used}


# ------------------------------------------------------------------ preferences


def preferences(session: Session, user_id: int) -> dict[str, dict[str, bool]]:
    """Return ``{event: {"in_app": bool, "email": bool}}`` for every event (defaults, which may
    depend on the person's role, filled in)."""
    role = session.scalar(select(User.role).where(User.id == user_id))
    out = {name: e.channels(role) for name, e in EVENTS.items()}
    for row in session.scalars(select(NoticePreference).where(NoticePreference.user_id == user_id)):
        if row.event in out:
            out[row.event] = {"in_app": row.in_app, "email": row.email}
    return out


def set_preferences(session: Session, changes: Mapping[str, Mapping[str, bool]], *, actor: Actor,
                    clock: Clock) -> dict[str, dict[str, bool]]:
    """Store the signed-in person's channels per event; unknown events or values are refused."""
    from wardlink.hub.services.audit import trail as audit

    if actor.user_id is None:
        raise InvalidInput(N_("preferences: only a person with an account has notice preferences"))
    if not isinstance(changes, Mapping):
        raise InvalidInput(N_("preferences: must be an object of event -> {in_app, email}"))
    before = preferences(session, actor.user_id)
    for name, channels in changes.items():
        _event(name)
        if not isinstance(channels, Mapping) or set(channels) - {"in_app", "email"}:
            raise InvalidInput(N_("%(field)s: must be an object with in_app and/or email"), field=name)
        for channel, value in channels.items():
            if not isinstance(value, bool):
                raise InvalidInput(N_("%(field)s.%(channel)s: must be true or false, got %(value)r"),
                                   field=name, channel=channel, value=value)
    for name, channels in changes.items():
        row = session.get(NoticePreference, (actor.user_id, name))
        if row is None:
            row = NoticePreference(user_id=actor.user_id, event=name, **before[name])
            session.add(row)
        for channel, value in channels.items():
            setattr(row, channel, value)
    session.flush()
    after = preferences(session, actor.user_id)
    changed = {k: v for k, v in after.items() if before[k] != v}
    if changed:
        audit.record(session, actor=actor, action="notice.preferences", entity="user",
                     entity_id=actor.user_id, before={k: before[k] for k in changed}, after=changed,
                     clock=clock)
    return after


# ------------------------------------------------------------------ the hook


def site_zone(session: Session, department_id: int | None = None) -> ZoneInfo:
    """Return the time zone of the department's site (else of the first site, else UTC)."""
    return department_zone(session, department_id) or first_site_zone(session)


def local_text(moment: datetime | None, zone: ZoneInfo, locale: str | None = None) -> str:
    """Return ``moment`` as people on the site read it in ``locale``, e.g. ``2026-03-01 14:05 CET``."""
    return format_datetime(moment, zone, locale, seconds=False) if moment is not None else "-"


#: What a notice says: a text, or a function of the reader's locale that writes it in their language.
Text = str | Callable[[str | None], str]


def in_language(text: Text, locale: str | None) -> str:
    """Return ``text`` written for a reader of ``locale``."""
    return text(locale) if callable(text) else text


@functools.cache
def _audience_query(shape: tuple[bool, bool, bool]):
    """Return the query of :func:`_audience` for people named in the ``shape`` of :func:`_naming`
    (built once: building it costs more than running it), or None when it names nobody."""
    named = _named(*shape)
    if named is None:
        return None
    told = select(Notice.id).where(Notice.user_id == User.id, Notice.key == bindparam("key")).exists()
    chose = and_(NoticePreference.user_id == User.id, NoticePreference.event == bindparam("event"))
    return (select(User.id, User.email, User.role, NoticePreference.user_id.label("chose"),
                   NoticePreference.in_app.label("chose_in_app"), NoticePreference.email.label("chose_email"),
                   told.label("told"), *language.language_columns())
            .outerjoin(NoticePreference, chose).where(named).order_by(User.id))


def _audience(session: Session, event: str, key: str, roles: Iterable[str], department_id: int | None,
              users: Iterable[int | None]) -> list:
    """Return, in one query, each person named (as for :func:`recipients`) with what
    :func:`announce` needs: id, e-mail address, role, the channels they chose for ``event`` (if
    any), whether they were told about ``key`` already and their language's columns."""
    shape, params = _naming(roles, department_id, users)
    query = _audience_query(shape)
    if query is None:
        return []
    return list(session.execute(query, {**_used(params, shape), "key": key, "event": event}))


#: The outbox's inserts, on the tables rather than through the ORM's unit of work (a fraction of its cost).
_NOTICE_INSERT = insert(Notice.__table__).returning(Notice.__table__.c.id, sort_by_parameter_order=True)
_EMAIL_INSERT = insert(NoticeEmail.__table__)


def _loaded(session: Session, notice: Notice) -> Notice:
    """Return ``notice``, inserted already, as the session's own object (as if loaded from its row)."""
    make_transient_to_detached(notice)
    session.add(notice)
    return notice


def _channel(event: Event, person, channel: str) -> bool:
    """Return whether ``person`` (a row of :func:`_audience`) hears of ``event`` through ``channel``."""
    if person.chose is None:
        return event.channels(person.role)[channel]
    return bool(person.chose_in_app if channel == "in_app" else person.chose_email)


def announce(session: Session, event: str, *, subject: Text, body: Text = "", link: str = "",
             key: str, clock: Clock, users: Iterable[int | None] = (), roles: Iterable[str] = (),
             department_id: int | None = None, exclude: Iterable[int | None] = (),
             report_id: int | None = None) -> list[Notice]:
    """Tell the people named (user ids, or ``roles`` of ``department_id``) about ``event``.

    Each person gets at most one notice per ``key`` ever; their preferences decide whether it
    shows in the app and whether an e-mail copy is queued (carrying the stored monthly report
    ``report_id`` as its attachment, if given). A ``subject`` or ``body`` given as a function
    of the locale is written in each person's language (their choice, else their site's).
    Returns the notices written now.

    Who is told, with their channels, their language and whether they already were, comes from
    one query; the notices and their e-mails are two multi-row inserts (an event happens in the
    transaction of a request, and a storm of them competes with the web for the CPU).
    """
    defaults = _event(event)
    key = key[:160]
    skip = {u for u in exclude if u is not None}
    now = utc_now(clock)
    rows, texts = [], {}
    for person in _audience(session, event, key, roles, department_id, users):
        if person.id in skip or person.told:
            continue
        locale = language.chosen_language(person, default=default_locale())
        if locale not in texts:
            texts[locale] = (in_language(subject, locale)[:300], in_language(body, locale))
        rows.append((person, locale))
    if not rows:
        return []
    values = [{"user_id": person.id, "event": event, "key": key, "subject": texts[locale][0],
               "body": texts[locale][1], "link": link[:300], "in_app": _channel(defaults, person, "in_app"),
               "created_at": now, "read_at": None} for person, locale in rows]
    ids = session.execute(_NOTICE_INSERT, values).scalars().all()
    written = [_loaded(session, Notice(id=notice_id, **row)) for notice_id, row in zip(ids, values, strict=True)]
    emails = [{"notice_id": notice.id, "to_addr": person.email, "subject": notice.subject, "body": notice.body,
               "locale": locale, "state": "pending", "attempts": 0, "next_attempt_at": now, "last_error": "",
               "created_at": now, "report_id": report_id}
              for notice, (person, locale) in zip(written, rows, strict=True)
              if person.email and _channel(defaults, person, "email")]
    if emails:
        session.execute(_EMAIL_INSERT, emails)
    return written


# ------------------------------------------------------------------ work orders


def _order_text(session: Session, order: WorkOrder, lead: Text) -> Text:
    """Return the body of a notice about ``order``: ``lead``, then the order's facts."""
    zone = site_zone(session, order.department_id)
    department = session.get(Department, order.department_id) if order.department_id else None

    def write(locale: str | None) -> str:
        def line(message: str, **values: object) -> str:
            return translate(locale, message, **values)

        lines = [in_language(lead, locale), "", line(N_("Work order: %(code)s %(title)s"), code=order.code,
                                                     title=order.title),
                 line(N_("Priority: %(priority)s"), priority=translate(locale, label(order.priority))),
                 line(N_("State: %(state)s"), state=translate(locale, label(order.state)))]
        if department is not None:
            lines.append(line(N_("Department: %(name)s"), name=department.name))
        if order.asset is not None:
            lines.append(line(N_("Asset: %(tag)s %(name)s"), tag=order.asset.tag, name=order.asset.name))
        lines += [line(N_("Response due: %(time)s"), time=local_text(order.response_due_at, zone, locale)),
                  line(N_("Resolution due: %(time)s"), time=local_text(order.resolution_due_at, zone, locale))]
        return "\n".join(lines) + "\n"
    return write


def _link(order: WorkOrder) -> str:
    return f"/work-orders/{order.id}"


def work_opened(session: Session, order: WorkOrder, *, clock: Clock) -> list[Notice]:
    """Tell the managers of the order's department about a new request or work order."""
    request = order.source in ("qr", "request") or order.kind == "corrective"

    def subject(locale: str | None) -> str:
        if request:
            return translate(locale, "New request %(code)s: %(title)s", code=order.code, title=order.title)
        return translate(locale, "New work order %(code)s: %(title)s", code=order.code, title=order.title)

    def lead(locale: str | None) -> str:
        return translate(locale, N_("A new request was opened.") if request else N_("A new work order was opened."))
    return announce(session, "work_opened", subject=subject,
                    body=_order_text(session, order, lead), link=_link(order),
                    key=f"wo:{order.id}:opened", clock=clock, roles=("manager",),
                    department_id=order.department_id, exclude=(order.requested_by_id,))


#: How many assignment notices of an order its assignee had (statements built once, as announce's).
_ASSIGNMENTS_TOLD = select(func.count()).select_from(Notice).where(
    Notice.user_id == bindparam("user_id", type_=Integer), Notice.key.like(bindparam("pattern", type_=String)))


def work_assigned(session: Session, order: WorkOrder, *, clock: Clock) -> list[Notice]:
    """Tell the assignee that the order is now theirs (once per assignment)."""
    if order.assigned_to_id is None:
        return []
    count = session.scalar(_ASSIGNMENTS_TOLD, {"user_id": order.assigned_to_id,
                                               "pattern": f"wo:{order.id}:assigned:%"})
    return announce(session, "work_assigned",
                    subject=lambda locale: translate(locale, "Assigned to you: %(code)s %(title)s", code=order.code,
                                                     title=order.title),
                    body=_order_text(session, order,
                                     lambda locale: translate(locale, "This work order was assigned to you.")),
                    link=_link(order), key=f"wo:{order.id}:assigned:{count}",
                    clock=clock, users=(order.assigned_to_id,))


def sla_warning_key(order_id: int, clock_name: str) -> str:
    """Return the key of an order's 75 % warning for one clock (``response`` or ``resolution``)."""
    return f"wo:{order_id}:sla_warning:{clock_name}"


def announced_keys(session: Session, keys: Iterable[str]) -> set[str]:
    """Return which of ``keys`` someone was already told about."""
    wanted = list(dict.fromkeys(keys))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        found.update(session.scalars(select(Notice.key).where(Notice.key.in_(wanted[start:start + 500]))))
    return found


def sla_warning(session: Session, order: WorkOrder, clock_name: str, due: datetime, *,
                clock: Clock) -> list[Notice]:
    """Tell the assignee (else the department's managers) that an order used 75 % of its time."""
    who = {"users": (order.assigned_to_id,)} if order.assigned_to_id else {
        "roles": ("manager",), "department_id": order.department_id}
    zone = site_zone(session, order.department_id)
    response = clock_name == "response"

    def subject(locale: str | None) -> str:
        message = N_("Response time running out: %(code)s %(title)s") if response else \
            N_("Resolution time running out: %(code)s %(title)s")
        return translate(locale, message, code=order.code, title=order.title)

    def lead(locale: str | None) -> str:
        message = N_("Most of the response time is used; it is due %(time)s.") if response else \
            N_("Most of the resolution time is used; it is due %(time)s.")
        return translate(locale, message, time=local_text(due, zone, locale))
    return announce(session, "sla_warning", subject=subject, body=_order_text(session, order, lead),
                    link=_link(order), key=sla_warning_key(order.id, clock_name), clock=clock, **who)


def sla_breached(session: Session, order: WorkOrder, clock_name: str, due: datetime, roles: Iterable[str], *,
                 clock: Clock) -> list[Notice]:
    """Tell the assignee and the escalation roles of the department that an order ran past its time."""
    zone = site_zone(session, order.department_id)
    response = clock_name == "response"

    def subject(locale: str | None) -> str:
        message = N_("Escalated: response time exceeded on %(code)s %(title)s") if response else \
            N_("Escalated: resolution time exceeded on %(code)s %(title)s")
        return translate(locale, message, code=order.code, title=order.title)

    def lead(locale: str | None) -> str:
        message = N_("The response time ran out at %(time)s; escalation level %(level)s.") if response else \
            N_("The resolution time ran out at %(time)s; escalation level %(level)s.")
        return translate(locale, message, time=local_text(due, zone, locale), level=order.escalation_level)
    return announce(session, "sla_breached", subject=subject, body=_order_text(session, order, lead),
                    link=_link(order), key=f"wo:{order.id}:sla_breached:{clock_name}", clock=clock,
                    users=(order.assigned_to_id,), roles=tuple(roles), department_id=order.department_id)


def pm_overdue(session: Session, order: WorkOrder | None, *, title: Text, detail: Text, key: str,
               department_id: int | None, clock: Clock) -> list[Notice]:
    """Tell the PM order's assignee and the department's managers that a service is overdue."""
    return announce(session, "pm_overdue", subject=title, body=lambda locale: in_language(detail, locale) + "\n",
                    link=_link(order) if order is not None else "/pm", key=key, clock=clock,
                    users=(order.assigned_to_id if order is not None else None,), roles=("manager",),
                    department_id=department_id)


# ------------------------------------------------------------------ the reporter of a QR request


def reporter_status(session: Session, order: WorkOrder, *, clock: Clock) -> NoticeEmail | None:
    """Queue an e-mail to the address the reporter gave with ``order`` (the QR page) saying
    its status changed; nothing without an address.

    The message holds only the equipment's tag and name, the new status, the time (site time
    zone) and the order's reference: no names, notes or anything else about the work. It is
    one-way (no notice, no account): :class:`~wardlink.hub.notify.notices.NoticeMailer` sends it
    with the other e-mails of the outbox.
    """
    if not order.requester_email:
        return None
    zone = site_zone(session, order.department_id)
    locale = language.site_language(session, order.department_id, default=default_locale())
    now = utc_now(clock)
    reference = order.code or f"WO-{order.id:06d}"
    equipment = f"{order.asset.tag} {order.asset.name}" if order.asset is not None else \
        translate(locale, "the equipment")
    status = translate(locale, label(order.state))
    body = "\n".join([
        translate(locale, "The problem you reported has a new status."), "",
        translate(locale, "Equipment: %(equipment)s", equipment=equipment),
        translate(locale, "Status: %(status)s", status=status),
        translate(locale, "Time: %(time)s", time=local_text(now, zone, locale)),
        translate(locale, "Reference: %(reference)s", reference=reference), ""])
    subject = translate(locale, "%(status)s: your report %(reference)s about %(equipment)s", status=status,
                        reference=reference, equipment=equipment)
    email = NoticeEmail(notice_id=None, to_addr=order.requester_email, subject=subject[:300], body=body,
                        locale=locale, state="pending", attempts=0, next_attempt_at=now, last_error="",
                        created_at=now)
    session.add(email)
    session.flush()
    return email


# ------------------------------------------------------------------ the inbox


def _own(actor: Actor) -> int:
    if actor.user_id is None:
        raise InvalidInput(N_("notices: only a person with an account has notices"))
    return actor.user_id


def unread_count(session: Session, *, actor: Actor) -> int:
    """Return how many in-app notices the person has not read."""
    return session.scalar(select(func.count()).select_from(Notice).where(
        Notice.user_id == _own(actor), Notice.in_app.is_(True), Notice.read_at.is_(None))) or 0


def list_notices(session: Session, *, actor: Actor, unread: bool = False, page: int = 1,
                 per_page: int = 50) -> Page:
    """Return the person's in-app notices, newest first."""
    stmt = select(Notice).where(Notice.user_id == _own(actor), Notice.in_app.is_(True))
    if unread:
        stmt = stmt.where(Notice.read_at.is_(None))
    return paginate(session, stmt.order_by(Notice.id.desc()), page=page, per_page=per_page)


def mark_read(session: Session, notice_id: int, *, actor: Actor, clock: Clock) -> Notice:
    """Mark one of the person's notices read (again is fine)."""
    notice = session.get(Notice, notice_id)
    if notice is None or notice.user_id != _own(actor):
        raise NotFound(N_("notice %(notice_id)s not found"), notice_id=notice_id)
    if notice.read_at is None:
        notice.read_at = utc_now(clock)
        session.flush()
    return notice


def mark_all_read(session: Session, *, actor: Actor, clock: Clock) -> int:
    """Mark every unread notice of the person read; return how many."""
    done = session.execute(update(Notice).where(Notice.user_id == _own(actor), Notice.read_at.is_(None))
                           .values(read_at=utc_now(clock))).rowcount
    session.flush()
    return done or 0
