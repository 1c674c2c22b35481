"""Every ``/api/v1`` route x every role, against the real app with real users.

What each role should get comes from one place: the permissions each route declares in its
OpenAPI operation, checked against the permission table
(:data:`wardlink.hub.services.people.permissions.PERMISSIONS`). A role holding them all must succeed (2xx);
any other role must get 403. The work-order transition route is expanded into one row per
transition of the state machine, each needing that transition's permission.

Routes without a request recipe below are still probed (placeholder ids, empty JSON body):
a role without the permissions must get 403, a role with them anything but 401/403.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select
from photo_support import jpeg
from relational_support import GATEWAY, T0_S, csrf_from, hub_config, login, password

from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.db.vocab import ROLES
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.people import users
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance.attachments import AttachmentStore
from wardlink.hub.services.people.permissions import PERMISSIONS
from wardlink.hub.services.maintenance.workorder_flow import TRANSITIONS, Transition
from wardlink.hub.web.api.openapi import Operation, allows, api_routes, lookup
from wardlink.clock import ManualClock
from workorder_support import path_to
from inventory_support import matrix_adjustment, matrix_kit, matrix_pick, matrix_purchase_order, matrix_store
from consumables_support import matrix_item, matrix_usage
from utilities_support import matrix_meter
from oxygen_support import matrix_area, matrix_cylinder, matrix_transfer
from manifold_support import matrix_manifold, matrix_manifold_asset
from recall_support import matrix_match, one_record_file

ROLE_USER = {"admin": "admin", "manager": "manager", "technician": "tech", "staff": "nurse",
             "procurement": "buyer", "vendor": "vendor", "viewer": "viewer"}
SYSTEM = Actor.system("rbac-matrix")
STEP_INPUTS = {"assignee_id": None, "reason": "Matrix test reason", "resolution_category": "repaired"}


@dataclass
class Matrix:
    """The app, a client per role, and helpers that create what a request acts on."""

    app: object
    engine: object
    clock: ManualClock
    store: AttachmentStore
    clients: dict = field(default_factory=dict)
    serial: itertools.count = field(default_factory=itertools.count)

    def user_id(self, username: str) -> int:
        """Return a user's id."""
        with session_scope(self.engine, readonly=True) as s:
            return users.find_user(s, username).id

    def notice(self, role: str) -> int:
        """Tell the role's user something and return the notice's id."""
        with session_scope(self.engine) as s:
            [notice] = notices.announce(s, "low_stock", subject="Matrix notice", key=f"matrix:{next(self.serial)}",
                                        clock=self.clock, users=(users.find_user(s, ROLE_USER[role]).id,))
            return notice.id

    def failed_email(self) -> int:
        """Queue an e-mail copy of a notice, mark it failed as the mailer does when the server
        refuses it, and return its id."""
        from sqlalchemy import update

        from wardlink.hub.db.models import NoticeEmail

        with session_scope(self.engine) as s:
            tech = users.find_user(s, "tech")
            tech.email = "tech@hospital.example"
            # Not low_stock: the preferences recipe turns its e-mail off.
            [notice] = notices.announce(s, "rental_expiring", subject="Matrix e-mail",
                                        key=f"matrix:{next(self.serial)}", clock=self.clock, users=(tech.id,))
            s.execute(update(NoticeEmail).where(NoticeEmail.notice_id == notice.id)
                      .values(state="failed", attempts=1, last_error="SMTP server said 550 refused"))
            return s.scalar(select(NoticeEmail.id).where(NoticeEmail.notice_id == notice.id))

    def order(self, role: str, state: str) -> int:
        """Open an order the role can see (requested by the nurse, assigned to the role's
        technician or vendor, else to ``tech``), walk it to ``state`` and return its id."""
        assignee = ROLE_USER[role] if role in ("technician", "vendor") else "tech"
        with session_scope(self.engine) as s:
            order = workorders.request_work(s, {"title": "Matrix job", "asset_tag": "VF-0001"},
                                            actor=Actor.for_user(users.find_user(s, "nurse")), clock=self.clock)
            for step in path_to(state):
                inputs = {name: STEP_INPUTS[name] for name in step.needs}
                if "assignee_id" in inputs:
                    inputs["assignee_id"] = users.find_user(s, assignee).id
                workorders.transition(s, order.id, step.target, inputs, actor=SYSTEM, clock=self.clock)
            return order.id

    def monthly_report(self) -> int:
        """Make the stored monthly KPI reports of the month before (once) and return the
        hospital-wide one's id."""
        from datetime import time

        from sqlalchemy import select

        from wardlink.hub.db.models import MonthlyReport
        from wardlink.hub.services.reports import monthly

        with session_scope(self.engine) as s:
            monthly.make_due(s, clock=ManualClock(self.clock.now() + 40 * 86400), at=time(0, 0), site_name="Matrix")
            return s.scalar(select(MonthlyReport.id).where(MonthlyReport.scope == "all"))

    def plan(self) -> tuple[int, int]:
        """Create a checklist template and a PM plan on an ICU asset; return (plan id, template id)."""
        from wardlink.hub.services.maintenance import checklists
        from wardlink.hub.services.maintenance import pm

        with session_scope(self.engine) as s:
            template = checklists.create_template(
                s, name=f"Matrix checklist {next(self.serial)}", actor=SYSTEM, clock=self.clock,
                items=[{"key": "alarm", "label": "Alarm sounds", "kind": "pass_fail"}])
            plan = pm.create_plan(s, {"name": "Matrix plan", "asset_tag": "VF-0001", "trigger": "calendar",
                                      "interval_count": 12, "interval_unit": "month",
                                      "checklist_template_id": template.id}, actor=SYSTEM, clock=self.clock)
            return plan.id, template.id

    def pm_order(self, role: str) -> int:
        """Generate a PM work order with a checklist on an ICU asset, visible to ``role``."""
        from wardlink.hub.services.maintenance import checklists
        from wardlink.hub.services.maintenance import pm
        from wardlink.hub.services.maintenance import pm_generator

        with session_scope(self.engine) as s:
            template = checklists.create_template(
                s, name=f"Matrix PM checklist {next(self.serial)}", actor=SYSTEM, clock=self.clock,
                items=[{"key": "alarm", "label": "Alarm sounds", "kind": "pass_fail"}])
            pm.create_plan(s, {"name": "Matrix annual PM", "asset_tag": "VF-0001", "trigger": "calendar",
                               "interval_count": 12, "interval_unit": "month", "anchor_date": "2025-01-10",
                               "checklist_template_id": template.id}, actor=SYSTEM, clock=self.clock)
            [order_id] = pm_generator.generate_due(s, clock=self.clock).work_order_ids
            if role in ("technician", "vendor"):
                workorders.transition(s, order_id, "assigned",
                                      {"assignee_id": users.find_user(s, ROLE_USER[role]).id},
                                      actor=SYSTEM, clock=self.clock)
            return order_id

    def asset(self, *, tagged_out: bool = False) -> str:
        """Register a new ICU asset (tagged out when asked) and return its tag."""
        from wardlink.hub.services.assets import register, status
        from wardlink.hub.services.people import org

        tag = f"MX-{next(self.serial):04d}"
        with session_scope(self.engine) as s:
            icu = next(d.id for d in org.list_departments(s) if d.code == "ICU")
            register.create_asset(s, {"tag": tag, "name": "Matrix pump", "category": "Infusion pump",
                                      "department_id": icu}, actor=SYSTEM, clock=self.clock)
            if tagged_out:
                status.tag_out(s, tag, reason="Matrix tag-out", actor=SYSTEM, clock=self.clock)
        return tag

    def category(self) -> int:
        """Add a category and return its id."""
        from wardlink.hub.services.assets import categories

        with session_scope(self.engine) as s:
            return categories.create_category(s, {"name": f"Matrix kind {next(self.serial)}"}, actor=SYSTEM,
                                              clock=self.clock).id

    def alert(self) -> int:
        """Raise an open alert on an ICU asset and return its id."""
        with session_scope(self.engine) as s:
            return alerts.raise_alert(s, rule="matrix", severity="warning", title="Matrix alert",
                                      asset_tag="VF-0001", actor=SYSTEM, clock=self.clock).id

    def rule_entry(self) -> dict:
        """Return a new, valid threshold rule definition."""
        return {"name": f"matrix-rule-{next(self.serial)}", "kind": "threshold",
                "match": {"metric": "temperature"}, "above": 8.0}

    def rule(self, *, enabled: bool = True) -> str:
        """Store a threshold rule (disabled when asked) and return its name."""
        from wardlink.hub.rules import editing

        entry = {**self.rule_entry(), "enabled": enabled}
        with session_scope(self.engine) as s:
            editing.create_rule(s, entry, actor=SYSTEM, clock=self.clock)
        return entry["name"]

    def attachment(self, role: str) -> tuple[int, int]:
        """Return (order id, attachment id) of a file on an order the role can see."""
        order_id = self.order(role, "in_progress")
        with session_scope(self.engine) as s:
            row = workorders.add_attachment(s, order_id, filename="photo.jpg", data=jpeg(),
                                            store=self.store, actor=SYSTEM, clock=self.clock)
            return order_id, row.id

    def site(self) -> int:
        """Add a site and return its id."""
        from wardlink.hub.services.people import org_admin

        with session_scope(self.engine) as s:
            return org_admin.create_site(s, {"name": f"Matrix site {next(self.serial)}", "timezone": "UTC"},
                                         actor=SYSTEM, clock=self.clock).id

    def department(self) -> int:
        """Add a department (to a new site) and return its id."""
        from wardlink.hub.services.people import org_admin

        site_id = self.site()
        with session_scope(self.engine) as s:
            return org_admin.create_department(s, site_id, {"name": f"Matrix ward {next(self.serial)}"},
                                               actor=SYSTEM, clock=self.clock).id

    def location(self) -> int:
        """Add a location (to a new site) and return its id."""
        from wardlink.hub.services.people import org_admin

        site_id = self.site()
        with session_scope(self.engine) as s:
            return org_admin.create_location(s, site_id, {"building": f"Matrix block {next(self.serial)}"},
                                             actor=SYSTEM, clock=self.clock).id

    def icu(self) -> int:
        """Return the id of the ICU department (the one department-limited users of the matrix belong to)."""
        from wardlink.hub.services.people import org

        with session_scope(self.engine, readonly=True) as s:
            return next(d.id for d in org.list_departments(s) if d.code == "ICU")

    def requisition(self, state: str = "submitted") -> int:
        """Raise a requisition from ICU (the nurse's department) to BME, walk it to ``state`` and
        return its id."""
        from wardlink.hub.services.people import org
        from wardlink.hub.services.requisitions import flow
        from wardlink.hub.services.requisitions import register as requisitions

        path = ("receive", "review", "approve", "execute", "deliver")
        with session_scope(self.engine) as s:
            depts = {d.code: d.id for d in org.list_departments(s)}
            req = requisitions.create_requisition(
                s, {"title": f"Matrix requisition {next(self.serial)}", "requesting_department_id": depts["ICU"],
                    "assigned_department_id": depts["BME"], "due_on": "2030-01-01"}, actor=SYSTEM, clock=self.clock)
            for action in path:
                if req.status == state:
                    break
                flow.move(s, req.id, action, actor=SYSTEM, clock=self.clock)
            return req.id

    def contract(self) -> int:
        """Add a contract covering the ICU asset every role with ``asset.view`` can see; return its id."""
        from wardlink.hub.services.contracts import register as contracts

        with session_scope(self.engine) as s:
            return contracts.create_contract(
                s, {"reference": f"MX-SC-{next(self.serial)}", "title": "Matrix cover", "vendor_name": "Matrix Ltd",
                    "starts_on": "2025-01-01", "ends_on": "2026-12-31", "asset_tags": ["VF-0001"]},
                actor=SYSTEM, clock=self.clock).id

    def asset_attachment(self) -> int:
        """Return the id of a file kept with the ICU asset every role with ``asset.view`` can see."""
        from wardlink.hub.services.assets import attachments

        with session_scope(self.engine) as s:
            row = attachments.add_asset_attachment(s, "VF-0001", filename="manual.pdf",
                                                   data=b"%PDF-1.4 manual " + str(next(self.serial)).encode(),
                                                   store=self.store, actor=SYSTEM, clock=self.clock)
            return row.id


