"""Schemas of the JSON API, and the operations of routes that do not declare their own.

:data:`COMPONENTS` are the shared response schemas (``#/components/schemas/...``); :data:`WO`
the work-order request bodies; :data:`DECLARED` maps a Flask endpoint (``blueprint.view``) to
its :class:`~wardlink.hub.web.api.openapi.Operation`, for views written without the ``@operation``
decorator.
"""

from __future__ import annotations

from collections.abc import Mapping

from wardlink.hub.db.vocab import (ALERT_SEVERITIES, ALERT_STATES, EQUIPMENT_STATUSES, LIFECYCLE_STAGES,
                          MAINTENANCE_STATUSES, OWNER_TYPES, SAFETY_CHECKS, WORK_ORDER_KINDS, WORK_ORDER_PRIORITIES,
                          WORK_ORDER_RESOLUTIONS, WORK_ORDER_SOURCES, WORK_ORDER_STATES)
from wardlink.hub.services.gateways.registry import LINK_STATES
from wardlink.hub.services.reports import kpi_facts
from wardlink.hub.web.api.pm_permissions import ROUTE_PERMISSIONS
from wardlink.hub.web.api.openapi_schema import (BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, NUMBER, STRING, Operation,
                                                 Param, array, enum, nullable, obj, page_params, ref)

TELEMETRY_ERRORS = (400, 401, 403, 503)
_INGEST_STATES = ("ok", "stalled", "not running", "unknown")


def _page(item: dict) -> dict:
    return obj({"items": array(item), "page": INTEGER, "per_page": INTEGER, "total": INTEGER,
                "total_exact": BOOLEAN, "pages": nullable(INTEGER), "has_next": BOOLEAN})


_N_STR, _N_INT, _N_NUM, _N_DT = nullable(STRING), nullable(INTEGER), nullable(NUMBER), nullable(DATETIME)

_ASSET = obj({
    "tag": STRING, "name": STRING, "category": STRING, "make": STRING, "model": STRING, "serial": STRING,
    "product_code": STRING, "department_id": _N_INT, "location_id": _N_INT, "owner_type": enum(OWNER_TYPES),
    "purchase_date": nullable(DATE), "purchase_cost": nullable(DECIMAL), "warranty_end": nullable(DATE),
    "install_date": nullable(DATE), "useful_life_years": _N_INT, "salvage_value": nullable(DECIMAL),
    "replacement_cost": nullable(DECIMAL), "lifecycle_stage": enum(LIFECYCLE_STAGES),
    "equipment_status": enum(EQUIPMENT_STATUSES), "maintenance_status": enum(MAINTENANCE_STATUSES),
    "life_support": BOOLEAN, "equipment_function": _N_INT, "physical_risk": _N_INT,
    "maintenance_requirement": _N_INT, "incident_history": _N_INT, "notes": STRING, "em_score": _N_INT,
    "department": nullable(obj({"id": INTEGER, "code": STRING, "name": STRING})),
    "location": nullable(obj({"id": INTEGER, "label": STRING})),
    "needs_planned_maintenance": BOOLEAN, "updated_at": DATETIME,
    "tagout": nullable(obj({"at": DATETIME, "by": STRING, "reason": STRING, "work_order_id": _N_INT})),
})
_BINDING = obj({"gateway": STRING, "channel": STRING, "asset": STRING, "metric": STRING, "unit": STRING,
                "valid_from": DATETIME, "valid_to": _N_DT})
_LIVE = obj({"gateway": STRING, "channel": STRING, "metric": STRING, "unit": STRING, "asset": _N_STR,
             "value": _N_NUM, "quality": _N_STR, "ts_ms": _N_INT, "ts": _N_STR, "age_s": _N_NUM,
             "stale_after_s": NUMBER, "gateway_status": STRING,
             "state": enum(("live", "stale", "fault", "offline", "none"))})
