"""The OpenAPI document: every /api/v1 route is in it, it is served without signing in, its
schemas are valid JSON Schema, and its permissions are the permission table's."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from relational_support import clock, web

from wardlink.hub.services.people.permissions import ACTIONS
from wardlink.hub.web.api.openapi import API_PREFIX, api_routes, build_document, undocumented


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_api_route_has_an_openapi_operation(web):
    assert undocumented(web.app) == []


def test_a_new_route_without_a_declaration_is_reported(web):
    web.app.add_url_rule(f"{API_PREFIX}/gadgets/<int:gadget_id>", "gadget_probe", lambda gadget_id: "",
                         methods=["DELETE"])
    assert undocumented(web.app) == [f"DELETE {API_PREFIX}/gadgets/<int:gadget_id>"]
    operation = build_document(web.app)["paths"]["/gadgets/{gadget_id}"]["delete"]
    assert operation["tags"] == ["undocumented"]


def test_the_document_is_served_without_signing_in_and_covers_every_route(web):
    response = web.app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.json
    assert document["openapi"] == "3.1.0" and document["servers"] == [{"url": "/api/v1"}]
    listed = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    routes = {(path, method) for path, method, _ in api_routes(web.app)}
    assert len(listed) == len(routes) >= 40
    assert ("/work-orders/{order_id}/transition", "POST") in listed
    assert document["paths"]["/openapi.json"]["get"]["security"] == []
    assert document["paths"]["/health"]["get"]["security"] == []


def test_schemas_are_valid_and_every_reference_resolves(web):
    document = build_document(web.app)
    schemas = document["components"]["schemas"]
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    for ref in set(_refs(document)):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["summary"] and operation["responses"], (method, path)
            for parameter in operation["parameters"]:
                Draft202012Validator.check_schema(parameter["schema"])
            if "{" in path:
                assert "404" in operation["responses"], (method, path)


@pytest.mark.parametrize("path, method, permissions", [
    ("/work-orders/{order_id}/close", "post", ["workorder.close"]),
    ("/work-orders", "get", ["workorder.view"]),
    ("/assets/{tag}/readings/latest", "get", ["telemetry.view", "asset.view"]),
])
def test_operations_name_the_permissions_the_services_check(web, path, method, permissions):
    assert build_document(web.app)["paths"][path][method]["x-permissions"] == permissions


def test_declared_permissions_exist_in_the_permission_table(web):
    document = build_document(web.app)
    named = {p for ops in document["paths"].values() for op in ops.values()
             for p in op["x-permissions"] + op.get("x-permissions-any-of", [])}
    assert named and named <= ACTIONS


def test_the_api_document_in_docs_lists_every_route_and_transition(web):
    from pathlib import Path

    from wardlink.hub.services.maintenance.workorder_flow import TRANSITIONS
    from wardlink.hub.web.api.openapi import openapi_path

    text = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    missing = [f"{method} {openapi_path(path)[0]}" for path, method, _ in api_routes(web.app)
               if f"`{method} {openapi_path(path)[0]}`" not in text]
    assert missing == [], "docs/api.md: add these routes to the API table"
    for step in TRANSITIONS:
        assert f"| {step.source} | {step.target} | {step.verb} |" in text, step
