"""What the asset page shows beyond the register entry: charts, Grafana panels, maintenance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from flask import url_for
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.maintenance import pm
from wardlink.hub.services.maintenance import pm_standing
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.maintenance.workorder_common import code_of
from wardlink.hub.services.maintenance.workorder_records import downtime_minutes
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people.permissions import can
from wardlink.hub.web.ui import ui_state

#: Grafana's asset board and the panels the asset page embeds (see grafana/dashboards).
GRAFANA_ASSET_BOARD = ("wardlink-asset", "wardlink-asset")
GRAFANA_ASSET_PANELS = ((1, "Readings"), (4, "Door"))
GRAFANA_WARD_BOARD = ("wardlink-ward", "wardlink-ward")
GRAFANA_WARD_PANELS = ((4, "Temperature"), (7, "Open alerts in the ward"))
MAINTENANCE_ROWS = 10


@dataclass(frozen=True)
class ChartSpec:
    """One channel's chart on a page."""

    key: str
    title: str
    unit: str
    url: str


@dataclass(frozen=True)
class GrafanaPanel:
    """One embedded Grafana panel."""

    title: str
    src: str


def asset_charts(session: Session, asset: Asset, now: datetime) -> list[ChartSpec]:
    """Return a chart for every channel bound to ``asset`` now."""
    out = []
    for b in gateways.bindings_at(session, now, asset_id=asset.id):
        gateway_id, channel_id = b.channel.gateway.gateway_id, b.channel.channel_id
        out.append(ChartSpec(key=f"{gateway_id}/{channel_id}", title=f"{b.metric} · {channel_id}",
                             unit=b.channel.unit,
                             url=url_for("api.readings", asset=asset.tag, gateway=gateway_id, channel=channel_id)))
    return out


def _panel_src(board: tuple[str, str], panel_id: int, variables: dict[str, str]) -> str:
    query = {"orgId": "1", "panelId": str(panel_id), "from": "now-24h", "to": "now",
             "theme": "light", "refresh": "1m"}
    query.update({f"var-{k}": v for k, v in variables.items()})
    return f"{ui_state().grafana_url}/d-solo/{board[0]}/{board[1]}?{urlencode(query)}"


def grafana_panels(asset: Asset) -> list[GrafanaPanel]:
    """Return the Grafana panels of the asset page; none when Grafana is not configured."""
    if not ui_state().grafana_url:
        return []
    variables = {"asset": asset.tag, "ward": asset.department.code if asset.department else "All"}
    return [GrafanaPanel(title, _panel_src(GRAFANA_ASSET_BOARD, panel, variables))
            for panel, title in GRAFANA_ASSET_PANELS]


def ward_panels(ward_code: str) -> list[GrafanaPanel]:
    """Return the Grafana panels of a ward; none when Grafana is not configured."""
    if not ui_state().grafana_url:
        return []
    return [GrafanaPanel(title, _panel_src(GRAFANA_WARD_BOARD, panel, {"ward": ward_code}))
            for panel, title in GRAFANA_WARD_PANELS]


@dataclass(frozen=True)
class DowntimeSpan:
    """One period the asset was out of use, from its work order."""

    start: datetime
    end: datetime | None
    hours: float
    reason: str
    wo_id: int
    code: str


def maintenance_sections(session: Session, actor: Actor, asset: Asset, now: datetime) -> dict:
    """Return the asset's maintenance plans, work orders and downtime, as far as permitted."""
    context: dict = {"pm_plans": None, "work_orders": None, "downtime": None,
                     "maintenance_status": pm_standing.asset_status(session, asset, now)}
    if can(actor, "pm.view"):
        plans = pm.list_plans(session, actor=actor, asset_tag=asset.tag, active=True,
                              per_page=MAINTENANCE_ROWS).items
        context["pm_plans"] = [pm_standing.plan_standing(session, plan, asset, now) for plan in plans]
    if can(actor, "workorder.view"):
        context["work_orders"] = workorders.list_work_orders(
            session, actor=actor, asset_tag=asset.tag, sort="newest", per_page=MAINTENANCE_ROWS).items
        spans = []
        for order in workorders.downtime_orders(session, asset.id, actor=actor, limit=MAINTENANCE_ROWS):
            minutes = downtime_minutes(order, now) or 0
            spans.append(DowntimeSpan(order.downtime_start, order.downtime_end, minutes / 60,
                                      order.downtime_reason, order.id, code_of(order)))
        context["downtime"] = spans
    return context
