"""Which contracts a work order falls under, and when the vendor should respond to it.

An order falls under the contracts in force on the local day it was opened (the site's date of
``created_at``) that list its asset. The vendor's response is due ``response_hours`` after the
order was opened: the work-order page shows it beside the hospital's own SLA.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from wardlink.hub.db.models import ServiceContract, WorkOrder
from wardlink.hub.services.actor import Actor, resolve_actor
from wardlink.hub.services.contracts.register import coverage_text, covering
from wardlink.hub.services.maintenance.workorder_common import load
from wardlink.hub.services.people.local_time import department_zone, hospital_zone
from wardlink.hub.services.people.permissions import can, require


@dataclass(frozen=True)
class Cover:
    """A contract a work order falls under, and when its vendor should respond (None: no
    response time agreed)."""

    contract: ServiceContract
    respond_by: datetime | None

    @property
    def coverage(self) -> str:
        """Return what the contract covers, e.g. ``parts, labour``."""
        return coverage_text(self.contract)

    def coverage_in(self, locale: str | None) -> str:
        """Return what the contract covers, in ``locale``."""
        return coverage_text(self.contract, locale)


def of_order(session: Session, order: WorkOrder) -> list[Cover]:
    """Return the contracts ``order`` falls under (internal: the order is already visible)."""
    if order.asset_id is None:
        return []
    zone = department_zone(session, order.department_id) or hospital_zone(session)
    opened_on = order.created_at.astimezone(zone).date()
    return [Cover(c, order.created_at + timedelta(hours=c.response_hours) if c.response_hours else None)
            for c in covering(session, order.asset_id, opened_on)]


def for_work_order(session: Session, order_id: int, *, actor: Actor | None) -> list[Cover]:
    """Return the contracts work order ``order_id`` falls under, for someone who may see both."""
    who = resolve_actor(actor)
    require(who, "contract.view")
    return of_order(session, load(session, order_id, who))


def shown_on_order(session: Session, order: WorkOrder, *, actor: Actor | None) -> list[Cover]:
    """Return what the work-order page shows of the order's contracts: nothing to someone who
    may not view contracts."""
    who = resolve_actor(actor)
    return of_order(session, order) if can(who, "contract.view") else []