_USER_REF = obj({"id": INTEGER, "username": STRING, "display_name": STRING, "role": STRING})
_WORK_ORDER = obj({
    "id": INTEGER, "code": STRING, "kind": enum(WORK_ORDER_KINDS), "state": enum(WORK_ORDER_STATES),
    "priority": enum(WORK_ORDER_PRIORITIES), "source": enum(WORK_ORDER_SOURCES), "title": STRING,
    "description": STRING, "asset": nullable(obj({"tag": STRING, "name": STRING})),
    "department": nullable(obj({"id": INTEGER, "code": STRING, "name": STRING})),
    "alert_id": _N_INT, "parent_id": _N_INT, "requested_by": nullable(ref("UserRef")),
    "requester_name": STRING, "requester_contact": STRING, "requester_email": STRING,
    "assigned_to": nullable(ref("UserRef")),
    "due_at": _N_DT, "created_at": DATETIME, "updated_at": DATETIME,
    "sla": obj({
        "response_due_at": _N_DT, "resolution_due_at": _N_DT, "responded_at": _N_DT, "completed_at": _N_DT,
        "response_breached_at": _N_DT, "resolution_breached_at": _N_DT, "escalation_level": INTEGER,
        "escalated_at": _N_DT,
        "response": nullable(enum(("on_track", "at_risk", "breached", "met", "late"))),
        "resolution": nullable(enum(("on_track", "at_risk", "breached", "met", "late", "paused"))),
    }),
    "on_hold_since": _N_DT, "hold_reason": STRING,
    "resolution_category": nullable(enum(WORK_ORDER_RESOLUTIONS)), "resolution_note": STRING,
    "safety_check": nullable(enum(SAFETY_CHECKS)), "closed_at": _N_DT, "closed_by": nullable(ref("UserRef")),
    "cancelled_at": _N_DT,
    "downtime": obj({"start": _N_DT, "end": _N_DT, "minutes": _N_INT, "reason": STRING}),
})
_NOTE = obj({"id": INTEGER, "kind": enum(("note", "system")), "author": STRING, "body": STRING,
             "created_at": DATETIME})
_TIME_LOG = obj({"id": INTEGER, "user": ref("UserRef"), "minutes": INTEGER, "performed_at": DATETIME,
                 "note": STRING, "recorded_by": STRING, "created_at": DATETIME})
_PART = obj({"id": INTEGER, "part_number": STRING, "description": STRING, "quantity": DECIMAL,
             "unit_cost": nullable(DECIMAL), "line_cost": nullable(DECIMAL), "recorded_by": STRING,
             "created_at": DATETIME})
_ATTACHMENT = obj({"id": INTEGER, "filename": STRING, "content_type": STRING, "size": INTEGER,
                   "sha256": STRING, "uploaded_by": STRING, "created_at": DATETIME, "url": STRING,
                   "checklist_item": _N_STR})
_SIGNATURE = obj({"id": INTEGER, "username": STRING, "signer_name": STRING, "meaning": STRING,
                  "comment": STRING, "signed_at": DATETIME, "record_hash": STRING, "intact": BOOLEAN})
_DETAIL = {"allOf": [ref("WorkOrder"), obj({
    "notes": array(ref("Note")), "time_logs": array(ref("TimeLog")), "parts": array(ref("Part")),
    "attachments": array(ref("Attachment")), "signatures": array(ref("Signature")),
    "totals": obj({"minutes": INTEGER, "parts_cost": nullable(DECIMAL)}),
    "delays": array(obj({"id": INTEGER, "kind": enum(("hold", "sla_breach")), "reason": STRING,
                         "started_at": DATETIME, "ended_at": _N_DT, "recorded_by": STRING,
                         "recorded_at": DATETIME})),
    "transitions": array(obj({"to": enum(WORK_ORDER_STATES), "verb": STRING, "needs": array(STRING),
                              "optional": array(STRING)})),
})]}
_VALUE_LABEL = obj({"value": STRING, "label": STRING})
_VOCABULARY = obj({
    "kinds": array(_VALUE_LABEL), "states": array(_VALUE_LABEL),
    "priorities": array(obj({"value": STRING, "label": STRING, "response_hours": NUMBER,
                             "resolution_hours": NUMBER})),
    "resolutions": array(obj({"value": STRING, "label": STRING, "kinds": array(STRING)})),
    "transitions": array(obj({"from": STRING, "to": STRING, "verb": STRING, "permission": STRING,
                              "roles": array(STRING), "assignee_only": BOOLEAN, "needs": array(STRING),
                              "optional": array(STRING)})),
})

