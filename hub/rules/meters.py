"""Accumulated meters per asset (run-hours), for meter-based preventive maintenance.

The ``run_hours`` rule kind adds running time to ``asset_meters``; maintenance planning reads
it here, e.g. "service the pump every 2,000 run-hours".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset
from wardlink.hub.db.models.rules import AssetMeter


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One asset's meter."""

    asset: str
    meter: str
    seconds: float
    last_ts_ms: int | None
    updated_at: datetime

    @property
    def hours(self) -> float:
        """Return the meter in hours."""
        return self.seconds / 3600.0


def list_meters(session: Session, *, asset_tag: str | None = None, meter: str | None = None) -> list[MeterReading]:
    """Return meters, optionally of one asset and/or one meter name, by asset tag."""
    stmt = select(Asset.tag, AssetMeter).join(Asset, Asset.id == AssetMeter.asset_id)
    if asset_tag is not None:
        stmt = stmt.where(Asset.tag == asset_tag)
    if meter is not None:
        stmt = stmt.where(AssetMeter.meter == meter)
    return [MeterReading(tag, m.meter, m.seconds, m.last_ts_ms, m.updated_at)
            for tag, m in session.execute(stmt.order_by(Asset.tag, AssetMeter.meter))]


def meter_hours(session: Session, asset_tag: str, meter: str = "run_hours") -> float:
    """Return an asset's accumulated hours on ``meter`` (0 when it never ran)."""
    rows = list_meters(session, asset_tag=asset_tag, meter=meter)
    return rows[0].hours if rows else 0.0
