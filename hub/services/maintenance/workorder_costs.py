"""What a work order costs: parts + labour + vendor charges.

- **Parts**: the parts picked from stock for the order (at the unit cost of their issue once
  issued, else the part's), plus parts recorded by hand with a unit cost.
- **Labour**: each time log's minutes at the hourly rate of its person, else of their role
  (:class:`~wardlink.hub.db.models.LabourRate`); minutes without a rate are counted apart.
- **Vendor charges**: amounts recorded on the order (a call-out, an invoice).

Managers set the rates (``rate.manage``); who may record work on an order adds charges. Who
may read KPIs (``kpi.view``) sees the cost on the order's page and in the API.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import (LabourRate, Supplier, User, WorkOrder, WorkOrderCharge, WorkOrderPart,
                                    WorkOrderTimeLog)
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import ROLES
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory import picks
from wardlink.hub.services.maintenance.workorder_common import ensure_not_frozen, load, touch
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import choice, money, optional_id, text
from wardlink.clock import Clock

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Cost:
    """The cost of one work order, by part of it."""

    parts: Decimal
    labour: Decimal
    vendor: Decimal
    minutes: int
    #: Minutes logged by people for whom no rate is set (not in ``labour``).
    unpriced_minutes: int
    #: True when some part on the order has no unit cost (not in ``parts``).
    parts_unpriced: bool

    @property
    def total(self) -> Decimal:
        """Return parts + labour + vendor charges."""
        return self.parts + self.labour + self.vendor


def rates(session: Session) -> tuple[dict[str, Decimal], dict[int, Decimal]]:
    """Return the hourly rates by role and by person."""
    by_role: dict[str, Decimal] = {}
    by_user: dict[int, Decimal] = {}
    for row in session.scalars(select(LabourRate)):
        if row.user_id is not None:
            by_user[row.user_id] = row.hourly_rate
        elif row.role is not None:
            by_role[row.role] = row.hourly_rate
    return by_role, by_user


def list_rates(session: Session, *, actor: Actor | None) -> list[LabourRate]:
    """Return every rate: roles first, then people."""
    require(resolve_actor(actor), "kpi.view")
    return list(session.scalars(select(LabourRate).order_by(LabourRate.user_id.is_not(None), LabourRate.role,
                                                            LabourRate.user_id)))


def set_rate(session: Session, *, role: Any = None, user_id: Any = None, hourly_rate: Any, actor: Actor | None,
             clock: Clock | None = None) -> LabourRate | None:
    """Set the hourly rate of a role or of one person; a blank rate removes it. Audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "rate.manage")
    person = optional_id("user_id", user_id)
    group = None if role in (None, "") else choice(ROLES)("role", role)
    if (person is None) == (group is None):
        raise InvalidInput(N_("role: give either a role or a user_id"))
    if person is not None and session.get(User, person) is None:
        raise InvalidInput(N_("user_id: no user %(person)s"), person=person)
    rate = money("hourly_rate", hourly_rate)
    column = LabourRate.user_id == person if person is not None else LabourRate.role == group
    row = session.scalar(select(LabourRate).where(column))
    before = None if row is None else row.hourly_rate
    if rate is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        row = LabourRate(role=group, user_id=person, hourly_rate=rate, updated_at=utc_now(clock))
        session.add(row)
    else:
        row.hourly_rate, row.updated_at = rate, utc_now(clock)
    session.flush()
    if before != rate:
        audit.record(session, actor=who, action="rate.set", entity="labour_rate",
                     entity_id=f"user:{person}" if person is not None else f"role:{group}",
                     before={"hourly_rate": before}, after={"hourly_rate": rate}, clock=clock)
    return row if rate is not None else None


