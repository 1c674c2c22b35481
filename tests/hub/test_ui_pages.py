"""Admin UI pages: who may open which page, what the pages show, and the rules every page keeps.

The RBAC test walks every page route the app serves (not the JSON API) as one user of each
role, and checks the answer against the permission table: a new page that is not listed in
PAGE_PERMISSIONS fails the test, so nobody adds a page without deciding who may see it.
"""

from __future__ import annotations

import re
from datetime import time

import pytest
from consumables_support import make_item
from oxygen_support import make_area, make_cylinder
from inventory_support import make_store
from relational_support import GATEWAY, clock, csrf_from, hub_config, login, web
from test_web_pages import _PageAudit

from wardlink.hub.db import session_scope
from wardlink.hub.rules import editing
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.contracts import register as contracts
from wardlink.hub.services.inventory import purchasing
from wardlink.hub.services.people import org
from wardlink.hub.services.manifolds import register as manifolds
from wardlink.hub.services.requisitions import register as requisitions
from wardlink.hub.services.utilities import meters as utility_meters
from wardlink.hub.services.compliance import recalls
from wardlink.hub.services.maintenance import checklists, pm
from wardlink.hub.services.people import users
from wardlink.hub.services.reports import monthly
from wardlink.hub.services.usage import knowledge
from wardlink.clock import ManualClock
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people.permissions import can
from wardlink.hub.services.maintenance.workorder_common import code_of
from wardlink.hub.web.ui import REPORTS_PER_ADDRESS

