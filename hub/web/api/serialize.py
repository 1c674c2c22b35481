"""JSON forms of the domain objects returned by the API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from flask import Response

from wardlink.hub.db.models import Alert, Asset, ChannelBinding, Gateway
from wardlink.hub.services.assets.register import asset_snapshot
from wardlink.hub.services.gateways.registry import GatewayState
from wardlink.hub.services.pagination import Page


def jsonable(value: Any) -> Any:
    """Return ``value`` with datetimes, dates and decimals as strings."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def large_json(doc: dict) -> Response:
    """Return ``doc`` as a JSON response, written by orjson: for documents of tens of thousands
    of items, which ``jsonify`` takes several times as long to write. Keys are sorted as
    ``jsonify`` sorts them; plain dates (never datetimes: give those as text) are written as
    ``YYYY-MM-DD``."""
    return Response(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS), mimetype="application/json")


def asset_json(asset: Asset) -> dict:
    """Return an asset with its department and location spelled out."""
    data = {k: jsonable(v) for k, v in asset_snapshot(asset).items()}
    data["department"] = ({"id": asset.department.id, "code": asset.department.code,
                           "name": asset.department.name} if asset.department else None)
    data["location"] = ({"id": asset.location.id, "label": asset.location.label}
                        if asset.location else None)
    data["needs_planned_maintenance"] = asset.needs_planned_maintenance
    data["tagout"] = ({"at": jsonable(asset.tagout_at), "by": asset.tagout_by, "reason": asset.tagout_reason,
                       "work_order_id": asset.tagout_work_order_id}
                      if asset.equipment_status == "tagged_out" else None)
    data["updated_at"] = jsonable(asset.updated_at)
    return data


def binding_json(binding: ChannelBinding) -> dict:
    """Return a channel binding."""
    return {"gateway": binding.channel.gateway.gateway_id, "channel": binding.channel.channel_id,
            "asset": binding.asset.tag, "metric": binding.metric, "unit": binding.channel.unit,
            "valid_from": jsonable(binding.valid_from), "valid_to": jsonable(binding.valid_to)}


def gateway_json(gateway: Gateway, link: GatewayState) -> dict:
    """Return a gateway, its link state and its channels."""
    return {
        "gateway_id": gateway.gateway_id, "name": gateway.name, "status": link.status,
        "reported_status": link.reported_status or link.status,
        "stalled_since": jsonable(link.stalled_since), "stall_after_s": link.stall_after_s,
        "enabled": gateway.enabled, "last_seen": jsonable(link.last_seen_at),
        "buffer_depth": link.buffer_depth, "software_version": link.software_version,
        "boot": link.boot_id, "uptime_s": link.uptime_s,
        "department": gateway.department.code if gateway.department else None,
        "location": gateway.location.label if gateway.location else None,
        "channels": [{"channel_id": c.channel_id, "metric": c.metric, "unit": c.unit,
                      "driver": c.driver, "interval_s": c.interval_s} for c in gateway.channels],
    }


def alert_json(alert: Alert) -> dict:
    """Return an alert."""
    return {
        "id": alert.id, "rule": alert.rule, "severity": alert.severity, "state": alert.state,
        "title": alert.title, "detail": alert.detail, "value": alert.value,
        "asset": alert.asset.tag if alert.asset else None,
        "gateway": alert.gateway.gateway_id if alert.gateway else None, "channel": alert.channel,
        "opened_at": jsonable(alert.opened_at), "acknowledged_at": jsonable(alert.acknowledged_at),
        "ack_note": alert.ack_note, "resolved_at": jsonable(alert.resolved_at),
        "resolution_note": alert.resolution_note,
    }


def page_json(page: Page, convert) -> dict:
    """Return a page of items with its paging facts."""
    return {"items": [convert(item) for item in page.items], "page": page.page,
            "per_page": page.per_page, "total": page.total, "total_exact": page.total_exact,
            "pages": page.pages, "has_next": page.has_next}
