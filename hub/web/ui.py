"""The admin UI's pages beyond the core ones, and the state they share.

:func:`init_app` registers the page blueprints of the maintenance areas (work orders,
maintenance plans, reports, people, rules, labels, jobs, the public problem report), the
background job pool, the public report rate limiter, and the frame policy for Grafana panels.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, current_app

from wardlink.hub.web.jobs import JobRegistry
from wardlink.hub.web.security import CONTENT_SECURITY_POLICY, RateLimiter
from wardlink.hub.web.state import EXTENSION

UI_EXTENSION = "wardlink.ui"

#: Problem reports allowed per client address per window, and per asset per window.
REPORTS_PER_ADDRESS = 5
REPORTS_PER_ASSET = 30
REPORT_WINDOW_S = 3600.0

#: Page blueprints, by module below wardlink.hub.web; each module exposes ``bp``.
PAGE_MODULES = ("assets.label_pages", "maintenance.public", "job_pages", "assets.import_pages", "people.admin",
                "alerts.rules_pages", "alerts.fragments", "maintenance.workorder_pages", "reports.pages",
                "reports.exports",
                "maintenance.pm_pages", "maintenance.checklist_pages", "gateways.ingest_pages", "assets.file_pages",
                "notices.pages", "api.notices", "people.org_pages", "api.org", "contracts.pages", "api.contracts",
                "inventory.pages", "inventory.storage_pages", "inventory.supplier_pages", "inventory.import_pages",
                "inventory.purchase_pages", "consumables.pages", "api.consumables", "requisitions.pages",
                "api.requisitions", "usage.pages", "api.usage",
                "utilities.pages", "api.utilities", "oxygen.pages", "api.oxygen",
                "manifolds.pages", "api.manifolds", "compliance.recall_pages", "api.recalls")


@dataclass
class UiState:
    """What the UI pages share across requests."""

    jobs: JobRegistry
    report_by_address: RateLimiter
    report_by_asset: RateLimiter
    grafana_url: str


def ui_state() -> UiState:
    """Return the UI state of the current app."""
    return current_app.extensions[UI_EXTENSION]


def grafana_origin(url: str) -> str | None:
    """Return scheme://host[:port] of ``url``, or None when it is empty."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def init_app(app: Flask) -> None:
    """Register the UI pages, the job pool and the response policies."""
    web = app.extensions[EXTENSION]
    jobs = JobRegistry(web.clock, workers=app.config.get("JOB_WORKERS", 2))
    web.closers.append(jobs.close)
    state = UiState(
        jobs=jobs,
        report_by_address=RateLimiter(REPORTS_PER_ADDRESS, REPORT_WINDOW_S, web.clock),
        report_by_asset=RateLimiter(REPORTS_PER_ASSET, REPORT_WINDOW_S, web.clock),
        grafana_url=web.config.grafana_url.rstrip("/"),
    )
    app.extensions[UI_EXTENSION] = state
    for name in PAGE_MODULES:
        module = importlib.import_module(f"wardlink.hub.web.{name}")
        app.register_blueprint(module.bp)

    origin = grafana_origin(state.grafana_url)
    if origin is not None:
        # Grafana panels are the only frames the UI shows; every other frame stays refused.
        policy = f"{CONTENT_SECURITY_POLICY}; frame-src {origin}"

        @app.after_request
        def _allow_grafana_frames(response):
            # Runs after the app's own header hook (hooks run last-registered first); a served
            # file keeps its own, stricter policy.
            if response.headers.get("Content-Security-Policy") == CONTENT_SECURITY_POLICY:
                response.headers["Content-Security-Policy"] = policy
            return response
