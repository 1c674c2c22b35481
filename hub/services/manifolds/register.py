"""The manifolds watched: an asset of the register, its two bank channels and what a bank holds.

People who may see the asset's department see its manifold (``manifold.view``); biomedical
staff set them up (``manifold.manage``). Every change is audited. What the manifold is doing
now (bank in use, flow, time to empty) is read from the detector's saved state
(:func:`supply`), never stored twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Asset
from wardlink.hub.db.models.manifolds import Manifold, ManifoldChangeover
from wardlink.hub.db.types import from_ms, utc_now
from wardlink.hub.errors import InvalidInput, Message, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets.register import find_asset
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.manifolds import detection
from wardlink.hub.services.manifolds.tracking import settings_of, state_of
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.validate import parse_fields, text
from wardlink.clock import Clock


def _positive(name: str, value: Any) -> float:
    """Parse a number above 0."""
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) and value not in (None, "") else None
    except ValueError:
        number = None
    if number is None or not math.isfinite(number) or number <= 0 or number >= 1e9:
        raise InvalidInput(N_("%(field)s: must be a number greater than 0, got %(value)r"), field=name, value=value)
    return number


def _zero_or_more(name: str, value: Any) -> float:
    """Parse a number of 0 or more."""
    if value in (None, "") or value == 0:
        return 0.0
    return _positive(name, value)


FIELDS = {
    "asset_tag": text(64, required=True), "gateway_id": text(64, required=True),
    "bank_a_channel": text(128, required=True), "bank_b_channel": text(128, required=True),
    "bank_capacity_l": _positive, "full_bar": _positive, "changeover_bar": _zero_or_more,
    "reserve_hours": _positive,
}


def snapshot(manifold: Manifold) -> dict[str, Any]:
    """Return a manifold's settings (for audit rows and the API)."""
    return {"asset_tag": manifold.asset.tag, "gateway_id": manifold.gateway_id,
            "bank_a_channel": manifold.bank_a_channel, "bank_b_channel": manifold.bank_b_channel,
            "bank_capacity_l": manifold.bank_capacity_l, "full_bar": manifold.full_bar,
            "changeover_bar": manifold.changeover_bar, "reserve_hours": manifold.reserve_hours}


def _apply(session: Session, manifold: Manifold, values: Mapping[str, Any], who: Actor) -> None:
    if "asset_tag" in values:
        asset = find_asset(session, values["asset_tag"])
        if asset is None:
            raise InvalidInput(N_("asset_tag: no asset '%(asset_tag)s'"), asset_tag=values["asset_tag"])
        require_department(who, asset.department_id, Message(N_("asset %(tag)s"), tag=asset.tag))
        taken = session.scalar(select(Manifold.id).where(Manifold.asset_id == asset.id))
        if taken is not None and taken != manifold.id:
            raise InvalidInput(N_("asset_tag: asset %(asset_tag)s already has a manifold"), asset_tag=asset.tag)
        manifold.asset = asset
    sources = ("gateway_id", "bank_a_channel", "bank_b_channel")
    if any(key in values and values[key] != getattr(manifold, key) for key in sources):
        # Other channels are another history: the detector starts afresh on them.
        manifold.tracking, manifold.tracked_until_ms = "{}", 0
    for key, value in values.items():
        if key != "asset_tag":
            setattr(manifold, key, value)
    if manifold.changeover_bar >= manifold.full_bar:
        raise InvalidInput(N_("changeover_bar: must be below full_bar (%(full_bar)s bar), got %(value)s"),
                           full_bar=f"{manifold.full_bar:g}", value=f"{manifold.changeover_bar:g}")
    if manifold.bank_a_channel == manifold.bank_b_channel:
        raise InvalidInput(N_("bank_b_channel: must differ from bank_a_channel"))


def create_manifold(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> Manifold:
    """Start watching a manifold; return it."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "manifold.manage")
    values = parse_fields(FIELDS, data, partial=False)
    now = utc_now(clock)
    manifold = Manifold(tracking="{}", tracked_until_ms=0, created_at=now, updated_at=now)
    _apply(session, manifold, values, who)
    session.add(manifold)
    session.flush()
    audit.record(session, actor=who, action="manifold.create", entity="manifold", entity_id=manifold.id,
                 after=snapshot(manifold), clock=clock)
    return manifold


def update_manifold(session: Session, manifold_id: Any, data: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> Manifold:
    """Change a manifold's settings; return it."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "manifold.manage")
    manifold = get_manifold(session, manifold_id, actor=who)
    before = snapshot(manifold)
    _apply(session, manifold, parse_fields(FIELDS, data, partial=True), who)
    manifold.updated_at = utc_now(clock)
    session.flush()
    audit.record(session, actor=who, action="manifold.update", entity="manifold", entity_id=manifold.id,
                 before=before, after=snapshot(manifold), clock=clock)
    return manifold


def get_manifold(session: Session, manifold_id: Any, *, actor: Actor | None) -> Manifold:
    """Return a manifold its reader may see, or raise :class:`NotFound`."""
    who = resolve_actor(actor)
    require(who, "manifold.view")
    try:
        key = int(manifold_id)
    except (TypeError, ValueError):
        key = 0
    manifold = session.get(Manifold, key) if 0 < key < 2**31 else None
    if manifold is None:
        raise NotFound(N_("manifold %(manifold_id)s does not exist"), manifold_id=manifold_id)
    require_department(who, manifold.asset.department_id, Message(N_("manifold %(manifold_id)s"),
                                                                  manifold_id=manifold_id))
    return manifold


def list_manifolds(session: Session, *, actor: Actor | None) -> list[Manifold]:
    """Return the manifolds its reader may see, by asset tag."""
    who = resolve_actor(actor)
    require(who, "manifold.view")
    stmt = select(Manifold).join(Asset, Manifold.asset_id == Asset.id).options(selectinload(Manifold.asset))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Asset.department_id == scope)
    return list(session.scalars(stmt.order_by(Asset.tag)))


def changeovers(session: Session, manifold: Manifold, *, limit: int = 50) -> list[ManifoldChangeover]:
    """Return the manifold's latest changeovers, newest first."""
    stmt = (select(ManifoldChangeover).where(ManifoldChangeover.manifold_id == manifold.id)
            .order_by(ManifoldChangeover.at.desc()).limit(limit))
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class Supply:
    """What a manifold is doing, as the detector last saw it."""

    bank_a_bar: float | None
    bank_b_bar: float | None
    active: str | None  # "a", "b", or None before the first bank was seen falling
    reserve_in_use: bool
    flow_lpm: float | None
    remaining_l: float | None
    hours_left: float | None
    consumed_l: float
    seen_at: datetime | None


def supply(manifold: Manifold) -> Supply:
    """Return the manifold's state: bank pressures, bank in use, flow and how long the gas lasts."""
    state, settings = state_of(manifold), settings_of(manifold)
    banks = state["banks"]
    return Supply(
        bank_a_bar=banks["a"]["last"], bank_b_bar=banks["b"]["last"], active=state["active"],
        reserve_in_use=detection.reserve_in_use(state), flow_lpm=detection.flow_lpm(state),
        remaining_l=detection.remaining_l(state, settings), hours_left=detection.hours_left(state, settings),
        consumed_l=detection.drawn_now(state, settings),
        seen_at=from_ms(manifold.tracked_until_ms) if manifold.tracked_until_ms else None)