COMPONENTS: Mapping[str, dict] = {
    "Asset": _ASSET,
    "AssetDetail": {"allOf": [ref("Asset"), obj({"bindings": array(ref("Binding"))})]},
    "Binding": _BINDING,
    "LiveReading": _LIVE,
    "Gateway": obj({
        "gateway_id": STRING, "name": STRING, "status": enum(LINK_STATES), "reported_status": enum(LINK_STATES),
        "stalled_since": _N_DT, "stall_after_s": _N_NUM, "enabled": BOOLEAN, "last_seen": _N_DT,
        "buffer_depth": _N_INT, "software_version": _N_STR, "boot": _N_STR, "uptime_s": _N_NUM,
        "department": _N_STR, "location": _N_STR,
        "channels": array(obj({"channel_id": STRING, "metric": STRING, "unit": STRING, "driver": STRING,
                               "interval_s": _N_NUM})),
    }),
    "Alert": obj({
        "id": INTEGER, "rule": STRING, "severity": enum(ALERT_SEVERITIES), "state": enum(ALERT_STATES),
        "title": STRING, "detail": STRING, "value": _N_NUM, "asset": _N_STR, "gateway": _N_STR,
        "channel": _N_STR, "opened_at": DATETIME, "acknowledged_at": _N_DT, "ack_note": STRING,
        "resolved_at": _N_DT, "resolution_note": STRING,
    }),
    "UserRef": _USER_REF,
    "WorkOrder": _WORK_ORDER,
    "WorkOrderPage": _page(ref("WorkOrder")),
    "WorkOrderDetail": _DETAIL,
    "WorkOrderVocabulary": _VOCABULARY,
    "Note": _NOTE,
    "TimeLog": _TIME_LOG,
    "Part": _PART,
    "Attachment": _ATTACHMENT,
    "Signature": _SIGNATURE,
    "AuditEntry": obj({"seq": INTEGER, "at": DATETIME, "actor": STRING, "actor_id": _N_INT, "source_ip": _N_STR,
                       "action": STRING, "entity": STRING, "entity_id": STRING, "before": {}, "after": {}}),
    "AuditPage": {"allOf": [_page(ref("AuditEntry")), obj({"head": obj({
        "seq": INTEGER, "row_hash": STRING, "at": _N_DT})})]},
}

# ------------------------------------------------------------------ work-order request bodies

_TEXT_300 = {"type": "string", "minLength": 1, "maxLength": 300}
_TEXT = {"type": "string", "maxLength": 5000}
_ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
_REQUEST_FIELDS = {
    "title": _TEXT_300, "description": _TEXT, "priority": enum(WORK_ORDER_PRIORITIES),
    "asset_tag": {"type": "string", "maxLength": 64}, "equipment_down": BOOLEAN,
    "requester_name": {"type": "string", "maxLength": 200},
    "requester_contact": {"type": "string", "maxLength": 200},
    "requester_email": {"type": "string", "maxLength": 254,
                        "description": "Hears of every status change of the order (equipment, status, time, "
                                       "reference only)."},
}
WO: Mapping[str, dict] = {
    "create": obj({"kind": enum(WORK_ORDER_KINDS), "title": _TEXT_300, "description": _TEXT,
                   "priority": enum(WORK_ORDER_PRIORITIES), "asset_tag": nullable({"type": "string", "maxLength": 64}),
                   "department_id": nullable(_ID), "alert_id": nullable(_ID), "due_at": nullable(DATETIME),
                   "equipment_down": BOOLEAN, "assignee_id": nullable(_ID)},
                  required=("kind", "title"), extra=False),
    "request": obj(_REQUEST_FIELDS, required=("title",), extra=False),
    "request_form": obj({**{k: STRING for k in _REQUEST_FIELDS}, "title": _TEXT_300,
                         "files": array({"type": "string", "format": "binary"})},
                        required=("title",), extra=False),
    "update": obj({"title": _TEXT_300, "description": _TEXT, "priority": enum(WORK_ORDER_PRIORITIES),
                   "due_at": nullable(DATETIME)}, required=(), extra=False),
    "transition": obj({"to": enum(WORK_ORDER_STATES), "assignee_id": _ID, "reason": _TEXT_300,
                       "note": _TEXT, "resolution_category": enum(WORK_ORDER_RESOLUTIONS),
                       "resolution_note": _TEXT, "safety_check": enum(SAFETY_CHECKS), "password": STRING,
                       "comment": _TEXT},
                      required=("to",), extra=False),
    "assign": obj({"assignee_id": _ID}, extra=False),
    "close": obj({"password": {"type": "string", "minLength": 1}, "comment": _TEXT},
                 required=("password",), extra=False),
    "note": obj({"body": {"type": "string", "minLength": 1, "maxLength": 5000}}, extra=False),
    "time_log": obj({"minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
                     "performed_at": nullable(DATETIME), "user_id": nullable(_ID), "note": _TEXT},
                    required=("minutes",), extra=False),
    "part": obj({"part_number": {"type": "string", "minLength": 1, "maxLength": 64},
                 "description": _TEXT_300, "quantity": {"type": ["number", "string"]},
                 "unit_cost": nullable({"type": ["number", "string"]})},
                required=("part_number", "description", "quantity"), extra=False),
    "asset_attachment_form": obj({"file": {"type": "string", "format": "binary"}}, required=("file",),
                                 extra=False),
    "attachment_form": obj({"file": {"type": "string", "format": "binary"},
                            "checklist_item": {"type": "string", "maxLength": 64}}, extra=False),
    "downtime": obj({"start": nullable(DATETIME), "end": nullable(DATETIME), "reason": _TEXT_300},
                    required=("reason",), extra=False),
    "delay": obj({"reason": {"type": "string", "minLength": 1, "maxLength": 2000}}, required=("reason",),
                 extra=False),
}

