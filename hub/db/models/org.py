"""Where equipment lives: sites (hospitals), departments (wards) and locations (rooms)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.types import UTCDateTime


class Site(Base):
    """A hospital or clinic campus."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: The language pages and e-mails of the site are in (a locale code); None: the hub's default.
    language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    departments: Mapped[list[Department]] = relationship(back_populates="site")


class Department(Base):
    """A ward or service (ICU, Pharmacy, Biomedical Engineering...) of a site."""

    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    site: Mapped[Site] = relationship(back_populates="departments")


class Location(Base):
    """A place on a site: building, floor and room."""

    __tablename__ = "locations"
    __table_args__ = (UniqueConstraint("site_id", "building", "floor", "room"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    building: Mapped[str] = mapped_column(String(100))
    floor: Mapped[str] = mapped_column(String(32), default="")
    room: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    site: Mapped[Site] = relationship()
    department: Mapped[Department | None] = relationship()

    @property
    def label(self) -> str:
        """Return 'building / floor / room' without empty parts."""
        return " / ".join(part for part in (self.building, self.floor, self.room) if part)
