"""Equipment status over time, and tag-out ("do not use").

Every change of an asset's equipment status closes the asset's open row of
``asset_status_history`` and opens the next, so an asset's rows tile its time since
registration; uptime and availability (:mod:`wardlink.hub.services.reports.kpis`) are read
from them.

**Tag-out.** A device that must not be used is ``tagged_out``, with who, when and why. It
happens when a safety-critical checklist item fails (the corrective order opened for it
holds the tag-out), when a request says the device is out of use (the request holds it), or
when a manager tags it out. Only closing the order that holds it, completed with a passing
safety check, clears it; a manager may also clear it, saying why. Every step is audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset, AssetStatusChange
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets.history import record_status
from wardlink.hub.services.assets.register import get_asset
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import text
from wardlink.clock import Clock

TAGGED_OUT = "tagged_out"
#: The status a device returns to when its tag-out clears.
RELEASED_STATUS = "in_service"
REASON = text(2000, required=True)


def tagout_snapshot(asset: Asset) -> dict:
    """Return the tag-out fields of ``asset`` (for audit rows and the API)."""
    return {"equipment_status": asset.equipment_status, "tagged_out": asset.equipment_status == TAGGED_OUT,
            "tagout_at": asset.tagout_at, "tagout_by": asset.tagout_by or None,
            "tagout_reason": asset.tagout_reason or None, "tagout_work_order_id": asset.tagout_work_order_id}


def apply_tagout(session: Session, asset: Asset, *, reason: str, who: Actor, now: datetime, clock: Clock,
                 work_order_id: int | None = None, source: str) -> bool:
    """Tag ``asset`` out (internal: the caller has checked permissions); return True if it was not already.

    A device already tagged out stays tagged out by what tagged it out first; the new reason
    is added to the audit trail only.
    """
    if asset.equipment_status == "retired":
        return False
    before = tagout_snapshot(asset)
    if asset.equipment_status == TAGGED_OUT:
        audit.record(session, actor=who, action="asset.tagout", entity="asset", entity_id=asset.tag,
                     before=before, after={"already_tagged_out": True, "reason": reason, "source": source,
                                           "work_order_id": work_order_id}, clock=clock)
        return False
    record_status(session, asset, TAGGED_OUT, at=now, who=who, reason=reason, work_order_id=work_order_id)
    asset.tagout_at, asset.tagout_by = now, who.username[:100]
    asset.tagout_reason, asset.tagout_work_order_id = reason[:2000], work_order_id
    asset.updated_at = now
    session.flush()
    audit.record(session, actor=who, action="asset.tagout", entity="asset", entity_id=asset.tag,
                 before=before, after={**tagout_snapshot(asset), "source": source}, clock=clock)
    return True


def _release(session: Session, asset: Asset, *, reason: str, who: Actor, now: datetime, clock: Clock,
             work_order_id: int | None, action: str) -> None:
    before = tagout_snapshot(asset)
    record_status(session, asset, RELEASED_STATUS, at=now, who=who, reason=reason, work_order_id=work_order_id)
    asset.tagout_at, asset.tagout_by, asset.tagout_reason, asset.tagout_work_order_id = None, "", "", None
    asset.updated_at = now
    session.flush()
    audit.record(session, actor=who, action=action, entity="asset", entity_id=asset.tag, before=before,
                 after={**tagout_snapshot(asset), "reason": reason, "work_order_id": work_order_id}, clock=clock)


def tag_out(session: Session, tag: str, *, reason: str, actor: Actor | None, clock: Clock | None = None) -> Asset:
    """Tag an asset out of use by a manager's decision (``asset.tagout``), saying why."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "asset.tagout")
    asset = get_asset(session, tag, actor=who)
    reason = REASON("reason", reason)
    if asset.equipment_status == "retired":
        raise InvalidInput(N_("asset '%(tag)s' is retired; a retired device cannot be tagged out"), tag=tag)
    if asset.equipment_status == TAGGED_OUT:
        raise InvalidInput(N_("asset '%(tag)s' is already tagged out (since %(tagout_at)s UTC, by %(tagout_by)s: "
                              "%(tagout_reason)s)"),
                           tag=tag, tagout_at=format(asset.tagout_at, '%Y-%m-%d %H:%M'), tagout_by=asset.tagout_by,
                           tagout_reason=asset.tagout_reason)
    apply_tagout(session, asset, reason=reason, who=who, now=utc_now(clock), clock=clock, source="manager")
    return asset


def clear_tag_out(session: Session, tag: str, *, reason: str, actor: Actor | None,
                  clock: Clock | None = None) -> Asset:
    """Clear an asset's tag-out by a manager's decision (``asset.tagout``), saying why (audited)."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "asset.tagout")
    asset = get_asset(session, tag, actor=who)
    reason = REASON("reason", reason)
    if asset.equipment_status != TAGGED_OUT:
        raise InvalidInput(N_("asset '%(tag)s' is not tagged out"), tag=tag)
    _release(session, asset, reason=f"Cleared by {who.username}: {reason}", who=who, now=utc_now(clock),
             clock=clock, work_order_id=None, action="asset.tagout_clear")
    return asset


def release_by_work(session: Session, asset: Asset | None, work_order_id: int, safety_check: str | None, *,
                    who: Actor, now: datetime, clock: Clock, code: str) -> bool:
    """Clear ``asset``'s tag-out when the order holding it closes with a passing safety check.

    Returns True when the tag-out was cleared. Internal: called when an order closes.
    """
    if asset is None or asset.equipment_status != TAGGED_OUT or asset.tagout_work_order_id != work_order_id:
        return False
    if safety_check != "pass":
        return False
    _release(session, asset, reason=f"Cleared by closing {code} with a passing safety check", who=who, now=now,
             clock=clock, work_order_id=work_order_id, action="asset.tagout_clear")
    return True


def holds_tagout(asset: Asset | None, work_order_id: int) -> bool:
    """Return True when ``asset`` is tagged out by the order ``work_order_id``."""
    return asset is not None and asset.equipment_status == TAGGED_OUT and asset.tagout_work_order_id == work_order_id


# ------------------------------------------------------------------ reading


def history(session: Session, tag: str, *, actor: Actor | None, limit: int = 100) -> list[AssetStatusChange]:
    """Return the newest ``limit`` status rows of an asset the actor may see, newest first."""
    who = resolve_actor(actor)
    asset = get_asset(session, tag, actor=who)
    return list(session.scalars(select(AssetStatusChange).where(AssetStatusChange.asset_id == asset.id)
                                .order_by(AssetStatusChange.started_at.desc(), AssetStatusChange.id.desc())
                                .limit(max(1, min(limit, 1000)))))
