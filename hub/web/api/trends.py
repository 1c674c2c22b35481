"""The dashboard's trends over the JSON API: work-order backlog and alerts per week, PM compliance
per month, gateways online now (:mod:`wardlink.hub.services.reports.trends`).

The dashboard page fetches this after it has rendered, so the page itself never waits on it.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from wardlink.hub.services.reports import trends
from wardlink.hub.services.validate import optional_id
from wardlink.hub.web.api.guard import guard
from wardlink.hub.web.api.openapi import Param, array, obj, operation
from wardlink.hub.web.db import db
from wardlink.hub.web.state import state

bp = Blueprint("api_trends", __name__)
guard(bp)

STRING, INT = {"type": "string"}, {"type": "integer"}
INSTANT = {"type": "string", "format": "date-time"}
COUNT_POINT = obj({"label": STRING, "start": INSTANT, "end": INSTANT, "value": INT})
PCT_POINT = obj({"label": STRING, "start": INSTANT, "end": INSTANT, "judged": INT, "on_time": INT,
                 "value": {"type": ["number", "null"]}})


def _series(point: dict) -> dict:
    return obj({"period": {"type": "string", "enum": ["week", "month"]}, "unit": STRING, "points": array(point)})


TRENDS = obj({
    "as_of": INSTANT, "zone": STRING,
    "department": {"anyOf": [obj({"id": INT, "code": STRING, "name": STRING}), {"type": "null"}]},
    "series": obj({
        "backlog": _series(COUNT_POINT), "pm_compliance": _series(PCT_POINT), "alerts": _series(COUNT_POINT),
        "gateways": obj({"online": INT, "total": INT, "by_state": obj({s: INT for s in trends.GATEWAY_STATES}),
                         "history": {"type": "null"}}),
    }, required=()),
})


@bp.get("/dashboard/trends")
@operation(summary="Trends of the dashboard", tag="reports",
           description="The last 12 weeks (Monday to Sunday) and 12 months in the site's time zone, the current "
                       "one last: `backlog` (work orders open at each week's end, now for this week), "
                       "`pm_compliance` (per month, the share of the services due that were done on time, of "
                       "those judged so far), `alerts` (opened per week) and `gateways` (online now of the total; "
                       "no history is kept). A series the caller may not see (work orders, KPIs, alerts, "
                       "gateways) is left out. Instants are UTC; `label` is the local first day or month.",
           query=(Param("department", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                        "One department (within the caller's scope); all the caller may see by default."),),
           errors=(400, 401, 403), response=TRENDS)
def dashboard_trends():
    """Return the dashboard's trend series."""
    app = state()
    department = optional_id("department", request.args.get("department"))
    return jsonify(trends.dashboard_trends(db(), engine=app.engine, actor=g.actor, clock=app.clock,
                                           department_id=department, stall_min_s=app.config.gateway_stall_s))
