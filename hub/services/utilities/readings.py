"""Hand readings: what a meter read by hand says was used over a period (the first and the last
day included, days at the meter's site), who read it and when it was entered.

Technicians and managers enter readings (``utility.record``) for the meters they may see. A
pulse meter takes no hand readings: its use comes from the gateway, and a second source would
count the same energy twice. A period may not end after today at the site nor be longer than
:data:`MAX_PERIOD_DAYS`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import UtilityMeter, UtilityReading
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.local_time import zone_named
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.utilities.meters import get_meter
from wardlink.hub.services.validate import optional_date, parse_fields, stock_quantity, text
from wardlink.clock import Clock

MAX_PERIOD_DAYS = 366
FIELDS = {"quantity": stock_quantity(zero=True), "period_start": optional_date, "period_end": optional_date,
          "notes": text(2000)}


def reading_snapshot(row: UtilityReading) -> dict[str, Any]:
    """Return a reading's fields (for audit rows and the API)."""
    return {"id": row.id, "meter_id": row.meter_id, "quantity": number(row.quantity),
            "period_start": row.period_start.isoformat(), "period_end": row.period_end.isoformat(),
            "notes": row.notes, "user": row.username, "created_at": row.created_at}


def site_today(meter: UtilityMeter, clock: Clock) -> date:
    """Return today's date at the meter's site."""
    return utc_now(clock).astimezone(zone_named(meter.site.timezone)).date()


def _period(meter: UtilityMeter, fields: dict[str, Any], clock: Clock) -> tuple[date, date]:
    today = site_today(meter, clock)
    end = fields["period_end"] or today
    start = fields["period_start"] or end
    if end > today:
        raise InvalidInput(N_("period_end: %(day)s is in the future; today is %(today)s at the site"),
                           day=end.isoformat(), today=today.isoformat())
    if start > end:
        raise InvalidInput(N_("period_start: must be on or before period_end"))
    if end - start >= timedelta(days=MAX_PERIOD_DAYS):
        raise InvalidInput(N_("period_start: a period is at most %(most)s days"), most=MAX_PERIOD_DAYS)
    return start, end


def record_reading(session: Session, meter_id: Any, data: dict[str, Any], *, actor: Actor | None,
                   clock: Clock | None = None) -> UtilityReading:
    """Enter what a meter read by hand says was used over a period (by default today); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "utility.record")
    meter = get_meter(session, meter_id, actor=who, for_update=True)
    if meter.source != "manual":
        raise InvalidInput(N_("meter: %(name)s is read by its gateway; it takes no hand readings"), name=meter.name)
    if not meter.active:
        raise InvalidInput(N_("meter: %(name)s is no longer in use"), name=meter.name)
    fields = parse_fields(FIELDS, data, partial=False)
    start, end = _period(meter, fields, clock)
    row = UtilityReading(meter_id=meter.id, quantity=fields["quantity"], period_start=start, period_end=end,
                         notes=fields["notes"], user_id=who.user_id, username=who.username,
                         created_at=utc_now(clock))
    session.add(row)
    session.flush()
    audit.record(session, actor=who, action="utility.reading", entity="utility_meter", entity_id=meter.id,
                 after=reading_snapshot(row), clock=clock)
    return row


def list_readings(session: Session, meter_id: Any, *, actor: Actor | None, page: int = 1,
                  per_page: int = 50) -> Page[UtilityReading]:
    """Return one page of a meter's hand readings, newest period first."""
    meter = get_meter(session, meter_id, actor=actor)
    stmt = (select(UtilityReading).where(UtilityReading.meter_id == meter.id)
            .order_by(UtilityReading.period_end.desc(), UtilityReading.id.desc()))
    return paginate(session, stmt, page, per_page)
