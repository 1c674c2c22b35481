"""Service levels of work orders: due times by priority, status, breach detection, escalation.

Every work order gets two due times when it is opened, counted from its creation on a
24-hour clock (wards and their equipment run around the clock):

- **response**: someone has started the work (the order went *In progress*);
- **resolution**: the work is done (the order went *Completed*).

The resolution clock stops while an order is *On hold* (waiting for parts, a vendor or
access to the ward): on resume the due time moves on by the time spent on hold.

:func:`escalate_overdue` stamps each breach once, raises the order's escalation level, writes
a system note and an audit row, tells the assignee and the escalation roles of the department
(a notice, exactly once per breach), and returns what happened. Before that, when an order has
used ``warn_fraction`` (75 %) of a clock's time, its assignee is told once per clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import WorkOrder
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import WORK_ORDER_PRIORITIES, label
from wardlink.hub.errors import ConfigError
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance.workorder_common import code_of, system_note
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.people import local_time
from wardlink.clock import Clock

#: States in which an order's clocks run.
ACTIVE_STATES = ("pending", "assigned", "in_progress", "on_hold")
#: States in which an order still waits for someone to start on it.
AWAITING_RESPONSE = ("pending", "assigned")
#: Who hears about a second breach of any order, whatever its priority.
SECOND_BREACH_ROLES = ("manager", "admin")


@dataclass(frozen=True)
class SlaTarget:
    """Response and resolution times for one priority, and who hears of a first breach."""

    response: timedelta
    resolution: timedelta
    escalate_to: tuple[str, ...]


#: The default targets (hours): Critical 1 / 8, High 4 / 24, Medium 24 / 120, Low 72 / 336.
DEFAULT_TARGETS: Mapping[str, SlaTarget] = {
    "critical": SlaTarget(timedelta(hours=1), timedelta(hours=8), ("manager", "admin")),
    "high": SlaTarget(timedelta(hours=4), timedelta(hours=24), ("manager",)),
    "medium": SlaTarget(timedelta(hours=24), timedelta(hours=120), ("manager",)),
    "low": SlaTarget(timedelta(hours=72), timedelta(hours=336), ("manager",)),
}


@dataclass(frozen=True)
class SlaPolicy:
    """The SLA targets per priority, and when an order counts as at risk (share of time used)."""

    targets: Mapping[str, SlaTarget] = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    warn_fraction: float = 0.75

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, key: str = "sla") -> SlaPolicy:
        """Build a policy from ``{"critical": {"response_hours": 1, "resolution_hours": 8}, ...}``.

        Priorities left out keep their defaults; errors name the key and the allowed values.
        """
        targets = dict(DEFAULT_TARGETS)
        warn = raw.get("warn_fraction", 0.75)
        if isinstance(warn, bool) or not isinstance(warn, (int, float)) or not 0 < warn < 1:
            raise ConfigError(f"{key}.warn_fraction: must be a number between 0 and 1, got {warn!r}")
        for priority, entry in raw.items():
            if priority == "warn_fraction":
                continue
            if priority not in WORK_ORDER_PRIORITIES:
                raise ConfigError(f"{key}.{priority}: unknown priority; allowed: "
                                  f"{', '.join(WORK_ORDER_PRIORITIES)}")
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{key}.{priority}: must be a table, got {entry!r}")
            hours = {}
            for name in ("response_hours", "resolution_hours"):
                value = entry.get(name, getattr(targets[priority], name.removesuffix("_hours"))
                                  / timedelta(hours=1))
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                    raise ConfigError(f"{key}.{priority}.{name}: must be a number of hours > 0, got {value!r}")
                hours[name] = float(value)
            unknown = set(entry) - {"response_hours", "resolution_hours", "escalate_to"}
            if unknown:
                raise ConfigError(f"{key}.{priority}: unknown key(s) {', '.join(sorted(unknown))}; "
                                  "allowed: response_hours, resolution_hours, escalate_to")
            if hours["response_hours"] > hours["resolution_hours"]:
                raise ConfigError(f"{key}.{priority}.response_hours: must not exceed resolution_hours "
                                  f"({hours['resolution_hours']}), got {hours['response_hours']}")
            escalate_to = tuple(entry.get("escalate_to", targets[priority].escalate_to))
            targets[priority] = SlaTarget(timedelta(hours=hours["response_hours"]),
                                          timedelta(hours=hours["resolution_hours"]), escalate_to)
        return cls(targets=targets, warn_fraction=float(warn))

    def target(self, priority: str) -> SlaTarget:
        """Return the target of ``priority``."""
        return self.targets[priority]

    def due_times(self, priority: str, opened_at: datetime) -> tuple[datetime, datetime]:
        """Return the (response, resolution) due times of an order opened at ``opened_at``."""
        target = self.target(priority)
        return opened_at + target.response, opened_at + target.resolution


DEFAULT_POLICY = SlaPolicy()


def held_time(order: WorkOrder, policy: SlaPolicy) -> timedelta:
    """Return the hold time added to the order's resolution due time so far."""
    if order.resolution_due_at is None:
        return timedelta(0)
    target = policy.target(order.priority).resolution
    return max(timedelta(0), order.resolution_due_at - order.created_at - target)


