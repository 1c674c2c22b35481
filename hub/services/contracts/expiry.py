"""Warnings before a service contract or warranty ends: 90 and 30 days ahead, each exactly once.

:func:`warn_expiring` (run by the scheduler) finds the contracts whose term ends within a
warning's days on the hospital's local date and tells the managers and procurement officers
of the departments whose assets the contract covers (hospital-wide holders of those roles
always). The warning is written with its notices in one transaction, and its row's unique key
(contract, threshold, end date) makes it happen once, however often the job runs and however
many schedulers there are. A contract first seen inside both windows (added 20 days before it
ends) gets the 30-day warning only; the 90-day one is recorded as covered by it. A renewed
term (a later end date) is warned about again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset, ContractAsset, ContractWarning, ServiceContract, User
from wardlink.hub.db.types import utc_now
from wardlink.hub.i18n import N_, format_date, translate, translations
from wardlink.hub.services.contracts.register import WARNING_DAYS, coverage_text, today
from wardlink.hub.services.notices import core as notices
from wardlink.clock import Clock

#: Who hears that a contract is about to end.
WARNED_ROLES = ("manager", "procurement")


@dataclass(frozen=True)
class Warned:
    """One warning given: the contract, the threshold and how many people were told."""

    contract_id: int
    reference: str
    threshold_days: int
    days_left: int
    told: int


def warning_key(contract_id: int, threshold_days: int, ends_on: date) -> str:
    """Return the notice key of one warning."""
    return f"contract:{contract_id}:expiry:{threshold_days}:{ends_on.isoformat()}"


def _recipients(session: Session, contract: ServiceContract) -> list[int]:
    departments = set(session.scalars(select(Asset.department_id).join(
        ContractAsset, ContractAsset.asset_id == Asset.id).where(ContractAsset.contract_id == contract.id)))
    ids: set[int] = set()
    for dept in departments - {None}:
        ids.update(u.id for u in notices.recipients(session, roles=WARNED_ROLES, department_id=dept))
    ids.update(session.scalars(select(User.id).where(User.role.in_(WARNED_ROLES), User.is_active.is_(True),
                                                     User.department_id.is_(None))))
    return sorted(ids)


def _subject(contract: ServiceContract, days_left: int) -> Callable[[str | None], str]:
    def subject(locale: str | None) -> str:
        message = N_("Warranty %(reference)s ends in %(days)s days (%(date)s)") if contract.kind == "warranty" \
            else N_("Service contract %(reference)s ends in %(days)s days (%(date)s)")
        return translate(locale, message, reference=contract.reference, days=days_left,
                         date=format_date(contract.ends_on, locale))
    return subject


def _body(contract: ServiceContract, days_left: int) -> Callable[[str | None], str]:
    def body(locale: str | None) -> str:
        assets = ", ".join(a.tag for a in contract.assets[:20]) or translate(locale, "none listed")
        if len(contract.assets) > 20:
            assets += translate(locale, " and %(n)s more", n=len(contract.assets) - 20)
        message = N_("The warranty %(reference)s (%(title)s) with %(vendor)s ends on %(date)s, in %(days)s.") \
            if contract.kind == "warranty" else \
            N_("The service contract %(reference)s (%(title)s) with %(vendor)s ends on %(date)s, in %(days)s.")
        days = translations(locale).ngettext("%(num)s day", "%(num)s days", days_left) % {"num": days_left}
        lines = [translate(locale, message, reference=contract.reference, title=contract.title,
                           vendor=contract.vendor_name, date=format_date(contract.ends_on, locale), days=days), "",
                 translate(locale, "Covers: %(coverage)s", coverage=coverage_text(contract, locale)),
                 translate(locale, "Assets: %(assets)s", assets=assets)]
        if contract.response_hours is not None:
            lines.append(translate(locale, "Response time: %(hours)s h", hours=contract.response_hours))
        if contract.vendor_contact:
            lines.append(translate(locale, "Vendor contact: %(contact)s", contact=contract.vendor_contact))
        lines += ["", translate(locale, "Renew it, or plan how the equipment will be maintained after that date.")]
        return "\n".join(lines) + "\n"
    return body


def _warn(session: Session, contract: ServiceContract, thresholds: list[int], days_left: int,
          clock: Clock) -> Warned:
    threshold = min(thresholds)
    told = notices.announce(
        session, "contract_expiring", subject=_subject(contract, days_left),
        body=_body(contract, days_left), link=f"/contracts/{contract.id}",
        key=warning_key(contract.id, threshold, contract.ends_on), clock=clock,
        users=_recipients(session, contract))
    now = utc_now(clock)
    for days in thresholds:
        session.add(ContractWarning(contract_id=contract.id, threshold_days=days, ends_on=contract.ends_on,
                                    sent_at=now, told=len(told) if days == threshold else 0))
    session.flush()
    return Warned(contract.id, contract.reference, threshold, days_left, len(told))


def warn_expiring(session: Session, *, clock: Clock) -> list[Warned]:
    """Give every warning that is due now, once; return the warnings given."""
    day = today(session, clock)
    horizon = day + timedelta(days=max(WARNING_DAYS))
    given = {(w.contract_id, w.threshold_days) for w in session.execute(
        select(ContractWarning.contract_id, ContractWarning.threshold_days).join(
            ServiceContract, and_(ServiceContract.id == ContractWarning.contract_id,
                                  ServiceContract.ends_on == ContractWarning.ends_on))
        .where(ServiceContract.ends_on >= day, ServiceContract.ends_on <= horizon))}
    stmt = (select(ServiceContract).where(ServiceContract.ends_on >= day, ServiceContract.ends_on <= horizon,
                                          ServiceContract.starts_on <= horizon)
            .order_by(ServiceContract.ends_on, ServiceContract.id))
    out = []
    for contract in session.scalars(stmt).all():
        days_left = (contract.ends_on - day).days
        due = [t for t in WARNING_DAYS if days_left <= t and (contract.id, t) not in given]
        if not due:
            continue
        try:
            with session.begin_nested():
                out.append(_warn(session, contract, due, days_left, clock))
        except IntegrityError:
            continue  # another scheduler gave this warning in the meantime
    return out
