"""Helpers for the preventive-maintenance, scheduler and KPI tests.

``pm_db`` gives each test the seeded demo hospital on SQLite (a copy of the shared
template) and on a fresh PostgreSQL database (migrated and seeded for the test), so the
same test body runs on both stores.
"""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from datetime import UTC, datetime

import pytest
from relational_support import DEMO_CHANNELS, GATEWAY, T0_S, seeded_sqlite_url

from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.seed import seed_demo_site
from wardlink.hub.services.people import org
from wardlink.hub.services.people import users
from wardlink.clock import ManualClock

#: Users the PostgreSQL copy gets (username -> role, department code).
PG_USERS = {"manager": ("manager", None), "tech": ("technician", None), "vendor": ("vendor", None),
            "nurse": ("staff", "ICU"), "viewer": ("viewer", None)}


def seed_postgres(url: str) -> None:
    """Migrate a fresh PostgreSQL database and seed the demo hospital and a few users."""
    upgrade(url)
    engine = open_engine(url)
    clock = ManualClock(T0_S)
    try:
        with session_scope(engine) as session:
            seed_demo_site(session, gateway_id=GATEWAY, channels=DEMO_CHANNELS, clock=clock)
            departments = {d.code: d.id for d in org.list_departments(session)}
            for name, (role, dept) in PG_USERS.items():
                users.create_user_with_generated_password(
                    session, username=name, role=role, display_name=name.capitalize(),
                    department_id=departments[dept] if dept else None, actor=None, clock=clock)
    finally:
        engine.dispose()


_copies = itertools.count(1)
#: PostgreSQL server -> name of its seeded template; one per test process, however many test
#: modules import the fixture (each import makes a fixture of its own).
_templates: dict[int, str] = {}
_templates_lock = threading.Lock()


@pytest.fixture(scope="session")
def pm_pg_template(postgres_server):
    """A PostgreSQL database migrated and seeded once per run, copied by each test."""
    postgres_server.start()
    with _templates_lock:
        name = _templates.get(id(postgres_server))
        if name is None:
            name = postgres_server.create_database(f"pm_template_{os.getpid()}_{uuid.uuid4().hex[:8]}")
            seed_postgres(postgres_server.sqlalchemy_url(name))
            _templates[id(postgres_server)] = name
    return name


@pytest.fixture
def pm_pg_url(postgres_server, pm_pg_template):
    """URL of a fresh copy of the seeded PostgreSQL template (a file copy: milliseconds)."""
    postgres_server.start()
    name = postgres_server.create_database(f"pm_copy_{os.getpid()}_{next(_copies):04d}",
                                           template=pm_pg_template)
    yield postgres_server.sqlalchemy_url(name)
    postgres_server.start()
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def pm_db(request, tmp_path):
    """An engine on the seeded demo hospital, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url = seeded_sqlite_url(tmp_path)
    else:
        url = request.getfixturevalue("pm_pg_url")
    engine = open_engine(url)
    yield engine
    engine.dispose()


def at(year: int, month: int, day: int, hour: int = 12) -> float:
    """Return the epoch seconds of a UTC date and hour (noon by default)."""
    return datetime(year, month, day, hour, tzinfo=UTC).timestamp()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Return an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
