"""How much of a part there is: on hand per bin and in total, and how much is held for work
orders (picked, not yet issued). Read-only; the ledger (:mod:`.ledger`) changes stock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import StockBin, StockLevel, WorkOrderPick

ZERO = Decimal("0")


@dataclass(frozen=True)
class BinStock:
    """A part's stock in one bin: on hand, held for work orders, and what is free to take."""

    level: StockLevel
    held: Decimal

    @property
    def bin(self) -> StockBin:
        """Return the bin."""
        return self.level.bin

    @property
    def on_hand(self) -> Decimal:
        """Return what the bin holds on the books."""
        return self.level.quantity

    @property
    def available(self) -> Decimal:
        """Return what may still be taken: on hand less what is held for work orders."""
        return self.level.quantity - self.held


def on_hand(session: Session, part_ids: Iterable[int]) -> dict[int, Decimal]:
    """Return the stock on hand of each part (0 for parts with none), over all bins."""
    wanted = list(dict.fromkeys(part_ids))
    out = dict.fromkeys(wanted, ZERO)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        out.update(session.execute(select(StockLevel.part_id, func.sum(StockLevel.quantity))
                                   .where(StockLevel.part_id.in_(chunk)).group_by(StockLevel.part_id)).all())
    return {k: Decimal(v) for k, v in out.items()}


def held(session: Session, part_ids: Iterable[int]) -> dict[int, Decimal]:
    """Return how much of each part is picked for work orders and not yet issued."""
    wanted = list(dict.fromkeys(part_ids))
    out = dict.fromkeys(wanted, ZERO)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        out.update(session.execute(select(WorkOrderPick.part_id, func.sum(WorkOrderPick.quantity))
                                   .where(WorkOrderPick.part_id.in_(chunk), WorkOrderPick.state == "picked")
                                   .group_by(WorkOrderPick.part_id)).all())
    return {k: Decimal(v) for k, v in out.items()}


def held_in_bin(session: Session, part_id: int, bin_id: int, *, besides: int | None = None) -> Decimal:
    """Return how much of a part is held for work orders in one bin (leaving out pick ``besides``)."""
    stmt = select(func.coalesce(func.sum(WorkOrderPick.quantity), 0)).where(
        WorkOrderPick.part_id == part_id, WorkOrderPick.bin_id == bin_id, WorkOrderPick.state == "picked")
    if besides is not None:
        stmt = stmt.where(WorkOrderPick.id != besides)
    return Decimal(session.scalar(stmt) or 0)


def bins_of(session: Session, part_id: int) -> list[BinStock]:
    """Return the part's stock per bin (bins that held it, even at 0), by location and bin code."""
    levels = list(session.scalars(select(StockLevel).where(StockLevel.part_id == part_id)
                                  .options(selectinload(StockLevel.bin).selectinload(StockBin.stock_location))))
    picked = dict(session.execute(select(WorkOrderPick.bin_id, func.sum(WorkOrderPick.quantity)).where(
        WorkOrderPick.part_id == part_id, WorkOrderPick.state == "picked").group_by(WorkOrderPick.bin_id)).all())
    rows = [BinStock(level, Decimal(picked.get(level.bin_id, 0))) for level in levels]
    return sorted(rows, key=lambda r: (r.bin.stock_location.code_key, r.bin.code_key))
