"""Schemathesis against the served OpenAPI document: generated requests (valid and invalid)
to every operation of the real app, as an administrator with an API token. No answer may be
a server error, every answer must match the status codes, media types and schemas the
document promises, and a request the document calls invalid (a blank enum value, a null
where text is required, an unknown field, text over its maxLength...) must be refused.

Bounded: a fixed number of derandomized examples per operation and mode (10, or 25 with
``--slow``) and no stateful phase, so the run takes about a minute per store on a CI machine and
never varies.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from relational_support import T0_S, hub_config
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)

from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.services.people import users
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.actor import Actor
from wardlink.clock import ManualClock

#: Examples per operation and generation mode (valid, then invalid data); ``--slow`` asks for more.
EXAMPLES, EXAMPLES_SLOW = 10, 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


@dataclass
class Served:
    """The app under test and the header that authenticates as the administrator."""

    app: object
    headers: dict


@pytest.fixture(scope="module")
def served(tmp_path_factory, module_relational_url):
    from wardlink.hub.telemetry.sqlite import SQLiteStore
    from wardlink.hub.web import create_app

    folder = tmp_path_factory.mktemp("schemathesis")
    url = module_relational_url
    clock = ManualClock(T0_S + 3600)
    store = SQLiteStore(folder / "telemetry.db")
    app = create_app(hub_config(folder, database_url=url), telemetry=store, clock=clock)
    engine = open_engine(url)
    with session_scope(engine) as s:
        admin = Actor.for_user(users.find_user(s, "admin"))
        _, token = users.create_api_token(s, name="schemathesis", actor=admin, clock=clock)
        # Something for the generated ids to find: orders 1-3 in different states.
        for title in ("Fridge alarm", "Pump occlusion", "Monitor lead fault"):
            workorders.create_work_order(s, {"kind": "corrective", "title": title, "asset_tag": "VF-0001"},
                                         actor=admin, clock=clock)
    engine.dispose()
    try:
        yield Served(app, {"Authorization": f"Bearer {token}"})
    finally:
        app.extensions["wardlink"].close()
        store.close()


def _operations(served):
    document = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", served.app)
    return [result.ok() for result in document.get_all_operations()]


@pytest.mark.timeout(600)
def test_generated_requests_get_documented_answers_and_no_server_errors(served, subtests, pytestconfig):
    from wardlink.hub.web.api.openapi import api_routes, openapi_path

    examples = EXAMPLES_SLOW if pytestconfig.getoption("--slow") else EXAMPLES
    operations = _operations(served)
    # Every operation, none skipped (schemathesis leaves out the document's own route).
    routes = {f"{method} {openapi_path(path)[0]}" for path, method, _ in api_routes(served.app)}
    assert {op.label for op in operations} == routes - {"GET /openapi.json"} and len(routes) >= 40
    for operation in operations:
        modes = [GenerationMode.POSITIVE]
        if operation.query or operation.path_parameters or operation.body:
            modes.append(GenerationMode.NEGATIVE)  # without inputs there is nothing to get wrong
        for mode in modes:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def check(case):
                response = case.call(headers=served.headers)
                case.validate_response(response, checks=CHECKS, headers=served.headers)

            with subtests.test(msg=f"{operation.label} ({mode.value})"):
                check()
