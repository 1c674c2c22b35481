"""Recalls and field safety notices (the tables only; parsing, matching and the work orders they
open live in :mod:`wardlink.hub.services.compliance`).

A :class:`Recall` is one recalled product as a regulator published it: an openFDA device recall
or enforcement record, or a notice a person typed in (MHRA, ANSM and other regulators publish no
feed the hub can read offline). ``(regulator, reference)`` is its identity, so importing the same
file twice finds the recall it already holds. A :class:`RecallMatch` says one asset is concerned:
``exact`` matches are linked at once, ``fuzzy`` ones wait for a person to confirm or reject them;
a linked match holds the recall work order opened for that asset (one per asset and recall).
A :class:`RecallImport` is the record of one imported file with its counts and refused records.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.assets import Asset
from wardlink.hub.db.models.work import WorkOrder
from wardlink.hub.db.types import UTCDateTime, choice_check

#: Who published a recall or notice.
RECALL_REGULATORS = ("FDA", "MHRA", "ANSM", "BfArM", "TGA", "HealthCanada", "other")
#: Where a recall came from: an openFDA device recall or enforcement file, or the notice form.
RECALL_SOURCES = ("openfda_recall", "openfda_enforcement", "manual")
#: How a match was found: every identity field equal, or close enough to ask a person.
RECALL_MATCH_KINDS = ("exact", "fuzzy")
#: Where a match stands: linked (the asset is concerned), waiting for review, or rejected.
RECALL_MATCH_STATES = ("linked", "review", "rejected")


class Recall(Base):
    """One recalled product or field safety notice."""

    __tablename__ = "recalls"
    __table_args__ = (
        choice_check("regulator", RECALL_REGULATORS),
        choice_check("source", RECALL_SOURCES),
        UniqueConstraint("regulator", "reference", name="uq_recalls_regulator_reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    regulator: Mapped[str] = mapped_column(String(16))
    #: The regulator's number for the recalled product (FDA: the Z-number, product_res_number or
    #: recall_number; MHRA/ANSM: the notice reference).
    reference: Mapped[str] = mapped_column(String(64))
    #: The recall event the product belongs to (FDA res_event_number or event_id).
    event_number: Mapped[str] = mapped_column(String(32), default="")
    source: Mapped[str] = mapped_column(String(24))
    recalling_firm: Mapped[str] = mapped_column(String(200), default="")
    product_code: Mapped[str] = mapped_column(String(16), default="", index=True)
    product_description: Mapped[str] = mapped_column(Text, default="")
    #: Models, lots and serial numbers concerned, as published (FDA code_info).
    code_info: Mapped[str] = mapped_column(Text, default="")
    #: 510(k) numbers, comma separated.
    k_numbers: Mapped[str] = mapped_column(String(500), default="")
    #: Class I, II or III for FDA; free text for other regulators.
    classification: Mapped[str] = mapped_column(String(32), default="")
    recall_status: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(Text, default="")
    initiated_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))

    matches: Mapped[list[RecallMatch]] = relationship(order_by="RecallMatch.id", viewonly=True)


class RecallMatch(Base):
    """An asset a recall concerns, or may concern until a person decides."""

    __tablename__ = "recall_matches"
    __table_args__ = (
        choice_check("kind", RECALL_MATCH_KINDS),
        choice_check("state", RECALL_MATCH_STATES),
        UniqueConstraint("recall_id", "asset_id", name="uq_recall_matches_recall_asset"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id", ondelete="RESTRICT"), index=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(8), index=True)
    #: Which identity fields agreed and which only came close, as the matcher said.
    basis: Mapped[str] = mapped_column(String(300), default="")
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="RESTRICT"),
                                                      unique=True)
    decided_by: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    recall: Mapped[Recall] = relationship()
    asset: Mapped[Asset] = relationship()
    work_order: Mapped[WorkOrder | None] = relationship()


class RecallImport(Base):
    """One imported recall file: what it held and what became of it."""

    __tablename__ = "recall_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    records: Mapped[int] = mapped_column(Integer)
    new_recalls: Mapped[int] = mapped_column(Integer)
    known_recalls: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer)
    linked: Mapped[int] = mapped_column(Integer)
    to_review: Mapped[int] = mapped_column(Integer)
    work_orders: Mapped[int] = mapped_column(Integer)
    #: The refused records, one "record N (reference): reason" per line.
    problems: Mapped[str] = mapped_column(Text, default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    imported_by: Mapped[str] = mapped_column(String(100))
