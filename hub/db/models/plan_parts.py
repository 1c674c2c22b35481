"""The catalogue parts a maintenance plan's visit uses, and the reasons work orders were delayed.

``pm_plan_parts`` names, per plan, which parts of the catalogue one service takes and how many
(the parts forecast multiplies them by the services the PM schedule gives). ``work_order_delays``
keeps why an order was late: one row each time it went on hold (the reason given, when the
hold began and ended) and each reason given after it breached its service level. The hold
reason on the order itself is cleared on resume; these rows stay for the monthly repairs list.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.inventory import Part
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import DELAY_KINDS


class PmPlanPart(Base):
    """A catalogue part one service of a plan uses, and how many."""

    __tablename__ = "pm_plan_parts"
    __table_args__ = (UniqueConstraint("plan_id", "part_id"),
                      CheckConstraint("quantity > 0", name="quantity_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("pm_plans.id", ondelete="CASCADE"), index=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))

    part: Mapped[Part] = relationship()


class WorkOrderDelay(Base):
    """Why a work order was delayed: a hold (with when it began and ended) or a reason given
    for a service-level breach."""

    __tablename__ = "work_order_delays"
    __table_args__ = (choice_check("kind", DELAY_KINDS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When a hold ended (the order resumed); None while it lasts and for breach reasons.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