@dataclass(frozen=True)
class Call:
    """One request: path, and keyword arguments for the test client."""

    path: str
    kwargs: dict = field(default_factory=dict)


WO = "/api/v1/work-orders"
PO = "/api/v1/purchase-orders"
Recipe = Callable[[Matrix, str], Call]

#: The step each role takes on a requisition (from the state it needs): the requesting side
#: closes, the assigned side receives.
_REQUISITION_STEP = {"staff": ("delivered", "close")}


def _requisition_step(m: Matrix, role: str) -> Call:
    state, action = _REQUISITION_STEP.get(role, ("submitted", "receive"))
    return Call(f"/api/v1/requisitions/{m.requisition(state)}/movements", {"json": {"action": action}})


RECIPES: dict[tuple[str, str], Recipe] = {
    ("api_recalls.recall_list", "GET"): lambda m, r: Call("/api/v1/recalls?status=all"),
    ("api_recalls.recall_detail", "GET"): lambda m, r: Call(f"/api/v1/recalls/{matrix_match(m.engine, m.clock)[0]}"),
    ("api_recalls.recall_dashboard", "GET"): lambda m, r: Call("/api/v1/recalls/dashboard"),
    ("api_recalls.recall_review_queue", "GET"): lambda m, r: Call("/api/v1/recalls/review"),
    ("api_recalls.recall_import", "POST"): lambda m, r: Call("/api/v1/recalls/imports", {
        "data": {"file": (io.BytesIO(one_record_file(f"Z-MX-{next(m.serial)}")), "recall.json")},
        "content_type": "multipart/form-data"}),
    ("api_recalls.recall_notice", "POST"): lambda m, r: Call("/api/v1/recalls/notices", {"json": {
        "reference": f"MX-N-{next(m.serial)}", "recalling_firm": "Matrix Devices", "product_description": "Pump"}}),
    ("api_recalls.recall_confirm", "POST"): lambda m, r: Call(
        f"/api/v1/recall-matches/{matrix_match(m.engine, m.clock)[1]}/confirm", {"json": {}}),
    ("api_recalls.recall_reject", "POST"): lambda m, r: Call(
        f"/api/v1/recall-matches/{matrix_match(m.engine, m.clock)[1]}/reject", {"json": {"reason": "Matrix"}}),
    ("api_requisitions.requisition_list", "GET"): lambda m, r: Call("/api/v1/requisitions?status=all"),
    ("api_requisitions.requisition_create", "POST"): lambda m, r: Call(
        "/api/v1/requisitions", {"json": {"title": "Matrix request", "requesting_department_id": 1,
                                          "assigned_department_id": 7, "due_on": "2030-01-01"}}),
    ("api_requisitions.requisition_detail", "GET"): lambda m, r: Call(f"/api/v1/requisitions/{m.requisition()}"),
    ("api_requisitions.requisition_move", "POST"): _requisition_step,
    ("api_requisitions.requisition_work_order", "POST"): lambda m, r: Call(
        f"/api/v1/requisitions/{m.requisition('approved')}/work-order"),
    ("api_requisitions.requisition_ageing", "GET"): lambda m, r: Call("/api/v1/requisitions/ageing"),
    ("api_requisitions.requisition_ageing_export", "GET"): lambda m, r: Call(
        "/api/v1/requisitions/ageing/export?format=csv"),
    ("api.health", "GET"): lambda m, r: Call("/api/v1/health"),
    ("api.asset_list", "GET"): lambda m, r: Call("/api/v1/assets"),
    ("api.asset_detail", "GET"): lambda m, r: Call("/api/v1/assets/VF-0001"),
    ("api.asset_latest", "GET"): lambda m, r: Call("/api/v1/assets/VF-0001/readings/latest"),
    ("api.gateway_list", "GET"): lambda m, r: Call("/api/v1/gateways"),
    ("api.ingest_overview", "GET"): lambda m, r: Call("/api/v1/ingest"),
    ("api.ingest_dead_letters", "GET"): lambda m, r: Call("/api/v1/ingest/dead-letters"),
    ("api.gateway_detail", "GET"): lambda m, r: Call(f"/api/v1/gateways/{GATEWAY}"),
    ("api.gateway_latest", "GET"): lambda m, r: Call(f"/api/v1/gateways/{GATEWAY}/readings/latest"),
    ("api.readings", "GET"): lambda m, r: Call(f"/api/v1/readings?gateway={GATEWAY}&channel=fridge1.temp"),
    ("api.alert_list", "GET"): lambda m, r: Call("/api/v1/alerts"),
    ("api.alert_acknowledge", "POST"): lambda m, r: Call(f"/api/v1/alerts/{m.alert()}/acknowledge",
                                                         {"json": {"note": "seen"}}),
    ("api.alert_resolve", "POST"): lambda m, r: Call(f"/api/v1/alerts/{m.alert()}/resolve",
                                                     {"json": {"note": "door closed"}}),
    ("openapi.document", "GET"): lambda m, r: Call("/api/v1/openapi.json"),
    ("api_equipment.tag_out", "POST"): lambda m, r: Call(f"/api/v1/assets/{m.asset()}/tag-out",
                                                         {"json": {"reason": "Casing cracked"}}),
    ("api_equipment.clear_tag_out", "POST"): lambda m, r: Call(
        f"/api/v1/assets/{m.asset(tagged_out=True)}/tag-out/clear", {"json": {"reason": "Casing replaced"}}),
    ("api_equipment.status_history", "GET"): lambda m, r: Call("/api/v1/assets/VF-0001/status-history"),
    ("api_equipment.category_list", "GET"): lambda m, r: Call("/api/v1/categories"),
    ("api_equipment.category_create", "POST"): lambda m, r: Call(
        "/api/v1/categories", {"json": {"name": f"Matrix category {next(m.serial)}", "physical_risk": 3}}),
    ("api_equipment.category_update", "PATCH"): lambda m, r: Call(
        f"/api/v1/categories/{m.category()}", {"json": {"equipment_function": 6}}),
    ("api_equipment.category_merge", "POST"): lambda m, r: Call(
        f"/api/v1/categories/{m.category()}/merge", {"json": {"into_id": m.category()}}),
    ("api_workorders.list_work_orders", "GET"): lambda m, r: Call(WO),
    ("api_workorders.create_work_order", "POST"): lambda m, r: Call(
        WO, {"json": {"kind": "corrective", "title": "Matrix", "asset_tag": "VF-0001"}}),
    ("api_workorders.request_work", "POST"): lambda m, r: Call(
        f"{WO}/requests", {"json": {"title": "Matrix request", "asset_tag": "VF-0001"}}),
    ("api_workorders.assignees", "GET"): lambda m, r: Call(f"{WO}/assignees"),
    ("api_workorders.vocabulary", "GET"): lambda m, r: Call(f"{WO}/vocabulary"),
    ("api_workorders.assignee_choices", "GET"): lambda m, r: Call(f"{WO}/assignee-choices"),
    ("api_exports.work_orders", "GET"): lambda m, r: Call(f"{WO}/export?format=xlsx&date_from=2025-12-01"),
    ("api_exports.assets", "GET"): lambda m, r: Call("/api/v1/assets/export"),
    ("api_exports.audit_trail", "GET"): lambda m, r: Call("/api/v1/audit/export?date_to=2026-01-01"),
    ("api_exports.pm_compliance", "GET"): lambda m, r: Call(
        "/api/v1/pm-compliance/export?start=2025-12-01&end=2025-12-31"),
    ("api_exports.readings", "GET"): lambda m, r: Call(
        f"/api/v1/assets/VF-0001/readings/export?channel={GATEWAY}/fridge1.temp&date_from=2026-01-01"
        "&date_to=2026-01-01"),
    ("api_notices.read", "POST"): lambda m, r: Call(f"/api/v1/notices/{m.notice(r)}/read"),
    ("api_notices.retry_email", "POST"): lambda m, r: Call(f"/api/v1/notices/emails/{m.failed_email()}/retry"),
    ("api_notices.retry_failed", "POST"): lambda m, r: Call("/api/v1/notices/emails/retry-failed"),
    ("api_notices.put_preferences", "PUT"): lambda m, r: Call("/api/v1/notices/preferences",
                                                              {"json": {"low_stock": {"email": False}}}),
    ("api_workorders.get_work_order", "GET"): lambda m, r: Call(f"{WO}/{m.order(r, 'assigned')}"),
    ("api_workorders.update_work_order", "PATCH"): lambda m, r: Call(
        f"{WO}/{m.order(r, 'assigned')}", {"json": {"priority": "high"}}),
    ("api_workorders.assign", "POST"): lambda m, r: Call(
        f"{WO}/{m.order(r, 'pending')}/assign", {"json": {"assignee_id": m.user_id("tech")}}),
    ("api_workorders.close", "POST"): lambda m, r: Call(
        f"{WO}/{m.order(r, 'completed')}/close", {"json": {"password": password(ROLE_USER[r])}}),
    ("api_workorders.add_note", "POST"): lambda m, r: Call(
        f"{WO}/{m.order(r, 'in_progress')}/notes", {"json": {"body": "Matrix note"}}),
    ("api_workorders.log_time", "POST"): lambda m, r: Call(
        f"{WO}/{m.order(r, 'in_progress')}/time-logs", {"json": {"minutes": 15}}),
    ("api_workorders.add_part", "POST"): lambda m, r: Call(
        f"{WO}/{m.order(r, 'in_progress')}/parts",
        {"json": {"part_number": "P-1", "description": "Fuse 2 A", "quantity": 1}}),
    ("api_workorders.add_attachment", "POST"): lambda m, r: Call(
        f"{WO}/{m.order(r, 'in_progress')}/attachments",
        {"data": {"file": (io.BytesIO(b"%PDF-1.4 service report"), "report.pdf")},
         "content_type": "multipart/form-data"}),
    ("api_workorders.download_attachment", "GET"): lambda m, r: Call(
        "{}/{}/attachments/{}".format(WO, *m.attachment(r))),
    ("api_asset_files.index", "GET"): lambda m, r: Call("/api/v1/assets/VF-0001/attachments"),
    ("api_asset_files.add", "POST"): lambda m, r: Call(
        "/api/v1/assets/VF-0001/attachments",
        {"data": {"file": (io.BytesIO(b"%PDF-1.4 certificate " + r.encode()), "certificate.pdf")},
         "content_type": "multipart/form-data"}),
    ("api_asset_files.download", "GET"): lambda m, r: Call(
        f"/api/v1/assets/VF-0001/attachments/{m.asset_attachment()}"),
    ("api_workorders.set_downtime", "PUT"): lambda m, r: Call(
        f"{WO}/{m.order(r, 'in_progress')}/downtime",
        {"json": {"start": "2026-01-01T00:30:00Z", "reason": "Ward reported it down at 00:30"}}),
    ("api_pm.plan_assignees", "GET"): lambda m, r: Call("/api/v1/pm-assignees"),
    ("api_pm.calendar", "GET"): lambda m, r: Call("/api/v1/pm-calendar?start=2026-01-01&end=2026-03-31"),
    ("api_pm.plan_state", "POST"): lambda m, r: Call(f"/api/v1/pm-plans/{m.plan()[0]}/state",
                                                     {"json": {"action": "pause"}}),
    ("api_rules.list_rules", "GET"): lambda m, r: Call("/api/v1/rules"),
    ("api_rules.rule_kinds", "GET"): lambda m, r: Call("/api/v1/rules/kinds"),
    ("api_rules.create_rule", "POST"): lambda m, r: Call("/api/v1/rules", {"json": m.rule_entry()}),
    ("api_rules.get_rule", "GET"): lambda m, r: Call(f"/api/v1/rules/{m.rule()}"),
    ("api_rules.update_rule", "PUT"): lambda m, r: Call(f"/api/v1/rules/{m.rule()}",
                                                        {"json": {"kind": "threshold", "above": 9.0}}),
    ("api_rules.enable_rule", "POST"): lambda m, r: Call(f"/api/v1/rules/{m.rule(enabled=False)}/enable"),
    ("api_rules.disable_rule", "POST"): lambda m, r: Call(f"/api/v1/rules/{m.rule()}/disable"),
    ("api_rules.export_rules", "GET"): lambda m, r: Call("/api/v1/rules/export"),
    ("api_rules.preview_rule", "GET"): lambda m, r: Call(f"/api/v1/rules/{m.rule()}/preview?days=1"),
    ("api_rules.preview_definition", "POST"): lambda m, r: Call("/api/v1/rules/preview?days=1",
                                                                {"json": m.rule_entry()}),
    ("api_rules.import_rules", "POST"): lambda m, r: Call("/api/v1/rules/import",
                                                          {"json": {"rules": [m.rule_entry()]}}),
    ("api_org.site_list", "GET"): lambda m, r: Call("/api/v1/sites"),
    ("api_org.site_create", "POST"): lambda m, r: Call(
        "/api/v1/sites", {"json": {"name": f"Matrix hospital {next(m.serial)}", "timezone": "Europe/Paris"}}),
    ("api_org.site_update", "PATCH"): lambda m, r: Call(f"/api/v1/sites/{m.site()}",
                                                        {"json": {"timezone": "Europe/Berlin"}}),
    ("api_org.site_delete", "DELETE"): lambda m, r: Call(f"/api/v1/sites/{m.site()}"),
    ("api_org.department_list", "GET"): lambda m, r: Call("/api/v1/departments"),
    ("api_org.department_create", "POST"): lambda m, r: Call(
        "/api/v1/departments", {"json": {"site_id": m.site(), "name": "Matrix ward", "code": "MW"}}),
    ("api_org.department_update", "PATCH"): lambda m, r: Call(f"/api/v1/departments/{m.department()}",
                                                              {"json": {"name": "Renamed ward"}}),
    ("api_org.department_delete", "DELETE"): lambda m, r: Call(f"/api/v1/departments/{m.department()}"),
    ("api_org.location_list", "GET"): lambda m, r: Call("/api/v1/locations"),
    ("api_org.location_create", "POST"): lambda m, r: Call(
        "/api/v1/locations", {"json": {"site_id": m.site(), "building": "Matrix block", "room": "1"}}),
    ("api_org.location_update", "PATCH"): lambda m, r: Call(f"/api/v1/locations/{m.location()}",
                                                            {"json": {"floor": "2"}}),
    ("api_org.location_delete", "DELETE"): lambda m, r: Call(f"/api/v1/locations/{m.location()}"),
    ("api_equipment.asset_finance", "GET"): lambda m, r: Call("/api/v1/assets/VF-0001/finance"),
    ("api_contracts.contract_list", "GET"): lambda m, r: Call("/api/v1/contracts?state=active"),
    ("api_contracts.contract_create", "POST"): lambda m, r: Call(
        "/api/v1/contracts", {"json": {"reference": f"MX-NEW-{next(m.serial)}", "title": "Matrix warranty",
                                       "kind": "warranty", "vendor_name": "Matrix Ltd", "starts_on": "2026-01-01",
                                       "ends_on": "2027-12-31", "asset_tags": ["VF-0001"]}}),
    ("api_contracts.contract_detail", "GET"): lambda m, r: Call(f"/api/v1/contracts/{m.contract()}"),
    ("api_contracts.contract_update", "PATCH"): lambda m, r: Call(f"/api/v1/contracts/{m.contract()}",
                                                                  {"json": {"response_hours": 8}}),
    ("api_contracts.work_order_contracts", "GET"): lambda m, r: Call(
        f"{WO}/{m.order(r, 'assigned')}/contracts"),
    **{(f"api_inventory.{name}", "GET"): (lambda path: lambda m, r: Call(path))(path) for name, path in (
        ("part_list", "/api/v1/parts"), ("supplier_list", "/api/v1/suppliers"),
        ("location_list", "/api/v1/stock-locations"), ("kit_list", "/api/v1/part-kits"))},
    **{(f"api_stock.{name}", "GET"): (lambda path: lambda m, r: Call(path))(path) for name, path in (
        ("reorder_list", "/api/v1/reorder-list"), ("adjustment_list", "/api/v1/stock-adjustments"),
        ("rate_list", "/api/v1/labour-rates"))},
    ("api_inventory.part_create", "POST"): lambda m, r: Call(
        "/api/v1/parts", {"json": {"sku": f"MXN-{next(m.serial)}", "name": "Matrix new part"}}),
    ("api_stock.receive", "POST"): lambda m, r: (lambda st: Call(
        f"/api/v1/parts/{st.part_id}/receive", {"json": {"bin_id": st.bin_a, "quantity": 1}}))(
        matrix_store(m.engine, m.clock)),
    ("api_stock.issue", "POST"): lambda m, r: (lambda st: Call(
        f"/api/v1/parts/{st.part_id}/issue", {"json": {"bin_id": st.bin_a, "quantity": 1, "reason": "matrix"}}))(
        matrix_store(m.engine, m.clock)),
    ("api_stock.pick_create", "POST"): lambda m, r: (lambda st: Call(
        f"{WO}/{m.order(r, 'in_progress')}/picks", {"json": {"part_id": st.part_id, "bin_id": st.bin_a,
                                                            "quantity": 1}}))(matrix_store(m.engine, m.clock)),
    ("api_stock.pick_put_back", "POST"): lambda m, r: Call(
        "{}/{}/picks/{}/put-back".format(WO, *matrix_pick(m.engine, m.clock, m.order(r, "in_progress")))),
    ("api_stock.adjustment_approve", "POST"): lambda m, r: Call(
        f"/api/v1/stock-adjustments/{matrix_adjustment(m.engine, m.clock)}/approve", {"json": {}}),
    ("api_purchasing.order_list", "GET"): lambda m, r: Call(f"{PO}?state=draft,sent"),
    ("api_purchasing.order_create", "POST"): lambda m, r: Call(
        PO, {"json": {"supplier_id": matrix_store(m.engine, m.clock).supplier_id, "add_below_reorder": True}}),
    ("api_purchasing.order_detail", "GET"): lambda m, r: Call(f"{PO}/{matrix_purchase_order(m.engine, m.clock)[0]}"),
    ("api_purchasing.order_pdf", "GET"): lambda m, r: Call(
        f"{PO}/{matrix_purchase_order(m.engine, m.clock)[0]}/pdf"),
    ("api_purchasing.order_update", "PATCH"): lambda m, r: Call(
        f"{PO}/{matrix_purchase_order(m.engine, m.clock)[0]}", {"json": {"notes": "Matrix notes"}}),
    ("api_purchasing.line_set", "POST"): lambda m, r: (lambda po: Call(
        f"{PO}/{po[0]}/lines", {"json": {"part_id": po[2].part_id, "quantity": 5}}))(
        matrix_purchase_order(m.engine, m.clock)),
    ("api_purchasing.line_delete", "DELETE"): lambda m, r: Call(
        "{}/{}/lines/{}".format(PO, *matrix_purchase_order(m.engine, m.clock)[:2])),
    ("api_purchasing.below_reorder", "POST"): lambda m, r: Call(
        f"{PO}/{matrix_purchase_order(m.engine, m.clock)[0]}/below-reorder"),
    ("api_purchasing.transition", "POST"): lambda m, r: Call(
        f"{PO}/{matrix_purchase_order(m.engine, m.clock)[0]}/transition", {"json": {"to": "sent"}}),
    ("api_purchasing.line_receive", "POST"): lambda m, r: (lambda po: Call(
        f"{PO}/{po[0]}/lines/{po[1]}/receive", {"json": {"quantity": 1, "bin_id": po[2].bin_a}}))(
        matrix_purchase_order(m.engine, m.clock, sent=True)),
    ("api_manifolds.manifold_list", "GET"): lambda m, r: Call("/api/v1/manifolds"),
    ("api_manifolds.manifold_create", "POST"): lambda m, r: Call("/api/v1/manifolds", {"json": {
        "asset_tag": matrix_manifold_asset(m.engine, m.clock, next(m.serial)), "gateway_id": "gw-matrix", "bank_a_channel": "o2.a", "bank_b_channel": "o2.b",
        "bank_capacity_l": 49346, "full_bar": 200, "reserve_hours": 24}}),
    ("api_manifolds.manifold_detail", "GET"): lambda m, r: Call(f"/api/v1/manifolds/{matrix_manifold(m.engine, m.clock)}"),
    ("api_manifolds.manifold_update", "PATCH"): lambda m, r: Call(
        f"/api/v1/manifolds/{matrix_manifold(m.engine, m.clock)}", {"json": {"reserve_hours": 12}}),
    ("api_consumables.item_list", "GET"): lambda m, r: Call("/api/v1/consumables"),
    ("api_consumables.item_create", "POST"): lambda m, r: Call(
        "/api/v1/consumables", {"json": {"department_id": m.icu(), "name": f"Matrix item {next(m.serial)}"}}),
    ("api_consumables.item_detail", "GET"): lambda m, r: Call(f"/api/v1/consumables/{matrix_item(m.engine, m.clock)}"),
    ("api_consumables.item_update", "PATCH"): lambda m, r: Call(
        f"/api/v1/consumables/{matrix_item(m.engine, m.clock)}", {"json": {"notes": f"matrix {next(m.serial)}"}}),
    ("api_consumables.entry_list", "GET"): lambda m, r: Call(
        f"/api/v1/consumables/{matrix_item(m.engine, m.clock)}/entries"),
    ("api_consumables.receipt_create", "POST"): lambda m, r: Call(
        f"/api/v1/consumables/{matrix_item(m.engine, m.clock)}/receipts", {"json": {"quantity": 1}}),
    ("api_consumables.collection_create", "POST"): lambda m, r: Call(
        f"/api/v1/consumables/{matrix_item(m.engine, m.clock)}/collections", {"json": {"quantity": 1}}),
    ("api_consumables.consumption_report", "GET"): lambda m, r: Call(
        f"/api/v1/consumables/consumption?department_id={m.icu()}"),
    ("api_consumables.consumption_export", "GET"): lambda m, r: Call(
        f"/api/v1/consumables/consumption/export?department_id={m.icu()}"),
    ("api_utilities.meter_list", "GET"): lambda m, r: Call("/api/v1/utilities/meters"),
    ("api_utilities.meter_create", "POST"): lambda m, r: Call(
        "/api/v1/utilities/meters", {"json": {"department_id": m.icu(), "kind": "electricity",
                                              "name": f"Matrix meter {next(m.serial)}"}}),
    ("api_utilities.meter_detail", "GET"): lambda m, r: Call(f"/api/v1/utilities/meters/{matrix_meter(m.engine, m.clock)}"),
    ("api_utilities.meter_update", "PATCH"): lambda m, r: Call(
        f"/api/v1/utilities/meters/{matrix_meter(m.engine, m.clock)}", {"json": {"notes": f"matrix {next(m.serial)}"}}),
    ("api_utilities.reading_list", "GET"): lambda m, r: Call(
        f"/api/v1/utilities/meters/{matrix_meter(m.engine, m.clock)}/readings"),
    ("api_utilities.reading_create", "POST"): lambda m, r: Call(
        f"/api/v1/utilities/meters/{matrix_meter(m.engine, m.clock)}/readings", {"json": {"quantity": 1}}),
    ("api_utilities.day_list", "GET"): lambda m, r: Call(
        f"/api/v1/utilities/meters/{matrix_meter(m.engine, m.clock)}/days"),
    ("api_utilities.usage_report", "GET"): lambda m, r: Call("/api/v1/utilities/usage?kind=water"),
    ("api_utilities.usage_export", "GET"): lambda m, r: Call("/api/v1/utilities/usage/export?kind=water"),
    ("api_oxygen.cylinder_list", "GET"): lambda m, r: Call("/api/v1/oxygen/cylinders"),
    ("api_oxygen.cylinder_create", "POST"): lambda m, r: Call("/api/v1/oxygen/cylinders", {"json": {
        "tag": f"MX-{next(m.serial)}", "capacity_l": 680, "status": "filled", "department_id": m.icu()}}),
    ("api_oxygen.cylinder_detail", "GET"): lambda m, r: Call(
        f"/api/v1/oxygen/cylinders/{matrix_cylinder(m.engine, m.clock)}"),
    ("api_oxygen.cylinder_update", "PATCH"): lambda m, r: Call(
        f"/api/v1/oxygen/cylinders/{matrix_cylinder(m.engine, m.clock)}", {"json": {"notes": f"m {next(m.serial)}"}}),
    ("api_oxygen.cylinder_movements", "GET"): lambda m, r: Call(
        f"/api/v1/oxygen/cylinders/{matrix_cylinder(m.engine, m.clock)}/movements"),
    ("api_oxygen.movement_create", "POST"): lambda m, r: Call(
        f"/api/v1/oxygen/cylinders/{matrix_cylinder(m.engine, m.clock)}/movements",
        {"json": matrix_transfer(m.engine, m.clock)}),
    ("api_oxygen.movement_list", "GET"): lambda m, r: Call("/api/v1/oxygen/movements"),
    ("api_oxygen.area_list", "GET"): lambda m, r: Call("/api/v1/oxygen/storage-areas"),
    ("api_oxygen.area_create", "POST"): lambda m, r: Call("/api/v1/oxygen/storage-areas", {"json": {
        "code": f"MX-{next(m.serial)}", "name": "Matrix room", "kind": "storage_room", "department_id": m.icu()}}),
    ("api_oxygen.area_update", "PATCH"): lambda m, r: Call(
        f"/api/v1/oxygen/storage-areas/{matrix_area(m.engine, m.clock)}", {"json": {"notes": f"m {next(m.serial)}"}}),
    ("api_oxygen.consumption_report", "GET"): lambda m, r: Call("/api/v1/oxygen/consumption"),
    ("api_oxygen.consumption_export", "GET"): lambda m, r: Call("/api/v1/oxygen/consumption/export"),
}
TRANSITION_ROUTE = ("api_workorders.transition", "POST")
_ITEMS = [{"key": "alarm", "label": "Alarm sounds", "kind": "pass_fail"}]
#: Requests for routes whose bodies this test does not own: a role with the permissions must
#: not get 401/403 (their own tests check the outcome), a role without them must get 403.
PROBES: dict[tuple[str, str], Recipe] = {
    ("api_pm.plan_checklist_set", "PUT"): lambda m, r: Call(
        f"/api/v1/pm-plans/{m.plan()[0]}/checklist", {"json": {"items": _ITEMS}}),
    ("api_pm.work_order_checklist", "GET"): lambda m, r: Call(f"{WO}/{m.pm_order(r)}/checklist"),
    ("api_pm.work_order_checklist_record", "PUT"): lambda m, r: Call(
        f"{WO}/{m.pm_order(r)}/checklist", {"json": {"answers": {"alarm": {"result": "pass"}}}}),
}


