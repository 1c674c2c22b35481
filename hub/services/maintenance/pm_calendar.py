"""The PM calendar: every service of every plan in a range of days, generated or projected.

A service the generator has made (:class:`~wardlink.hub.db.models.PmOccurrence`) shows with its
own due date and state. The services it has not made yet are projected from each active plan's
schedule (:mod:`wardlink.hub.services.maintenance.pm_schedule`): a calendar plan's fixed grid
from its anchor date, and a whichever-first plan's next date after its last service (then one
interval after another, as if each were done on its due date). A meter-only plan has no date
until its service is generated. Paused and retired plans project nothing; their services
already generated still show.

Each service's colour (due, in window, overdue, done) is judged by
:func:`wardlink.hub.services.maintenance.pm_standing.calendar_status`, as of today at the
asset's site. The queries read columns, not objects, so a year of 5,000 plans stays fast.
"""

from __future__ import annotations

import calendar as cal
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, case, cast, literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset, PmOccurrence, PmPlan, User
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor
from wardlink.hub.services.assets.register import categories as asset_categories
from wardlink.hub.services.maintenance import pm_calendar_kept
from wardlink.hub.services.maintenance.compliance import UNIT_DAYS, Target, window_days
from wardlink.hub.services.maintenance.pm import INACTIVE_STAGES, INACTIVE_STATUSES, department_zones, local_date
from wardlink.hub.services.maintenance.pm_meters import current_value
from wardlink.hub.services.maintenance.pm_schedule import Previous, Schedule, shift, upcoming
from wardlink.hub.services.maintenance.pm_standing import CALENDAR_STATUSES, OVERDUE, calendar_status, date_status
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.validate import optional_date, optional_id

#: Longest range one request may ask for.
MAX_RANGE_DAYS = 400
VIEWS = ("month", "week", "day")
#: Services listed per day before "n more" (the day view lists them all).
DAY_LIMITS = {"month": 4, "week": 25, "day": 2000}
#: Where each status comes in a day: the worst first.
STATUS_RANK = {OVERDUE: 0, "in_window": 1, "due": 2, "done": 3}
#: Stretches of days (pages, views) each gathered range remembers having walked.
_WALKS_KEPT = 16
#: The status of each rank (a slot's second part).
CALENDAR_STATUSES_BY_RANK = {rank: status for status, rank in STATUS_RANK.items()}


class Occurrence(NamedTuple):
    """One service on the calendar."""

    due_date: date
    plan_id: int
    plan: str
    asset: str
    status: str
    opens: date
    closes: date
    work_order_id: int | None
    projected: bool


@dataclass(frozen=True)
class Filters:
    """What the calendar is narrowed to (None = everything the actor may see)."""

    department_id: int | None = None
    category: str | None = None
    assignee: str | None = None  # "user:<id>", "team:<name>" or "vendor:<name>"


def parse_filters(department: Any = None, category: Any = None, assignee: Any = None) -> Filters:
    """Parse the calendar's filters from query arguments."""
    assignee = (assignee or "").strip() or None
    if assignee is not None:
        kind, _, value = assignee.partition(":")
        if kind not in ("user", "team", "vendor") or not value:
            raise InvalidInput(N_("assignee: must be user:<id>, team:<name> or vendor:<name>, got %(assignee)r"),
                               assignee=assignee)
        if kind == "user":
            optional_id("assignee", value)
    return Filters(optional_id("department", department), (category or "").strip()[:100] or None, assignee)


def _narrow(stmt, actor: Actor, filters: Filters, plan_side: bool = True):
    scope = department_scope(actor)
    if scope is not None:
        stmt = stmt.where(Asset.department_id == scope)
    if filters.department_id is not None:
        stmt = stmt.where(Asset.department_id == filters.department_id)
    if filters.category:
        stmt = stmt.where(Asset.category == filters.category)
    if filters.assignee and plan_side:
        kind, _, value = filters.assignee.partition(":")
        column = {"user": PmPlan.assignee_id, "team": PmPlan.assignee_team, "vendor": PmPlan.assignee_vendor}[kind]
        stmt = stmt.where(column == (int(value) if kind == "user" else value))
    return stmt


