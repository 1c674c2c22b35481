"""Spare parts and their stock: the catalogue, suppliers, storage, stock levels and the ledger.

The tables only; the rules (who may move stock, how much is available, when a part is low)
live in :mod:`wardlink.hub.services.inventory`.

Stock on hand is kept once, per part and bin, in :class:`StockLevel`; every change to it is
one row of :class:`StockMovement` written in the same transaction, so the ledger of a bin
always sums to its level. Ledger rows are only ever added: the ORM refuses to change or
delete them and the database refuses it too (triggers of revision 0028_inventory).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (Boolean, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text,
                        UniqueConstraint, event)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.alerts import Alert
from wardlink.hub.db.models.assets import SEARCH_SEPARATOR, search_key
from wardlink.hub.db.models.org import Location, Site
from wardlink.hub.db.models.work import WorkOrder
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import ADJUSTMENT_STATES, PART_UNITS, PICK_STATES, STOCK_MOVEMENT_KINDS
from wardlink.hub.errors import StoreError

#: Quantities keep three decimals (metres of tubing, litres of fluid); money two.
QUANTITY = Numeric(12, 3)
MONEY = Numeric(12, 2)


class Supplier(Base):
    """A company parts (and later purchase orders) come from."""

    __tablename__ = "suppliers"
    __table_args__ = (CheckConstraint("lead_time_days IS NULL OR (lead_time_days BETWEEN 0 AND 3650)",
                                      name="lead_time_days_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: The name compared without case and repeated spaces: unique.
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str] = mapped_column(String(300), default="")
    #: Days from ordering to delivery, as the supplier usually manages.
    lead_time_days: Mapped[int | None] = mapped_column(Integer)
    payment_terms: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    contacts: Mapped[list[SupplierContact]] = relationship(order_by="SupplierContact.id",
                                                           cascade="all, delete-orphan")


class SupplierContact(Base):
    """A person to call or write to at a supplier (sales, service, accounts)."""

    __tablename__ = "supplier_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(64), default="")


class Part(Base):
    """A spare part of the catalogue: what it is, what it costs, when to order more."""

    __tablename__ = "parts"
    __table_args__ = (
        choice_check("unit", PART_UNITS),
        CheckConstraint("reorder_level >= 0", name="reorder_level_range"),
        CheckConstraint("reorder_quantity >= 0", name="reorder_quantity_range"),
        CheckConstraint("unit_cost IS NULL OR unit_cost >= 0", name="unit_cost_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The hospital's stock keeping unit (its own number for the part): unique without case.
    sku: Mapped[str] = mapped_column(String(64))
    sku_key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    manufacturer: Mapped[str] = mapped_column(String(100), default="")
    #: The manufacturer's part number (MPN), as printed on the packaging.
    manufacturer_part_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    category: Mapped[str] = mapped_column(String(100), default="", index=True)
    unit: Mapped[str] = mapped_column(String(16), default="each")
    unit_cost: Mapped[Decimal | None] = mapped_column(MONEY)
    #: Order more when the stock on hand falls to this level (0: never).
    reorder_level: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))
    #: How much to order when it does.
    reorder_quantity: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))
    preferred_supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="RESTRICT"),
                                                              index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Since when the stock on hand has been at or below the reorder level (None: it is not);
    #: set and cleared by the movements that cross the level.
    low_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: The open low-stock alert of the part, while it is low.
    low_alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="RESTRICT"))
    #: SKU, name, manufacturer, part number, category and the models it fits, folded into one
    #: string for the catalogue search (:func:`part_search_text`); kept by the catalogue service.
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    preferred_supplier: Mapped[Supplier | None] = relationship()
    low_alert: Mapped[Alert | None] = relationship()
    models: Mapped[list[PartModel]] = relationship(order_by="PartModel.id", cascade="all, delete-orphan")


def part_search_text(fields, models: list[tuple[str, str]]) -> str:
    """Return the search_text of a part, given its fields (mapping or object) and (make, model)s."""
    get = fields.get if isinstance(fields, dict) else lambda name: getattr(fields, name)
    texts = [get(name) or "" for name in ("sku", "name", "manufacturer", "manufacturer_part_number", "category")]
    texts.append(" ; ".join(f"{make} {model}".strip() for make, model in models))
    return SEARCH_SEPARATOR.join(search_key(text) for text in texts)


class PartModel(Base):
    """An equipment make and model a part fits (compared without case against assets' make and model)."""

    __tablename__ = "part_models"
    __table_args__ = (UniqueConstraint("part_id", "make_key", "model_key"),
                      Index("ix_part_models_model_key", "model_key", "make_key"))

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id", ondelete="CASCADE"))
    make: Mapped[str] = mapped_column(String(100), default="")
    model: Mapped[str] = mapped_column(String(100))
    make_key: Mapped[str] = mapped_column(String(100), default="")
    model_key: Mapped[str] = mapped_column(String(100))


class PartKit(Base):
    """A set of parts used together (a PM kit: filters, seals, battery), picked in one go."""

    __tablename__ = "part_kits"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    items: Mapped[list[PartKitItem]] = relationship(order_by="PartKitItem.id", cascade="all, delete-orphan")


class PartKitItem(Base):
    """How many of one part a kit holds."""

    __tablename__ = "part_kit_items"
    __table_args__ = (UniqueConstraint("kit_id", "part_id"),
                      CheckConstraint("quantity > 0", name="quantity_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kit_id: Mapped[int] = mapped_column(ForeignKey("part_kits.id", ondelete="CASCADE"))
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)

    part: Mapped[Part] = relationship()


class StockLocation(Base):
    """A store room or cabinet on a site where parts are kept, divided into bins."""

    __tablename__ = "stock_locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Short code printed on labels, e.g. ``BME-STORE``: unique without case.
    code: Mapped[str] = mapped_column(String(32))
    code_key: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    #: Where the store is (building, floor, room), when recorded.
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    site: Mapped[Site] = relationship()
    location: Mapped[Location | None] = relationship()
    bins: Mapped[list[StockBin]] = relationship(back_populates="stock_location", order_by="StockBin.code")


class StockBin(Base):
    """A shelf, drawer or bin of a stock location."""

    __tablename__ = "stock_bins"
    __table_args__ = (UniqueConstraint("stock_location_id", "code_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stock_location_id: Mapped[int] = mapped_column(ForeignKey("stock_locations.id", ondelete="RESTRICT"))
    #: e.g. ``A-03-2`` (aisle, shelf, drawer); unique in its location without case.
    code: Mapped[str] = mapped_column(String(32))
    code_key: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    stock_location: Mapped[StockLocation] = relationship(back_populates="bins")

    @property
    def label(self) -> str:
        """Return ``LOCATION / BIN``, e.g. ``BME-STORE / A-03-2``."""
        return f"{self.stock_location.code} / {self.code}"


class StockLevel(Base):
    """How many of a part a bin holds now; never below zero."""

    __tablename__ = "stock_levels"
    __table_args__ = (UniqueConstraint("part_id", "bin_id"),
                      CheckConstraint("quantity >= 0", name="quantity_not_negative"))

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"))
    bin_id: Mapped[int] = mapped_column(ForeignKey("stock_bins.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))

    part: Mapped[Part] = relationship()
    bin: Mapped[StockBin] = relationship()


class StockMovement(Base):
    """One change of a bin's stock: who, when, why, by how much, and what the bin held after.

    ``quantity`` is signed: receipts and returns add, issues remove, a transfer is a pair of
    rows (out of one bin, into another, the second naming the first in ``related_id``),
    adjustments and counts go either way. ``unit_cost`` is the part's cost at the time.
    """

    __tablename__ = "stock_movements"
    __table_args__ = (
        choice_check("kind", STOCK_MOVEMENT_KINDS),
        CheckConstraint("quantity <> 0", name="quantity_not_zero"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        Index("ix_stock_movements_part_id_id", "part_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"))
    bin_id: Mapped[int] = mapped_column(ForeignKey("stock_bins.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    #: What the bin held of the part right after this movement.
    balance: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_cost: Mapped[Decimal | None] = mapped_column(MONEY)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"),
                                                      index=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="RESTRICT"))
    #: The other half of a transfer.
    related_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movements.id", ondelete="RESTRICT"))
    #: Why (required for adjustments and counts), and a document reference (delivery note, invoice).
    reason: Mapped[str] = mapped_column(Text, default="")
    reference: Mapped[str] = mapped_column(String(100), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    username: Mapped[str] = mapped_column(String(100))
    #: Who approved an adjustment above the threshold (None when none was needed).
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    part: Mapped[Part] = relationship()
    bin: Mapped[StockBin] = relationship()
    work_order: Mapped[WorkOrder | None] = relationship()


@event.listens_for(StockMovement, "before_update")
@event.listens_for(StockMovement, "before_delete")
def _refuse_change(_mapper, _connection, row: StockMovement) -> None:
    raise StoreError(f"stock movement {row.id} cannot be changed or deleted: the ledger is append-only")


class StockAdjustment(Base):
    """An adjustment or stock count worth more than the approval threshold, waiting for a manager.

    ``quantity`` is the signed change asked for (for a count: counted minus what the books
    held when counting). Approving it writes the movement; rejecting it writes nothing.
    """

    __tablename__ = "stock_adjustments"
    __table_args__ = (choice_check("state", ADJUSTMENT_STATES),
                      choice_check("kind", ("adjust", "count")),
                      CheckConstraint("quantity <> 0", name="quantity_not_zero"))

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"), index=True)
    bin_id: Mapped[int] = mapped_column(ForeignKey("stock_bins.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    #: For a count: what was counted, and what the books held then.
    counted: Mapped[Decimal | None] = mapped_column(QUANTITY)
    expected: Mapped[Decimal | None] = mapped_column(QUANTITY)
    value: Mapped[Decimal | None] = mapped_column(MONEY)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    decided_by: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str] = mapped_column(Text, default="")
    movement_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movements.id", ondelete="RESTRICT"))

    part: Mapped[Part] = relationship()
    bin: Mapped[StockBin] = relationship()


class WorkOrderPick(Base):
    """Parts picked from a bin for a work order: held for it while ``picked``, taken out of
    stock (``issued``) when the order is completed, back in stock (``released``) when it is
    cancelled or the technician puts them back."""

    __tablename__ = "work_order_picks"
    __table_args__ = (choice_check("state", PICK_STATES),
                      CheckConstraint("quantity > 0", name="quantity_positive"),
                      Index("ix_work_order_picks_part_id_state", "part_id", "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"), index=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"))
    bin_id: Mapped[int] = mapped_column(ForeignKey("stock_bins.id", ondelete="RESTRICT"))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    state: Mapped[str] = mapped_column(String(16), default="picked")
    picked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    picked_by: Mapped[str] = mapped_column(String(100))
    picked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The ledger row of the issue, once issued.
    movement_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movements.id", ondelete="RESTRICT"))

    part: Mapped[Part] = relationship()
    bin: Mapped[StockBin] = relationship()
    movement: Mapped[StockMovement | None] = relationship()
