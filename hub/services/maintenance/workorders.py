"""Work orders: opening, requesting, finding, changing, and the entry points other areas use.

Kinds: ``pm`` (planned maintenance), ``corrective`` (repairs), ``inspection`` (incoming
inspection of new, rented and loaned equipment) and ``recall``. The state machine lives in
:mod:`wardlink.hub.services.maintenance.workorder_flow`, records (notes, time, parts, files, downtime) in
:mod:`wardlink.hub.services.maintenance.workorder_records`, service levels in
:mod:`wardlink.hub.services.maintenance.sla`. This
module re-exports their public functions, so callers need only ``wardlink.hub.services.maintenance.workorders``.

Who sees what: staff see the orders they requested, vendors the orders assigned to them,
everyone else the orders of their department (or all, without a department); orders outside
that scope answer as if they did not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Alert, Asset, Department, User, WorkOrder
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import WORK_ORDER_KINDS, WORK_ORDER_PRIORITIES, WORK_ORDER_SOURCES, WORK_ORDER_STATES
from wardlink.hub.errors import InvalidInput, Message, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets import status
from wardlink.hub.services.assets.register import find_asset
from wardlink.hub.services.maintenance.attachments import AttachmentStore
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import can, require, require_department
from wardlink.hub.services.people.site_time import day_range, zone_for
from wardlink.hub.services.maintenance.sla import (DEFAULT_POLICY, Escalation, SlaPolicy, apply_due_times,
                                                   escalate_overdue, held_time, sla_status)
from wardlink.hub.services.validate import boolean, choice, email_address, optional_id, parse_fields, text
from wardlink.hub.services.maintenance.workorder_common import (FROZEN_STATES, SignatureRefused, WorkOrderConflict,
                                           code_of, ensure_not_frozen, is_frozen, load, scoped, snapshot,
                                           system_note, touch)
from wardlink.hub.services.maintenance.workorder_flow import (TRANSITIONS, Transition, assignable_users, available,
                                         reassign, transition)
from wardlink.hub.services.maintenance.workorder_records import (Records, add_attachment, add_note, add_part,
                                                                 get_attachment, log_time, parse_time, records_of,
                                                                 set_downtime)
from wardlink.clock import Clock

__all__ = [
    "DEFAULT_POLICY", "Escalation", "Records", "SignatureRefused", "SlaPolicy", "TRANSITIONS",
    "Transition", "WorkOrderConflict", "add_attachment", "add_note", "add_part", "assignable_users",
    "assignee_choices", "available", "backlog_counts", "cancel", "close", "close_when_cleared", "code_of",
    "create_work_order", "downtime_orders",
    "escalate_overdue", "get_attachment", "get_work_order", "is_frozen", "list_work_orders", "log_time",
    "open_corrective_from_failed_item", "open_for_alert", "reassign", "records_of", "request_work", "set_downtime",
    "sla_status",
    "suggested_priority", "transition", "update_work_order", "work_order_query",
]

#: Kinds of order that must name the asset they concern.
NEEDS_ASSET = frozenset({"pm", "inspection", "recall"})
#: Filter shorthands for ``state`` in lists.
STATE_GROUPS = {
    "open": ("pending", "assigned", "in_progress", "on_hold"),
    "done": ("completed", *sorted(FROZEN_STATES)),
}
SORTS = {
    "newest": (WorkOrder.created_at.desc(), WorkOrder.id.desc()),
    "oldest": (WorkOrder.created_at, WorkOrder.id),
    "due": (WorkOrder.resolution_due_at.asc().nulls_last(), WorkOrder.id),
    "priority": (case({p: i for i, p in enumerate(WORK_ORDER_PRIORITIES)}, value=WorkOrder.priority).desc(),
                 WorkOrder.created_at, WorkOrder.id),
    "updated": (WorkOrder.updated_at.desc(), WorkOrder.id.desc()),
}
TITLE = text(300, required=True)
DESCRIPTION = text(5000)

CREATE_FIELDS = {
    "kind": choice(WORK_ORDER_KINDS),
    "title": TITLE,
    "description": DESCRIPTION,
    "priority": choice(WORK_ORDER_PRIORITIES),
    "asset_tag": text(64),
    "department_id": optional_id,
    "alert_id": optional_id,
    "due_at": parse_time,
    "equipment_down": boolean,
    "assignee_id": optional_id,
}
REQUEST_FIELDS = {
    "title": TITLE,
    "description": DESCRIPTION,
    "priority": choice(WORK_ORDER_PRIORITIES),
    "asset_tag": text(64),
    "equipment_down": boolean,
    "requester_name": text(200),
    "requester_contact": text(200),
    "requester_email": email_address,
}
UPDATE_FIELDS = {
    "title": TITLE,
    "description": DESCRIPTION,
    "priority": choice(WORK_ORDER_PRIORITIES),
    "due_at": parse_time,
}


def suggested_priority(asset: Asset | None, *, failed: bool = False, safety: bool = False) -> str:
    """Return the priority a new order on ``asset`` should start with.

    Failures of life-support equipment are critical (the device may be keeping someone
    alive); a safety-critical check that failed, or a failure of equipment whose EM score
    puts it in the planned-maintenance programme (high risk), is high; otherwise medium.
    Anything else starts medium; whoever may change orders adjusts it.
    """
    if asset is None or not failed:
        return "medium"
    if asset.life_support:
        return "critical"
    if safety or asset.needs_planned_maintenance:
        return "high"
    return "medium"


def _asset(session: Session, who: Actor, tag: str | None) -> Asset | None:
    if not tag:
        return None
    asset = find_asset(session, tag)
    if asset is None:
        raise InvalidInput(N_("asset_tag: no asset '%(tag)s'"), tag=tag)
    require_department(who, asset.department_id, Message(N_("asset '%(tag)s'"), tag=tag))
    return asset


def _department(session: Session, department_id: int | None) -> int | None:
    if department_id is None:
        return None
    if session.get(Department, department_id) is None:
        raise InvalidInput(N_("department_id: no department %(department_id)s"), department_id=department_id)
    return department_id


def _open(session: Session, who: Actor, clock: Clock, *, kind: str, title: str, description: str,
          priority: str, asset: Asset | None, department_id: int | None, source: str,
          policy: SlaPolicy, alert: Alert | None = None, due_at: datetime | None = None,
          equipment_down: bool = False, requester_name: str = "", requester_contact: str = "",
          requester_email: str = "", parent: WorkOrder | None = None) -> WorkOrder:
    """Insert a pending order with its SLA due times and downtime default, and audit it."""
    choice(WORK_ORDER_SOURCES)("source", source)
    if kind in NEEDS_ASSET and asset is None:
        raise InvalidInput(N_("asset_tag: is required for %(kind)s work orders"), kind=Term(kind))
    if asset is not None:
        if department_id is not None and department_id != asset.department_id:
            raise InvalidInput(N_("department_id: asset '%(tag)s' belongs to department %(department_id)s, got "
                                  "%(department_id2)s"),
                               tag=asset.tag, department_id=asset.department_id, department_id2=department_id)
        department_id = asset.department_id
    require_department(who, department_id, Message(N_("the work order")))
    now = utc_now(clock)
    order = WorkOrder(kind=kind, state="pending", priority=priority, title=title, description=description,
                      asset=asset, department_id=department_id, alert=alert, source=source,
                      requested_by_id=who.user_id, requester_name=requester_name,
                      requester_contact=requester_contact, requester_email=requester_email, parent=parent,
                      due_at=due_at,
                      created_at=now, updated_at=now, escalation_level=0)
    apply_due_times(order, policy)
    if alert is not None:
        order.downtime_start = alert.opened_at
    elif equipment_down:
        order.downtime_start = now
    session.add(order)
    session.flush()
    order.code = code_of(order)
    session.flush()
    audit.record(session, actor=who, action="workorder.create", entity="work_order", entity_id=order.id,
                 after=snapshot(order), clock=clock)
    if equipment_down and kind == "corrective" and asset is not None and status.apply_tagout(
            session, asset, reason=f"Reported out of use in {order.code}: {title}", who=who, now=now,
            clock=clock, work_order_id=order.id, source=source):
        system_note(session, order, f"{asset.tag} tagged out (do not use) as reported; closing this order "
                                    "with a passing safety check clears it", who, now)
        session.flush()
    notices.work_opened(session, order, clock=clock)
    return order


def create_work_order(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                      clock: Clock | None = None, source: str = "manual",
                      policy: SlaPolicy = DEFAULT_POLICY) -> WorkOrder:
    """Open a work order of any kind from ``data`` (:data:`CREATE_FIELDS`); ``assignee_id``
    assigns it at once. The PM generator passes ``source="pm"``."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "workorder.create")
    raw = dict(data)
    suggest = raw.get("priority") in (None, "")
    raw["priority"] = "medium" if suggest else raw["priority"]
    fields = parse_fields(CREATE_FIELDS, raw, partial=False)
    if fields["assignee_id"] is not None:
        require(who, "workorder.assign")
    alert = None
    if fields["alert_id"] is not None:
        alert = session.get(Alert, fields["alert_id"])
        if alert is None:
            raise InvalidInput(N_("alert_id: no alert %(alert_id)s"), alert_id=fields['alert_id'])
    asset = _asset(session, who, fields["asset_tag"]) or (alert.asset if alert is not None else None)
    if suggest:
        fields["priority"] = suggested_priority(asset, failed=fields["kind"] == "corrective")
    order = _open(session, who, clock, kind=fields["kind"], title=fields["title"],
                  description=fields["description"], priority=fields["priority"], asset=asset,
                  department_id=_department(session, fields["department_id"]), source=source,
                  policy=policy, alert=alert, due_at=fields["due_at"],
                  equipment_down=fields["equipment_down"])
    if fields["assignee_id"] is not None:
        transition(session, order.id, "assigned", {"assignee_id": fields["assignee_id"]}, actor=who,
                   clock=clock)
    return order


