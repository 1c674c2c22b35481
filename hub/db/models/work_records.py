"""What is recorded on a work order: notes, time, parts, files and closing signatures.

Rows here are only ever added. Corrections are new rows (a note saying what was wrong), so
the history a manager signs off is the history that happened. Signatures additionally refuse
any ORM update or delete.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, Numeric, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.users import User
from wardlink.hub.db.models.work import WorkOrder
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.errors import StoreError

NOTE_KINDS = ("note", "system")


class WorkOrderNote(Base):
    """A remark on a work order; ``system`` notes record transitions and escalations."""

    __tablename__ = "work_order_notes"
    __table_args__ = (choice_check("kind", NOTE_KINDS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"),
                                               index=True)
    kind: Mapped[str] = mapped_column(String(16), default="note")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    author: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    work_order: Mapped[WorkOrder] = relationship()


class WorkOrderTimeLog(Base):
    """Minutes a technician spent on a work order, and when."""

    __tablename__ = "work_order_time_logs"
    __table_args__ = (CheckConstraint("minutes BETWEEN 1 AND 1440", name="minutes_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"),
                                               index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    minutes: Mapped[int] = mapped_column(Integer)
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class WorkOrderPart(Base):
    """A spare part used on a work order."""

    __tablename__ = "work_order_parts"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"),
                                               index=True)
    part_number: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    unit_cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WorkOrderAttachment(Base):
    """A file (photo, report, certificate) attached to a work order; stored by content hash."""

    __tablename__ = "work_order_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"),
                                               index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    uploaded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The key of the checklist item the file (a photo of a reading, a label) belongs to.
    checklist_item: Mapped[str | None] = mapped_column(String(64), nullable=True)


class WorkOrderSignature(Base):
    """An electronic signature: who signed, when, what it means, and a digest of what was signed."""

    __tablename__ = "work_order_signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"),
                                               index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    username: Mapped[str] = mapped_column(String(64))
    signer_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str] = mapped_column(Text, default="")
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # SHA-256 of the canonical JSON of the signed record (see wardlink.hub.services.maintenance.esign).
    record_hash: Mapped[str] = mapped_column(String(64))


@event.listens_for(WorkOrderSignature, "before_update")
@event.listens_for(WorkOrderSignature, "before_delete")
def _refuse_change(_mapper, _connection, row: WorkOrderSignature) -> None:
    raise StoreError(f"signature {row.id} cannot be changed or deleted: signatures are permanent")
