"""What work costs beyond parts: labour rates (per role, or per person) and vendor charges on
work orders. The order's cost is computed in :mod:`wardlink.hub.services.maintenance.workorder_costs`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.inventory import Supplier
from wardlink.hub.db.models.users import User
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import ROLES
from wardlink.hub.errors import StoreError


class LabourRate(Base):
    """What an hour of work costs: for everyone of a role, or for one person (which wins)."""

    __tablename__ = "labour_rates"
    __table_args__ = (
        UniqueConstraint("role"), UniqueConstraint("user_id"), choice_check("role", ROLES, nullable=True),
        CheckConstraint("(role IS NULL) <> (user_id IS NULL)", name="role_or_user"),
        CheckConstraint("hourly_rate >= 0", name="hourly_rate_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str | None] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    hourly_rate: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User | None] = relationship()


class WorkOrderCharge(Base):
    """A vendor's charge on a work order (a call-out, a repair invoice), added and never edited."""

    __tablename__ = "work_order_charges"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="RESTRICT"))
    #: Who charged, when not a listed supplier.
    vendor: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(String(300))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    #: The invoice or quote number.
    reference: Mapped[str] = mapped_column(String(100), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    supplier: Mapped[Supplier | None] = relationship()


@event.listens_for(WorkOrderCharge, "before_update")
@event.listens_for(WorkOrderCharge, "before_delete")
def _refuse_change(_mapper, _connection, row: WorkOrderCharge) -> None:
    raise StoreError(f"charge {row.id} cannot be changed or deleted: add a correcting note instead")