def request_work(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                 clock: Clock | None = None, files: Iterable[tuple[str | None, bytes]] = (),
                 store: AttachmentStore | None = None, source: str = "request",
                 policy: SlaPolicy = DEFAULT_POLICY) -> WorkOrder:
    """Turn a request (from staff, or the public QR page with ``source="qr"``) into a pending
    corrective order, with its ``files`` (name, bytes) attached.

    Requests from the QR page run as a system actor and must carry ``requester_name``; a
    ``requester_email`` given with a request hears of every status change of the order
    (:func:`wardlink.hub.services.notices.core.reporter_status`).
    """
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "workorder.request")
    if source not in ("request", "qr"):
        raise InvalidInput(N_("source: must be request or qr, got %(source)r"), source=source)
    raw = dict(data)
    suggest = raw.get("priority") in (None, "")
    raw["priority"] = "medium" if suggest else raw["priority"]
    fields = parse_fields(REQUEST_FIELDS, raw, partial=False)
    if who.user_id is None and not fields["requester_name"]:
        raise InvalidInput(N_("requester_name: is required for requests made without signing in"))
    files = list(files)
    if files and store is None:
        raise InvalidInput(N_("files: this hub has no attachment store configured"))
    asset = _asset(session, who, fields["asset_tag"])
    if suggest:
        fields["priority"] = suggested_priority(asset, failed=True)
    order = _open(session, who, clock, kind="corrective", title=fields["title"],
                  description=fields["description"], priority=fields["priority"], asset=asset,
                  department_id=None if asset is not None else who.department_id, source=source,
                  policy=policy, equipment_down=fields["equipment_down"],
                  requester_name=fields["requester_name"], requester_contact=fields["requester_contact"],
                  requester_email=fields["requester_email"])
    for name, data_bytes in files:
        add_attachment(session, order.id, filename=name, data=data_bytes, store=store, actor=who, clock=clock)
    return order


