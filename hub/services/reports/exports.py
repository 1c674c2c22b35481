"""Exports of work orders, the asset register, PM compliance, the audit trail and readings.

Each ``*_table`` function checks the caller's permission and the filters at once (errors are
raised before any file is written), counts the rows and returns a
:class:`~wardlink.hub.services.reports.tables.Table` whose rows are read from the database in
batches as the file is written. Each export sees exactly what its page shows the same user:
the same filters, the same department scope. Times are local to the site (the column header
names the zone), readings carry their unit. :func:`record` writes the audit row of an export.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import AuditLog, Channel, ChannelBinding, Gateway, WorkOrder
from wardlink.hub.db.types import from_ms, to_ms
from wardlink.hub.errors import InvalidInput, NotFound, StoreError
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets.register import get_asset, list_assets
from wardlink.hub.services.audit import readable
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.maintenance.compliance import JUDGEMENTS, Tally
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.people.site_time import day_range, zone_for
from wardlink.hub.services.reports import kpis
from wardlink.hub.services.reports.tables import Sheet, Table
from wardlink.clock import Clock

#: Rows read from the database at a time.
BATCH = 200
#: Exports with at most this many rows may be downloaded at once; larger ones run as jobs.
SMALL_ROWS = 2000
#: The kinds of export, as routes, jobs and audit rows name them.
KINDS = ("work_orders", "assets", "pm_compliance", "audit", "readings")


def count(session: Session, stmt) -> int:
    """Return how many rows ``stmt`` selects."""
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


def local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    """Return ``moment`` in ``zone`` (None stays None)."""
    return None if moment is None else moment.astimezone(zone)


def record(session: Session, *, actor: Actor | None, kind: str, fmt: str, filters: dict[str, Any], rows: int,
           clock: Clock | None = None) -> None:
    """Write the audit row of an export: who exported what, with which filters, how many rows."""
    audit.record(session, actor=actor, action="export.create", entity="export", entity_id=kind,
                 after={"format": fmt, "rows": rows,
                        "filters": {k: str(v) for k, v in filters.items() if v not in (None, "")}},
                 clock=clock)


def _stamp(when: date | datetime) -> str:
    return when.strftime("%Y%m%d") if isinstance(when, date) and not isinstance(when, datetime) \
        else when.strftime("%Y%m%d-%H%M")


# ------------------------------------------------------------------ work orders


WORK_ORDER_HEADER = ("code", "title", "kind", "state", "priority", "asset", "department", "assigned_to",
                     "requested_by", "source", "opened", "response_due", "resolution_due", "cancelled",
                     "completed", "closed", "resolution", "response_breached", "resolution_breached")


def work_orders_table(session: Session, *, actor: Actor | None, clock: Clock | None = None,
                      **filters: Any) -> Table:
    """Return the work orders the actor's list shows with ``filters`` (see
    :func:`wardlink.hub.services.maintenance.workorders.list_work_orders`)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    stmt = workorders.work_order_query(session, actor=who, **filters)
    zone = zone_for(session, who, _int(filters.get("department_id")))
    total = count(session, stmt)
    stmt = stmt.options(selectinload(WorkOrder.asset), selectinload(WorkOrder.department),
                        selectinload(WorkOrder.assigned_to), selectinload(WorkOrder.requested_by))

    def rows() -> Iterator[list[Any]]:
        for w in session.scalars(stmt.execution_options(yield_per=BATCH)):
            yield [w.code or f"WO-{w.id:06d}", w.title, w.kind, w.state, w.priority,
                   w.asset.tag if w.asset else None, w.department.code if w.department else None,
                   _person(w.assigned_to), _person(w.requested_by) or w.requester_name or None, w.source,
                   *(local(t, zone) for t in (w.created_at, w.response_due_at, w.resolution_due_at,
                                              w.cancelled_at, w.completed_at, w.closed_at)),
                   w.resolution_category, "yes" if w.response_breached_at else "no",
                   "yes" if w.resolution_breached_at else "no"]
    header = [h if h not in _TIMES else f"{h} ({zone.key})" for h in WORK_ORDER_HEADER]
    return Table(N_("Work orders"), header, rows(), f"work-orders-{_stamp(_now(clock, zone))}", total,
                 notes=_notes(filters, zone, clock))


