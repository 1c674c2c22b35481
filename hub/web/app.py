"""The Flask application factory.

Settings come from the :class:`~wardlink.hub.config.HubConfig` (defaults, then the TOML file, then
``WARDLINK_*`` variables); Flask-only knobs may then be adjusted from an optional instance
file ``<data_dir>/web.toml`` and from ``WARDLINK_FLASK_*`` environment variables.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from flask import Flask, g, request

from wardlink.hub.config import HubConfig
from wardlink.hub.db import check_current, open_engine
from wardlink.hub.db.audit_key import use_audit_key
from wardlink.hub.services.people import two_factor
from wardlink.hub.services.people.directory import Directory, DirectorySettings
from wardlink.hub.web.json_text import StoredTextJSONProvider
from wardlink.hub.web.monitoring import CountResponses
from wardlink.hub.web import errors, files, filters, i18n, nav, ui
from wardlink.hub.web import db as request_db
from wardlink.hub.web.people.auth import SESSION_LIFETIME, check_csrf, load_identity
from wardlink.hub.web.proxy import ProxyFix
from wardlink.hub.web.security import add_security_headers, load_secret_key
from wardlink.hub.web.state import EXTENSION, WebState
from wardlink.clock import Clock, SystemClock

MAX_REQUEST_BYTES = 1024 * 1024


def create_app(config: HubConfig, *, telemetry=None, clock: Clock | None = None) -> Flask:
    """Build the admin UI and JSON API for ``config``.

    ``telemetry`` is the store live readings come from (a :class:`wardlink.hub.telemetry.TelemetryStore`);
    without one, pages say so and reading endpoints answer 503. The relational store must
    already be migrated (``wardlink db upgrade``).
    """
    clock = clock or SystemClock()
    data_dir = Path(config.data_dir).resolve()
    app = Flask("wardlink.hub.web", instance_path=str(data_dir))
    app.json = StoredTextJSONProvider(app)
    app.config.from_mapping(
        SECRET_KEY=load_secret_key(config),
        SESSION_COOKIE_NAME="wardlink_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        PREFERRED_URL_SCHEME="https" if config.secure_cookies else "http",
        TEMPLATES_AUTO_RELOAD=False,
        # How often pages refresh live readings from the API, in milliseconds.
        LIVE_POLL_MS=5000,
    )
    app.config.from_file(str(data_dir / "web.toml"), load=tomllib.load, text=False, silent=True)
    app.config.from_prefixed_env("WARDLINK_FLASK")

    two_factor_roles = two_factor.parse_roles(config.two_factor_roles)
    directory_settings = DirectorySettings.from_config(config)
    engine = open_engine(config.resolved_database_url)
    try:
        check_current(engine)
        use_audit_key(config, engine)
    except Exception:
        engine.dispose()
        raise
    web_state = app.extensions[EXTENSION] = WebState(
        config=config, engine=engine, clock=clock, telemetry=telemetry, two_factor_roles=two_factor_roles,
        directory=Directory(directory_settings) if directory_settings else None,
    )

    # The client's address and scheme as the trusted reverse proxies report them (once, here);
    # outermost, every response counted by status class for /metrics.
    app.wsgi_app = CountResponses(ProxyFix(app.wsgi_app, config.trusted_proxies),
                                  web_state.responses)
    request_db.init_app(app)
    i18n.init_app(app)
    filters.init_app(app)
    errors.init_app(app)
    files.init_app(app)
    _register_blueprints(app)
    nav.init_app(app)
    ui.init_app(app)

    @app.before_request
    def _identify():
        if request.endpoint == "static":
            g.user = g.actor = None
            return None
        load_identity()
        check_csrf()
        return None

    @app.after_request
    def _headers(response):
        return add_security_headers(response, https=config.secure_cookies or request.is_secure,
                                    private=request.endpoint != "static")

    return app


def _register_blueprints(app: Flask) -> None:
    from wardlink.hub.web.alerts import pages as alerts
    from wardlink.hub.web.api import core as api
    from wardlink.hub.web.assets import pages as assets
    from wardlink.hub.web.audit import pages as audit
    from wardlink.hub.web.people import auth
    from wardlink.hub.web.dashboard import pages as dashboard
    from wardlink.hub.web.gateways import pages as gateways
    from wardlink.hub.web.api.openapi_schema import IdConverter

    app.url_map.converters["int"] = IdConverter  # before any rule uses it

    from wardlink.hub.web.people import two_factor_pages

    for module in (auth, two_factor_pages, dashboard, assets, gateways, alerts, audit):
        app.register_blueprint(module.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    from wardlink.hub.web.assets import category_pages

    app.register_blueprint(category_pages.bp)
    from wardlink.hub.web.api import equipment as api_equipment
    from wardlink.hub.web.api import workorders as api_workorders
    from wardlink.hub.web.api import exports as api_exports
    from wardlink.hub.web.api import openapi
    from wardlink.hub.web.api import rules as api_rules
    from wardlink.hub.web.api import trends as api_trends

    for module in (api_workorders, api_equipment, api_exports, api_rules, api_trends, openapi):
        app.register_blueprint(module.bp, url_prefix="/api/v1")
    from wardlink.hub.web.api import pm as api_pm

    app.register_blueprint(api_pm.bp, url_prefix="/api/v1")
    from wardlink.hub.web.api import asset_files as api_asset_files
    from wardlink.hub.web.api import reports as api_reports

    app.register_blueprint(api_asset_files.bp, url_prefix="/api/v1")
    app.register_blueprint(api_reports.bp, url_prefix="/api/v1")
    from wardlink.hub.web.api import inventory as api_inventory
    from wardlink.hub.web.api import inventory_stock as api_stock

    app.register_blueprint(api_inventory.bp)
    app.register_blueprint(api_stock.bp)
    from wardlink.hub.web.api import purchasing as api_purchasing

    app.register_blueprint(api_purchasing.bp)
    from wardlink.hub.web.gateways import enroll

    app.register_blueprint(enroll.bp)  # POST /api/enroll for gateways, /enrollment/... for admins