# ------------------------------------------------------------------ routes of wardlink.hub.web.api.core

DECLARED: Mapping[str, Operation] = {
    "api.audit_entries": Operation(
        summary="The audit trail, newest first, with the chain's newest link", tag="audit",
        permissions=("audit.view",),
        description="Users limited to a department see only the rows of that department's assets, work "
                    "orders, alerts, gateways, plans and users, and of shared reference data. Filters "
                    "combine; times are UTC with their offset. `head` is the newest link of the whole "
                    "chain, to record outside the hub.",
        query=page_params(
            Param("actor", {"type": "string", "maxLength": 100}, "Who made the change: a username, or a system "
                  "actor such as `scheduler` or `qr-report`."),
            Param("entity", {"type": "string", "maxLength": 64}, "Entity type, e.g. `work_order`."),
            Param("entity_id", {"type": "string", "maxLength": 128}, "Entity id, e.g. an asset tag."),
            Param("action", {"type": "string", "maxLength": 64}, "Action, e.g. `workorder.assign`."),
            Param("date_from", {"type": "string", "format": "date"},
                  "First local day (YYYY-MM-DD, in the site's time zone), included."),
            Param("date_to", {"type": "string", "format": "date"},
                  "Last local day (YYYY-MM-DD, in the site's time zone), included; not before `date_from`."),
            Param("since", {"type": "string", "format": "date-time"},
                  "First instant, included: ISO 8601 with its UTC offset, e.g. `2026-03-29T00:00:00+01:00`."),
            Param("until", {"type": "string", "format": "date-time"},
                  "First instant no longer included: ISO 8601 with its UTC offset; after `since`.")),
        response=ref("AuditPage")),
    "api.health": Operation(
        summary="Whether the relational and telemetry stores respond", tag="meta", public=True,
        errors=(503,), response=obj({"status": enum(("ok", "degraded")), "database": STRING,
                                     "telemetry": STRING, "ingest": enum(_INGEST_STATES),
                                     "reasons": array(STRING)},
                                    ("status", "database", "telemetry", "ingest"))),
    "api.ingest_overview": Operation(
        summary="Ingest workers (counters, stalled or not) and the dead letters kept", tag="gateways",
        permissions=("gateway.view",),
        response=obj({"status": enum(_INGEST_STATES[:-1]), "reasons": array(STRING),
                      "workers": array(obj({
                          "client_id": STRING, "hostname": STRING, "pid": INTEGER,
                          "state": enum(("running", "stalled", "stopped", "offline")), "reason": _N_STR,
                          "connected": BOOLEAN, "started_ms": INTEGER, "updated_ms": INTEGER,
                          "received": INTEGER, "points_written": INTEGER, "dead_lettered": INTEGER,
                          "acked": INTEGER, "store_errors": INTEGER, "pending": INTEGER,
                          "oldest_pending_ms": _N_INT, "retrying_since_ms": _N_INT, "last_error": _N_STR,
                          "last_error_ms": _N_INT, "share_group": _N_STR, "lag_ms": INTEGER})),
                      "dead_letters": obj({"distinct": INTEGER, "messages": INTEGER,
                                           "last_received_ms": _N_INT})})),
    "api.ingest_dead_letters": Operation(
        summary="Messages ingest refused, most recent first, with their payload", tag="gateways",
        permissions=("gateway.view",),
        query=page_params(Param("reason", {"type": "string", "maxLength": 32},
                                "A reason code such as invalid_text or store_rejected."),
                          Param("gateway", {"type": "string", "maxLength": 64})),
        response=obj({"items": array(obj({
            "id": INTEGER, "topic": STRING, "gateway": _N_STR, "reason": STRING, "detail": STRING,
            "payload_base64": STRING, "payload_text": STRING, "payload_size": INTEGER, "truncated": BOOLEAN,
            "first_received_ms": INTEGER, "last_received_ms": INTEGER, "count": INTEGER})),
            "page": INTEGER, "per_page": INTEGER})),
    "api.asset_list": Operation(
        summary="List assets", tag="assets", permissions=("asset.view",),
        query=page_params(Param("q", STRING, "Text in tag, name, category, make, model or serial."),
                          Param("department", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}),
                          Param("category", STRING),
                          Param("equipment_status", enum(EQUIPMENT_STATUSES)),
                          Param("maintenance_status", enum(MAINTENANCE_STATUSES)),
                          Param("sort", enum(("tag", "name", "category", "risk", "status")))),
        response=_page(ref("Asset"))),
    "api.asset_detail": Operation(
        summary="One asset with its current channel bindings", tag="assets", permissions=("asset.view",),
        response=ref("AssetDetail")),
    "api.asset_latest": Operation(
        summary="The newest reading of each channel bound to an asset", tag="readings",
        permissions=("telemetry.view", "asset.view"), errors=TELEMETRY_ERRORS,
        response=obj({"asset": STRING, "now_ms": INTEGER, "readings": array(ref("LiveReading"))})),
    "api.gateway_list": Operation(
        summary="List gateways with link state and channels", tag="gateways", permissions=("gateway.view",),
        response=obj({"items": array(ref("Gateway"))})),
    "api.gateway_detail": Operation(
        summary="One gateway", tag="gateways", permissions=("gateway.view",), response=ref("Gateway")),
    "api.gateway_latest": Operation(
        summary="The newest reading of each channel of a gateway", tag="readings",
        permissions=("telemetry.view", "gateway.view"), errors=TELEMETRY_ERRORS,
        response=obj({"gateway": STRING, "status": enum(LINK_STATES), "now_ms": INTEGER,
                      "readings": array(ref("LiveReading"))})),
    "api.readings": Operation(
        summary="One channel's readings over a time range, raw or in windows", tag="readings",
        permissions=("telemetry.view", "gateway.view"), errors=(*TELEMETRY_ERRORS, 404),
        query=(Param("gateway", STRING, required=True), Param("channel", STRING, required=True),
               Param("start", STRING, "Milliseconds since the epoch or ISO 8601; default end - 1 h."),
               Param("end", STRING, "Milliseconds since the epoch or ISO 8601; default now."),
               Param("window", STRING, "Aggregate in windows such as 30s, 5m, 1h, 1d.")),
        response=obj({"gateway": STRING, "channel": STRING, "unit": STRING, "start_ms": INTEGER, "end_ms": INTEGER,
                      "window_ms": _N_INT,
                      "time_in_state": nullable(obj({"on_ms": INTEGER, "off_ms": INTEGER, "unknown_ms": INTEGER,
                                                     "openings": _N_INT})),
                      "points": array(obj({"ts_ms": INTEGER, "value": _N_NUM, "min": _N_NUM, "max": _N_NUM,
                                           "count": INTEGER, "quality": _N_STR}))})),
    "api.alert_list": Operation(
        summary="List alerts", tag="alerts", permissions=("alert.view",),
        query=page_params(Param("state", enum((*ALERT_STATES, "active"))), Param("severity", enum(ALERT_SEVERITIES)),
                          Param("asset", STRING, "Asset tag.")),
        response=_page(ref("Alert"))),
    "api.alert_acknowledge": Operation(
        summary="Acknowledge an open alert", tag="alerts", permissions=("alert.acknowledge", "alert.view"),
        body=obj({"note": {"type": "string", "maxLength": 2000}}, required=()), body_required=False,
        response=ref("Alert")),
    "api.alert_resolve": Operation(
        summary="Resolve an alert, saying what was done", tag="alerts", permissions=("alert.resolve", "alert.view"),
        body=obj({"note": {"type": "string", "minLength": 1, "maxLength": 2000}}), response=ref("Alert")),
}

