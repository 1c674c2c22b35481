"""Alert rules in Chromium, on a desktop and on a 390x844 phone: a manager creates a threshold
rule in the form, is shown the rules file's own message at the field she got wrong, previews
how often the corrected rule would have fired over the last week of stored readings, creates
it, finds it in the list and disables it. Screenshots of each step go with the test output.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_ui_browser import DESKTOP, PHONE, Hub, Session, _require_tools

from relational_support import GATEWAY
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog
from wardlink.hub.db.models.rules import Rule
from wardlink.hub.telemetry import Point

pytestmark = pytest.mark.timeout(180)
MINUTE_MS, DAY_MS = 60_000, 86_400_000


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    _require_tools()
    server = Hub(tmp_path_factory.mktemp("rules-browser"))
    # two days ago the ICU fridge was at 9 degC for ten minutes, otherwise at 5 degC
    now = round(server.clock.now() * 1000)
    warm_from = now - 2 * DAY_MS
    tags = {"gateway": GATEWAY, "channel": "fridge1.temp", "asset": "VF-0001", "ward": "ICU", "site": "RGH"}
    server.store.write([Point.of("temperature", tags, ts, 9.0 if warm_from <= ts < warm_from + 10 * MINUTE_MS else 5.0)
                        for ts in range(now - 3 * DAY_MS, now, 5 * MINUTE_MS)])
    yield server
    server.close()


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_manager_creates_a_threshold_rule_in_the_form_previews_it_and_disables_it(
        served, chromium, artifacts_dir, device):
    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    name = f"fridge-warm-{device}"
    manager = Session(chromium, served, **(PHONE if device == "phone" else DESKTOP)).sign_in("manager")
    page = manager.open("/rules")
    page.get_by_role("link", name="New rule").click()
    page.get_by_role("link", name="Threshold", exact=True).click()
    page.wait_for_url(re.compile(r".*/rules/new\?kind=threshold$"))
    page.locator("#name").fill(name)
    page.locator("#severity").select_option("critical")
    page.locator("#match-metric").fill("temperature")
    page.locator("#match-asset").fill("VF-0001")
    page.locator("#param-above").fill("8")
    page.locator("#param-below").fill("9")  # a mistake: below must be under above
    with page.expect_navigation():
        page.get_by_role("button", name="Create rule").click()
    error = page.locator("#below-error")
    assert error.inner_text() == f"rules[{name}].below: must be less than above (8), got 9"
    assert page.locator("#param-below").get_attribute("aria-invalid") == "true"
    assert page.locator("#name").input_value() == name  # nothing typed is lost
    manager.forget("status of 400")  # the refusal is answered 400, as intended
    page.screenshot(path=shots / f"rules-{device}-1-field-error.png", full_page=True)

    page.locator("#param-below").fill("2")
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()
    result = page.locator(".preview-result")
    assert result.inner_text().startswith("Would have fired 1 time in the last 7 days")
    assert "VF-0001" in page.locator("#preview table").inner_text()
    if device == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=shots / f"rules-{device}-2-preview.png", full_page=True)

    with page.expect_navigation():
        page.get_by_role("button", name="Create rule").click()
    page.wait_for_url(re.compile(r".*/rules$"))
    assert "applies it from the next reading" in page.locator(".flash").inner_text()
    row = page.locator(f"tr:has(th:has-text('{name}'))")
    assert "Enabled" in row.inner_text() and "above=8" in row.inner_text()
    if device == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=shots / f"rules-{device}-3-listed.png", full_page=True)

    with page.expect_navigation():
        row.get_by_role("button", name=f"Disable {name}").click()
    assert "Disabled" in page.locator(f"tr:has(th:has-text('{name}'))").inner_text()
    page.screenshot(path=shots / f"rules-{device}-4-disabled.png", full_page=True)
    manager.close()

    with session_scope(served.engine, readonly=True) as s:
        rule = s.scalars(select(Rule).where(Rule.name == name)).one()
        assert (rule.kind, rule.severity, rule.enabled, rule.params["above"], rule.params["below"]) == \
            ("threshold", "critical", False, 8.0, 2.0)
        assert rule.match == {"metric": ["temperature"], "asset": ["VF-0001"]}
        trail = s.execute(select(AuditLog.action, AuditLog.actor, AuditLog.after_json)
                          .where(AuditLog.entity == "rule", AuditLog.entity_id == str(rule.id))
                          .order_by(AuditLog.seq)).all()
    assert [(a, who) for a, who, _ in trail] == [("rule.create", "manager"), ("rule.disable", "manager")]
    assert json.loads(trail[0][2])["params"]["below"] == 2.0