#: page endpoint -> the permission it needs (None: any signed-in user)
PAGE_PERMISSIONS = {
    "dashboard.index": None,
    "auth.account": None,
    "twofactor.account": None,
    "assets.index": "asset.view",
    "assets.detail": "asset.view",
    "categories.index": "asset.view",
    "assets.edit": "asset.update",
    "assets.create": "asset.create",
    "labels.qr": "asset.view",
    "labels.index": "asset.view",
    "imports.form": "asset.create",
    "imports.template": "asset.create",
    "gateways.index": "gateway.view",
    "gateways.detail": "gateway.view",
    "ingest.index": "gateway.view",
    "alerts.index": "alert.view",
    "fragments.open_alerts": "alert.view",
    "rules.index": "alert.view",
    "audit.index": "audit.view",
    "audit.verify": "audit.verify",
    "admin.users_index": "user.view",
    "admin.users_edit": "user.manage",
    "admin.roles": "user.view",
    "org.index": "site.manage",
    "workorders.index": "workorder.view",
    "workorders.detail": "workorder.view",
    "workorders.create": ("workorder.create", "workorder.request"),
    "pm.index": "pm.view",
    "pm.detail": "pm.view",
    "pm.calendar": "pm.view",
    "pm.create": "pm.manage",
    "pm.edit": "pm.manage",
    "checklists.index": "pm.view",
    "checklists.create": "pm.manage",
    "checklists.detail": "pm.view",
    "rules.create": "rule.manage",
    "rules.edit": "rule.manage",
    "rules.export": "alert.view",
    "rules.preview": "alert.view",
    "reports.index": "kpi.view",
    "reports.monthly_pdf": "report.monthly",
    "reports.repairs_list": "kpi.view",
    "reports.repairs_download": "kpi.view",
    "jobs.index": None,
    "notices.inbox": None,
    "notices.bell": None,
    "notices.emails": "notice.manage",
    "contracts.index": "contract.view",
    "contracts.detail": "contract.view",
    "contracts.create": "contract.manage",
    "contracts.edit": "contract.manage",
    "inventory.parts": "part.view",
    "inventory.part": "part.view",
    "inventory.movements": "part.view",
    "inventory.part_new": "part.manage",
    "inventory.part_edit": "part.manage",
    "inventory.reorder": "part.view",
    "inventory.forecast": "part.view",
    "inventory.pending": "part.view",
    "storage.index": "part.view",
    "storage.label": "part.view",
    "storage.label_qr": "part.view",
    "storage.location_labels": "part.view",
    "storage.kits_index": "part.view",
    "purchase_orders.index": "part.view",
    "purchase_orders.detail": "part.view",
    "purchase_orders.pdf": "part.view",
    "suppliers.index": "part.view",
    "suppliers.new": "supplier.manage",
    "suppliers.edit": "part.view",
    "part_imports.form": "part.manage",
    "part_imports.template": "part.manage",
    "consumables.index": "consumable.view",
    "consumables.item": "consumable.view",
    "consumables.item_new": "consumable.manage",
    "consumables.item_edit": "consumable.manage",
    "consumables.consumption_page": "consumable.view",
    "consumables.consumption_export": "consumable.view",
    "utilities.index": "utility.view",
    "utilities.export": "utility.view",
    "utilities.meter": "utility.view",
    "utilities.meter_new": "utility.manage",
    "utilities.meter_edit": "utility.manage",
    "oxygen.index": "oxygen.view",
    "oxygen.scan": "oxygen.view",
    "oxygen.cylinder": "oxygen.view",
    "oxygen.cylinder_new": "oxygen.manage",
    "oxygen.cylinder_edit": "oxygen.manage",
    "oxygen.labels": "oxygen.view",
    "oxygen.qr": "oxygen.view",
    "oxygen.storage_index": "oxygen.view",
    "oxygen.movement_log": "oxygen.view",
    "oxygen.consumption_page": "oxygen.view",
    "oxygen.consumption_export": "oxygen.view",
    "manifolds.index": "manifold.view",
    "manifolds.detail": "manifold.view",
    "manifolds.new": "manifold.manage",
    "manifolds.edit": "manifold.manage",
    "requisitions.index": "requisition.view",
    "requisitions.detail": "requisition.view",
    "requisitions.create": "requisition.request",
    "requisitions.ageing_report": "requisition.view",
    "requisitions.ageing_export": "requisition.view",
    "usage.index": "usage.view",
    "usage.scan": "usage.view",
    "usage.knowledge_index": "usage.view",
    "usage.knowledge_new": "knowledge.manage",
    "usage.knowledge_edit": "usage.view",
    "usage.training_index": "usage.view",
    "usage.rentals_index": "usage.view",
    "recalls.index": "recall.view",
    "recalls.detail": "recall.view",
    "recalls.review": "recall.view",
    "recalls.import_form": "recall.manage",
    "recalls.notice": "recall.manage",
}
#: Pages outside the matrix, and why.
NOT_IN_MATRIX = {
    "auth.login": "public: the sign-in form",
    "twofactor.code": "the second step of a sign-in under way, else back to sign-in (tests/hub/test_two_factor.py)",
    "twofactor.enrol": "enrolment during a sign-in under way, else back to sign-in (tests/hub/test_two_factor.py)",
    "public.report": "public: the QR problem report (signed-in users are redirected; tested below)",
    "org.setup": "leads to the organisation page once a site exists (tests/hub/test_org_web.py)",
    "jobs.detail": "per-user jobs (tested below: another user's job is not found)",
    "jobs.status": "per-user jobs",
    "jobs.download": "per-user jobs",
    "workorders.file": "a file of an order (tests/hub/test_attachments_ui.py: each role as the order's page)",
    "asset_files.file": "a file of an asset (tests/hub/test_attachments_ui.py: each role as the asset's page)",
    "inventory.index": "redirects to the parts list (inventory.parts)",
}
#: One user of each role; none is limited to a department, so the role alone decides.
ROLE_USERS = {"admin": "admin", "manager": "manager", "technician": "tech", "procurement": "buyer",
              "vendor": "vendor", "viewer": "viewer", "staff": "nurse"}


def _page_rules(app):
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.endpoint != "static" and not rule.rule.startswith("/api/"):
            yield rule


