"""CSV and Excel exports over the JSON API: work orders, assets, PM compliance, the audit trail
and one asset channel's readings.

Each takes the same filters as its list (the same names as the list route), ``format=csv``
(the default) or ``xlsx``, checks permissions, department scope and filters before anything is
sent, records the export in the audit trail, then sends the file, written within the request
through a temporary file. The services build the tables
(:mod:`wardlink.hub.services.reports.exports`).
"""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.reports import exports, tables
from wardlink.hub.services.validate import optional_date, optional_id
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import Param, operation
from wardlink.hub.web.api.workorders import DATE_PARAMS, list_filters
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.query_args import asset_filters
from wardlink.hub.web.state import state

bp = Blueprint("api_exports", __name__)
guard(bp)

FORMAT = Param("format", {"type": "string", "enum": list(tables.FORMATS)}, "`csv` (the default) or `xlsx`.")
MEDIA = tuple(tables.content_type(f).split(";")[0] for f in tables.FORMATS)
STRING = {"type": "string"}


def _send(table: tables.Table, kind: str, filters: dict) -> Response:
    fmt = tables.check_format(request.args.get("format") or "csv")
    exports.record(db(), actor=g.actor, kind=kind, fmt=fmt, filters=filters, rows=table.total or 0,
                   clock=state().clock)
    commit()
    headers = {"Content-Disposition": f'attachment; filename="{table.filename}.{fmt}"'}
    # The file is written within the request, through a temporary file: a streamed body would
    # hold the request's database session until the client read it all, and a client that
    # never does would keep that connection from the pool.
    return Response(tables.write(table, fmt), mimetype=tables.content_type(fmt), headers=headers)


@bp.get("/work-orders/export")
@operation(summary="Download the work-order list as CSV or Excel", tag="reports", permissions=("workorder.view",),
           description="The same filters as `GET /work-orders`; times in the site's time zone.",
           query=(FORMAT, Param("state", STRING), Param("kind", STRING), Param("priority", STRING),
                  Param("source", STRING), Param("asset", STRING, "Asset tag."),
                  Param("department_id", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}),
                  Param("assigned_to", STRING, "User id, `me` or `none`."), Param("requested_by", STRING),
                  Param("breached", {"type": "boolean"}), Param("q", STRING), *DATE_PARAMS,
                  Param("sort", {"type": "string", "enum": ["newest", "oldest", "due", "priority", "updated"]})),
           response_media=MEDIA)
def work_orders():
    """Export work orders with the list's filters."""
    filters = list_filters()
    return _send(exports.work_orders_table(db(), actor=g.actor, clock=state().clock, **filters), "work_orders",
                 filters)


@bp.get("/assets/export")
@operation(summary="Download the asset register as CSV or Excel", tag="reports", permissions=("asset.view",),
           description="The same filters as `GET /assets`, within the caller's department.",
           query=(FORMAT, Param("q", STRING), Param("department", {"type": "integer", "minimum": 1}),
                  Param("category", STRING), Param("equipment_status", STRING),
                  Param("maintenance_status", STRING), Param("sort", STRING)),
           response_media=MEDIA)
def assets():
    """Export the asset register with the list's filters."""
    filters = asset_filters()
    return _send(exports.assets_table(db(), actor=g.actor, clock=state().clock, **filters), "assets", filters)


@bp.get("/pm-compliance/export")
@operation(summary="Download PM compliance per plan and asset as CSV or Excel", tag="reports",
           permissions=("kpi.view",),
           description="Services due between `start` and `end` (both included; local dates at the site, as for "
                       "`GET /kpis`) judged as the KPIs judge them; "
                       "Excel adds a sheet with each service.",
           query=(FORMAT, Param("start", {"type": "string", "format": "date"}, required=True),
                  Param("end", {"type": "string", "format": "date"}, required=True),
                  Param("department", {"type": "integer", "minimum": 1})),
           response_media=MEDIA)
def pm_compliance():
    """Export PM compliance over a period."""
    start, end = optional_date("start", request.args.get("start")), optional_date("end", request.args.get("end"))
    if start is None or end is None:
        raise InvalidInput("start and end: both are required")
    filters = {"start": start, "end": end, "department_id": optional_id("department", request.args.get("department"))}
    return _send(exports.pm_compliance_table(db(), actor=g.actor, clock=state().clock, **filters),
                 "pm_compliance", filters)


@bp.get("/audit/export")
@operation(summary="Download the audit trail as CSV or Excel", tag="reports", permissions=("audit.view",),
           description="The rows `GET /audit` lists with the same filters (department scope as on the audit "
                       "page), newest first, each with its changes as people read them; times in the site's "
                       "time zone.",
           query=(FORMAT, Param("actor", STRING, "Username or system actor."), Param("entity", STRING),
                  Param("entity_id", STRING), Param("action", STRING),
                  Param("date_from", {"type": "string", "format": "date"}, "First local day, included."),
                  Param("date_to", {"type": "string", "format": "date"}, "Last local day, included."),
                  Param("since", {"type": "string", "format": "date-time"},
                        "First instant, included (ISO 8601 with its UTC offset)."),
                  Param("until", {"type": "string", "format": "date-time"},
                        "First instant no longer included (ISO 8601 with its UTC offset).")),
           response_media=MEDIA)
def audit_trail():
    """Export the audit trail with the listing's filters."""
    criteria = audit.criteria_from(request.args)
    table = exports.audit_table(db(), actor=g.actor, clock=state().clock, **criteria)
    return _send(table, "audit", {name: request.args.get(name) for name in audit.QUERY_FILTERS})


@bp.get("/assets/<tag>/readings/export")
@operation(summary="Download one channel's readings of an asset as CSV or Excel", tag="reports",
           permissions=("telemetry.view", "asset.view"),
           description="Readings while the channel was bound to the asset, over local days (at most 92), "
                       "with local and UTC times and the unit.",
           query=(FORMAT, Param("channel", STRING, "`gateway/channel`.", required=True),
                  Param("date_from", {"type": "string", "format": "date"}, required=True),
                  Param("date_to", {"type": "string", "format": "date"}, required=True)),
           response_media=MEDIA)
def readings(tag: str):
    """Export one channel's readings of an asset."""
    args = request.args
    filters = {"asset_tag": tag, "channel": args.get("channel"), "date_from": args.get("date_from"),
               "date_to": args.get("date_to")}
    return _send(exports.readings_table(db(), state().telemetry, actor=g.actor, clock=state().clock, **filters),
                 "readings", filters)
