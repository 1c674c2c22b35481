"""Purchase orders: what was ordered from a supplier, line by line, and what has arrived.

The tables only; the state machine, receiving and the figures "on order" live in
:mod:`wardlink.hub.services.inventory.purchasing`. Receiving a line writes a ``receive``
movement of the stock ledger and one :class:`PurchaseOrderReceipt` naming it, so what a line
says was received always equals the ledger's receipts against it (revision 0036_purchase_orders).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.inventory import MONEY, QUANTITY, Part, StockMovement, Supplier
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import PURCHASE_ORDER_STATES


class PurchaseOrder(Base):
    """An order of parts from one supplier: drafted, sent, received (maybe in parts), closed."""

    __tablename__ = "purchase_orders"
    __table_args__ = (choice_check("state", PURCHASE_ORDER_STATES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``PO-00042``, given in the transaction that adds the order (from its id).
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="RESTRICT"), index=True)
    state: Mapped[str] = mapped_column(String(24), default="draft", index=True)
    #: When the supplier should deliver (the site's calendar day).
    expected_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_by: Mapped[str] = mapped_column(String(100), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When it was closed or cancelled, and why it was cancelled.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")

    supplier: Mapped[Supplier] = relationship()
    lines: Mapped[list[PurchaseOrderLine]] = relationship(back_populates="order", order_by="PurchaseOrderLine.id",
                                                          cascade="all, delete-orphan")


class PurchaseOrderLine(Base):
    """How many of one part an order asks for, at what unit cost, and how many have arrived."""

    __tablename__ = "purchase_order_lines"
    __table_args__ = (UniqueConstraint("order_id", "part_id"),
                      CheckConstraint("quantity > 0", name="quantity_positive"),
                      CheckConstraint("received >= 0 AND received <= quantity", name="received_range"),
                      CheckConstraint("unit_cost IS NULL OR unit_cost >= 0", name="unit_cost_range"))

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id", ondelete="CASCADE"), index=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_cost: Mapped[Decimal | None] = mapped_column(MONEY)
    received: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))

    order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    part: Mapped[Part] = relationship()

    @property
    def outstanding(self) -> Decimal:
        """Return what is still to arrive."""
        return self.quantity - self.received


class PurchaseOrderReceipt(Base):
    """One delivery against a line: the ``receive`` movement of the ledger it wrote."""

    __tablename__ = "purchase_order_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("purchase_order_lines.id", ondelete="RESTRICT"), index=True)
    movement_id: Mapped[int] = mapped_column(ForeignKey("stock_movements.id", ondelete="RESTRICT"), unique=True)

    movement: Mapped[StockMovement] = relationship()