# ------------------------------------------------------------------ routes of wardlink.hub.web.api.pm

_ANY = {"type": "object"}
_NUMBER_OR_TEXT = {"type": ["number", "string"]}
#: One answer of a checklist: pass/fail/n/a, a measured value, a remark or a photo (an attachment
#: of the order), by the item's kind.
_ANSWER = obj({"result": enum(("pass", "fail", "na")), "value": nullable(_NUMBER_OR_TEXT),
               "text": nullable({"type": "string", "maxLength": 5000}), "attachment_id": nullable(INTEGER),
               "comment": nullable({"type": "string", "maxLength": 2000}), "open_corrective": BOOLEAN},
              required=(), extra=False)
_CHECKLIST_ANSWERS = obj({"answers": {"type": "object", "additionalProperties": _ANSWER},
                          "meter": nullable(_NUMBER_OR_TEXT)}, required=(), extra=False)
_CHECKLIST_RESULT = obj({
    "results": array(obj({"key": STRING, "outcome": enum(("pass", "fail", "na", "missing")), "comment": STRING,
                          "value": NUMBER, "text": STRING, "attachment_id": _N_INT,
                          "corrective_work_order_id": INTEGER},
                         required=("key", "outcome"))),
    "passed": BOOLEAN, "complete": BOOLEAN, "meter": _N_NUM, "recorded_by": STRING, "recorded_at": DATETIME,
})
_ANY_PAGE = _page(_ANY)
_KPI_QUERY = (Param("start", DATE, "First day (YYYY-MM-DD), a local date at the site: the period starts at "
                                    "local midnight in the site's time zone (the response's time_zone; "
                                    "begins and ends give the UTC instants); default 30 days before end."),
              Param("end", DATE, "Last day (YYYY-MM-DD), a local date at the site, included up to the next "
                                 "local midnight; default today at the site."),
              Param("department", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}))