def _transition_call(step: Transition) -> Recipe:
    def build(m: Matrix, role: str) -> Call:
        order_id = m.order(role, step.source)
        body = {"to": step.target, **{name: STEP_INPUTS[name] for name in step.needs if name != "password"}}
        if "assignee_id" in step.needs:
            body["assignee_id"] = m.user_id("tech")
        if "password" in step.needs:
            body["password"] = password(ROLE_USER[role])
        return Call(f"{WO}/{order_id}/transition", {"json": body})
    return build


#: What a path parameter of a route without a recipe stands for, by its name.
PROBE_VALUES: dict[str, Callable[[Matrix, str], object]] = {
    "order_id": lambda m, r: m.order(r, "in_progress"),
    "work_order_id": lambda m, r: m.order(r, "in_progress"),
    "plan_id": lambda m, r: m.plan()[0],
    "template_id": lambda m, r: m.plan()[1],
    "tag": lambda m, r: "VF-0001",
    "report_id": lambda m, r: m.monthly_report(),
    "part_id": lambda m, r: matrix_store(m.engine, m.clock).part_id,
    "supplier_id": lambda m, r: matrix_store(m.engine, m.clock).supplier_id,
    "location_id": lambda m, r: matrix_store(m.engine, m.clock).location_id,
    "bin_id": lambda m, r: matrix_store(m.engine, m.clock).bin_b,
    "kit_id": lambda m, r: matrix_kit(m.engine, m.clock),
    "adjustment_id": lambda m, r: matrix_adjustment(m.engine, m.clock),
    "entry_id": lambda m, r: matrix_usage(m.engine, m.clock)["entry_id"],
    "session_id": lambda m, r: matrix_usage(m.engine, m.clock)["session_id"],
    "rental_id": lambda m, r: matrix_usage(m.engine, m.clock)["rental_id"],
}


