"""Change counters: one row per kind of derived answer the hub keeps in memory.

A :class:`DataStamp`'s ``version`` goes up in every transaction that changes what the
answer is derived from (:mod:`wardlink.hub.db.stamps` does it at commit), so a process holding
an answer computed at version *n* knows it is still right as long as the row still reads *n*.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from wardlink.hub.db.base import Base


class DataStamp(Base):
    """The change counter ``name`` (e.g. ``pm_calendar``)."""

    __tablename__ = "data_stamps"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
