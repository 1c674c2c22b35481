"""One guard holds every module of the JSON API, and one parser reads its query arguments."""

from __future__ import annotations

import ast
import html
from pathlib import Path

import pytest
from relational_support import clock, csrf_from, web

from wardlink.hub.db import session_scope
from wardlink.hub.services.people import users
from wardlink.hub.services.actor import Actor

ROOT = Path(__file__).resolve().parents[2]
#: One listing route of each API module, and the blueprint serving it.
#: One paged listing of each API module that has one.
LISTINGS = {"api": "/api/v1/alerts", "api_workorders": "/api/v1/work-orders", "api_pm": "/api/v1/pm-plans",
            "api_notices": "/api/v1/notices", "api_reports": "/api/v1/reports/monthly",
            "api_contracts": "/api/v1/contracts", "api_requisitions": "/api/v1/requisitions",
            "api_inventory": "/api/v1/parts", "api_stock": "/api/v1/reorder-list",
            "api_purchasing": "/api/v1/purchase-orders",
            "api_consumables": "/api/v1/consumables", "api_utilities": "/api/v1/utilities/meters",
            "api_oxygen": "/api/v1/oxygen/cylinders"}
#: A GET route of every API module: the guard answers an unknown caller on each alike.
GUARDED = {**LISTINGS, "api_equipment": "/api/v1/categories", "api_exports": "/api/v1/assets/export",
           "api_rules": "/api/v1/rules", "api_asset_files": "/api/v1/assets/VF-0001/attachments",
           "api_trends": "/api/v1/dashboard/trends", "api_org": "/api/v1/sites", "api_usage": "/api/v1/usage/sessions",
           "api_recalls": "/api/v1/recalls", "api_manifolds": "/api/v1/manifolds"}


def _token(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="test", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def test_every_api_blueprint_runs_the_one_guard_and_no_other(web):
    api_blueprints = {rule.endpoint.split(".")[0] for rule in web.app.url_map.iter_rules()
                      if rule.rule.startswith("/api/v1/")} - {"openapi"}  # the document itself is public
    assert api_blueprints == set(GUARDED)
    for name in api_blueprints:
        guards = web.app.before_request_funcs.get(name, [])
        assert [f.__module__ for f in guards] == ["wardlink.hub.web.api.guard"], name


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"},
                                     {"Authorization": "Bearer wlt_not-a-real-token"}])
def test_every_api_module_refuses_an_unknown_caller_alike(web, headers):
    client = web.app.test_client()
    answers = {name: client.get(path, headers=headers) for name, path in GUARDED.items()}
    bodies = {name: (r.status_code, r.json, r.headers.get("WWW-Authenticate")) for name, r in answers.items()}
    assert len(set(map(repr, bodies.values()))) == 1, bodies
    status, body, challenge = bodies["api"]
    assert status == 401 and body["error"]["code"] == "authentication_required" and challenge == "Bearer"


@pytest.mark.parametrize("query, message", [("per_page=ten", "per_page: must be an integer, got 'ten'"),
                                            ("page=0", "page: must be 1..1000000, got 0"),
                                            ("per_page=201", "per_page: must be 1..200, got 201")])
def test_every_api_module_reads_paging_arguments_alike(web, query, message):
    client, headers = web.app.test_client(), _token(web, "admin")
    for path in LISTINGS.values():
        response = client.get(f"{path}?{query}", headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json["error"]["message"] == message, path


def test_every_api_module_refuses_a_query_parameter_given_twice(web):
    client, headers = web.app.test_client(), _token(web, "admin")
    for path in LISTINGS.values():
        once = client.get(f"{path}?page=1", headers=headers)
        assert once.status_code == 200, (path, once.text)
        twice = client.get(f"{path}?page=1&page=2", headers=headers)
        assert twice.status_code == 400, (path, twice.text)
        assert twice.json["error"] == {"status": 400, "code": "invalid_input",
                                       "message": "page: given 2 times; give it once"}, path


def test_no_module_keeps_its_own_query_integer_parser():
    copies = []
    for package in ("hub", "edge", "provisioning", "wardlink"):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            copies += [f"{path.relative_to(ROOT)}:{n.lineno}" for n in ast.walk(ast.parse(text))
                       if isinstance(n, ast.FunctionDef) and n.name in ("_int_arg", "_page_arg", "_page_number")]
            if path != ROOT / "hub" / "web" / "query_args.py" and "int(request.args.get(" in text:
                copies.append(f"{path.relative_to(ROOT)}: parses a query argument by hand")
    assert not copies


@pytest.mark.parametrize("path, query, status", [
    ("/assets", "page=0", 200), ("/assets", "page=", 200), ("/assets", "page=two", 400),
    ("/work-orders", "page=two", 400), ("/maintenance", "page=two", 400), ("/labels", "page=two", 400),
    ("/ingest", "page=99999999", 200), ("/ingest", "page=two", 400),
    ("/alerts", "page=two", 200), ("/audit", "page=two", 200),  # these two read nonsense as page 1
])
def test_the_pages_read_their_page_number_with_the_one_parser(web, path, query, status):
    response = web.client("admin").get(f"{path}?{query}")
    assert response.status_code == status, response.text[:500]
    if status == 400:
        assert "page: must be a number, got 'two'" in html.unescape(response.text)


@pytest.mark.parametrize("path", ["/api/v1/alerts/1/acknowledge", "/api/v1/work-orders", "/api/v1/pm-plans"])
def test_every_api_module_refuses_a_session_write_without_its_csrf_token(web, path):
    client = web.client("admin")
    refused = client.post(path, json={})
    assert refused.status_code == 400 and refused.json["error"]["code"] == "bad_request", refused.text
    assert "security token" in refused.json["error"]["message"]
    token = csrf_from(client.get("/").text)
    passed = client.post(path, json={}, headers={"X-CSRF-Token": token})
    assert passed.status_code != 400 or passed.json["error"]["code"] != "bad_request", passed.text