def apply_due_times(order: WorkOrder, policy: SlaPolicy, *, held: timedelta = timedelta(0)) -> None:
    """Set the order's due times from its priority, plus ``held`` time spent on hold."""
    response_due, resolution_due = policy.due_times(order.priority, order.created_at)
    order.response_due_at, order.resolution_due_at = response_due, resolution_due + held


def _clock_status(started: datetime, due: datetime | None, done: datetime | None, now: datetime,
                  warn_fraction: float) -> str | None:
    if due is None:
        return None
    if done is not None:
        return "met" if done <= due else "late"
    if now > due:
        return "breached"
    total = (due - started).total_seconds()
    used = (now - started).total_seconds()
    return "at_risk" if total > 0 and used >= warn_fraction * total else "on_track"


def sla_status(order: WorkOrder, now: datetime, policy: SlaPolicy = DEFAULT_POLICY) -> dict[str, str | None]:
    """Return the response and resolution status: on_track, at_risk, breached, met, late,
    paused (on hold) or None (no due time, or cancelled before it mattered)."""
    if order.state == "cancelled":
        return {"response": None, "resolution": None}
    response = _clock_status(order.created_at, order.response_due_at, order.responded_at, now,
                             policy.warn_fraction)
    if order.state == "on_hold" and order.completed_at is None:
        resolution = "paused"
    else:
        resolution = _clock_status(order.created_at, order.resolution_due_at, order.completed_at, now,
                                   policy.warn_fraction)
    return {"response": response, "resolution": resolution}


@dataclass(frozen=True)
class Escalation:
    """One breach found by :func:`escalate_overdue`: who must hear about which order."""

    work_order_id: int
    code: str
    title: str
    priority: str
    breach: str  # "response" or "resolution"
    level: int
    due_at: datetime
    breached_at: datetime
    notify_roles: tuple[str, ...]
    assigned_to_id: int | None
    department_id: int | None


def _overdue(now: datetime):
    return select(WorkOrder).where(
        WorkOrder.state.in_(ACTIVE_STATES),
        or_(
            WorkOrder.response_due_at.is_(None),
            and_(WorkOrder.state.in_(AWAITING_RESPONSE), WorkOrder.responded_at.is_(None),
                 WorkOrder.response_breached_at.is_(None), WorkOrder.response_due_at <= now),
            and_(WorkOrder.state != "on_hold", WorkOrder.resolution_breached_at.is_(None),
                 WorkOrder.resolution_due_at <= now),
        ),
    ).order_by(WorkOrder.id)


def _breaches(order: WorkOrder, now: datetime) -> list[tuple[str, datetime]]:
    found = []
    if (order.state in AWAITING_RESPONSE and order.responded_at is None
            and order.response_breached_at is None and order.response_due_at <= now):
        found.append(("response", order.response_due_at))
    if (order.state != "on_hold" and order.resolution_breached_at is None
            and order.resolution_due_at <= now):
        found.append(("resolution", order.resolution_due_at))
    return found


