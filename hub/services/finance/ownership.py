"""What an asset costs the hospital, year by year, and whether to repair it again or replace it.

The cost of ownership of a calendar year (the hospital's local dates) is:

- **depreciation** of that year (:mod:`~wardlink.hub.services.finance.depreciation`), when the
  asset's purchase cost, purchase date and useful life are known;
- **maintenance**: the parts, labour and vendor charges of its work orders of every kind, as
  :func:`wardlink.hub.services.maintenance.workorder_costs.costs_of` adds them up; an order
  counts in the year it was completed, or opened while it is not completed;
- **contracts**: each priced contract covering it shares its cost equally among the assets it
  covers, spread evenly over the days of its term; a year bears the days of the term in it.

**Repair or replace.** Repairs are the corrective work orders. Their cost over the last 12
months (orders completed, or opened while not completed, after the same day a year ago and up to
today) is compared with what a new one would cost (the replacement cost, else the purchase
cost): above ``percent`` % of it (the ``repair_replace_percent`` setting, 50 % by default), the
asset is flagged for replacement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset, WorkOrder
from wardlink.hub.db.types import utc_now
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets.register import get_asset
from wardlink.hub.services.contracts.register import AssetShare, shares_of_asset
from wardlink.hub.services.finance.depreciation import CENT, StraightLine, YearOfLife, anniversary
from wardlink.hub.services.maintenance.workorder_costs import costs_of
from wardlink.hub.services.people.local_time import department_zone, hospital_zone
from wardlink.hub.services.people.permissions import require
from wardlink.clock import Clock

ZERO = Decimal("0.00")
#: Most years the cost of ownership lists (the latest ones).
MAX_YEARS = 25
#: Kinds of work order that count as repairs.
REPAIR_KINDS = ("corrective",)
DEFAULT_PERCENT = 50


@dataclass(frozen=True)
class YearCost:
    """What an asset cost in one calendar year."""

    year: int
    depreciation: Decimal | None
    parts: Decimal = ZERO
    labour: Decimal = ZERO
    vendor: Decimal = ZERO
    contracts: Decimal = ZERO

    @property
    def maintenance(self) -> Decimal:
        """Return parts + labour + vendor charges + contracts."""
        return self.parts + self.labour + self.vendor + self.contracts

    @property
    def total(self) -> Decimal:
        """Return maintenance plus the year's depreciation (when known)."""
        return self.maintenance + (self.depreciation or ZERO)


@dataclass(frozen=True)
class RepairOrReplace:
    """The repair cost of the last 12 months against what replacing the asset would cost."""

    since: date
    repairs: Decimal
    orders: int
    #: What a new one costs: the replacement cost, else the purchase cost, else None (not judged).
    replacement: Decimal | None
    basis: str | None
    percent: int

    @property
    def threshold(self) -> Decimal | None:
        """Return the repair cost above which the asset is flagged (None when not judged)."""
        if self.replacement is None:
            return None
        return (self.replacement * self.percent / 100).quantize(CENT, ROUND_HALF_UP)

    @property
    def flagged(self) -> bool:
        """Return True when the repairs cost more than the threshold: consider replacing it."""
        return self.threshold is not None and self.repairs > self.threshold

    @property
    def share(self) -> Decimal | None:
        """Return the repair cost as a percentage of the replacement cost (None when not judged)."""
        if not self.replacement:
            return None
        return (self.repairs * 100 / self.replacement).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class Finance:
    """An asset's depreciation, book value, cost of ownership by year and repair judgement."""

    today: date
    depreciation: StraightLine | None
    #: The fields depreciation still needs, when it cannot be worked out.
    missing: tuple[str, ...]
    years: list[YearCost]
    repair: RepairOrReplace
    #: Minutes logged on its orders by people without a labour rate (not in the costs).
    unpriced_minutes: int = 0
    #: True when a part on one of its orders has no unit cost (not in the costs).
    parts_unpriced: bool = False
    schedule: list[YearOfLife] = field(default_factory=list)

    @property
    def book_value(self) -> Decimal | None:
        """Return what the asset is worth today (None when depreciation cannot be worked out)."""
        return None if self.depreciation is None else self.depreciation.book_value(self.today)