def open_corrective_from_failed_item(session: Session, *, work_order_id: int, item: str, detail: str = "",
                                     priority: str | None = None, actor: Actor | None,
                                     clock: Clock | None = None, safety: bool = False,
                                     policy: SlaPolicy = DEFAULT_POLICY) -> WorkOrder:
    """Open (once) a corrective order for a failed checklist item of order ``work_order_id``.

    The new order names the failed item in its title, links back to the checklist's order as
    its parent and concerns the same asset. Priority defaults to high for life-support
    equipment, medium otherwise. Asking again for the same item while the first corrective
    order is still open returns that order. The actor needs ``workorder.create``, or
    ``workorder.work`` as the assignee of the checklist's order (e.g. a vendor doing the PM).
    A failed ``safety`` (safety-critical) item tags the asset out of use; the corrective order
    holds the tag-out until it is closed with a passing safety check.
    """
    who, clock = resolve_actor(actor), resolve_clock(clock)
    parent = load(session, work_order_id, who)
    if not (can(who, "workorder.create") or (
            can(who, "workorder.work") and who.user_id is not None and parent.assigned_to_id == who.user_id)):
        require(who, "workorder.create")
    label_text = text(200, required=True)("item", item)
    title = f"Failed check: {label_text}" + (f" ({parent.asset.tag})" if parent.asset else "")
    existing = session.scalar(select(WorkOrder).where(
        WorkOrder.parent_id == parent.id, WorkOrder.source == "checklist", WorkOrder.title == title[:300],
        WorkOrder.state.not_in(FROZEN_STATES)))
    if existing is not None:
        return existing
    if priority is None:
        priority = suggested_priority(parent.asset, failed=True, safety=safety)
    description = (f"Checklist item failed on {code_of(parent)} ({parent.title}): {label_text}."
                   + (f"\n{text(4000)('detail', detail)}" if detail else ""))
    order = _open(session, who, clock, kind="corrective", title=title[:300], description=description,
                  priority=choice(WORK_ORDER_PRIORITIES)("priority", priority), asset=parent.asset,
                  department_id=parent.department_id, source="checklist", policy=policy, parent=parent)
    system_note(session, parent, f"Corrective work order {code_of(order)} opened for failed item: {label_text}",
                who, order.created_at)
    if safety and parent.asset is not None and status.apply_tagout(
            session, parent.asset, reason=f"Safety-critical check failed on {code_of(parent)}: {label_text}",
            who=who, now=order.created_at, clock=clock, work_order_id=order.id, source="checklist"):
        system_note(session, order, f"{parent.asset.tag} tagged out (do not use) until this order is closed "
                                    "with a passing safety check", who, order.created_at)
    session.flush()
    return order