def _seed(web):
    with session_scope(web.engine) as s:
        nurse = users.find_user(s, "nurse")
        order = workorders.request_work(s, {"title": "Door seal torn", "asset_tag": "VF-0001"},
                                        actor=Actor.for_user(nurse), clock=web.clock)
        template = checklists.create_template(s, name="Fridge checks", actor=None, clock=web.clock,
                                              items=[{"label": "Door seal intact", "kind": "pass_fail"}])
        plan = pm.create_plan(s, {"name": "Fridge service", "asset_tag": "VF-0001", "trigger": "calendar",
                                  "interval_count": 6, "interval_unit": "month",
                                  "checklist_template_id": template.id}, actor=None, clock=web.clock)
        editing.create_rule(s, {"name": "fridge-warm", "kind": "threshold", "above": 8.0}, actor=None,
                            clock=web.clock)
        # One stored monthly report (the hospital-wide one is the first made).
        monthly.make_due(s, clock=ManualClock(web.clock.now() + 40 * 86400), at=time(0, 0), site_name="Test")
        contracts.create_contract(s, {"reference": "SC-1", "title": "Fridge cover", "vendor_name": "Liebherr",
                                      "starts_on": "2025-01-01", "ends_on": "2026-12-31",
                                      "asset_tags": ["VF-0001"]}, actor=None, clock=web.clock)
        store = make_store(s, web.clock)  # part 1, bins 1 and 2 of stock location 1, supplier 1
        po = purchasing.create_order(s, {"supplier_id": store.supplier_id}, actor=None, clock=web.clock)
        purchasing.set_line(s, po.id, part_id=store.part_id, quantity=3, actor=None, clock=web.clock)  # order 1
        make_item(s, web.clock)  # consumable 1, of the ICU
        utility_meters.create_meter(s, {"name": "ICU water", "kind": "water", "department_id": nurse.department_id},
                                    actor=None, clock=web.clock)  # utility meter 1, of the ICU
        make_cylinder(s, web.clock, "OX-1", area=make_area(s, web.clock))  # in storage place ICU-SC1
        bme = {d.code: d.id for d in org.list_departments(s)}["BME"]
        requisitions.create_requisition(s, {"title": "Sink", "assigned_department_id": bme, "due_on": "2026-02-01"},
                                        actor=Actor.for_user(nurse), clock=web.clock)  # requisition 1
        manifolds.create_manifold(s, {"asset_tag": "O2-MAN-01", "gateway_id": GATEWAY, "bank_a_channel": "o2.a",
                                      "bank_b_channel": "o2.b", "bank_capacity_l": 49346, "full_bar": 200,
                                      "changeover_bar": 10, "reserve_hours": 24}, actor=None,
                                 clock=web.clock)  # manifold 1
        knowledge.create_entry(s, {"category": "Medical refrigerator", "procedure": "Keep the door shut."},
                               actor=None, clock=web.clock)  # knowledge entry 1
        recalls.create_notice(s, {"reference": "FSN-1", "recalling_firm": "Liebherr",
                                  "product_description": "MKv 3910"}, actor=None, clock=web.clock)  # recall 1
        return order.id, plan.id


def _url(rule, order_id, plan_id):
    values = {"tag": "VF-0001", "gateway_id": GATEWAY, "wo_id": order_id, "plan_id": plan_id, "template_id": 1,
              "username": "nurse", "name": "fridge-warm", "report_id": 1, "contract_id": 1,
              "part_id": 1, "bin_id": 1, "order_id": 1, "location_id": 1, "supplier_id": 1, "item_id": 1,
              "requisition_id": 1, "entry_id": 1, "fmt": "csv", "meter_id": 1, "cylinder": "OX-1",
              "manifold_id": 1, "recall_id": 1}
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(r"<(?:[a-z]+:)?" + name + ">", str(values[name]), path)
    return path


def _expected(role: str, endpoint: str, actor_can) -> int:
    needed = PAGE_PERMISSIONS[endpoint]
    if needed is None:
        return 200
    options = needed if isinstance(needed, tuple) else (needed,)
    return 200 if any(actor_can(p) for p in options) else 403


def test_every_page_route_answers_each_role_as_the_permission_table_says(web):
    order_id, plan_id = _seed(web)
    rules = list(_page_rules(web.app))
    unlisted = sorted({r.endpoint for r in rules} - set(PAGE_PERMISSIONS) - set(NOT_IN_MATRIX))
    assert unlisted == [], f"pages without a declared permission: {unlisted}"
    failures = []
    for role, username in ROLE_USERS.items():
        client = web.client(username)
        actor = Actor(username=username, role=role)
        for rule in rules:
            if rule.endpoint not in PAGE_PERMISSIONS:
                continue
            expected = _expected(role, rule.endpoint, lambda p: can(actor, p))
            if rule.endpoint == "workorders.detail" and expected == 200 and role == "vendor":
                expected = 404  # vendors see only orders assigned to them; this one is not
            got = client.get(_url(rule, order_id, plan_id)).status_code
            if got != expected:
                failures.append(f"{role} {rule.rule}: expected {expected}, got {got}")
    assert failures == []