def straight_line_of(asset: Asset) -> tuple[StraightLine | None, tuple[str, ...]]:
    """Return the asset's depreciation, or None and the fields it still needs."""
    missing = tuple(name for name in ("purchase_cost", "purchase_date", "useful_life_years")
                    if getattr(asset, name) is None)
    if missing:
        return None, missing
    salvage = asset.salvage_value or ZERO
    if salvage > asset.purchase_cost:
        return None, ("salvage_value",)
    return StraightLine(asset.purchase_cost, salvage, asset.useful_life_years, asset.purchase_date), ()


def contract_cost_in_year(share: AssetShare, year: int) -> Decimal:
    """Return the part of an asset's contract share that falls in calendar ``year`` (unrounded)."""
    term = (share.contract.ends_on - share.contract.starts_on).days + 1
    first, last = max(share.contract.starts_on, date(year, 1, 1)), min(share.contract.ends_on, date(year, 12, 31))
    days = (last - first).days + 1
    return share.cost * days / term if days > 0 else Decimal("0")


@dataclass(frozen=True)
class _Order:
    id: int
    kind: str
    counted_on: date


def _orders(session: Session, asset: Asset, zone: ZoneInfo) -> list[_Order]:
    def local(moment: datetime) -> date:
        return moment.astimezone(zone).date()
    rows = session.execute(select(WorkOrder.id, WorkOrder.kind, WorkOrder.created_at, WorkOrder.completed_at)
                           .where(WorkOrder.asset_id == asset.id).order_by(WorkOrder.id))
    return [_Order(i, kind, local(completed or created)) for i, kind, created, completed in rows]


def finance_of(session: Session, asset: Asset, *, today: date, zone: ZoneInfo,
               percent: int = DEFAULT_PERCENT) -> Finance:
    """Return the finance of ``asset`` on the local date ``today`` (internal: no permission check)."""
    line, missing = straight_line_of(asset)
    orders = _orders(session, asset, zone)
    costs = costs_of(session, [o.id for o in orders])
    shares = shares_of_asset(session, asset.id)
    first = [d.year for d in (asset.purchase_date,) if d is not None]
    first += [o.counted_on.year for o in orders] + [s.contract.starts_on.year for s in shares]
    years = []
    for year in range(max(min(first, default=today.year), today.year - MAX_YEARS + 1), today.year + 1):
        mine = [costs[o.id] for o in orders if o.counted_on.year == year]
        contracts = sum((contract_cost_in_year(s, year) for s in shares), Decimal("0"))
        years.append(YearCost(
            year, line.in_year(year) if line is not None else None,
            parts=sum((c.parts for c in mine), ZERO), labour=sum((c.labour for c in mine), ZERO),
            vendor=sum((c.vendor for c in mine), ZERO), contracts=contracts.quantize(CENT, ROUND_HALF_UP)))
    since = anniversary(today, -1)
    repairs = [o for o in orders if o.kind in REPAIR_KINDS and since < o.counted_on <= today]
    basis = "replacement_cost" if asset.replacement_cost is not None else (
        "purchase_cost" if asset.purchase_cost is not None else None)
    repair = RepairOrReplace(since + timedelta(days=1), sum((costs[o.id].total for o in repairs), ZERO),
                             len(repairs), getattr(asset, basis) if basis else None, basis, percent)
    return Finance(today, line, missing, years, repair,
                   unpriced_minutes=sum(c.unpriced_minutes for c in costs.values()),
                   parts_unpriced=any(c.parts_unpriced for c in costs.values()),
                   schedule=line.schedule() if line is not None else [])


def asset_finance(session: Session, tag: str, *, actor: Actor | None, clock: Clock | None = None,
                  percent: int = DEFAULT_PERCENT) -> Finance:
    """Return the finance of asset ``tag`` for someone who may see it and read costs (``kpi.view``)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    asset = get_asset(session, tag, actor=who)
    require(who, "kpi.view")
    zone = department_zone(session, asset.department_id) or hospital_zone(session)
    return finance_of(session, asset, today=utc_now(clock).astimezone(zone).date(), zone=zone, percent=percent)