def escalate_overdue(session: Session, clock: Clock, *, policy: SlaPolicy = DEFAULT_POLICY,
                     actor: Actor | None = None) -> list[Escalation]:
    """Stamp every new SLA breach at ``clock``'s time, escalate it once and return them all.

    Orders opened without due times (e.g. by an integration writing rows directly) get them
    here first. Calling again at the same time finds nothing new. Rows are locked
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) so two schedulers never escalate one breach twice.
    """
    who = actor or Actor.system("scheduler")
    now = utc_now(clock)
    stmt = _overdue(now)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    found: list[Escalation] = []
    for order in session.scalars(stmt).all():
        if order.response_due_at is None or order.resolution_due_at is None:
            apply_due_times(order, policy)
            audit.record(session, actor=who, action="workorder.sla_set", entity="work_order",
                         entity_id=order.id, after={"response_due_at": order.response_due_at,
                                                    "resolution_due_at": order.resolution_due_at},
                         clock=clock)
        for breach, due in _breaches(order, now):
            found.append(_escalate(session, order, breach, due, now, policy, who, clock))
    session.flush()
    warn_at_risk(session, clock, policy=policy)
    return found


def _at_risk(order: WorkOrder, now: datetime, warn_fraction: float) -> list[tuple[str, datetime]]:
    found = []
    clocks = []
    if order.state in AWAITING_RESPONSE and order.responded_at is None and order.response_breached_at is None:
        clocks.append(("response", order.response_due_at))
    if order.state != "on_hold" and order.completed_at is None and order.resolution_breached_at is None:
        clocks.append(("resolution", order.resolution_due_at))
    for name, due in clocks:
        if due is not None and now < due and _clock_status(order.created_at, due, None, now,
                                                           warn_fraction) == "at_risk":
            found.append((name, due))
    return found


def warn_at_risk(session: Session, clock: Clock, *, policy: SlaPolicy = DEFAULT_POLICY) -> int:
    """Tell each at-risk order's assignee (75 % of a clock's time used) once per clock; return
    how many people were told now."""
    now = utc_now(clock)
    told = 0
    # Read only the clock columns of the active orders; load the few at risk and not yet warned.
    stmt = select(WorkOrder.id, WorkOrder.state, WorkOrder.created_at, WorkOrder.response_due_at,
                  WorkOrder.resolution_due_at, WorkOrder.responded_at, WorkOrder.completed_at,
                  WorkOrder.response_breached_at, WorkOrder.resolution_breached_at).where(
        WorkOrder.state.in_(ACTIVE_STATES), or_(
            WorkOrder.response_breached_at.is_(None), WorkOrder.resolution_breached_at.is_(None)))
    risky = [(row.id, name, due) for row in session.execute(stmt.order_by(WorkOrder.id))
             for name, due in _at_risk(row, now, policy.warn_fraction)]
    done = notices.announced_keys(session, [notices.sla_warning_key(i, name) for i, name, _ in risky])
    for order_id, name, due in risky:
        if notices.sla_warning_key(order_id, name) not in done:
            told += len(notices.sla_warning(session, session.get(WorkOrder, order_id), name, due, clock=clock))
    return told


def _escalate(session: Session, order: WorkOrder, breach: str, due: datetime, now: datetime,
              policy: SlaPolicy, who: Actor, clock: Clock) -> Escalation:
    setattr(order, f"{breach}_breached_at", now)
    before = {"escalation_level": order.escalation_level}
    order.escalation_level += 1
    order.escalated_at = now
    roles = policy.target(order.priority).escalate_to if order.escalation_level == 1 else SECOND_BREACH_ROLES
    zone = local_time.department_zone(session, order.department_id) or local_time.first_site_zone(session)
    system_note(session, order, f"{breach.capitalize()} time exceeded (due {due.astimezone(zone):%Y-%m-%d %H:%M %Z}, "
                                f"{label(order.priority)} priority); escalated to {', '.join(roles)}.",
                who, now)
    audit.record(session, actor=who, action="workorder.escalate", entity="work_order",
                 entity_id=order.id, before=before,
                 after={"escalation_level": order.escalation_level, "breach": breach, "due_at": due,
                        "notify": list(roles)}, clock=clock)
    notices.sla_breached(session, order, breach, due, roles, clock=clock)
    return Escalation(order.id, code_of(order), order.title, order.priority, breach,
                      order.escalation_level, due, now, tuple(roles), order.assigned_to_id,
                      order.department_id)
