"""The equipment register."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.org import Department, Location
from wardlink.hub.db.risk import em_score, needs_planned_maintenance
from wardlink.hub.db.types import UTCDateTime, choice_check, range_check
from wardlink.hub.db.vocab import EQUIPMENT_STATUSES, LIFECYCLE_STAGES, MAINTENANCE_STATUSES, OWNER_TYPES


class Asset(Base):
    """A piece of equipment, identified by its tag.

    ``equipment_status`` says whether it works; ``maintenance_status`` whether its planned
    maintenance is up to date. The two are independent: a compliant device can fail and a
    working one can be overdue.
    """

    __tablename__ = "assets"
    __table_args__ = (
        choice_check("owner_type", OWNER_TYPES),
        choice_check("lifecycle_stage", LIFECYCLE_STAGES),
        choice_check("equipment_status", EQUIPMENT_STATUSES),
        choice_check("maintenance_status", MAINTENANCE_STATUSES),
        range_check("equipment_function", 2, 10),
        range_check("physical_risk", 1, 5),
        range_check("maintenance_requirement", 1, 5),
        range_check("incident_history", -2, 2),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100), index=True)
    make: Mapped[str] = mapped_column(String(100), default="")
    model: Mapped[str] = mapped_column(String(100), default="")
    serial: Mapped[str] = mapped_column(String(100), default="")
    #: The FDA product code of the device type (three letters, e.g. FRN for infusion pumps); recalls
    #: are matched on it (revision 0045_recalls).
    product_code: Mapped[str] = mapped_column(String(16), default="", server_default="")
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"))
    owner_type: Mapped[str] = mapped_column(String(16), default="hospital")
    purchase_date: Mapped[date | None] = mapped_column(Date)
    purchase_cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    warranty_end: Mapped[date | None] = mapped_column(Date)
    # Finance (revision 0032): straight-line depreciation over the useful life down to the
    # salvage value, and what a new one would cost (wardlink.hub.services.finance).
    useful_life_years: Mapped[int | None] = mapped_column(Integer)
    salvage_value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    replacement_cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    install_date: Mapped[date | None] = mapped_column(Date)
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="in_use")
    equipment_status: Mapped[str] = mapped_column(String(16), default="in_service", index=True)
    maintenance_status: Mapped[str] = mapped_column(String(16), default="compliant", index=True)
    life_support: Mapped[bool] = mapped_column(Boolean, default=False)
    equipment_function: Mapped[int | None] = mapped_column(Integer)
    physical_risk: Mapped[int | None] = mapped_column(Integer)
    maintenance_requirement: Mapped[int | None] = mapped_column(Integer)
    incident_history: Mapped[int | None] = mapped_column(Integer)
    # Stored (not computed on read) so lists can filter and sort by it; kept in step below.
    em_score: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str] = mapped_column(Text, default="")
    # The searched fields folded into one string (see search_key), kept in step below: search
    # then reads one column instead of folding six on every row of every search.
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # "Do not use": who tagged the equipment out, when and why, and the work order whose
    # closing with a passing safety check clears it (none when a manager tagged it out).
    tagout_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tagout_by: Mapped[str] = mapped_column(String(100), default="", server_default="")
    tagout_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    tagout_work_order_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    department: Mapped[Department | None] = relationship()
    location: Mapped[Location | None] = relationship()

    @property
    def needs_planned_maintenance(self) -> bool:
        """Return True when the EM score puts this asset in the planned-maintenance programme."""
        return needs_planned_maintenance(self.em_score)


@event.listens_for(Asset, "before_insert")
@event.listens_for(Asset, "before_update")
def _keep_em_score(_mapper, _connection, asset: Asset) -> None:
    asset.em_score = em_score(asset.equipment_function, asset.physical_risk,
                              asset.maintenance_requirement, asset.incident_history)


#: The fields a free-text asset search looks in, in the order search_text holds them.
SEARCHED_FIELDS = ("tag", "name", "category", "make", "model", "serial")
#: Between fields in search_text, so a term never matches across two of them.
SEARCH_SEPARATOR = "\x1f"


def search_key(text: str) -> str:
    """Return ``text`` folded for caseless matching, without the field separator."""
    return text.replace(SEARCH_SEPARATOR, " ").casefold()


def search_text_of(fields) -> str:
    """Return the search_text of an asset, given its searched fields by name (mapping or object)."""
    get = fields.get if isinstance(fields, dict) else lambda name: getattr(fields, name)
    return SEARCH_SEPARATOR.join(search_key(get(name) or "") for name in SEARCHED_FIELDS)


@event.listens_for(Asset, "before_insert")
@event.listens_for(Asset, "before_update")
def _keep_search_text(_mapper, _connection, asset: Asset) -> None:
    asset.search_text = search_text_of(asset)


class AssetStatusChange(Base):
    """One stretch of an asset's equipment status: from ``started_at`` until ``ended_at``
    (None while it lasts). Every status change closes the open row and opens the next, so
    the rows of an asset tile its time since registration."""

    __tablename__ = "asset_status_history"
    __table_args__ = (choice_check("status", EQUIPMENT_STATUSES),
                      Index("ix_asset_status_history_asset_started", "asset_id", "started_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")
    changed_by: Mapped[str] = mapped_column(String(100), default="")
    work_order_id: Mapped[int | None] = mapped_column(Integer)


class AssetCategory(Base):
    """One entry of the managed list of equipment categories, with the Fennigkoh-Smith scores
    a new asset of the category starts with. ``name_key`` (the name folded for caseless
    comparison) keeps "defibrillator" and "Defibrillator" from both existing."""

    __tablename__ = "asset_categories"
    __table_args__ = (range_check("equipment_function", 2, 10), range_check("physical_risk", 1, 5),
                      range_check("maintenance_requirement", 1, 5))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    equipment_function: Mapped[int | None] = mapped_column(Integer)
    physical_risk: Mapped[int | None] = mapped_column(Integer)
    maintenance_requirement: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


def category_key(name: str) -> str:
    """Return a category name folded for caseless comparison (spaces collapsed)."""
    return " ".join(name.split()).casefold()