_CALENDAR_STATUS = enum(("due", "in_window", "overdue", "done"))
_CALENDAR_COUNTS = obj({status: INTEGER for status in ("due", "in_window", "overdue", "done")})
_CALENDAR_QUERY = (
    Param("start", DATE, "First day (YYYY-MM-DD), a local date; default today at the caller's site."),
    Param("end", DATE, "Last day (YYYY-MM-DD); default 30 days after start, at most 400."),
    Param("department", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}),
    Param("category", STRING),
    Param("assignee", STRING, "user:<id>, team:<name> or vendor:<name>."),
    Param("limit", {"type": "integer", "minimum": 1, "maximum": 2000},
          "Services per page (1-2000, default 500), in the calendar's order: by date, worst status first, "
          "then asset tag and plan."),
    Param("cursor", {"type": "string", "maxLength": 1000},
          "Where the page starts: the next_cursor of the previous page (the next link carries it). Pages after "
          "the first are judged as at the first page's time."),
    Param("summary", enum(("day",)),
          "day: instead of the services, how many fall on each day of the range, by status "
          "(limit and cursor are then not used)."))
_CALENDAR_PAGE = obj({
    "start": DATE, "end": DATE, "total": INTEGER, "limit": INTEGER, "has_next": BOOLEAN,
    "next_cursor": nullable(STRING), "next": nullable(STRING), "items": array(obj({
        "due_date": DATE, "plan_id": INTEGER, "plan": STRING, "asset": STRING, "status": _CALENDAR_STATUS,
        "window": obj({"opens": DATE, "closes": DATE}), "work_order_id": _N_INT, "projected": BOOLEAN}))})
_CALENDAR_SUMMARY = obj({"start": DATE, "end": DATE, "total": INTEGER, "counts": _CALENDAR_COUNTS,
                         "days": array(obj({"date": DATE, "total": INTEGER, "counts": _CALENDAR_COUNTS}))})

