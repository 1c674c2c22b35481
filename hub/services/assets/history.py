"""The history of an asset's equipment status: one row per stretch, tiling its time.

Every change of an asset's equipment status goes through :func:`record_status`, which closes
the asset's open row and opens the next. Uptime and availability are read from these rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset, AssetStatusChange
from wardlink.hub.db.vocab import EQUIPMENT_STATUSES
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.validate import choice


def record_status(session: Session, asset: Asset, status: str, *, at: datetime, who: Actor, reason: str = "",
                  work_order_id: int | None = None) -> AssetStatusChange | None:
    """Set ``asset``'s equipment status to ``status`` from ``at`` and keep its history.

    Closes the open history row and opens one for the new status; nothing happens when the
    status does not change (and the asset has its open row). Returns the new row, if any.
    Callers audit the change itself.
    """
    choice(EQUIPMENT_STATUSES)("equipment_status", status)
    open_row = current_row(session, asset)
    if open_row is not None and open_row.status == status and asset.equipment_status == status:
        return None
    if open_row is not None:
        open_row.ended_at = max(at, open_row.started_at)
    asset.equipment_status = status
    row = AssetStatusChange(asset_id=asset.id, status=status, started_at=at, ended_at=None,
                            reason=reason[:2000], changed_by=who.username[:100], work_order_id=work_order_id)
    session.add(row)
    session.flush()
    return row


def current_row(session: Session, asset: Asset) -> AssetStatusChange | None:
    """Return the open history row of ``asset`` (its status now), if it has one."""
    return session.scalar(select(AssetStatusChange).where(
        AssetStatusChange.asset_id == asset.id, AssetStatusChange.ended_at.is_(None))
        .order_by(AssetStatusChange.started_at.desc(), AssetStatusChange.id.desc()).limit(1))


def rows_for(session: Session, asset_ids: Iterable[int], begins: datetime,
             ends: datetime) -> dict[int, list[AssetStatusChange]]:
    """Return the status rows overlapping ``begins``..``ends`` of each asset, oldest first."""
    ids = list(asset_ids)
    out: dict[int, list[AssetStatusChange]] = {i: [] for i in ids}
    if not ids:
        return out
    stmt = (select(AssetStatusChange)
            .where(AssetStatusChange.asset_id.in_(ids), AssetStatusChange.started_at < ends,
                   (AssetStatusChange.ended_at.is_(None)) | (AssetStatusChange.ended_at > begins))
            .order_by(AssetStatusChange.asset_id, AssetStatusChange.started_at, AssetStatusChange.id))
    for row in session.scalars(stmt):
        out[row.asset_id].append(row)
    return out