def open_for_alert(session: Session, alert: Alert, *, title: str, description: str, priority: str,
                   started_at: datetime, actor: Actor | None, clock: Clock | None = None,
                   policy: SlaPolicy = DEFAULT_POLICY) -> WorkOrder:
    """Open the corrective order a rule asks for with its alert: downtime starts when the
    alert's condition began (``started_at``), not when the order was written."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    order = _open(session, who, clock, kind="corrective", title=TITLE("title", title[:300]),
                  description=description[:5000], priority=choice(WORK_ORDER_PRIORITIES)("priority", priority),
                  asset=alert.asset, department_id=None, source="alert", policy=policy, alert=alert)
    order.downtime_start = started_at
    session.flush()
    return order


def close_when_cleared(session: Session, order_id: int, *, cleared_at: datetime, actor: Actor | None,
                       clock: Clock | None = None) -> bool:
    """Close an alert-opened order itself when its alert's condition cleared and nobody has
    logged work on it (nobody started it; no time, parts, files or notes from people).

    It ends as Cancelled (a signed close needs someone who did the work) with a system note
    saying why, and its downtime ends when the condition cleared. An order someone worked on
    stays open with a note that the condition cleared. Returns True when it closed.
    """
    who, clock = resolve_actor(actor), resolve_clock(clock)
    order = session.get(WorkOrder, order_id)
    if order is None or order.state not in ("pending", "assigned"):
        return False
    when = f"{cleared_at:%Y-%m-%d %H:%M} UTC"
    records = records_of(session, order)
    worked = (records.time_logs or records.parts or records.attachments
              or any(n.kind != "system" for n in records.notes))
    if worked:
        system_note(session, order, f"The alert's condition cleared at {when}; this order stays open because "
                                    "work was logged on it", who, utc_now(clock))
        session.flush()
        return False
    if order.downtime_start is not None and order.downtime_end is None:
        order.downtime_end = max(order.downtime_start, cleared_at)
    transition(session, order.id, "cancelled",
               {"reason": f"Closed automatically: the alert's condition cleared at {when} and nobody logged "
                          "work on it (rule option auto_close)"}, actor=who, clock=clock)
    return True


# ------------------------------------------------------------------ reading


def _state_filter(raw: str) -> tuple[str, ...]:
    states: list[str] = []
    for part in (p.strip() for p in raw.split(",")):
        if part in STATE_GROUPS:
            states.extend(STATE_GROUPS[part])
        else:
            states.append(choice((*WORK_ORDER_STATES, *STATE_GROUPS))("state", part))
    return tuple(states)


def _user_filter(name: str, raw: Any, who: Actor) -> int | None | bool:
    """Return a user id, or False for ``none`` (nobody), or None for no filter."""
    if raw == "me":
        if who.user_id is None:
            raise InvalidInput(N_("%(field)s: 'me' needs a signed-in user"), field=name)
        return who.user_id
    if raw == "none":
        return False
    try:
        return optional_id(name, raw)
    except InvalidInput:
        raise InvalidInput(N_("%(field)s: must be a user id, 'me' or 'none', got %(raw)r"),
                           field=name, raw=raw) from None


#: The dates a list can be limited by: what people call them -> the column.
DATE_FIELDS = {"opened": WorkOrder.created_at, "due": WorkOrder.resolution_due_at,
               "closed": WorkOrder.closed_at}


def _date_filter(session: Session, stmt: Select, who: Actor, dates: str | None, date_from: Any,
                 date_to: Any, department_id: int | None) -> Select:
    """Limit ``stmt`` to orders whose ``dates`` (opened, due or closed) fall on the local days
    ``date_from``..``date_to`` (both included) in the site's time zone."""
    column = DATE_FIELDS[choice(tuple(DATE_FIELDS))("dates", dates or "opened")]
    days = day_range(date_from, date_to, zone_for(session, who, department_id))
    if days.since is not None:
        stmt = stmt.where(column >= days.since)
    if days.until is not None:
        stmt = stmt.where(column < days.until)
    return stmt