def test_signed_out_visitors_are_sent_to_sign_in_from_every_page(web):
    order_id, plan_id = _seed(web)
    client = web.app.test_client()
    for rule in _page_rules(web.app):
        if rule.endpoint in PAGE_PERMISSIONS:
            response = client.get(_url(rule, order_id, plan_id))
            assert response.status_code == 302 and "/login?next=" in response.headers["Location"], rule.rule


def test_a_background_poll_after_sign_out_gets_401_instead_of_the_sign_in_page(web):
    response = web.app.test_client().get("/fragments/alerts", headers={"HX-Request": "true"})
    assert response.status_code == 401


NEW_PAGES = ["/work-orders", "/work-orders?view=board", "/work-orders/new", "/maintenance", "/maintenance/new",
             "/maintenance/checklists", "/maintenance/checklists/new", "/maintenance/checklists/1",
             "/maintenance/calendar", "/reports", "/reports/repairs", "/rules", "/admin/users", "/admin/roles",
             "/admin/organisation", "/labels", "/assets/import", "/jobs", "/assets/VF-0001",
             "/inventory/parts", "/inventory/parts/1", "/inventory/parts/new", "/inventory/parts/1/edit",
             "/inventory/parts/1/movements", "/inventory/reorder", "/inventory/forecast", "/inventory/adjustments", "/inventory/locations",
             "/inventory/kits", "/inventory/suppliers", "/inventory/suppliers/new", "/inventory/suppliers/1",
             "/inventory/import", "/inventory/labels/1/1", "/inventory/purchase-orders",
             "/inventory/purchase-orders/1", "/consumables",
             "/consumables/items/1", "/consumables/items/new", "/consumables/items/1/edit", "/consumables/consumption",
             "/utilities", "/utilities/meters/1", "/utilities/meters/new", "/utilities/meters/1/edit",
             "/oxygen", "/oxygen/scan", "/oxygen/cylinders/OX-1", "/oxygen/cylinders/new", "/oxygen/cylinders/OX-1/edit",
             "/oxygen/labels", "/oxygen/storage", "/oxygen/movements", "/oxygen/consumption",
             "/manifolds", "/manifolds/1", "/manifolds/new", "/manifolds/1/edit"]


@pytest.mark.parametrize("path", NEW_PAGES)
def test_new_pages_keep_the_csp_rules_label_their_fields_and_protect_their_forms(web, path):
    _seed(web)
    response = web.client("admin").get(path)
    assert response.status_code == 200, response.text
    page = _PageAudit()
    page.feed(response.text)
    assert page.problems == []
    assert [f for f in page.fields if f[1] is None or f[1] not in page.labels] == []
    assert all(f["csrf"] for f in page.forms if f["method"] == "post")
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_work_order_board_and_list_show_the_order_in_its_state(web):
    order_id, _ = _seed(web)
    client = web.client("manager")
    board = client.get("/work-orders?view=board").text
    pending = board.split('id="col-pending"')[1].split('id="col-assigned"')[0]
    assert 'id="col-closed"' not in board  # closed orders live in the list view
    assert "Door seal torn" in pending
    listing = client.get("/work-orders?state=pending").text
    assert f'href="/work-orders/{order_id}"' in listing


def test_asset_page_shows_maintenance_plans_work_orders_and_a_chart_per_bound_channel(web):
    _seed(web)
    html = web.client("manager").get("/assets/VF-0001").text
    assert "Fridge service" in html and "every 6 months" in html
    assert "Door seal torn" in html
    charts = re.findall(r'data-chart-url="([^"]+)"', html)
    assert sorted(charts) == sorted([f"/api/v1/readings?asset=VF-0001&amp;gateway={GATEWAY}&amp;channel=fridge1.door",
                                     f"/api/v1/readings?asset=VF-0001&amp;gateway={GATEWAY}&amp;channel=fridge1.temp"])
    assert 'src="/assets/VF-0001/qr.svg"' in html
    assert "<iframe" not in html  # no Grafana configured