def _probe(path: str, method: str) -> Recipe:
    def build(m: Matrix, role: str) -> Call:
        def value(match: re.Match) -> str:
            name = match.group(1)
            assert name in PROBE_VALUES, f"{method} {path}: add a recipe, or a probe value for <{name}>"
            return str(PROBE_VALUES[name](m, role))
        concrete = re.sub(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([^>]+)>", value, path)
        return Call(concrete, {"json": {}} if method in ("POST", "PUT", "PATCH") else {})
    return build


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, module_relational_url):
    from wardlink.hub.telemetry.sqlite import SQLiteStore
    from wardlink.hub.web import create_app

    folder = tmp_path_factory.mktemp("rbac")
    url = module_relational_url
    clock = ManualClock(T0_S + 3600)
    store = SQLiteStore(folder / "telemetry.db")
    app = create_app(hub_config(folder, database_url=url), telemetry=store, clock=clock)
    engine = open_engine(url)
    m = Matrix(app, engine, clock, AttachmentStore(folder / "attachments"))
    for role, username in ROLE_USER.items():
        client = app.test_client()
        if "token.own" in PERMISSIONS[role]:
            with session_scope(engine) as s:
                _, token = users.create_api_token(s, name="matrix", actor=Actor.for_user(users.find_user(s, username)),
                                                  clock=clock)
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        else:  # roles without API tokens use the API from their browser session
            assert login(client, username).status_code == 302
            client.environ_base["HTTP_X_CSRF_TOKEN"] = csrf_from(client.get("/account").text)
        m.clients[role] = client
    try:
        yield m
    finally:
        app.extensions["wardlink"].close()
        store.close()
        engine.dispose()