def _plan_columns(first: date) -> tuple:
    """Return the columns the projection reads of each plan on each covered asset.

    When a plan was made matters only to a plan made from about ``first`` on: a calendar plan
    skips the services whose window had closed on the day it started, and a plan that started
    a day or more before ``first`` (in any time zone) can skip none of those in range. So older
    plans' ``created_at`` is read as NULL, saving the conversion of thousands of timestamps."""
    since = datetime.combine(first - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    recent = case((PmPlan.created_at >= since, PmPlan.created_at), else_=None)
    return (PmPlan.id, PmPlan.name, PmPlan.trigger, PmPlan.interval_count, PmPlan.interval_unit,
            PmPlan.meter_interval, PmPlan.anchor_meter, PmPlan.anchor_date, PmPlan.lead_days,
            PmPlan.meter_lead, recent, Asset.id, Asset.tag, Asset.department_id)


def _live() -> tuple:
    return (PmPlan.active.is_(True), PmPlan.retired_at.is_(None), PmPlan.trigger != "meter")


def _in_range(session: Session, first: date, last: date):
    """Return a condition keeping the plans whose schedule can give a date in ``first``..``last``,
    or None when every one can.

    A calendar plan's dates lie on its grid (anchor date, interval), so the distinct grids of
    the active plans are read first and the plans of grids with no date in the range (a
    monthly plan in most weeks, a yearly one in most months) are never read. Whichever-first
    plans depend on their last service and are always read."""
    grids = session.connection().execute(
        select(PmPlan.anchor_date, PmPlan.interval_count, PmPlan.interval_unit)
        .where(*_live(), PmPlan.trigger == "calendar").distinct()).all()
    hits: dict[tuple[int, str], list[date]] = defaultdict(list)
    for anchor, count, unit in grids:
        if _grid_dates(anchor, count, unit, first, last):
            hits[(count, unit)].append(anchor)
    if sum(len(anchors) for anchors in hits.values()) == len(grids):
        return None
    return or_(PmPlan.trigger != "calendar", *(
        and_(PmPlan.interval_count == count, PmPlan.interval_unit == unit, PmPlan.anchor_date.in_(anchors))
        for (count, unit), anchors in hits.items()))


def _covered(session: Session, actor: Actor, filters: Filters, first: date, last: date) -> list:
    """Return (plan columns..., asset id, tag, department) of every active plan x covered asset
    whose schedule can give a date in ``first``..``last``."""
    live = [*_live(), Asset.equipment_status.not_in(INACTIVE_STATUSES), Asset.lifecycle_stage.not_in(INACTIVE_STAGES)]
    in_range = _in_range(session, first, last)
    if in_range is not None:
        live.append(in_range)
    columns = _plan_columns(first)
    one = select(*columns).join(Asset, Asset.id == PmPlan.asset_id).where(*live)
    many = select(*columns).join(Asset, and_(PmPlan.asset_id.is_(None), Asset.make == PmPlan.make,
                                             Asset.model == PmPlan.model)).where(*live)
    # Plain rows in one statement: no ORM bookkeeping for thousands of them.
    return session.connection().execute(union_all(_narrow(one, actor, filters), _narrow(many, actor, filters))).all()


@lru_cache(maxsize=8192)
def _grid_dates(anchor: date, count: int, unit: str, first: date, last: date) -> tuple[date, ...]:
    """Return the due dates of a calendar grid (anchor, count, unit) in ``first``..``last``."""
    schedule = Schedule(trigger="calendar", anchor_date=anchor, interval_count=count, interval_unit=unit)
    step = count * UNIT_DAYS[unit]
    seq = max(0, math.floor((first - anchor).days / step) - 2)
    out = []
    while (due := schedule.calendar_due(seq)) <= last:
        if due >= first:
            out.append(due)
        seq += 1
    return tuple(out)


def _grid(anchor: date, count: int, unit: str, start_on: date, first: date, last: date) -> tuple[date, ...]:
    """Return a calendar plan's due dates in ``first``..``last``, from its first service on: the
    first whose window had not closed on the day the plan started (as the generator counts)."""
    dues = _grid_dates(anchor, count, unit, first, last)
    cutoff = start_on - _span(_window(count, unit))
    return dues if not dues or dues[0] >= cutoff else tuple(due for due in dues if due >= cutoff)


@lru_cache(maxsize=64)
def _span(days: int) -> timedelta:
    return timedelta(days=days)


@lru_cache(maxsize=256)
def _window(count: int, unit: str) -> int:
    return window_days(count, unit)


def _latest(session: Session, plan_ids: list[int]) -> dict[tuple[int, int], Previous]:
    found: dict[tuple[int, int], Previous] = {}
    for start in range(0, len(plan_ids), 500):
        rows = session.execute(select(
            PmOccurrence.plan_id, PmOccurrence.asset_id, PmOccurrence.seq, PmOccurrence.state,
            PmOccurrence.due_date, PmOccurrence.due_meter, PmOccurrence.completed_on, PmOccurrence.completion_meter,
        ).where(PmOccurrence.plan_id.in_(plan_ids[start:start + 500])).order_by(PmOccurrence.seq.desc()))
        for plan_id, asset_id, seq, state, due, due_meter, done_on, done_meter in rows:
            found.setdefault((plan_id, asset_id), Previous(seq, state, due, due_meter, done_on, done_meter))
    return found


class _Today(dict):
    """Today's date at each department's site, worked out once per department."""

    def __init__(self, zones: dict[int | None, ZoneInfo], now: datetime) -> None:
        super().__init__()
        self.zones, self.now = zones, now

    def __missing__(self, dept: int | None) -> date:
        self[dept] = local_date(self.now, self.zones[dept])
        return self[dept]


#: A plan on an asset, in the calendar's order: (asset tag, plan id, asset id).
Pair = tuple[str, int, int]
#: Where a service goes in the calendar's order: (due date, rank of its status).
Slot = tuple[date, int]


def _generated(session: Session, who: Actor, filters: Filters, first: date, last: date,
               today: _Today) -> tuple[dict[Pair, list[tuple[Slot, Occurrence]]], bool]:
    """Return the generated services due in ``first``..``last`` of each plan on each asset, and
    whether a colour was judged from a meter's current reading."""
    found: dict[Pair, list[tuple[Slot, Occurrence]]] = defaultdict(list)
    meters: dict[tuple[int, str], float | None] = {}
    generated = _narrow(select(
        PmOccurrence.plan_id, PmOccurrence.asset_id, PmOccurrence.due_date, PmOccurrence.state,
        PmOccurrence.work_order_id, PmOccurrence.window_days, PmOccurrence.due_meter, PmOccurrence.meter_tolerance,
        PmPlan.name, PmPlan.meter, Asset.tag, Asset.department_id,
    ).join(PmPlan, PmPlan.id == PmOccurrence.plan_id).join(Asset, Asset.id == PmOccurrence.asset_id).where(
        PmOccurrence.due_date >= first, PmOccurrence.due_date <= last, PmOccurrence.state != "cancelled"),
        who, filters)
    for plan_id, asset_id, due, state, wo_id, window, due_meter, tolerance, name, meter, tag, dept in \
            session.connection().execute(generated).all():
        if due_meter is None:
            status = date_status(due, window, today[dept], state)
        else:
            if state == "open" and meter and (asset_id, meter) not in meters:
                meters[(asset_id, meter)] = current_value(session, asset_id, meter)
            meter_now = meters.get((asset_id, meter)) if state == "open" and meter else None
            status = calendar_status(Target(due, window, due_meter, tolerance), state=state, today=today[dept],
                                     meter_now=meter_now)
        span = _span(window)
        occ = Occurrence(due, plan_id, name, tag, status, due - span, due + span, wo_id, False)
        found[(tag, plan_id, asset_id)].append(((due, STATUS_RANK[status]), occ))
    return found, bool(meters)


@lru_cache(maxsize=4096)
def _projected(dues: tuple[date, ...], window: int, today: date) -> tuple[tuple[Slot, str, date, date], ...]:
    """Return (slot, status, window opens, window closes) of projected services due on ``dues``."""
    span, out = _span(window), []
    for due in dues:
        status = date_status(due, window, today)
        out.append(((due, STATUS_RANK[status]), status, due - span, due + span))
    return tuple(out)


def _floating(schedule: Schedule, last: Previous | None, start_on: date, first: date, end: date) -> tuple[date, ...]:
    """Return a whichever-first plan's dates in ``first``..``end``: its next service after
    ``last``, then one interval after another, as if each were done on its due date."""
    nxt = upcoming(schedule, last, start_on=start_on)
    dues, due = [], nxt.due_date if nxt is not None else None
    while due is not None and due <= end:
        if due >= first:
            dues.append(due)
        due = shift(due, schedule.interval_count, schedule.interval_unit)
    return tuple(dues)


class _Projector:
    """The services each active plan's schedule gives in ``first``..``last`` on each covered asset."""

    def __init__(self, session: Session, who: Actor, filters: Filters, first: date, last: date,
                 today: _Today) -> None:
        self.first, self.last, self.today = first, last, today
        rows = _covered(session, who, filters, first, last)
        self.rows: dict[Pair, Any] = {(row[12], row[0], row[11]): row for row in rows}
        floating = sorted({row[0] for row in rows if row[2] == "whichever_first"})
        self.latest = _latest(session, floating) if floating else {}
        self.started: dict[tuple[datetime, int | None], date] = {}
        #: The services of each calendar grid from each start in each department (most plans share one).
        self.grids: dict[tuple, tuple[tuple[Slot, str, date, date], ...]] = {}

    def services(self, pair: Pair) -> tuple[tuple[Slot, str, date, date], ...]:
        """Return (slot, status, window opens, window closes) of each service the schedule of
        ``pair``'s plan gives on its asset in the range (none for a pair no active plan covers)."""
        row = self.rows.get(pair)
        if row is None:
            return ()
        (plan_id, _, trigger, count, unit, meter_interval, anchor_meter, anchor, lead, meter_lead, created,
         asset_id, _, dept) = row
        if created is None:  # started a day or more before the range: see _plan_columns
            start_on = self.first
        elif (created, dept) in self.started:
            start_on = self.started[(created, dept)]
        else:
            start_on = self.started[(created, dept)] = local_date(created, self.today.zones[dept])
        if trigger == "calendar":
            grid = (anchor, count, unit, start_on, dept)
            found = self.grids.get(grid)
            if found is None:
                dues = _grid(anchor, count, unit, start_on, self.first, self.last)
                found = self.grids[grid] = _projected(dues, _window(count, unit), self.today[dept]) if dues else ()
            return found
        schedule = Schedule(trigger=trigger, anchor_date=anchor, interval_count=count, interval_unit=unit,
                            meter_interval=meter_interval, anchor_meter=anchor_meter, lead_days=lead,
                            meter_lead=meter_lead or 0.0)
        dues = _floating(schedule, self.latest.get((plan_id, asset_id)), start_on, self.first, self.last)
        return _projected(dues, _window(count, unit), self.today[dept]) if dues else ()


class Gathered:
    """Every service the actor may see due in ``first``..``last``, gathered per plan on each
    asset (a pair) but not yet made into :class:`Occurrence` objects: a year of a large
    hospital's plans is tens of thousands of services, and most readers need only their counts
    per day (:meth:`counts`), the first few of each day (:meth:`walk` with ``cap``) or one
    stretch of days (:meth:`ordered`).

    The calendar's order is by date, worst colour first, then by asset tag and plan. Services
    are not sorted one by one: the pairs are visited in tag and plan order, and each drops its
    services, generated ones first, into the slot of their day and colour; only the slots are
    sorted.

    A gathered range may be kept and read by several requests at once
    (:mod:`~wardlink.hub.services.maintenance.pm_calendar_kept`): what its methods return is
    remembered and shared, and must not be changed by the caller."""

    def __init__(self, session: Session, who: Actor, filters: Filters, first: date, last: date,
                 now: datetime, zones: dict[int | None, ZoneInfo]) -> None:
        self.first, self.last = first, last
        today = _Today(zones, now)
        self.generated, self.metered = _generated(session, who, filters, first, last, today)
        self.projector = _Projector(session, who, filters, first, last, today)
        self.pairs: list[Pair] = sorted(self.generated.keys() | self.projector.rows.keys())
        self._projected: dict[Pair, tuple[tuple[Slot, str, date, date], ...]] = {}
        self._counts: dict[Slot, int] | None = None
        self._walks: dict[tuple, tuple[dict[Slot, list[Occurrence]], dict[Slot, int]]] = {}

    def projected(self, pair: Pair) -> tuple[tuple[Slot, str, date, date], ...]:
        """Return the services ``pair``'s schedule gives in the range (see :meth:`_Projector.services`)."""
        found = self._projected.get(pair)
        if found is None:
            found = self._projected[pair] = self.projector.services(pair)
        return found

    def counts(self) -> dict[Slot, int]:
        """Return how many services fall in each slot (day and colour) of the range.

        Pairs with no generated service in the range and the same projected services (the
        plans of one grid in one time zone) are counted together, once."""
        if self._counts is None:
            self._counts = self._count()
        return self._counts

    def _count(self) -> dict[Slot, int]:
        counts: dict[Slot, int] = defaultdict(int)
        shared: dict[int, int] = defaultdict(int)
        kept: dict[int, tuple[tuple[Slot, str, date, date], ...]] = {}
        for pair in self.pairs:
            projected, made = self.projected(pair), self.generated.get(pair)
            if not made:
                if projected:
                    shared[id(projected)] += 1
                    kept[id(projected)] = projected
                continue
            skip = set()
            for slot, occ in made:
                counts[slot] += 1
                skip.add(occ.due_date)
            for slot, *_ in projected:
                if slot[0] not in skip:
                    counts[slot] += 1
        for key, pairs in shared.items():
            for slot, *_ in kept[key]:
                counts[slot] += pairs
        return dict(counts)

    def walk(self, first: date | None = None, last: date | None = None,
             cap: int | None = None) -> tuple[dict[Slot, list[Occurrence]], dict[Slot, int]]:
        """Return the services due ``first``..``last`` (the whole range by default) by slot, each
        slot in the calendar's order and holding at most ``cap`` of them, and how many services
        each slot has."""
        first, last = first or self.first, last or self.last
        found = self._walks.get((first, last, cap))
        if found is None:
            found = self._walk(first, last, cap)
            if len(self._walks) >= _WALKS_KEPT:
                self._walks.pop(next(iter(self._walks)), None)
            self._walks[(first, last, cap)] = found
        return found

    def _walk(self, first: date, last: date, cap: int | None) -> tuple[dict[Slot, list[Occurrence]], dict[Slot, int]]:
        whole = first <= self.first and last >= self.last
        slots: dict[Slot, list[Occurrence]] = defaultdict(list)
        counts: dict[Slot, int] = defaultdict(int)
        for pair in self.pairs:
            made = self.generated.get(pair, ())
            for slot, occ in made:
                if whole or first <= slot[0] <= last:
                    counts[slot] += 1
                    if cap is None or len(slots[slot]) < cap:
                        slots[slot].append(occ)
            projected = self.projected(pair)
            if not projected:
                continue
            tag, plan_id, _ = pair
            name, skip = self.projector.rows[pair][1], {occ.due_date for _, occ in made}
            for slot, status, opens, closes in projected:
                day = slot[0]
                if day in skip or not (whole or first <= day <= last):
                    continue
                counts[slot] += 1
                if cap is None or len(slots[slot]) < cap:
                    slots[slot].append(Occurrence(day, plan_id, name, tag, status, opens, closes, None, True))
        return dict(slots), dict(counts)

    def ordered(self, first: date | None = None, last: date | None = None) -> list[Occurrence]:
        """Return every service due ``first``..``last`` (the whole range by default) in the
        calendar's order."""
        slots, _ = self.walk(first, last)
        return [occ for slot in sorted(slots) for occ in slots[slot]]


def gather(session: Session, *, actor: Actor | None, first: date, last: date, now: datetime,
           filters: Filters = Filters()) -> Gathered:
    """Return the services due in ``first``..``last`` the actor may see, gathered (see
    :class:`Gathered`), their status judged as of ``now``."""
    who = resolve_actor(actor)
    require(who, "pm.view")
    if last < first or (last - first).days > MAX_RANGE_DAYS:
        raise InvalidInput(N_("end: must be on or after start and at most %(max_range_days)s days later"),
                           max_range_days=MAX_RANGE_DAYS)
    key, zones = pm_calendar_kept.range_key(session, department_scope(who), filters, first, last, now)

    def make() -> tuple[Gathered, bool]:
        gathered = Gathered(session, who, filters, first, last, now, zones)
        return gathered, not gathered.metered

    return pm_calendar_kept.RANGES.get(key, make)


def occurrences(session: Session, *, actor: Actor | None, first: date, last: date, now: datetime,
                filters: Filters = Filters()) -> list[Occurrence]:
    """Return every service due in ``first``..``last`` the actor may see, by date, worst first,
    then by asset tag and plan."""
    return gather(session, actor=actor, first=first, last=last, now=now, filters=filters).ordered()


# ------------------------------------------------------------------ views


@dataclass(frozen=True)
class CalendarDay:
    """One day of a view: the services shown, and how many more there are."""

    day: date
    entries: list[Occurrence]
    more: int
    in_focus: bool


@dataclass(frozen=True)
class CalendarView:
    """A month, week or day of the calendar."""

    view: str
    focus: date
    first: date
    last: date
    today: date
    previous: date
    following: date
    days: list[CalendarDay]
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    filters: Filters = Filters()

    @property
    def weeks(self) -> list[list[CalendarDay]]:
        """Return the days seven at a time (the month grid)."""
        return [self.days[i:i + 7] for i in range(0, len(self.days), 7)]


def _range(view: str, focus: date) -> tuple[date, date, date, date]:
    if view == "month":
        start = focus.replace(day=1)
        end = start.replace(day=cal.monthrange(start.year, start.month)[1])
        first = start - timedelta(days=start.weekday())
        last = end + timedelta(days=6 - end.weekday())
        previous = (start - timedelta(days=1)).replace(day=1)
        return first, last, previous, end + timedelta(days=1)
    if view == "week":
        first = focus - timedelta(days=focus.weekday())
        return first, first + timedelta(days=6), first - timedelta(days=7), first + timedelta(days=7)
    return focus, focus, focus - timedelta(days=1), focus + timedelta(days=1)


def parse_day(raw: Any, today: date) -> date:
    """Parse the focus day: YYYY-MM-DD, or YYYY-MM for a month (today when blank)."""
    if raw in (None, ""):
        return today
    text = str(raw).strip()
    if len(text) == 7:
        text += "-01"
    day = optional_date("date", text)
    if day is None or not 2000 <= day.year <= 2100:
        raise InvalidInput(N_("date: must be a date between 2000 and 2100 as YYYY-MM-DD, got %(raw)r"), raw=raw)
    return day


def viewer_today(session: Session, actor: Actor | None, now: datetime) -> date:
    """Return today where ``actor`` works: their department's site, else the hospital's most
    common zone (UTC when no department has a site zone)."""
    zones = department_zones(session)
    scope = department_scope(resolve_actor(actor))
    if scope is not None and scope in zones:
        return local_date(now, zones[scope])
    names = [str(z) for z in zones.values()]
    return local_date(now, ZoneInfo(max(set(names), key=names.count)) if names else ZoneInfo("UTC"))


def calendar_view(session: Session, *, actor: Actor | None, now: datetime, view: str = "month",
                  day: Any = None, department_id: Any = None, category: Any = None,
                  assignee: Any = None) -> CalendarView:
    """Return a month, week or day of the calendar around ``day`` (today by default)."""
    if view not in VIEWS:
        # The year (counts per day) is pm_calendar_paging.year_view's; the pages offer it too.
        raise InvalidInput(N_("view: must be one of %(choices)s, got %(view)r"), choices=', '.join((*VIEWS, "year")),
                           view=view)
    who = resolve_actor(actor)
    today = viewer_today(session, who, now)
    focus = parse_day(day, today)
    filters = parse_filters(department_id, category, assignee)
    first, last, previous, following = _range(view, focus)
    limit = DAY_LIMITS[view]
    # Only the services a day shows are made; the rest are counted.
    slots, per_slot = gather(session, actor=who, first=first, last=last, now=now, filters=filters).walk(cap=limit)
    by_day: dict[date, list[Occurrence]] = defaultdict(list)
    on_day: dict[date, int] = defaultdict(int)
    counts = {status: 0 for status in CALENDAR_STATUSES}
    for slot in sorted(per_slot):
        by_day[slot[0]].extend(slots[slot])
        on_day[slot[0]] += per_slot[slot]
        counts[CALENDAR_STATUSES_BY_RANK[slot[1]]] += per_slot[slot]
    days = []
    for offset in range((last - first).days + 1):
        current = first + timedelta(days=offset)
        entries = by_day.get(current, [])[:limit]
        days.append(CalendarDay(current, entries, on_day.get(current, 0) - len(entries),
                                view != "month" or current.month == focus.month))
    return CalendarView(view, focus, first, last, today, previous, following, days, sum(on_day.values()), counts,
                        filters)


def calendar_choices(session: Session, *, actor: Actor | None) -> dict[str, list]:
    """Return what the calendar can be filtered by: asset categories, and the users, teams and
    vendors plans are assigned to (as (value, label) pairs)."""
    require(resolve_actor(actor), "pm.view")
    categories = asset_categories(session)
    none = cast(null(), Integer)
    taken = union_all(  # users, then teams, then vendors, each by name: one statement
        select(literal(0).label("kind"), User.display_name.label("name"), User.id.label("ref"))
        .join(PmPlan, PmPlan.assignee_id == User.id),
        select(literal(1), PmPlan.assignee_team, none).where(PmPlan.assignee_team.is_not(None)),
        select(literal(2), PmPlan.assignee_vendor, none).where(PmPlan.assignee_vendor.is_not(None))).subquery()
    rows = session.execute(select(taken.c.kind, taken.c.name, taken.c.ref).distinct()
                           .order_by(taken.c.kind, taken.c.name, taken.c.ref)).all()
    labels = ((lambda name, ref: (f"user:{ref}", name)), (lambda name, _: (f"team:{name}", f"Team {name}")),
              (lambda name, _: (f"vendor:{name}", f"Vendor {name}")))
    return {"categories": categories, "assignees": [labels[kind](name, ref) for kind, name, ref in rows]}
