"""Baseline alerts: a day of a pulse meter whose use exceeds its baseline by the meter's share.

A day's baseline is the mean use of the same weekday over the meter's ``baseline_weeks``
weeks before it, from the days rolled up (weeks without a day rolled up are left out; with
none there is no baseline). A day above ``baseline * (1 + alert_share)`` is recorded once in
``utility_alerts`` (one row per meter and day, unique in the database) and its department's
managers (a site-wide meter: the managers of every department) are told through the notice
hook, in the app and by e-mail as each person's preferences say. Judging the same day again
finds the row and tells nobody twice.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import UtilityAlert, UtilityDay, UtilityMeter
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import label
from wardlink.hub.i18n import N_, translate
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.notices import core as notices
from wardlink.clock import Clock

#: Who hears of a day far above its baseline.
ROLES = ("manager",)
PLACES = Decimal("0.0001")


def baseline_of(session: Session, meter: UtilityMeter, day: dt.date) -> Decimal | None:
    """Return the mean use of ``day``'s weekday over the meter's baseline weeks before it, or None."""
    weeks = [day - dt.timedelta(weeks=n) for n in range(1, meter.baseline_weeks + 1)]
    values = list(session.scalars(select(UtilityDay.quantity).where(UtilityDay.meter_id == meter.id,
                                                                     UtilityDay.day.in_(weeks),
                                                                     UtilityDay.points > 0)))
    if not values:
        return None
    return (sum(values, Decimal(0)) / len(values)).quantize(PLACES)


def _subject(meter: UtilityMeter, row: UtilityDay, base: Decimal):
    def write(locale: str | None) -> str:
        return translate(locale, N_("%(meter)s used %(quantity)s %(unit)s on %(day)s, baseline %(baseline)s"),
                         meter=meter.name, quantity=number(row.quantity.normalize()),
                         unit=translate(locale, label(meter.unit)), day=row.day.isoformat(),
                         baseline=number(base.normalize()))
    return write


def _body(meter: UtilityMeter, row: UtilityDay, base: Decimal):
    def write(locale: str | None) -> str:
        assert meter.alert_share is not None
        unit = translate(locale, label(meter.unit))
        return "\n".join([
            translate(locale, N_("The use of %(meter)s on %(day)s exceeded its baseline by more than %(share)s %%."),
                      meter=meter.name, day=row.day.isoformat(), share=number((meter.alert_share * 100).normalize())),
            "",
            translate(locale, N_("Use: %(quantity)s %(unit)s"), quantity=number(row.quantity.normalize()), unit=unit),
            translate(locale, N_("Baseline (same weekday, last %(weeks)s weeks): %(baseline)s %(unit)s"),
                      weeks=meter.baseline_weeks, baseline=number(base.normalize()), unit=unit), ""])
    return write


def judge(session: Session, meter: UtilityMeter, row: UtilityDay, *, clock: Clock) -> UtilityAlert | None:
    """Record and announce ``row``'s day when it exceeds its baseline by the meter's share (once
    per meter and day); return the alert made now, or None."""
    if meter.alert_share is None:
        return None
    base = baseline_of(session, meter, row.day)
    if base is None or base <= 0 or row.quantity <= base * (1 + meter.alert_share):
        return None
    if session.scalar(select(UtilityAlert.id).where(UtilityAlert.meter_id == meter.id,
                                                     UtilityAlert.day == row.day)) is not None:
        return None
    alert = UtilityAlert(meter_id=meter.id, day=row.day, quantity=row.quantity, baseline=base,
                         share=meter.alert_share, created_at=utc_now(clock))
    session.add(alert)
    session.flush()
    notices.announce(session, "utility_high", subject=_subject(meter, row, base), body=_body(meter, row, base),
                     link=f"/utilities/meters/{meter.id}", key=f"utility:{meter.id}:high:{row.day.isoformat()}",
                     clock=clock, roles=ROLES, department_id=meter.department_id)
    return alert


def recent_alerts(session: Session, meter: UtilityMeter, limit: int = 20) -> list[UtilityAlert]:
    """Return the meter's latest baseline alerts, newest day first."""
    return list(session.scalars(select(UtilityAlert).where(UtilityAlert.meter_id == meter.id)
                                .order_by(UtilityAlert.day.desc()).limit(limit)))
