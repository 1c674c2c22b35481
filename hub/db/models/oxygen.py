"""Medical gas cylinders: the cylinders (tag, gas, size, capacity, status, where they are), the
places they are stored in (a smoke compartment or a storage room, for NFPA 99's limits), and
the append-only log of their movements (filled in, empty out, transfer, in use, quarantine).

The tables only; the rules (which movement a cylinder in a status may take, what a storage
place may hold, consumption) live in :mod:`wardlink.hub.services.oxygen`.

A cylinder's status and place are those its last movement left it in: each movement writes
its row and updates the cylinder in one transaction, the cylinder's row locked. Movement rows
are only ever added: the ORM refuses to change or delete them and the database refuses it too
(triggers of revision 0044_oxygen).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Numeric, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.org import Department
from wardlink.hub.db.types import UTCDateTime, choice_check
from wardlink.hub.db.vocab import CYLINDER_GASES, CYLINDER_MOVEMENT_KINDS, CYLINDER_STATUSES, GAS_STORAGE_KINDS
from wardlink.hub.errors import StoreError

#: Gas volumes in litres at normal temperature and pressure, to the millilitre.
LITRES = Numeric(12, 3)


class GasStorageArea(Base):
    """A place cylinders are kept: a smoke compartment (a ward's share of the floor) or a storage room."""

    __tablename__ = "gas_storage_areas"
    __table_args__ = (choice_check("kind", GAS_STORAGE_KINDS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    department: Mapped[Department] = relationship()


class Cylinder(Base):
    """A gas cylinder: its tag (printed on its label and in its QR code), gas, size, capacity
    (litres of gas at normal temperature and pressure when full), status and place."""

    __tablename__ = "oxygen_cylinders"
    __table_args__ = (
        choice_check("gas", CYLINDER_GASES),
        choice_check("status", CYLINDER_STATUSES),
        CheckConstraint("capacity_l > 0", name="capacity_positive"),
        Index("ix_oxygen_cylinders_department_id_status", "department_id", "status"),
        Index("ix_oxygen_cylinders_storage_area_id", "storage_area_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), unique=True)
    gas: Mapped[str] = mapped_column(String(32), default="oxygen")
    size: Mapped[str] = mapped_column(String(16), default="")
    capacity_l: Mapped[Decimal] = mapped_column(LITRES)
    status: Mapped[str] = mapped_column(String(16))
    #: Where the cylinder is (None: away, e.g. at the filling station after an empty out).
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    storage_area_id: Mapped[int | None] = mapped_column(ForeignKey("gas_storage_areas.id", ondelete="RESTRICT"))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    department: Mapped[Department | None] = relationship()
    storage_area: Mapped[GasStorageArea | None] = relationship()


class CylinderMovement(Base):
    """One movement of a cylinder: what happened (``kind``), the status before and after, where
    from and where to, who recorded it and when. ``volume_l`` is the cylinder's capacity at the
    time; an empty out counts it into the consumption of the department the cylinder left.
    ``local_day`` is the day at that department's site (consumption months are read from it)."""

    __tablename__ = "oxygen_movements"
    __table_args__ = (
        choice_check("kind", CYLINDER_MOVEMENT_KINDS),
        choice_check("status_before", CYLINDER_STATUSES),
        choice_check("status_after", CYLINDER_STATUSES),
        CheckConstraint("volume_l > 0", name="volume_positive"),
        Index("ix_oxygen_movements_cylinder_id_id", "cylinder_id", "id"),
        Index("ix_oxygen_movements_kind_local_day", "kind", "local_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cylinder_id: Mapped[int] = mapped_column(ForeignKey("oxygen_cylinders.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16))
    status_before: Mapped[str] = mapped_column(String(16))
    status_after: Mapped[str] = mapped_column(String(16))
    from_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    from_area_id: Mapped[int | None] = mapped_column(ForeignKey("gas_storage_areas.id", ondelete="RESTRICT"))
    to_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    to_area_id: Mapped[int | None] = mapped_column(ForeignKey("gas_storage_areas.id", ondelete="RESTRICT"))
    volume_l: Mapped[Decimal] = mapped_column(LITRES)
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime())
    local_day: Mapped[date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    username: Mapped[str] = mapped_column(String(100))

    cylinder: Mapped[Cylinder] = relationship()
    from_department: Mapped[Department | None] = relationship(foreign_keys=[from_department_id])
    to_department: Mapped[Department | None] = relationship(foreign_keys=[to_department_id])
    from_area: Mapped[GasStorageArea | None] = relationship(foreign_keys=[from_area_id])
    to_area: Mapped[GasStorageArea | None] = relationship(foreign_keys=[to_area_id])


@event.listens_for(CylinderMovement, "before_update")
@event.listens_for(CylinderMovement, "before_delete")
def _refuse_change(_mapper, _connection, row: CylinderMovement) -> None:
    raise StoreError(f"cylinder movement {row.id} cannot be changed or deleted: the log is append-only")
