"""Helpers for the relational-store, service and web tests.

Building a database is the slow part of these tests (migrations, and Argon2 hashes at
production cost, ~0.2 s each), so one SQLite file is migrated, seeded with the demo
hospital and given one user per role, once per test process; every test then gets its own
copy of that file.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text

from wardlink.hub.config import load_config
from wardlink.hub.db import is_sqlite, open_engine, session_scope, upgrade
from wardlink.hub.seed import seed_demo_site
from wardlink.hub.services.people import org
from wardlink.hub.services.people import users
from wardlink.hub.services.actor import Actor
from wardlink.clock import ManualClock

T0_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z, the ManualClock's default start
T0_MS = int(T0_S * 1000)
GATEWAY = "gw-icu-01"

DEMO_CHANNELS = [
    {"channel_id": "fridge1.temp", "metric": "temperature", "unit": "degC", "driver": "ds18b20",
     "asset_tag": "VF-0001", "interval": 2.0},
    {"channel_id": "fridge1.door", "metric": "door", "unit": "state", "driver": "digital_input",
     "asset_tag": "VF-0001", "interval": 1.0},
    {"channel_id": "dock1.current", "metric": "current", "unit": "A", "driver": "ina219",
     "asset_tag": "IPD-0001", "interval": 1.0},
    {"channel_id": "room.temp", "metric": "temperature", "unit": "degC", "driver": "bme280",
     "asset_tag": "ENV-ICU-1", "interval": 5.0},
    {"channel_id": "spare.1", "metric": "temperature", "unit": "degC", "driver": "ds18b20",
     "interval": 2.0},
]

#: username -> (role, department code or None)
ROLE_USERS = {
    "manager": ("manager", None),
    "tech": ("technician", None),
    "nurse": ("staff", "ICU"),
    "buyer": ("procurement", None),
    "vendor": ("vendor", None),
    "viewer": ("viewer", None),
    "pharm": ("staff", "PHARM"),
    "pharmtech": ("technician", "PHARM"),
}


@dataclass
class Template:
    """Where the template database lives and the passwords of its users."""

    path: Path
    passwords: dict[str, str] = field(default_factory=dict)


_template: Template | None = None
_lock = threading.Lock()


def _seed(url: str) -> dict[str, str]:
    """Migrate ``url``, seed the demo hospital and one user per role; return the passwords."""
    upgrade(url)
    engine = open_engine(url)
    clock = ManualClock(T0_S)
    passwords = {}
    try:
        with session_scope(engine) as session:
            seed_demo_site(session, gateway_id=GATEWAY, channels=DEMO_CHANNELS, clock=clock)
            _, passwords["admin"] = users.create_first_admin(session, clock=clock)
            departments = {d.code: d.id for d in org.list_departments(session)}
            for name, (role, dept) in ROLE_USERS.items():
                _, passwords[name] = users.create_user_with_generated_password(
                    session, username=name, role=role, display_name=name.capitalize(),
                    department_id=departments[dept] if dept else None, actor=None, clock=clock)
        if is_sqlite(engine):
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    return passwords


def _build_template() -> Template:
    folder = Path(tempfile.mkdtemp(prefix="wardlink-db-template-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "template.db"
    return Template(path, _seed(f"sqlite:///{path}"))


def template() -> Template:
    """Return the process-wide seeded template database (built on first use)."""
    global _template
    with _lock:
        if _template is None:
            _template = _build_template()
        return _template


def seeded_sqlite_url(directory: Path) -> str:
    """Copy the seeded template into ``directory`` and return its URL."""
    target = directory / "wardlink.db"
    shutil.copyfile(template().path, target)
    return f"sqlite:///{target}"


_pg_templates: dict[int, str] = {}


def seeded_postgres_template(server) -> str:
    """Return the name of a PostgreSQL database seeded like the SQLite template (built once).

    Seeding is deterministic apart from the generated passwords, so the users' hashes are
    copied from the SQLite template: :func:`password` then holds on both stores.
    """
    with _lock:
        name = _pg_templates.get(id(server))
        if name is not None:
            return name
    sqlite_users = open_engine(f"sqlite:///{template().path}")
    try:
        with sqlite_users.connect() as conn:
            hashes = conn.execute(text("SELECT username, password_hash FROM users")).all()
    finally:
        sqlite_users.dispose()
    with _lock:
        name = _pg_templates.get(id(server))
        if name is None:
            name = server.create_database(f"wardlink_seeded_{os.getpid()}")
            url = server.sqlalchemy_url(name)
            _seed(url)
            engine = open_engine(url)
            try:
                with engine.begin() as conn:
                    conn.execute(text("UPDATE users SET password_hash = :h WHERE username = :u"),
                                 [{"u": u, "h": h} for u, h in hashes])
            finally:
                engine.dispose()
            _pg_templates[id(server)] = name
        return name


def password(username: str) -> str:
    """Return the generated password of a template user."""
    return template().passwords[username]


def actor(session, username: str) -> Actor:
    """Return the actor of a template user."""
    return Actor.for_user(users.find_user(session, username), "192.0.2.10")


def row_count(engine, table: str) -> int:
    """Return how many rows ``table`` holds."""
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock one hour after the template was seeded."""
    return ManualClock(T0_S + 3600)


@pytest.fixture
def engine(relational_url):
    """An engine on a fresh copy of the seeded template database (SQLite or PostgreSQL)."""
    eng = open_engine(relational_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine):
    """A session on the seeded database; committed by the test when it wants to."""
    with session_scope(engine) as s:
        yield s


def hub_config(tmp_path, **overrides):
    """Return a validated hub config whose data lives in ``tmp_path``."""
    values = {"data_dir": str(tmp_path), "secure_cookies": False,
              # the suite signs its users in with passwords; tests of two-factor sign-in ask for it
              "two_factor_roles": ""}
    values.update(overrides)
    return load_config(environ={}, overrides=values)


_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """Return the CSRF token of the first form in ``html``."""
    match = _CSRF_RE.search(html)
    assert match, "page has no CSRF token field"
    return match.group(1)


def login(client, username: str, secret: str | None = None):
    """Sign ``username`` in through the login form; return the response."""
    page = client.get("/login")
    return client.post("/login", data={"username": username,
                                       "password": secret if secret is not None else password(username),
                                       "csrf_token": csrf_from(page.text)})


@dataclass
class WebEnv:
    """A web app on a seeded database with a real SQLite telemetry store."""

    app: object
    engine: object
    store: object
    clock: ManualClock
    config: object

    def client(self, username: str | None = None):
        """Return a test client, signed in as ``username`` when given."""
        c = self.app.test_client()
        if username is not None:
            response = login(c, username)
            assert response.status_code == 302, response.text
        return c


@pytest.fixture
def web(tmp_path, clock, relational_url):
    """The admin UI on a copy of the seeded database, with a SQLite telemetry store."""
    from wardlink.hub.telemetry.sqlite import SQLiteStore
    from wardlink.hub.web import create_app

    url = relational_url
    config = hub_config(tmp_path, database_url=url)
    store = SQLiteStore(tmp_path / "telemetry.db")
    app = create_app(config, telemetry=store, clock=clock)
    eng = open_engine(url)
    try:
        yield WebEnv(app, eng, store, clock, config)
    finally:
        app.extensions["wardlink"].close()
        store.close()
        eng.dispose()
