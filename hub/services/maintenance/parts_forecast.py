"""The parts forecast: which catalogue parts the PM plans will use in the next N days, against
the stock on hand, and what to order from whom.

Each active plan's services due in the window come from the PM calendar
(:func:`wardlink.hub.services.maintenance.pm_calendar.gather`: the services already generated and
the ones its schedule projects, one home for "when is a service due"); services already done
are left out. Each service uses the plan's parts per visit
(:mod:`wardlink.hub.services.maintenance.pm_parts`), so a part's need is the sum over the plans
naming it of services x quantity per visit. The shortfall is the need less the stock on hand
(all bins) and on order (what sent and partly received purchase orders still lack,
:func:`wardlink.hub.services.inventory.purchasing.on_order`). The suggested order
is the shortfall rounded up to a whole number of reorder quantities (a part without a reorder
quantity: the shortfall itself), grouped by the part's preferred supplier.

Department scope applies as on the calendar: a person limited to one department sees the needs
of that department's plans.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from wardlink.hub.db.models import Part, Supplier
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor
from wardlink.hub.services.inventory.levels import ZERO, held, on_hand
from wardlink.hub.services.inventory.purchasing import on_order
from wardlink.hub.services.maintenance import pm_parts
from wardlink.hub.services.maintenance.pm import department_zones
from wardlink.hub.services.maintenance.pm_calendar import Filters, Gathered, viewer_today
from wardlink.hub.services.people.permissions import require

#: Days ahead the forecast looks by default, the windows the page offers, and the longest.
DEFAULT_DAYS = 90
WINDOWS = (30, 60, 90, 180, 365)
MAX_DAYS = 365


@dataclass(frozen=True)
class PlanNeed:
    """What one plan asks of a part in the window."""

    plan_id: int
    plan: str
    services: int
    per_visit: Decimal

    @property
    def quantity(self) -> Decimal:
        """Return services x quantity per visit."""
        return self.per_visit * self.services


@dataclass
class PartNeed:
    """One part the plans will use: how many, what there is, what to order."""

    part: Part
    plans: list[PlanNeed] = field(default_factory=list)
    on_hand: Decimal = ZERO
    held: Decimal = ZERO
    #: What sent and partly received purchase orders still lack.
    on_order: Decimal = ZERO

    @property
    def needed(self) -> Decimal:
        """Return the quantity the plans' services in the window use."""
        return sum((p.quantity for p in self.plans), ZERO)

    @property
    def services(self) -> int:
        """Return how many services use the part."""
        return sum(p.services for p in self.plans)

    @property
    def shortfall(self) -> Decimal:
        """Return how much the stock on hand and on order falls short of the need (0 when enough)."""
        return max(self.needed - self.on_hand - self.on_order, ZERO)

    @property
    def suggested(self) -> Decimal:
        """Return the quantity to order: the shortfall rounded up to whole reorder quantities."""
        step = self.part.reorder_quantity
        if self.shortfall <= 0 or not step or step <= 0:
            return self.shortfall
        return step * math.ceil(self.shortfall / step)

    @property
    def value(self) -> Decimal | None:
        """Return what the suggested order costs at the part's unit cost (None without a cost)."""
        return None if self.part.unit_cost is None else (self.suggested * self.part.unit_cost).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class SupplierOrder:
    """The suggested order to one supplier (``supplier`` None: parts without a preferred one)."""

    supplier: Supplier | None
    lines: list[PartNeed]

    @property
    def value(self) -> Decimal:
        """Return the priced lines' total."""
        return sum((line.value for line in self.lines if line.value is not None), Decimal("0.00"))


@dataclass(frozen=True)
class Forecast:
    """The parts the PM plans need from ``first`` to ``last``."""

    days: int
    first: date
    last: date
    services: int
    parts: list[PartNeed]

    @property
    def short(self) -> list[PartNeed]:
        """Return the parts whose stock falls short."""
        return [p for p in self.parts if p.shortfall > 0]

    @property
    def orders(self) -> list[SupplierOrder]:
        """Return the suggested orders, one per preferred supplier (by name; no supplier last)."""
        groups: dict[int | None, list[PartNeed]] = defaultdict(list)
        for need in self.short:
            groups[need.part.preferred_supplier_id].append(need)
        orders = [SupplierOrder(lines[0].part.preferred_supplier, lines) for lines in groups.values()]
        return sorted(orders, key=lambda o: (o.supplier is None, o.supplier.name.casefold() if o.supplier else ""))


def parse_days(raw: Any) -> int:
    """Parse the window in days (1..365; blank: 90)."""
    if raw is None or raw == "":
        return DEFAULT_DAYS
    try:
        days = int(str(raw).strip())
    except ValueError:
        raise InvalidInput(N_("days: must be a whole number of days, got %(raw)r"), raw=raw) from None
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(N_("days: must be 1..%(most)s, got %(days)s"), most=MAX_DAYS, days=days)
    return days


def forecast(session: Session, *, actor: Actor | None, now: datetime, days: Any = None) -> Forecast:
    """Return the parts the plans' services due in the next ``days`` days (today included, at the
    viewer's site) will use, with stock on hand, shortfall and the order to place, by SKU."""
    who = resolve_actor(actor)
    require(who, "part.view")
    days = parse_days(days)
    first = viewer_today(session, who, now)
    last = first + timedelta(days=days - 1)
    services: dict[int, int] = defaultdict(int)
    names: dict[int, str] = {}
    for occ in Gathered(session, who, Filters(), first, last, now, department_zones(session)).ordered():
        if occ.status != "done":
            services[occ.plan_id] += 1
            names[occ.plan_id] = occ.plan
    needs: dict[int, PartNeed] = {}
    planned = pm_parts.of_plans(session, services)
    for plan_id, rows in planned.items():
        for row in rows:
            need = needs.setdefault(row.part_id, PartNeed(row.part))
            need.plans.append(PlanNeed(plan_id, names[plan_id], services[plan_id], row.quantity))
    ids = list(needs)
    stock, picked, ordered = on_hand(session, ids), held(session, ids), on_order(session, ids)
    for part_id, need in needs.items():
        need.on_hand, need.held, need.on_order = stock[part_id], picked[part_id], ordered.get(part_id, ZERO)
        need.plans.sort(key=lambda p: (p.plan.casefold(), p.plan_id))
    parts = sorted(needs.values(), key=lambda n: n.part.sku_key)
    return Forecast(days, first, last, sum(services[plan_id] for plan_id in planned), parts)

