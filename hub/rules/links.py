"""The rules engine's view of each gateway's link: the status it applied, the gateway's clock
offset, whether it is buffering, and which gateways went silent while saying online.

The engine keeps the status it applied in its own columns of the gateway's ``gateway_links``
row (``rules_*``, ``status_ts_ms``, ``clock_offset_ms``; see
:class:`wardlink.hub.db.models.gateways.GatewayLink`): it applies statuses in its own
transaction and order, and its gateway alerts must follow exactly what it applied. Ingest owns
the row's other columns and writes them in its own transactions; each side changes only its
own fields, so on PostgreSQL neither overwrites the other's and both take the one row lock in
turn.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, UTC
from typing import Any, Mapping

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models.gateways import GatewayLink
from wardlink.hub.rules.catalog import Catalog
from wardlink.hub.services.gateways import registry as gateway_links


def insert_missing_gateway(session: Session, **values: Any) -> None:
    """Insert a ``gateway_links`` row unless one for its gateway exists (or is being inserted) already."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        session.add(GatewayLink(**values))
        session.flush()
        return
    session.execute(insert(GatewayLink).values(**values).on_conflict_do_nothing(index_elements=["gateway"]))


def apply_status(session: Session, gateway_id: str, status: Any, received: int) -> bool:
    """Record a gateway's status as the engine applies it; return False for a stale Last Will."""
    row = session.get(GatewayLink, gateway_id)
    if row is None:
        # Status is not shared between workers: each sees a gateway's first status and
        # would insert its row (so would ingest); the loser must take the winner's row, not
        # fail the batch.
        insert_missing_gateway(session, gateway=gateway_id, rules_state=status.state, rules_since_ms=received,
                               rules_status_ms=received)
        row = session.get(GatewayLink, gateway_id, populate_existing=True)
    if (status.state == "offline" and row.rules_state == "online" and row.rules_boot
            and status.boot != row.rules_boot):
        return False  # the Last Will of an earlier boot, published after the new boot said hello
    # The ORM writes only the attributes whose value changes, all of them the engine's own.
    if row.rules_state != status.state:
        row.rules_since_ms = received
    if status.state == "online" and status.ts_ms is not None and (
            row.status_ts_ms is None or status.boot != row.rules_boot or status.ts_ms > row.status_ts_ms):
        # A fresh status (not the retained one delivered again on a new subscription,
        # whose timestamp is old) tells how far the gateway's clock is from ours. The
        # Last Will is left out: its timestamp is from when the gateway connected.
        row.status_ts_ms = status.ts_ms
        row.clock_offset_ms = received - status.ts_ms
    row.rules_state, row.rules_boot, row.rules_status_ms = status.state, status.boot, received
    if status.state == "online":
        row.rules_buffer_depth, row.rules_oldest_unsent_ms = status.buffer_depth, status.oldest_unsent_ms
    return True


def load(session: Session) -> dict[str, GatewayLink]:
    """Return the row of every gateway the engine applied a status of, by gateway id."""
    return {g.gateway: g for g in session.scalars(select(GatewayLink).where(GatewayLink.rules_state.is_not(None)))}


def buffering(row: GatewayLink | None, lag_ms: int) -> bool:
    """Return True when an online gateway holds readings older than ``lag_ms`` unsent."""
    return (row is not None and row.rules_state == "online"
            and (row.rules_oldest_unsent_ms or 0) >= lag_ms and (row.rules_buffer_depth or 0) > 0)


def clock_offset(db: Engine, gateway_id: str) -> int:
    """Return how far ``gateway_id``'s clock runs behind the hub's, per its newest status (0 if unknown)."""
    with Session(db) as session:
        offset = session.scalar(select(GatewayLink.clock_offset_ms).where(GatewayLink.gateway == gateway_id))
    return offset or 0


def stalled_gateways(catalog: Catalog, gateways: Mapping[str, GatewayLink], heard: Mapping[str, datetime],
                     now: int, deaf: bool, stall_min_s: float) -> dict[str, int]:
    """Return the gateways whose status says online but which went silent, with since when (ms)."""
    intervals: dict[str, list[float | None]] = defaultdict(list)
    for info in catalog.channels.values():
        intervals[info.gateway].append(info.interval_s)
    moment = datetime.fromtimestamp(now / 1000, UTC)
    stalls = {}
    for gateway, row in gateways.items():
        last = datetime.fromtimestamp(row.rules_status_ms / 1000, UTC)
        if gateway in heard:
            last = max(last, heard[gateway])
        link = gateway_links.judge_link(row.rules_state, last, moment,
                                        gateway_links.stall_after(intervals[gateway], stall_min_s),
                                        hub_deaf=deaf)
        if link.stalled_since is not None:
            stalls[gateway] = round(link.stalled_since.timestamp() * 1000)
    return stalls