def work_order_query(session: Session, *, actor: Actor | None, state: str | None = None,
                     kind: str | None = None, priority: str | None = None, asset_tag: str | None = None,
                     department_id: Any = None, assigned_to: Any = None, requested_by: Any = None,
                     source: str | None = None, breached: bool | None = None, q: str | None = None,
                     dates: str | None = None, date_from: Any = None, date_to: Any = None,
                     sort: str = "newest") -> Select:
    """Return the ordered query of the orders the actor may see, filtered (see
    :func:`list_work_orders`); exports stream it, lists page it."""
    who = resolve_actor(actor)
    require(who, "workorder.view")
    if sort not in SORTS:
        raise InvalidInput(N_("sort: must be one of %(choices)s, got %(sort)r"), choices=', '.join(SORTS), sort=sort)
    stmt = scoped(select(WorkOrder), who)
    if state:
        stmt = stmt.where(WorkOrder.state.in_(_state_filter(state)))
    for column, value, allowed, name in ((WorkOrder.kind, kind, WORK_ORDER_KINDS, "kind"),
                                         (WorkOrder.priority, priority, WORK_ORDER_PRIORITIES, "priority"),
                                         (WorkOrder.source, source, WORK_ORDER_SOURCES, "source")):
        if value:
            stmt = stmt.where(column == choice(allowed)(name, value))
    if asset_tag:
        asset = find_asset(session, text(64)("asset", asset_tag))
        stmt = stmt.where(WorkOrder.asset_id == (asset.id if asset else -1))
    dept = optional_id("department_id", department_id)
    if dept is not None:
        stmt = stmt.where(WorkOrder.department_id == dept)
    for column, raw, name in ((WorkOrder.assigned_to_id, assigned_to, "assigned_to"),
                              (WorkOrder.requested_by_id, requested_by, "requested_by")):
        user_id = _user_filter(name, raw, who)
        if user_id is False:
            stmt = stmt.where(column.is_(None))
        elif user_id is not None:
            stmt = stmt.where(column == user_id)
    if breached is not None:
        condition = or_(WorkOrder.response_breached_at.is_not(None), WorkOrder.resolution_breached_at.is_not(None))
        stmt = stmt.where(condition if breached else ~condition)
    if q and q.strip():
        term = text(100)("q", q.strip()[:100])
        stmt = stmt.where(or_(WorkOrder.title.icontains(term, autoescape=True),
                              WorkOrder.code.icontains(term, autoescape=True)))
    if dates or date_from or date_to:
        stmt = _date_filter(session, stmt, who, dates, date_from, date_to, dept)
    return stmt.order_by(*SORTS[sort])


def list_work_orders(session: Session, *, actor: Actor | None, page: int = 1, per_page: int = 50,
                     **filters: Any) -> Page[WorkOrder]:
    """Return one page of the orders the actor may see, filtered.

    ``state`` takes one state, a comma-separated list, ``open`` or ``done``; ``assigned_to`` and
    ``requested_by`` take a user id, ``me`` or ``none`` (nobody); ``breached`` keeps orders
    with any SLA breach; ``dates`` (``opened``, the default, ``due`` or ``closed``) with
    ``date_from`` and ``date_to`` (local dates, both included, in the site's time zone) keeps
    orders whose date falls in that range; ``q`` searches titles and codes; ``sort`` is one
    of :data:`SORTS`.
    """
    query = work_order_query(session, actor=actor, **filters)
    stmt = query.options(selectinload(WorkOrder.asset), selectinload(WorkOrder.department),
                         selectinload(WorkOrder.assigned_to), selectinload(WorkOrder.requested_by))
    return paginate(session, stmt, page, per_page, keys=query.with_only_columns(WorkOrder.id))


