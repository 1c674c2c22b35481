"""The JSON API under ``/api/v1``: session cookie or ``Authorization: Bearer <token>``.

Errors are JSON objects ``{"error": {"status", "code", "message"}}``; times are ISO 8601 UTC
strings or, where named ``*_ms``, milliseconds since the epoch.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from flask import Blueprint, g, jsonify, request

from wardlink.hub.db.types import from_ms, to_ms, utc_now
from wardlink.hub.errors import InvalidInput, NotFound, StoreError
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.gateways import charts
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.maintenance import pm_standing
from wardlink.hub.services.gateways import ingest_status
from wardlink.hub.services.people.permissions import require
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.monitoring import run_checks
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.api.openapi import check_request
from wardlink.hub.web.query_args import asset_filters, int_arg, paging
from wardlink.hub.web.readings import asset_live, gateway_live, link_states
from wardlink.hub.web.api.serialize import alert_json, asset_json, binding_json, gateway_json, page_json
from wardlink.hub.web.state import state

bp = Blueprint("api", __name__)

#: Longest span of raw readings one request may ask for; longer spans need a window.
MAX_RAW_SPAN_MS = 24 * 3600 * 1000
#: Most windows one request may ask for.
MAX_WINDOWS = 10_000
DEFAULT_SPAN_MS = 3600 * 1000
_WINDOW_RE = re.compile(r"^(\d+)(ms|s|m|h|d)?$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, None: 1}


guard(bp, public={"api.health"})


# ------------------------------------------------------------------ arguments


def parse_time_arg(name: str, raw: str | None) -> int | None:
    """Parse milliseconds since the epoch or an ISO 8601 time (UTC if no zone) into ms."""
    if raw is None or raw == "":
        return None
    if raw.lstrip("-").isdigit():
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name}: must be milliseconds since the epoch or an ISO 8601 time, "
                           f"got {raw!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=from_ms(0).tzinfo)
    return to_ms(moment)


def parse_window_arg(raw: str | None) -> int | None:
    """Parse a window such as '500ms', '30s', '5m', '1h', '1d' or plain milliseconds."""
    if raw is None or raw == "":
        return None
    match = _WINDOW_RE.match(raw.strip())
    if not match or int(match.group(1)) <= 0:
        raise InvalidInput(f"window: must be a positive duration like 30s, 5m, 1h or milliseconds, got {raw!r}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _telemetry():
    store = state().telemetry
    if store is None:
        raise StoreError("no telemetry store is connected to this web server")
    return store


def _now_ms() -> int:
    return to_ms(utc_now(state().clock))


# ------------------------------------------------------------------ endpoints


@bp.get("/health")
def health():
    """Answer whether the relational and telemetry stores respond (no sign-in needed)."""
    checks = run_checks(state())
    return jsonify(checks.api_body()), 200 if checks.healthy else 503


@bp.get("/ingest")
def ingest_overview():
    """Return ingest's state: each worker's counters and judgement, and the dead letters kept."""
    report = ingest_status.ingest_report(state().engine, _now_ms(), actor=g.actor,
                                         stall_after_s=state().config.ingest_stall_s)
    return jsonify({"status": report.status, "reasons": list(report.reasons),
                    "workers": [w.to_json() for w in report.workers],
                    "dead_letters": {"distinct": report.dead_letters, "messages": report.dead_letter_messages,
                                     "last_received_ms": report.last_dead_letter_ms}})


@bp.get("/ingest/dead-letters")
def ingest_dead_letters():
    """Return the messages ingest refused, most recent first: reason, gateway, page, per_page."""
    reason, gateway = request.args.get("reason") or None, request.args.get("gateway") or None
    if (reason and len(reason) > 32) or (gateway and len(gateway) > 64):
        raise InvalidInput("reason, gateway: at most 32 and 64 characters")
    page, per_page = int_arg("page", 1, 1, 1_000_000), int_arg("per_page", 50, 1, ingest_status.MAX_PAGE)
    rows = ingest_status.dead_letter_page(state().engine, actor=g.actor, reason=reason, gateway=gateway,
                                          page=page, per_page=per_page)
    return jsonify({"items": [ingest_status.dead_letter_json(r) for r in rows], "page": page,
                    "per_page": per_page})


@bp.get("/assets")
def asset_list():
    """List assets: q, department, category, equipment_status, maintenance_status, sort, page, per_page."""
    page = assets.list_assets(db(), actor=g.actor, **asset_filters(), **paging())
    return jsonify(page_json(page, asset_json))


@bp.get("/assets/<tag>")
def asset_detail(tag: str):
    """Return one asset with its current channel bindings."""
    asset, now = assets.get_asset(db(), tag, actor=g.actor), utc_now(state().clock)
    data = asset_json(asset)
    data["maintenance_status"] = pm_standing.asset_status(db(), asset, now)  # as the asset page: judged now
    data["bindings"] = [binding_json(b) for b in gateways.bindings_at(db(), now, asset_id=asset.id)]
    return jsonify(data)


@bp.get("/assets/<tag>/readings/latest")
def asset_latest(tag: str):
    """Return the newest reading of each channel bound to the asset, with freshness."""
    require(g.actor, "telemetry.view")
    asset = assets.get_asset(db(), tag, actor=g.actor)
    now_ms = _now_ms()
    readings = asset_live(db(), state().engine, asset, _telemetry(), from_ms(now_ms))
    return jsonify({"asset": asset.tag, "now_ms": now_ms,
                    "readings": [r.to_json(now_ms) for r in readings]})


@bp.get("/gateways")
def gateway_list():
    """List gateways with status, last contact, buffer depth and channels."""
    gateway_list = gateways.list_gateways(db(), actor=g.actor)
    states = link_states(gateway_list)
    return jsonify({"items": [gateway_json(gw, states[gw.gateway_id]) for gw in gateway_list]})


@bp.get("/gateways/<gateway_id>")
def gateway_detail(gateway_id: str):
    """Return one gateway."""
    gateway = gateways.get_gateway(db(), gateway_id, actor=g.actor)
    return jsonify(gateway_json(gateway, link_states([gateway])[gateway_id]))


@bp.get("/gateways/<gateway_id>/readings/latest")
def gateway_latest(gateway_id: str):
    """Return the newest reading of each channel of the gateway, with freshness."""
    require(g.actor, "telemetry.view")
    gateway = gateways.get_gateway(db(), gateway_id, actor=g.actor)
    now_ms = _now_ms()
    link = link_states([gateway], from_ms(now_ms))[gateway.gateway_id]
    readings = gateway_live(db(), gateway, _telemetry(), from_ms(now_ms), link.status)
    return jsonify({"gateway": gateway.gateway_id, "status": link.status, "now_ms": now_ms,
                    "readings": [r.to_json(now_ms) for r in readings]})


def _current_binding(tag: str, gateway_id: str, channel_id: str):
    asset = assets.get_asset(db(), tag, actor=g.actor)
    for binding in gateways.bindings_at(db(), utc_now(state().clock), asset_id=asset.id):
        if binding.channel.gateway.gateway_id == gateway_id and binding.channel.channel_id == channel_id:
            return binding
    raise NotFound(f"channel '{channel_id}' of gateway '{gateway_id}' is not bound to asset '{asset.tag}' now")


@bp.get("/readings")
def readings():
    """Return one channel's readings: gateway, channel, start, end (ms or ISO 8601), window;
    with ``asset``, access goes through that asset (the channel must be bound to it now)."""
    require(g.actor, "telemetry.view")
    gateway_id, channel_id = request.args.get("gateway"), request.args.get("channel")
    if not gateway_id or not channel_id:
        raise InvalidInput("gateway and channel: both are required")
    bound_from_ms = None
    if request.args.get("asset"):
        # Through an asset: whoever may see the asset may chart the channels bound to it now
        # (ward staff have no gateway access), from the start of the binding on.
        binding = _current_binding(request.args["asset"], gateway_id, channel_id)
        gateway, bound_from_ms, channel = binding.channel.gateway, to_ms(binding.valid_from), binding.channel
    else:
        gateway = gateways.get_gateway(db(), gateway_id, actor=g.actor)
        channel = gateways.get_channel(db(), gateway.gateway_id, channel_id)
    end_ms = parse_time_arg("end", request.args.get("end")) or _now_ms()
    start_ms = parse_time_arg("start", request.args.get("start"))
    start_ms = end_ms - DEFAULT_SPAN_MS if start_ms is None else start_ms
    if bound_from_ms is not None:
        start_ms = min(max(start_ms, bound_from_ms), end_ms - 1)
    window_ms = parse_window_arg(request.args.get("window"))
    if end_ms <= start_ms:
        raise InvalidInput(f"end: must be after start ({start_ms}), got {end_ms}")
    if window_ms is None and end_ms - start_ms > MAX_RAW_SPAN_MS:
        raise InvalidInput("window: required for spans over 24 hours (e.g. window=5m)")
    if window_ms is not None and (end_ms - start_ms) // window_ms > MAX_WINDOWS:
        raise InvalidInput(f"window: {window_ms} ms gives more than {MAX_WINDOWS} windows; use a larger one")
    rows = _telemetry().range(gateway=gateway.gateway_id, channel=channel_id, start_ms=start_ms,
                              end_ms=end_ms, window_ms=window_ms)
    # A digital input (unit "state") also says how long it was at level 1 (open / on).
    summary = None if channel.unit != "state" else charts.state_summary(
        _telemetry(), gateway=gateway.gateway_id, channel=channel_id, start_ms=start_ms, end_ms=end_ms,
        known_from_ms=bound_from_ms).to_json()
    return jsonify({
        "gateway": gateway.gateway_id, "channel": channel_id, "unit": channel.unit, "start_ms": start_ms,
        "end_ms": end_ms, "window_ms": window_ms, "time_in_state": summary,
        "points": [{"ts_ms": r.ts_ms, "value": r.value, "min": r.min, "max": r.max,
                    "count": r.count, "quality": r.quality} for r in rows],
    })


@bp.get("/alerts")
def alert_list():
    """List alerts: state (open, acknowledged, resolved, active), severity, asset, page, per_page."""
    page = alerts.list_alerts(
        db(), actor=g.actor, state=request.args.get("state") or None,
        severity=request.args.get("severity") or None, asset_tag=request.args.get("asset") or None,
        **paging())
    return jsonify(page_json(page, alert_json))


def _note() -> str:
    body = request.get_json(silent=True) if request.is_json else None
    if request.is_json and not isinstance(body, dict):
        raise InvalidInput("body: must be a JSON object such as {\"note\": \"...\"}")
    if request.is_json:
        check_request(body)
    return (body or {}).get("note", "") if body else request.form.get("note", "")


@bp.post("/alerts/<int:alert_id>/acknowledge")
def alert_acknowledge(alert_id: int):
    """Acknowledge an open alert; optional JSON body {"note": "..."}."""
    alert = alerts.acknowledge(db(), alert_id, note=_note(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(alert_json(alert))


@bp.post("/alerts/<int:alert_id>/resolve")
def alert_resolve(alert_id: int):
    """Resolve an alert; JSON body {"note": "what was done"} (required)."""
    alert = alerts.resolve(db(), alert_id, note=_note(), actor=g.actor, clock=state().clock)
    commit()
    return jsonify(alert_json(alert))


# ------------------------------------------------------------------ audit trail


def _audit_json(row) -> dict:
    return {"seq": row.seq, "at": row.at.isoformat(timespec="milliseconds"), "actor": row.actor,
            "actor_id": row.actor_id, "source_ip": row.source_ip, "action": row.action, "entity": row.entity,
            "entity_id": row.entity_id, "before": json.loads(row.before_json) if row.before_json else None,
            "after": json.loads(row.after_json) if row.after_json else None}


@bp.get("/audit")
def audit_entries():
    """Return the audit rows the caller may read (department-scoped in the service), filtered."""
    page = audit.list_entries(db(), actor=g.actor, **audit.criteria_from(request.args), **paging())
    head = audit.head(db(), actor=g.actor)
    at = head.at.isoformat(timespec="milliseconds") if head.at else None
    return jsonify({**page_json(page, _audit_json), "head": {"seq": head.seq, "row_hash": head.row_hash, "at": at}})
