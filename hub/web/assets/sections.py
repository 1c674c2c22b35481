"""What the asset page shows beyond the register entry: charts, Grafana panels, maintenance,
finance and the contracts covering it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from flask import url_for
from flask_babel import gettext
from sqlalchemy.orm import Session

from wardlink.hub.db import units
from wardlink.hub.db.models import Asset
from wardlink.hub.db.types import to_ms
from wardlink.hub.services.alerts import limits
from wardlink.hub.services.alerts.limits import Limits
from wardlink.hub.services.contracts import register as contracts
from wardlink.hub.services.finance import ownership
from wardlink.hub.services.gateways import charts
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.maintenance import pm
from wardlink.hub.services.maintenance import pm_standing
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.maintenance.workorder_common import code_of
from wardlink.hub.services.maintenance.workorder_records import downtime_minutes
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people.permissions import can
from wardlink.hub.web.state import state
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
    unit: str  # the stored unit code (the template shows its symbol)
    url: str
    span: str = charts.DEFAULT_SPAN  # the period it opens on, fitted to the data
    digital: bool = False  # a 0/1 input drawn as steps
    states: tuple[str, str] = ("Off", "On")  # words for levels 0 and 1
    limits: Limits | None = None  # the alert band drawn behind an analogue series

    @property
    def limits_json(self) -> str:
        """Return the alert band in display units, as JSON for the chart script ('' for none)."""
        if self.limits is None:
            return ""
        u = units.unit(self.unit)
        return json.dumps({**self.limits.to_json(), "below": u.convert(self.limits.below),
                           "above": u.convert(self.limits.above)})

    @property
    def limits_text(self) -> str:
        """Return the alert band as people read it: '2–8 °C', 'above 8 °C', 'below 2 °C'."""
        if self.limits is None:
            return ""
        below, above = self.limits.below, self.limits.above
        if below is not None and above is not None:
            symbol = units.unit(self.unit).symbol
            return (f"{units.display_value(below, self.unit)}–{units.display_value(above, self.unit)}"
                    f"{' ' + symbol if symbol else ''}")
        if above is not None:
            return f"up to {units.display(above, self.unit)}"
        return f"from {units.display(below, self.unit)}"


@dataclass(frozen=True)
class GrafanaPanel:
    """One embedded Grafana panel."""

    title: str
    src: str


def asset_charts(session: Session, asset: Asset, now: datetime, live=()) -> list[ChartSpec]:
    """Return a chart for every channel bound to ``asset`` now.

    ``live`` (the newest reading per channel, :func:`wardlink.hub.web.readings.asset_live`)
    fits each chart's opening period to the data; an analogue chart carries the band of the
    threshold rule that watches it, a digital one the words for its levels.
    """
    out = []
    newest = {(r.gateway, r.channel): r.ts_ms for r in live}
    bindings = gateways.bindings_at(session, now, asset_id=asset.id)
    rules = limits.threshold_rules(session) if bindings else []
    for b in bindings:
        gateway_id, channel_id = b.channel.gateway.gateway_id, b.channel.channel_id
        unit = units.unit(b.channel.unit)
        span = charts.fit_span(to_ms(now), newest.get((gateway_id, channel_id)), to_ms(b.valid_from))
        out.append(ChartSpec(
            key=f"{gateway_id}/{channel_id}", title=f"{b.metric.capitalize()} · {channel_id}",
            unit=b.channel.unit,
            url=url_for("api.readings", asset=asset.tag, gateway=gateway_id, channel=channel_id),
            span=span, digital=unit.digital, states=tuple(gettext(w) for w in units.state_words(b.metric)),
            limits=None if unit.digital else limits.channel_limits(rules, limits.channel_facts(asset, b))))
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
        context["pm_plan_objects"] = {plan.id: plan for plan in plans}  # the schedule in words
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


#: Contracts the asset page lists (the contracts page filtered by the asset has them all).
CONTRACT_ROWS = 20


def finance_sections(session: Session, actor: Actor, asset: Asset) -> dict:
    """Return the asset's finance (book value, cost of ownership, repair or replace) and the
    contracts covering it, as far as the actor may see them."""
    clock = state().clock
    context: dict = {"finance": None, "asset_contracts": None, "contract_standing": {}}
    if can(actor, "kpi.view"):
        context["finance"] = ownership.asset_finance(session, asset.tag, actor=actor, clock=clock,
                                                     percent=state().config.repair_replace_percent)
    if can(actor, "contract.view"):
        rows = contracts.list_contracts(session, actor=actor, clock=clock, asset_tag=asset.tag,
                                        per_page=CONTRACT_ROWS).items
        today = contracts.today(session, clock)
        context["asset_contracts"] = rows
        context["contract_standing"] = {c.id: contracts.standing(c, today) for c in rows}
    return context