def assignee_choices(session: Session, *, actor: Actor | None) -> list[User]:
    """Return the people a list can be filtered by assignee: whoever holds an order the actor
    may see, and (for those who assign work) everyone work can be assigned to; by name."""
    who = resolve_actor(actor)
    require(who, "workorder.view")
    held = scoped(select(WorkOrder.assigned_to_id).where(WorkOrder.assigned_to_id.is_not(None)), who).distinct()
    people = {u.id: u for u in session.scalars(select(User).where(User.id.in_(held)))}
    if can(who, "workorder.assign"):
        people.update({u.id: u for u in assignable_users(session, actor=who)})
    return sorted(people.values(), key=lambda u: ((u.display_name or u.username).lower(), u.id))


#: Work-order states counted as backlog (all but closed and cancelled), in board order.
BACKLOG_STATES = tuple(s for s in WORK_ORDER_STATES if s not in FROZEN_STATES)


def backlog_counts(session: Session, *, actor: Actor | None) -> dict:
    """Return the backlog the actor may see: open orders, how many of them are past a service
    level, and the count of each backlog state (in board order)."""
    # Counts only: one GROUP BY on the state index. (Listing pages of each state just to read
    # their totals made the planner walk every order.)
    who = resolve_actor(actor)
    require(who, "workorder.view")
    counts = dict(session.execute(scoped(
        select(WorkOrder.state, func.count()).where(WorkOrder.state.in_(BACKLOG_STATES)), who)
        .group_by(WorkOrder.state)).all())
    by_state = [(state, counts.get(state, 0)) for state in BACKLOG_STATES]
    overdue = session.scalar(scoped(select(func.count()).select_from(WorkOrder).where(
        WorkOrder.state.in_(STATE_GROUPS["open"]),
        or_(WorkOrder.response_breached_at.is_not(None), WorkOrder.resolution_breached_at.is_not(None))),
        who)) or 0
    return {"open": sum(n for s, n in by_state if s in STATE_GROUPS["open"]), "overdue": overdue,
            "by_state": by_state}


def downtime_orders(session: Session, asset_id: int, *, actor: Actor | None, limit: int) -> list[WorkOrder]:
    """Return the newest ``limit`` orders of an asset that record downtime, as far as the actor
    may see them."""
    who = resolve_actor(actor)
    require(who, "workorder.view")
    stmt = scoped(select(WorkOrder).where(WorkOrder.asset_id == asset_id, WorkOrder.downtime_start.is_not(None)),
                  who)
    return list(session.scalars(stmt.order_by(WorkOrder.downtime_start.desc()).limit(limit)))


def get_work_order(session: Session, order_id: int, *, actor: Actor | None) -> WorkOrder:
    """Return the order if the actor may see it, else :class:`~wardlink.hub.errors.NotFound`."""
    return load(session, order_id, resolve_actor(actor))


def update_work_order(session: Session, order_id: int, changes: Mapping[str, Any], *,
                      actor: Actor | None, clock: Clock | None = None,
                      policy: SlaPolicy = DEFAULT_POLICY) -> WorkOrder:
    """Change an open order's title, description, priority or due date; a new priority moves
    the SLA due times (counted from creation, keeping time added for holds)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "workorder.update")
    order = load(session, order_id, who, for_update=True)
    ensure_not_frozen(order, N_("change it"))
    fields = parse_fields(UPDATE_FIELDS, changes, partial=True)
    before = snapshot(order)
    held = held_time(order, policy)
    for key, value in fields.items():
        setattr(order, key, value)
    if "priority" in fields and fields["priority"] != before["priority"]:
        apply_due_times(order, policy, held=held)
    old, new = audit.changes(before, snapshot(order))
    if new:
        touch(order, utc_now(clock))
        session.flush()
        audit.record(session, actor=who, action="workorder.update", entity="work_order", entity_id=order.id,
                     before=old, after=new, clock=clock)
    return order


def close(session: Session, order_id: int, *, password: str, comment: str = "", actor: Actor | None,
          clock: Clock | None = None) -> WorkOrder:
    """Approve and close a completed order with the actor's electronic signature."""
    payload = {"password": password}
    if comment:
        payload["comment"] = comment
    return transition(session, order_id, "closed", payload, actor=actor, clock=clock)


def cancel(session: Session, order_id: int, *, reason: str, actor: Actor | None,
           clock: Clock | None = None) -> WorkOrder:
    """Cancel an order nobody has started, saying why."""
    return transition(session, order_id, "cancelled", {"reason": reason}, actor=actor, clock=clock)

