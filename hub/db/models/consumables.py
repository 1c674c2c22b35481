"""Department consumables: each department's list of things it uses up (gloves, syringes,
electrodes, printer paper), kept by procurement, and the append-only log of what came in
(receipts) and what the ward took (collections).

The tables only; the rules (who may record what, refusing a collection the balance does not
cover, the reorder notice) live in :mod:`wardlink.hub.services.consumables`.

The balance of an item is never stored: it is the sum of its log (receipts minus
collections), read in the transaction that locks the item. Log rows are only ever added: the
ORM refuses to change or delete them and the database refuses it too (triggers of revision
0034_consumables).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (Boolean, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint,
                        event)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.inventory import QUANTITY
from wardlink.hub.db.models.org import Department
from wardlink.hub.db.models.users import User
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import CONSUMABLE_ENTRY_KINDS, PART_UNITS
from wardlink.hub.errors import StoreError


class Consumable(Base):
    """An item of a department's consumables list: what it is, its unit, when to order more."""

    __tablename__ = "consumables"
    __table_args__ = (
        UniqueConstraint("department_id", "name_key"),
        choice_check("unit", PART_UNITS),
        CheckConstraint("reorder_level >= 0", name="reorder_level_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    #: The name compared without case and repeated spaces: unique in its department.
    name_key: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(16), default="each")
    #: Order more when the balance falls to this level (0: never).
    reorder_level: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Since when the balance has been at or below the reorder level (None: it is not); set
    #: and cleared by the log entries that cross the level, so each fall is announced once.
    low_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    department: Mapped[Department] = relationship()


class ConsumableEntry(Base):
    """One line of an item's log: a receipt (stock came in) or a collection (the ward took some).

    ``quantity`` is always positive; the kind says which way it counts. A receipt names its
    supplier and document reference; a collection its collecting officer, a user
    (``collected_by_id``) or a named person (``collected_by_name``). ``on_date`` is the day it
    happened at the site, as the person recording it said; ``created_at`` when it was recorded.
    """

    __tablename__ = "consumable_entries"
    __table_args__ = (
        choice_check("kind", CONSUMABLE_ENTRY_KINDS),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("kind = 'receipt' OR collected_by_id IS NOT NULL OR collected_by_name <> ''",
                        name="collector_named"),
        Index("ix_consumable_entries_consumable_id_id", "consumable_id", "id"),
        Index("ix_consumable_entries_on_date", "on_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consumable_id: Mapped[int] = mapped_column(ForeignKey("consumables.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    on_date: Mapped[date] = mapped_column(Date)
    supplier: Mapped[str] = mapped_column(String(200), default="")
    reference: Mapped[str] = mapped_column(String(100), default="")
    collected_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    collected_by_name: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    #: Who recorded it.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    username: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    consumable: Mapped[Consumable] = relationship()
    collected_by: Mapped[User | None] = relationship(foreign_keys=[collected_by_id])

    @property
    def collector(self) -> str:
        """Return who collected (the user's display name or the named person), '' for a receipt."""
        if self.collected_by is not None:
            return self.collected_by.display_name or self.collected_by.username
        return self.collected_by_name

    @property
    def change(self) -> Decimal:
        """Return what the entry does to the balance: + for a receipt, - for a collection."""
        return self.quantity if self.kind == "receipt" else -self.quantity


@event.listens_for(ConsumableEntry, "before_update")
@event.listens_for(ConsumableEntry, "before_delete")
def _refuse_change(_mapper, _connection, row: ConsumableEntry) -> None:
    raise StoreError(f"consumable log entry {row.id} cannot be changed or deleted: the log is append-only")