def add_charge(session: Session, order_id: int, *, description: Any, amount: Any, supplier_id: Any = None,
               vendor: Any = "", reference: Any = "", actor: Actor | None,
               clock: Clock | None = None) -> WorkOrderCharge:
    """Record a vendor's charge on an order (a listed supplier or a vendor's name); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "workorder.record")
    order = load(session, order_id, who)
    ensure_not_frozen(order, N_("add charges"))
    supplier = optional_id("supplier_id", supplier_id)
    if supplier is not None and session.get(Supplier, supplier) is None:
        raise InvalidInput(N_("supplier_id: no supplier %(supplier)s"), supplier=supplier)
    name = text(200)("vendor", vendor)
    if supplier is None and not name:
        raise InvalidInput(N_("vendor: name the vendor, or give supplier_id"))
    value = money("amount", amount)
    if value is None:
        raise InvalidInput(N_("amount: is required"))
    now = utc_now(clock)
    row = WorkOrderCharge(work_order_id=order.id, supplier_id=supplier, vendor=name,
                          description=text(300, required=True)("description", description), amount=value,
                          reference=text(100)("reference", reference), recorded_by_id=who.user_id,
                          recorded_by=who.username[:100], created_at=now)
    session.add(row)
    touch(order, now)
    session.flush()
    audit.record(session, actor=who, action="workorder.charge", entity="work_order", entity_id=order.id,
                 after={"charge_id": row.id, "vendor": row.vendor, "supplier_id": supplier,
                        "description": row.description, "amount": value, "reference": row.reference}, clock=clock)
    return row


def charges_of(session: Session, order_id: int) -> list[WorkOrderCharge]:
    """Return the vendor charges of an order, oldest first (the caller checked it may see it)."""
    return list(session.scalars(select(WorkOrderCharge).where(WorkOrderCharge.work_order_id == order_id)
                                .order_by(WorkOrderCharge.id)))


def _labour(rates_now: tuple[dict[str, Decimal], dict[int, Decimal]],
            logs: Iterable[tuple[int, str, int]]) -> tuple[Decimal, int]:
    by_role, by_user = rates_now
    total, unpriced = Decimal("0"), 0
    for user_id, role, minutes in logs:
        rate = by_user.get(user_id, by_role.get(role))
        if rate is None:
            unpriced += minutes
        else:
            total += rate * minutes / 60
    return total.quantize(CENT), unpriced


def cost_of(session: Session, order: WorkOrder) -> Cost:
    """Return what ``order`` costs (the caller checked it may see the order)."""
    return costs_of(session, [order.id])[order.id]


#: Orders whose costs one round of queries reads.
_CHUNK = 500


def costs_of(session: Session, order_ids: Iterable[int]) -> dict[int, Cost]:
    """Return what each of the orders ``order_ids`` costs, in a handful of queries per 500 orders
    (reports and an asset's cost of ownership add up many orders; the caller checked they may
    be seen)."""
    wanted = list(dict.fromkeys(order_ids))
    rates_now = rates(session)
    out: dict[int, Cost] = {}
    for start in range(0, len(wanted), _CHUNK):
        ids = wanted[start:start + _CHUNK]
        typed: dict[int, list[tuple[Decimal, Decimal | None]]] = {i: [] for i in ids}
        for order_id, quantity, unit_cost in session.execute(
                select(WorkOrderPart.work_order_id, WorkOrderPart.quantity, WorkOrderPart.unit_cost)
                .where(WorkOrderPart.work_order_id.in_(ids))):
            typed[order_id].append((quantity, unit_cost))
        logs: dict[int, list[tuple[int, str, int]]] = {i: [] for i in ids}
        for order_id, user_id, role, minutes in session.execute(
                select(WorkOrderTimeLog.work_order_id, WorkOrderTimeLog.user_id, User.role, WorkOrderTimeLog.minutes)
                .join(User, User.id == WorkOrderTimeLog.user_id).where(WorkOrderTimeLog.work_order_id.in_(ids))):
            logs[order_id].append((user_id, role, minutes))
        vendor: dict[int, Decimal] = {}
        for order_id, amount in session.execute(select(WorkOrderCharge.work_order_id, WorkOrderCharge.amount)
                                                .where(WorkOrderCharge.work_order_id.in_(ids))):
            vendor[order_id] = vendor.get(order_id, Decimal("0")) + amount
        stock = picks.parts_costs(session, ids)
        for order_id in ids:
            stock_parts, priced = stock.get(order_id, (Decimal("0.00"), True))
            typed_cost = sum((q * c for q, c in typed[order_id] if c is not None), Decimal("0"))
            labour, unpriced = _labour(rates_now, logs[order_id])
            out[order_id] = Cost(
                parts=(stock_parts + typed_cost).quantize(CENT), labour=labour,
                vendor=vendor.get(order_id, Decimal("0")).quantize(CENT),
                minutes=sum(m for _, _, m in logs[order_id]), unpriced_minutes=unpriced,
                parts_unpriced=not priced or any(c is None for _, c in typed[order_id]))
    return out


def order_cost(session: Session, order_id: int, *, actor: Actor | None) -> Cost:
    """Return the cost of an order the actor may see, for someone who may read KPIs."""
    who = resolve_actor(actor)
    require(who, "kpi.view")
    return cost_of(session, load(session, order_id, who))