def _rows(app) -> list[tuple[str, str, Operation, tuple[str, ...], Recipe]]:
    rows = []
    for path, method, endpoint in api_routes(app):
        op = lookup(app, endpoint, method)
        assert op is not None, f"{method} {path} has no OpenAPI operation (see test_openapi.py)"
        if (endpoint, method) == TRANSITION_ROUTE:
            for step in TRANSITIONS:
                rows.append((f"{method} {path} to {step.target} from {step.source}", endpoint, op,
                             (step.permission,), _transition_call(step)))
            continue
        recipe = RECIPES.get((endpoint, method)) or PROBES.get((endpoint, method)) or _probe(path, method)
        rows.append((f"{method} {path}", endpoint, op, (), recipe))
    return rows


def expected_allowed(op: Operation, role: str, extra: tuple[str, ...] = ()) -> bool:
    """Return True when the permission table lets ``role`` call a route needing ``op``'s permissions."""
    return allows(op, PERMISSIONS[role]) and set(extra) <= PERMISSIONS[role]


def test_the_recipes_name_only_routes_that_exist(matrix):
    routes = {(endpoint, method) for _path, method, endpoint in api_routes(matrix.app)}
    assert set(RECIPES) | set(PROBES) | {TRANSITION_ROUTE} <= routes


@pytest.mark.timeout(120)
@pytest.mark.parametrize("role", ROLES)
def test_every_route_allows_exactly_the_roles_the_permission_table_allows(matrix, role, subtests):
    assert set(ROLE_USER) == set(ROLES)
    client = matrix.clients[role]
    for name, endpoint, op, extra, recipe in _rows(matrix.app):
        method = name.split(" ", 1)[0]
        allowed = expected_allowed(op, role, extra)
        with subtests.test(msg=f"{role}: {name}"):
            call = recipe(matrix, role)
            response = client.open(call.path, method=method, **call.kwargs)
            if allowed and ((endpoint, method) in RECIPES or (endpoint, method) == TRANSITION_ROUTE):
                assert 200 <= response.status_code < 300, f"{role} {name}: {response.status_code} {response.text[:300]}"
            elif allowed:
                assert response.status_code not in (401, 403), f"{role} {name}: {response.text[:300]}"
            else:
                assert response.status_code == 403, f"{role} {name}: {response.status_code} {response.text[:300]}"
                assert response.json["error"]["code"] == "permission_denied"