#: endpoint -> (summary, tag, query, JSON body, success status, response schema, media types)
_PM_ROUTES: Mapping[str, tuple] = {
    "api_pm.plan_list": ("List PM plans", "preventive maintenance",
                         page_params(Param("q", STRING), Param("asset", STRING, "Asset tag."),
                                     Param("active", BOOLEAN), Param("trigger", STRING)), None, 200, _ANY_PAGE),
    "api_pm.plan_create": ("Create a PM plan", "preventive maintenance", (), _ANY, 201, _ANY),
    "api_pm.plan_detail": ("One PM plan and where each covered asset stands", "preventive maintenance",
                           (), None, 200, _ANY),
    "api_pm.plan_update": ("Change a PM plan", "preventive maintenance", (), _ANY, 200, _ANY),
    "api_pm.plan_state": ("Pause, resume or retire a PM plan", "preventive maintenance", (),
                          obj({"action": enum(("pause", "resume", "retire"))}), 200, _ANY),
    "api_pm.plan_assignees": ("Users a PM plan's services may be assigned to", "preventive maintenance", (),
                              None, 200, obj({"items": array(obj({"id": INTEGER, "username": STRING,
                                                                  "display_name": STRING, "role": STRING}))})),
    "api_pm.plan_services": ("A plan's generated services", "preventive maintenance",
                             page_params(Param("asset", STRING, "Asset tag.")), None, 200, _ANY_PAGE),
    "api_pm.plan_checklist": ("A plan's checklist and its versions", "preventive maintenance", (), None, 200,
                              _ANY),
    "api_pm.plan_checklist_set": ("Set a plan's checklist", "preventive maintenance", (), _ANY, 200, _ANY),
    "api_pm.generate": ("Run the PM generator now", "preventive maintenance", (), None, 200, _ANY),
    "api_pm.calendar": ("PM services in a range, generated or projected, with their status: a page at a time, "
                        "or counted per day", "preventive maintenance", _CALENDAR_QUERY, None, 200,
                        {"anyOf": [_CALENDAR_PAGE, _CALENDAR_SUMMARY]}),
    "api_pm.programme": ("Assets in the risk-based PM programme", "preventive maintenance", (), None, 200,
                         obj({"items": array(_ANY)})),
    "api_pm.template_list": ("List checklist templates", "checklists", (), None, 200,
                             obj({"items": array(_ANY)})),
    "api_pm.template_create": ("Create a checklist template", "checklists", (), _ANY, 201, _ANY),
    "api_pm.template_detail": ("One checklist template with its versions", "checklists", (), None, 200, _ANY),
    "api_pm.template_update": ("Change a checklist template (new items make a new version)", "checklists",
                               (), _ANY, 200, _ANY),
    "api_pm.work_order_checklist": ("The checklist of a PM work order and its results", "checklists", (),
                                    None, 200, obj({"work_order_id": INTEGER, "version": _ANY,
                                                    "result": nullable(_CHECKLIST_RESULT)})),
    "api_pm.work_order_checklist_record": ("Record checklist results on a work order", "checklists", (),
                                           _CHECKLIST_ANSWERS, 200, obj({
                                               "work_order_id": INTEGER, "result": _CHECKLIST_RESULT,
                                               "corrective_work_orders": array(INTEGER)})),
    "api_pm.meter_list": ("An asset's meters and the readings entered", "preventive maintenance",
                          (Param("meter", STRING),), None, 200, _ANY),
    "api_pm.meter_record": ("Record a meter reading", "preventive maintenance", (), _ANY, 201, _ANY),
    "api_pm.kpi_report": ("Maintenance KPIs for a period, with the assets' uptime a page at a time", "reports",
                          (*_KPI_QUERY, Param("uptime_sort", enum(kpi_facts.UPTIME_SORTS),
                                              "Order of the assets' uptime rows (default uptime: the lowest first)."),
                           *page_params()), None, 200, _ANY),
    "api_pm.kpi_export": ("Download the KPI table as CSV or Excel", "reports",
                          (*_KPI_QUERY, Param("format", enum(("csv", "xlsx")))), None, 200, None,
                          ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
}


def _needs(needed) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # A route's needs as (all of, any of): an object with both, one name, or names of which one will do.
    if isinstance(needed, str):
        return (needed,), ()
    if hasattr(needed, "all_of"):
        return tuple(needed.all_of), tuple(getattr(needed, "any_of", ()) or ())
    return (), tuple(needed)


def _pm_operations() -> dict[str, Operation]:
    out = {}
    for endpoint, (summary, tag, query, body, status, response, *media) in _PM_ROUTES.items():
        if endpoint not in ROUTE_PERMISSIONS:
            continue  # left undocumented, so the OpenAPI test names it
        all_of, any_of = _needs(ROUTE_PERMISSIONS[endpoint])
        out[endpoint] = Operation(summary=summary, tag=tag, permissions=all_of, any_of=any_of, query=query,
                                  body=body, status=status, response=response,
                                  response_media=media[0] if media else (), errors=(400, 401, 403, 404, 409))
    return out


DECLARED = {**DECLARED, **_pm_operations()}
