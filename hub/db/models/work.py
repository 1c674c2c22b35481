"""Work orders (the tables only; the state machine and SLAs live in
:mod:`wardlink.hub.services.maintenance.workorders`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.alerts import Alert
from wardlink.hub.db.models.assets import Asset
from wardlink.hub.db.models.org import Department
from wardlink.hub.db.models.users import User
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import (SAFETY_CHECKS, WORK_ORDER_KINDS, WORK_ORDER_PRIORITIES, WORK_ORDER_RESOLUTIONS,
                         WORK_ORDER_SOURCES, WORK_ORDER_STATES)


class WorkOrder(Base):
    """A job on an asset: planned maintenance, a repair, an inspection or a recall."""

    __tablename__ = "work_orders"
    __table_args__ = (
        choice_check("kind", WORK_ORDER_KINDS),
        choice_check("state", WORK_ORDER_STATES),
        choice_check("priority", WORK_ORDER_PRIORITIES),
        choice_check("source", WORK_ORDER_SOURCES),
        choice_check("resolution_category", WORK_ORDER_RESOLUTIONS, nullable=True),
        choice_check("safety_check", SAFETY_CHECKS, nullable=True),
        CheckConstraint("escalation_level >= 0", name="escalation_level_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    priority: Mapped[str] = mapped_column(String(16), default="medium")
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"),
                                                        index=True)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"),
                                                       index=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Where the order came from, and who asked when the requester has no account (QR page).
    source: Mapped[str] = mapped_column(String(16), default="manual")
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    requester_contact: Mapped[str] = mapped_column(String(200), default="")
    #: Where a reporter without an account (the QR page) hears of the order's status changes.
    requester_email: Mapped[str] = mapped_column(String(254), default="")
    # The PM or inspection order whose failed checklist item opened this one.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"))
    # SLA: due times from the priority table; breaches are stamped once by the escalation job.
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    on_hold_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hold_reason: Mapped[str] = mapped_column(String(300), default="")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_category: Mapped[str | None] = mapped_column(String(32))
    resolution_note: Mapped[str] = mapped_column(Text, default="")
    downtime_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    downtime_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    downtime_reason: Mapped[str] = mapped_column(Text, default="")
    # The safety check recorded when the work was completed (pass or fail; None when not done):
    # closing the order that tagged its equipment out with a passing check clears the tag-out.
    safety_check: Mapped[str | None] = mapped_column(String(8))

    asset: Mapped[Asset | None] = relationship()
    department: Mapped[Department | None] = relationship()
    alert: Mapped[Alert | None] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    parent: Mapped[WorkOrder | None] = relationship(remote_side=[id])


@event.listens_for(WorkOrder, "before_insert")
def _default_source(_mapper, _connection, order: WorkOrder) -> None:
    # Orders opened by the rules engine carry their alert but name no source.
    if order.source is None:
        order.source = "alert" if order.alert_id is not None else "manual"
