"""Service contracts and warranties (the tables only; what is covered, by whom and until when is
judged in :mod:`wardlink.hub.services.contracts`).

A :class:`ServiceContract` is an agreement with a vendor, a listed supplier or a name (a
maintenance contract, or the manufacturer's warranty) covering parts, labour and/or planned
maintenance of the assets listed in :class:`ContractAsset`, from ``starts_on`` to ``ends_on``
(both included), for ``cost`` over that term, with a promised response time. A
:class:`ContractWarning` records that the warning ``threshold_days`` before a term's end was
given: its unique key makes each warning happen once per contract, threshold and end date,
however many schedulers run; a renewal (a new end date) gets its own warnings.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (Boolean, CheckConstraint, Date, ForeignKey, Integer, Numeric, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wardlink.hub.db.base import Base
from wardlink.hub.db.models.assets import Asset
from wardlink.hub.db.models.inventory import Supplier
from wardlink.hub.db.types import UTCDateTime, choice_check

#: What a contract is: a paid service contract or a warranty that came with the equipment.
CONTRACT_KINDS = ("service", "warranty")


class ServiceContract(Base):
    """A service contract or warranty with a vendor."""

    __tablename__ = "service_contracts"
    __table_args__ = (
        choice_check("kind", CONTRACT_KINDS),
        CheckConstraint("ends_on >= starts_on", name="term_order"),
        CheckConstraint("response_hours IS NULL OR response_hours BETWEEN 1 AND 8760",
                        name="response_hours_range"),
        CheckConstraint("cost IS NULL OR cost >= 0", name="cost_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The contract's number as the vendor writes it (unique without case through ``reference_key``).
    reference: Mapped[str] = mapped_column(String(64))
    reference_key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="service")
    title: Mapped[str] = mapped_column(String(200))
    #: The listed supplier the contract is with, if any (the name stays in ``vendor_name``).
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="SET NULL"), index=True)
    vendor_name: Mapped[str] = mapped_column(String(200))
    vendor_contact: Mapped[str] = mapped_column(String(300), default="")
    covers_parts: Mapped[bool] = mapped_column(Boolean, default=False)
    covers_labour: Mapped[bool] = mapped_column(Boolean, default=False)
    covers_pm: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date, index=True)
    #: What the whole term costs (None: not known; a warranty usually costs nothing extra).
    cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    #: Hours within which the vendor promised to respond to a call.
    response_hours: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    supplier: Mapped[Supplier | None] = relationship()
    assets: Mapped[list[Asset]] = relationship(secondary="service_contract_assets", order_by="Asset.tag",
                                               viewonly=True)


class ContractAsset(Base):
    """One asset a contract covers."""

    __tablename__ = "service_contract_assets"

    contract_id: Mapped[int] = mapped_column(ForeignKey("service_contracts.id", ondelete="RESTRICT"),
                                             primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), primary_key=True,
                                          index=True)


class ContractWarning(Base):
    """A warning, ``threshold_days`` before the end of a contract's term, given once."""

    __tablename__ = "service_contract_warnings"
    __table_args__ = (UniqueConstraint("contract_id", "threshold_days", "ends_on",
                                       name="uq_service_contract_warnings_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("service_contracts.id", ondelete="RESTRICT"))
    threshold_days: Mapped[int] = mapped_column(Integer)
    ends_on: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: How many people were told (0 when nobody held a role to tell: the warning still counts).
    told: Mapped[int] = mapped_column(Integer, default=0)
