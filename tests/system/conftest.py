"""Fixtures of the whole-system tests: failure reports carry the tails of every plant log."""

from __future__ import annotations

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the plant's log tails (workers, scheduler, web, gateways, broker) to a failed test."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    plant = getattr(item, "funcargs", {}).get("plant")
    if plant is not None:
        try:
            report.sections.append(("plant logs", plant.logs()))
        except Exception as exc:
            report.sections.append(("plant logs", f"(unavailable: {exc})"))
