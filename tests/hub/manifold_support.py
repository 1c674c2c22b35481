"""A manifold for the tests that need one (the RBAC matrix)."""

from __future__ import annotations

from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Asset
from wardlink.hub.db.models.manifolds import Manifold
from wardlink.hub.services.manifolds import register


def matrix_manifold(engine, clock) -> int:
    """Watch the demo oxygen manifold O2-MAN-01 (once) and return its id."""
    with session_scope(engine) as s:
        found = s.scalar(select(Manifold.id).join(Asset, Manifold.asset_id == Asset.id)
                         .where(Asset.tag == "O2-MAN-01"))
        if found is not None:
            return found
        return register.create_manifold(s, {
            "asset_tag": "O2-MAN-01", "gateway_id": "gw-matrix", "bank_a_channel": "o2.a", "bank_b_channel": "o2.b",
            "bank_capacity_l": 49346, "full_bar": 200, "changeover_bar": 10, "reserve_hours": 24},
            actor=None, clock=clock).id


def matrix_manifold_asset(engine, clock, serial: int) -> str:
    """Register a fresh manifold asset (one per call, so each role's create has its own) and return its tag."""
    from wardlink.hub.services.assets import register as assets

    tag = f"O2-MATRIX-{serial}"
    with session_scope(engine) as s:
        assets.create_asset(s, {"tag": tag, "name": "Matrix manifold", "category": "Medical gas manifold"},
                            actor=None, clock=clock)
    return tag