_TIMES = frozenset({"opened", "response_due", "resolution_due", "cancelled", "completed", "closed"})


def _person(user) -> str | None:
    return None if user is None else (user.display_name or user.username)


def _int(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _now(clock: Clock, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(clock.now(), zone)


def _notes(filters: dict[str, Any], zone: ZoneInfo, clock: Clock) -> list[tuple[str, str]]:
    notes = [("Exported", _now(clock, zone).strftime("%Y-%m-%d %H:%M %Z")), ("Time zone", zone.key)]
    notes += [(name, str(value)) for name, value in filters.items() if value not in (None, "")]
    return notes


# ------------------------------------------------------------------ assets


ASSET_HEADER = ("tag", "name", "category", "make", "model", "serial", "department", "location", "owner_type",
                "lifecycle_stage", "equipment_status", "maintenance_status", "life_support", "em_score",
                "purchase_date", "purchase_cost", "warranty_end", "install_date", "useful_life_years",
                "salvage_value", "replacement_cost")


def assets_table(session: Session, *, actor: Actor | None, clock: Clock | None = None,
                 **filters: Any) -> Table:
    """Return the asset register as its page lists it with ``filters`` (see
    :func:`wardlink.hub.services.assets.register.list_assets`), read a page at a time."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    first = list_assets(session, actor=who, **filters, page=1, per_page=BATCH)
    zone = zone_for(session, who, filters.get("department_id"))

    def rows() -> Iterator[list[Any]]:
        page, number = first, 1
        while True:
            for a in page.items:
                loc = a.location
                yield [a.tag, a.name, a.category, a.make, a.model, a.serial,
                       a.department.code if a.department else None,
                       " ".join(p for p in (loc.building, loc.floor, loc.room) if p) if loc else None,
                       a.owner_type, a.lifecycle_stage, a.equipment_status, a.maintenance_status,
                       "yes" if a.life_support else "no", a.em_score, a.purchase_date, a.purchase_cost,
                       a.warranty_end, a.install_date, a.useful_life_years, a.salvage_value,
                       a.replacement_cost]
            if not page.has_next:
                return
            session.expunge_all()
            number += 1
            page = list_assets(session, actor=who, **filters, page=number, per_page=BATCH)
    return Table(N_("Assets"), ASSET_HEADER, rows(), f"assets-{_stamp(_now(clock, zone))}", first.total,
                 notes=_notes(filters, zone, clock))


# ------------------------------------------------------------------ PM compliance


SERVICE_HEADER = ("plan", "asset", "department", "due_date", "window_opens", "window_closes", "due_meter",
                  "completed_on", "work_order", "high_risk", "judgement")
COMPLIANCE_HEADER = ("plan", "asset", "department", "services", "on_time", "late", "missed", "pending",
                     "completion_pct", "on_time_pct")


@dataclass
class _PlanAsset:
    plan: str
    asset: str
    department: str | None
    tally: Tally


def pm_compliance_table(session: Session, *, actor: Actor | None, start: date, end: date,
                        department_id: int | None = None, clock: Clock | None = None) -> Table:
    """Return PM compliance over ``start``..``end``: one row per plan and asset with the counts
    of its services' verdicts, and (in Excel) each service; the verdicts are the KPIs' own
    (:func:`wardlink.hub.services.reports.kpis.judged_services`)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    judged = kpis.judged_services(session, start=start, end=end, department_id=department_id, actor=who,
                                  clock=clock, batch=BATCH)
    groups: dict[tuple[int, int], _PlanAsset] = {}
    services: list[list[Any]] = []
    for v in judged.verdicts:
        occ = v.occurrence
        key = (occ.plan_id, occ.asset_id)
        if key not in groups:
            dept = occ.asset.department.code if occ.asset.department else None
            groups[key] = _PlanAsset(occ.plan.name, occ.asset.tag, dept, Tally())
        groups[key].tally.add(v.judgement)
        window = occ_window(occ)
        services.append([occ.plan.name, occ.asset.tag, groups[key].department, occ.due_date,
                         window[0], window[1], occ.due_meter, v.completed_on,
                         f"WO-{occ.work_order_id:06d}" if occ.work_order_id else None,
                         "yes" if occ.high_risk else "no", v.judgement])
    summary = [[g.plan, g.asset, g.department, sum(getattr(g.tally, j) for j in JUDGEMENTS), g.tally.on_time,
                g.tally.late, g.tally.missed, g.tally.pending, g.tally.completion_pct, g.tally.on_time_pct]
               for g in sorted(groups.values(), key=lambda g: (g.plan, g.asset))]
    scope = judged.department.code if judged.department else "all"
    notes = [("Period", f"{judged.period.start.isoformat()} to {judged.period.end.isoformat()}"),
             ("As of", judged.as_of.isoformat(timespec="seconds")), ("Department", scope)]
    return Table(N_("PM compliance"), COMPLIANCE_HEADER, iter(summary),
                 f"pm-compliance-{scope}-{start.isoformat()}-{end.isoformat()}", len(summary), notes=notes,
                 extra=[Sheet("Services", SERVICE_HEADER, iter(services))])


def occ_window(occ) -> tuple[date | None, date | None]:
    """Return the dates a calendar service's compliance window opens and closes."""
    if occ.due_date is None:
        return None, None
    return occ.due_date - timedelta(days=occ.window_days), occ.due_date + timedelta(days=occ.window_days)


# ------------------------------------------------------------------ audit trail


AUDIT_HEADER = ("seq", "at", "actor", "source_ip", "action", "entity", "entity_id", "changes", "before", "after")


def audit_table(session: Session, *, actor: Actor | None, clock: Clock | None = None, **criteria: Any) -> Table:
    """Return the audit rows the actor may read (the audit page's department scope), newest
    first, that match the page's ``criteria`` (see
    :func:`wardlink.hub.services.audit.trail.audit_filter`): each with its changes as people
    read them, in local time, and the raw before/after JSON."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "audit.view")
    zone = zone_for(session, who)
    wanted = audit.audit_filter(session, who, **criteria)
    stmt = audit.filtered(session, who, wanted)
    total = count(session, stmt)

    def rows() -> Iterator[list[Any]]:
        batch: list[AuditLog] = []
        for e in session.scalars(stmt.execution_options(yield_per=BATCH)):
            batch.append(e)
            if len(batch) == BATCH:
                yield from _audit_rows(session, batch, zone)
                batch = []
        yield from _audit_rows(session, batch, zone)
    header = [h if h != "at" else f"at ({zone.key})" for h in AUDIT_HEADER]
    return Table(N_("Audit trail"), header, rows(), f"audit-{_stamp(_now(clock, zone))}", total,
                 notes=_notes(wanted.given(), zone, clock))


def _audit_rows(session: Session, batch: list[AuditLog], zone: ZoneInfo) -> Iterator[list[Any]]:
    for entry in readable.describe(session, batch, zone):
        e = entry.row
        yield [e.seq, local(e.at, zone), e.actor, e.source_ip, e.action, e.entity, e.entity_id, entry.text,
               e.before_json, e.after_json]


def check_kind(kind: str) -> str:
    """Return ``kind`` if it names an export, else raise :class:`InvalidInput`."""
    if kind not in KINDS:
        raise InvalidInput(N_("kind: must be one of %(choices)s, got %(kind)r"), choices=', '.join(KINDS), kind=kind)
    return kind


# ------------------------------------------------------------------ readings


READING_HEADER = ("time", "time_utc", "value", "unit", "quality")
#: The longest range of readings one export covers, in days.
MAX_READING_DAYS = 92
#: Readings are fetched from the telemetry store this many milliseconds at a time.
READING_CHUNK_MS = 6 * 3600 * 1000


def _bindings(session: Session, asset_id: int, gateway_id: str, channel_id: str, since: datetime,
              until: datetime) -> list[ChannelBinding]:
    return list(session.scalars(
        select(ChannelBinding).join(Channel, ChannelBinding.channel_pk == Channel.id)
        .join(Gateway, Channel.gateway_pk == Gateway.id)
        .options(selectinload(ChannelBinding.channel).selectinload(Channel.gateway))
        .where(ChannelBinding.asset_id == asset_id, Gateway.gateway_id == gateway_id,
               Channel.channel_id == channel_id, ChannelBinding.valid_from < until,
               or_(ChannelBinding.valid_to.is_(None), ChannelBinding.valid_to > since))
        .order_by(ChannelBinding.valid_from)))


def split_channel(value: Any) -> tuple[str, str]:
    """Return (gateway, channel) of ``gateway/channel``."""
    gateway, sep, channel = str(value or "").partition("/")
    if not sep or not gateway or not channel:
        raise InvalidInput(N_("channel: must be 'gateway/channel' (e.g. gw-icu-01/fridge1.temp), got %(value)r"),
                           value=value)
    return gateway, channel


def readings_table(session: Session, store, *, actor: Actor | None, asset_tag: str, channel: Any,
                   date_from: Any, date_to: Any, clock: Clock | None = None) -> Table:
    """Return the readings of one channel while it was bound to asset ``asset_tag``, over the
    local days ``date_from``..``date_to`` (at most :data:`MAX_READING_DAYS`), with the
    channel's unit; whoever may see the asset and read telemetry may export them."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "telemetry.view")
    if store is None:
        raise StoreError("no telemetry store is connected to this web server")
    asset = get_asset(session, asset_tag, actor=who)
    gateway_id, channel_id = split_channel(channel)
    if not date_from or not date_to:
        raise InvalidInput(N_("date_from and date_to: both are required for readings"))
    zone = zone_for(session, who, asset.department_id)
    days = day_range(date_from, date_to, zone, max_days=MAX_READING_DAYS)
    since, until = days.since, days.until
    assert since is not None and until is not None
    bindings = _bindings(session, asset.id, gateway_id, channel_id, since, until)
    if not bindings:
        raise NotFound(N_("channel '%(gateway_id)s/%(channel_id)s' was not bound to asset '%(tag)s' between "
                          "%(start)s and %(end)s"),
                       gateway_id=gateway_id, channel_id=channel_id, tag=asset.tag, start=days.start, end=days.end)
    spans = [(max(to_ms(b.valid_from), to_ms(since)), min(to_ms(b.valid_to) if b.valid_to else to_ms(until),
                                                          to_ms(until))) for b in bindings]
    unit = bindings[-1].channel.unit
    total = sum(store.count(gateway=gateway_id, channel=channel_id, start_ms=a, end_ms=b) for a, b in spans)

    def rows() -> Iterator[list[Any]]:
        for first, last in spans:
            for lo in range(first, last, READING_CHUNK_MS):
                for r in store.range(gateway=gateway_id, channel=channel_id, start_ms=lo,
                                     end_ms=min(lo + READING_CHUNK_MS, last)):
                    at = from_ms(r.ts_ms)
                    yield [at.astimezone(zone), at, r.value, unit, r.quality]
    header = [f"time ({zone.key})", "time_utc", "value", "unit", "quality"]
    notes = [("Asset", asset.tag), ("Channel", f"{gateway_id}/{channel_id}"), ("Unit", unit),
             ("Days", days.label()), ("Time zone", zone.key)]
    return Table(N_("Readings"), header, rows(), f"readings-{asset.tag}-{channel_id}-{days.start}-{days.end}", total,
                 notes=notes)
