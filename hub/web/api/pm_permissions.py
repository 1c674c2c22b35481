"""What each route of the preventive-maintenance part of the JSON API needs (:mod:`wardlink.hub.web.api.pm`).

The routes' guard enforces this table and the OpenAPI description (:mod:`wardlink.hub.web.api.docs`)
documents it; both import it from here, so the description never imports the routes.
"""

from __future__ import annotations

from wardlink.hub.web.api.guard import Needs

#: endpoint -> what the route needs. Checked before each request (unlisted routes are refused)
#: and again, with department and assignment scope, by the services.
ROUTE_PERMISSIONS: dict[str, Needs] = {
    "api_pm.plan_list": Needs(("pm.view",)),
    "api_pm.plan_create": Needs(("pm.manage", "asset.view")),
    "api_pm.plan_detail": Needs(("pm.view",)),
    "api_pm.plan_update": Needs(("pm.manage",)),
    "api_pm.plan_services": Needs(("pm.view",)),
    "api_pm.plan_state": Needs(("pm.manage",)),
    "api_pm.plan_assignees": Needs(("pm.view",)),
    "api_pm.plan_checklist": Needs(("pm.view",)),
    "api_pm.plan_checklist_set": Needs(("pm.manage",)),
    "api_pm.generate": Needs(("pm.manage",)),
    "api_pm.programme": Needs(("pm.view",)),
    "api_pm.calendar": Needs(("pm.view",)),
    "api_pm.template_list": Needs(("pm.view",)),
    "api_pm.template_create": Needs(("pm.manage",)),
    "api_pm.template_detail": Needs(("pm.view",)),
    "api_pm.template_update": Needs(("pm.manage",)),
    "api_pm.work_order_checklist": Needs(("workorder.view",), any_of=("pm.view", "pm.record")),
    "api_pm.work_order_checklist_record": Needs(("workorder.view", "pm.record")),
    "api_pm.meter_list": Needs(("pm.view", "asset.view")),
    "api_pm.meter_record": Needs(("pm.record", "asset.view")),
    "api_pm.kpi_report": Needs(("kpi.view",)),
    "api_pm.kpi_export": Needs(("kpi.view",)),
}
