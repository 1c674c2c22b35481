"""Helpers for the work-order tests: a seeded store on SQLite or PostgreSQL per test, and
orders brought into any state by walking the transition table.

PostgreSQL databases are copies of one migrated and seeded template database (a file copy,
a few tens of milliseconds), so each test still starts from a fresh store.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from relational_support import DEMO_CHANNELS, GATEWAY, ROLE_USERS, T0_S, password, seeded_sqlite_url

from wardlink.hub.db import make_session, open_engine, session_scope, upgrade
from wardlink.hub.db.models import WorkOrder
from wardlink.hub.seed import seed_demo_site
from wardlink.hub.services.people import org
from wardlink.hub.services.people import users
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance.attachments import AttachmentStore
from wardlink.hub.services.maintenance.workorder_flow import RESOLUTIONS_BY_KIND, TRANSITIONS, Transition
from wardlink.clock import ManualClock

_PG_TEMPLATE = "wardlink_workorders_template"
_names = itertools.count(1)


@dataclass
class PgTemplate:
    """The seeded PostgreSQL template and its users' passwords."""

    name: str
    passwords: dict[str, str] = field(default_factory=dict)


def _seed_postgres(server) -> PgTemplate:
    server.create_database(_PG_TEMPLATE)
    url = server.sqlalchemy_url(_PG_TEMPLATE)
    upgrade(url)
    engine = open_engine(url)
    clock = ManualClock(T0_S)
    template = PgTemplate(_PG_TEMPLATE)
    try:
        with session_scope(engine) as session:
            seed_demo_site(session, gateway_id=GATEWAY, channels=DEMO_CHANNELS, clock=clock)
            _, template.passwords["admin"] = users.create_first_admin(session, clock=clock)
            departments = {d.code: d.id for d in org.list_departments(session)}
            for name, (role, dept) in ROLE_USERS.items():
                _, template.passwords[name] = users.create_user_with_generated_password(
                    session, username=name, role=role, display_name=name.capitalize(),
                    department_id=departments[dept] if dept else None, actor=None, clock=clock)
    finally:
        engine.dispose()
    return template


#: PostgreSQL server -> its seeded template: one per test process, however many test modules
#: import the fixture (each import makes a session fixture of its own).
_pg_templates: dict[int, PgTemplate] = {}
_pg_templates_lock = threading.Lock()


@pytest.fixture(scope="session")
def pg_workorder_template(postgres_server):
    """A migrated, seeded PostgreSQL database to copy for each test (seeded once per run; the
    server is discarded with the run, and the template with it)."""
    postgres_server.start()
    with _pg_templates_lock:
        template = _pg_templates.get(id(postgres_server))
        if template is None:
            template = _pg_templates[id(postgres_server)] = _seed_postgres(postgres_server)
    return template


@dataclass
class Env:
    """A seeded store, a session on it, a manual clock and the users' passwords."""

    engine: object
    session: object
    clock: ManualClock
    passwords: dict[str, str]
    store: AttachmentStore
    backend: str

    def actor(self, username: str) -> Actor:
        """Return the actor of a seeded user."""
        return Actor.for_user(users.find_user(self.session, username), "192.0.2.20")

    def user_id(self, username: str) -> int:
        """Return the id of a seeded user."""
        return users.find_user(self.session, username).id

    def add_user(self, username: str, role: str) -> Actor:
        """Create another user without a department and return its actor."""
        self.passwords[username] = f"{username}-long-password-1"
        user = users.create_user(self.session, username=username, role=role,
                                 password=self.passwords[username], actor=None, clock=self.clock)
        return Actor.for_user(user, "192.0.2.21")


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request, tmp_path):
    """A fresh seeded store on SQLite or PostgreSQL, with a session the test may commit."""
    if request.param == "sqlite":
        url = seeded_sqlite_url(tmp_path)
        passwords = {name: password(name) for name in ("admin", *ROLE_USERS)}
        drop = None
    else:
        template = request.getfixturevalue("pg_workorder_template")
        server = request.getfixturevalue("postgres_server")
        name = server.create_database(f"wo_{next(_names):05d}", template=template.name)
        url, passwords = server.sqlalchemy_url(name), template.passwords
        drop = (server, name)
    engine = open_engine(url)
    session = make_session(engine)
    try:
        yield Env(engine, session, ManualClock(T0_S + 3600), dict(passwords),
                  AttachmentStore(Path(tmp_path) / "attachments"), request.param)
    finally:
        session.close()
        engine.dispose()
        if drop is not None:
            drop[0].drop_database(drop[1])


# ------------------------------------------------------------------ walking the state machine


def open_order(env: Env, *, kind: str = "corrective", priority: str = "medium",
               asset_tag: str | None = "VF-0001") -> WorkOrder:
    """Open an order requested by the ICU nurse (so staff can see it) on an ICU asset."""
    if kind == "corrective":
        return workorders.request_work(env.session, {"title": "Fridge alarm sounding", "asset_tag": asset_tag,
                                                     "priority": priority},
                                       actor=env.actor("nurse"), clock=env.clock)
    return workorders.create_work_order(env.session, {"kind": kind, "title": f"{kind} job",
                                                      "asset_tag": asset_tag, "priority": priority},
                                        actor=env.actor("manager"), clock=env.clock)


def actor_for(step: Transition, assignee: str = "tech") -> str:
    """Return who makes ``step`` in the tests: the assignee for assignee-only steps, else the manager."""
    return assignee if step.assignee_only else "manager"


def payload_for(env: Env, step: Transition, order: WorkOrder, signer: str, assignee: str = "tech") -> dict:
    """Return the inputs ``step`` needs, made up for the test."""
    values = {
        "assignee_id": lambda: env.user_id(assignee),
        "reason": lambda: f"Reason to {step.verb}: waiting on a spare compressor relay",
        "resolution_category": lambda: RESOLUTIONS_BY_KIND[order.kind][0],
        "password": lambda: env.passwords[signer],
    }
    return {name: values[name]() for name in step.needs}


def path_to(state: str) -> list[Transition]:
    """Return the shortest list of transitions from pending to ``state`` (from the table)."""
    queue: deque[tuple[str, list[Transition]]] = deque([("pending", [])])
    seen = {"pending"}
    while queue:
        current, steps = queue.popleft()
        if current == state:
            return steps
        for step in TRANSITIONS:
            if step.source == current and step.target not in seen:
                seen.add(step.target)
                queue.append((step.target, [*steps, step]))
    raise AssertionError(f"state {state} cannot be reached from pending")


def apply(env: Env, order: WorkOrder, step: Transition, assignee: str = "tech") -> WorkOrder:
    """Make ``step`` on ``order`` as the usual actor with made-up inputs."""
    who = actor_for(step, assignee)
    return workorders.transition(env.session, order.id, step.target,
                                 payload_for(env, step, order, who, assignee), actor=env.actor(who),
                                 clock=env.clock)


def bring_to(env: Env, state: str, *, assignee: str = "tech", **kwargs) -> WorkOrder:
    """Open an order and walk it to ``state``."""
    order = open_order(env, **kwargs)
    for step in path_to(state):
        apply(env, order, step, assignee)
    assert order.state == state
    return order
