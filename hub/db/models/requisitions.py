"""Requisitions for work and repairs (the tables only; the flow, who may move a requisition and
when it escalates are judged in :mod:`wardlink.hub.services.requisitions`).

A :class:`Requisition` is a formal request from one department (the requester's side) to
another that does the work (the assigned department), with a unique code per year
(``REQ-2026-00042``), a priority and a due date (a local date of the site). Every step of its
flow is one append-only :class:`RequisitionMovement` row: from which side to which, the
action, the remarks, who and when. ``escalated_at`` is stamped once, when the requisition
first went past its due date unfinished. ``work_order_id`` is the work order it became.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.org import Department
from wardlink.hub.db.models.users import User
from wardlink.hub.db.models.work import WorkOrder
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import WORK_ORDER_PRIORITIES

#: Where a requisition stands, in the order of its flow.
REQUISITION_STATES = ("submitted", "received", "in_review", "approved", "rejected", "in_execution", "delivered",
                      "closed")
#: What a movement records: one step of the flow, an escalation, or the work order it became.
REQUISITION_ACTIONS = ("submit", "receive", "review", "approve", "reject", "execute", "deliver", "close",
                       "escalate", "work_order")
#: The sides a requisition moves between.
REQUISITION_SIDES = ("requester", "assigned_staff", "assigned_manager", "system")


class Requisition(Base):
    """A requisition for work or a repair."""

    __tablename__ = "requisitions"
    __table_args__ = (
        choice_check("status", REQUISITION_STATES),
        choice_check("priority", WORK_ORDER_PRIORITIES),
        UniqueConstraint("year", "serial", name="uq_requisitions_year_serial"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``REQ-<year>-<serial>``; the serial counts from 1 in each local year.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    serial: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(16), default="medium")
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    requesting_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"),
                                                          index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    assigned_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"),
                                                        index=True)
    #: The last day the work should be delivered on (local date of the site), included.
    due_on: Mapped[date] = mapped_column(Date, index=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"),
                                                      unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    requesting_department: Mapped[Department] = relationship(foreign_keys=[requesting_department_id])
    assigned_department: Mapped[Department] = relationship(foreign_keys=[assigned_department_id])
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    work_order: Mapped[WorkOrder | None] = relationship()
    movements: Mapped[list[RequisitionMovement]] = relationship(
        order_by="RequisitionMovement.id", viewonly=True)


class RequisitionMovement(Base):
    """One step of a requisition, never changed once written."""

    __tablename__ = "requisition_movements"
    __table_args__ = (
        choice_check("action", REQUISITION_ACTIONS),
        choice_check("from_role", REQUISITION_SIDES),
        choice_check("to_role", REQUISITION_SIDES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    requisition_id: Mapped[int] = mapped_column(ForeignKey("requisitions.id", ondelete="RESTRICT"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    from_role: Mapped[str] = mapped_column(String(16))
    to_role: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    remarks: Mapped[str] = mapped_column(Text, default="")
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    #: Who acted as the audit trail names them (a user name, or ``scheduler`` for an escalation).
    by_name: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    by: Mapped[User | None] = relationship()