def test_grafana_panels_are_embedded_and_allowed_as_frames_only_when_configured(tmp_path, clock, relational_url):
    from wardlink.hub.telemetry.sqlite import SQLiteStore
    from wardlink.hub.web import create_app

    config = hub_config(tmp_path, database_url=relational_url,
                        grafana_url="https://grafana.hospital.example/")
    with SQLiteStore(tmp_path / "t.db") as store:
        app = create_app(config, telemetry=store, clock=clock)
        try:
            client = app.test_client()
            login(client, "manager")
            response = client.get("/assets/VF-0001")
            frames = re.findall(r'<iframe class="grafana-panel" src="([^"]+)"', response.text)
            assert frames and all(f.startswith("https://grafana.hospital.example/d-solo/wardlink-asset/")
                                  for f in frames)
            assert "var-asset=VF-0001" in frames[0] and "panelId=1" in frames[0]
            csp = response.headers["Content-Security-Policy"]
            assert "frame-src https://grafana.hospital.example" in csp and "frame-ancestors 'none'" in csp
        finally:
            app.extensions["wardlink"].close()


def test_shelving_an_alert_from_the_alert_page_hides_its_actions_until_unshelved(web):
    with session_scope(web.engine) as s:
        alert = alerts.raise_alert(s, rule="r", severity="warning", title="Fridge door open",
                                   asset_tag="VF-0001", actor=None, clock=web.clock)
        alert_id = alert.id
    client = web.client("tech")
    page = client.get("/alerts").text
    response = client.post(f"/alerts/{alert_id}/shelve", data={
        "hours": "4", "note": "door being repaired", "csrf_token": csrf_from(page), "next": "/alerts"})
    assert response.status_code == 302
    page = client.get("/alerts").text
    # The hospital is in Europe/London, on GMT in January: local time is UTC, labelled GMT.
    assert "Shelved until 2026-01-01 05:00:00 GMT" in page and "door being repaired" in page
    refused = client.post(f"/alerts/{alert_id}/shelve", data={
        "hours": "500", "note": "x", "csrf_token": csrf_from(page)})
    assert refused.status_code == 400
    client.post(f"/alerts/{alert_id}/unshelve", data={"csrf_token": csrf_from(page), "next": "/alerts"})
    assert "Shelved until" not in client.get("/alerts").text


def test_public_report_without_sign_in_opens_a_pending_corrective_order_showing_only_name_and_tag(web):
    client = web.app.test_client()
    page = client.get("/a/VF-0001")
    assert page.status_code == 200
    assert "ICU medication refrigerator" in page.text and "VF-0001" in page.text
    for secret in ("Liebherr", "MKv 3910", "Intensive", "serial"):
        assert secret not in page.text  # make, model, department and serial stay private
    assert client.post("/a/VF-0001", data={"description": "Alarm beeping all night"}).status_code == 400
    sent = client.post("/a/VF-0001", data={"description": "Alarm beeping all night, display blank",
                                           "name": "Nurse Joy", "contact": "ext 4411",
                                           "csrf_token": csrf_from(page.text)})
    assert sent.status_code == 200, sent.text
    reference = re.search(r"<strong data-reference>([^<]+)</strong>", sent.text).group(1)
    with session_scope(web.engine) as s:
        orders = workorders.list_work_orders(s, actor=None, source="qr").items
        assert [(code_of(o), o.state, o.kind, o.asset.tag, o.requester_name, o.requester_contact)
                for o in orders] == [(reference, "pending", "corrective", "VF-0001", "Nurse Joy", "ext 4411")]
    assert client.get("/a/NO-SUCH-TAG").status_code == 404


def test_public_reports_are_rate_limited_per_address(web):
    client = web.app.test_client()
    token = csrf_from(client.get("/a/VF-0001").text)
    limit = REPORTS_PER_ADDRESS
    codes = [client.post("/a/VF-0001", data={"description": f"Report number {i} of a fault",
                                             "csrf_token": token}).status_code for i in range(limit + 1)]
    assert codes == [200] * limit + [429]
    web.clock.advance(3601)
    assert client.post("/a/VF-0001", data={"description": "After an hour, allowed again",
                                           "csrf_token": token}).status_code == 200


def test_signed_in_staff_scanning_a_label_land_on_the_asset_page(web):
    response = web.client("nurse").get("/a/VF-0001")
    assert response.status_code == 302 and response.headers["Location"].endswith("/assets/VF-0001")
