"""The audit trail: append-only rows chained by SHA-256, keyed by HMAC-SHA256 from the row
``AuditChainKey.from_seq`` on (see :mod:`wardlink.hub.db.audit`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from wardlink.hub.db.base import Base
from wardlink.hub.db.types import UTCDateTime
from wardlink.hub.errors import StoreError


class AuditLog(Base):
    """Who changed what, when and from where; each row carries its own and its parent's hash."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Contiguous 1, 2, 3... assigned under a lock, so a deleted row leaves a visible gap even
    # where the database's own id sequence may skip numbers after a rollback.
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(128))
    before_json: Mapped[str | None] = mapped_column(Text)
    after_json: Mapped[str | None] = mapped_column(Text)
    source_ip: Mapped[str | None] = mapped_column(String(45))
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditChainKey(Base):
    """From which audit row the chain is keyed, and a check value of the key it is keyed with."""

    __tablename__ = "audit_chain_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_seq: Mapped[int] = mapped_column(Integer, unique=True)
    #: HMAC-SHA256 of a fixed text under the key: tells a wrong key from a changed row.
    key_check: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


@event.listens_for(AuditLog, "before_update")
@event.listens_for(AuditLog, "before_delete")
@event.listens_for(AuditChainKey, "before_update")
@event.listens_for(AuditChainKey, "before_delete")
def _refuse_change(_mapper, _connection, row) -> None:
    raise StoreError(f"{row.__tablename__} row {row.id} cannot be changed or deleted: the trail is append-only")
