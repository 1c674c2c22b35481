"""Hub test fixtures: the relational store on SQLite and on PostgreSQL.

Every test that asks for ``relational_url`` (directly or through the ``engine`` and ``web``
fixtures of ``relational_support``) runs once per store. ``--relational=sqlite`` or
``--relational=postgresql`` restricts a run to one of them. Each test gets a fresh copy of
the seeded demo hospital: a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` of a
database seeded once per run on PostgreSQL (a few tens of milliseconds).
"""

from __future__ import annotations

import itertools
import os

import pytest
from relational_support import seeded_postgres_template, seeded_sqlite_url

BACKENDS = ("sqlite", "postgresql")
_copies = itertools.count(1)


def pytest_addoption(parser):
    """Add ``--relational`` to choose the relational store(s) the hub tests run on."""
    parser.addoption("--relational", choices=(*BACKENDS, "both"), default="both",
                     help="relational store for the hub tests: sqlite, postgresql or both (default)")


def selected_backends(config) -> tuple[str, ...]:
    """Return the relational stores this run covers."""
    choice = config.getoption("--relational")
    return BACKENDS if choice == "both" else (choice,)


def pytest_generate_tests(metafunc):
    """Parametrize ``relational_backend`` over the stores chosen on the command line."""
    for name, scope in (("relational_backend", "function"), ("module_relational_backend", "module")):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, selected_backends(metafunc.config), scope=scope)


@pytest.fixture
def relational_backend(request) -> str:
    """The relational store of this test run: "sqlite" or "postgresql"."""
    return request.param


@pytest.fixture(scope="module")
def module_relational_backend(request) -> str:
    """The relational store shared by a module's tests: "sqlite" or "postgresql"."""
    return request.param


@pytest.fixture(scope="session")
def seeded_postgres(postgres_server) -> str:
    """Name of the PostgreSQL database seeded like the SQLite template, built once per run."""
    postgres_server.start()
    return seeded_postgres_template(postgres_server)


def _seeded_copy(backend: str, folder, request):
    if backend == "sqlite":
        yield seeded_sqlite_url(folder)
        return
    server = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("seeded_postgres")
    server.start()
    name = server.create_database(f"hub_{os.getpid()}_{next(_copies):05d}", template=template)
    yield server.sqlalchemy_url(name)
    server.start()
    server.drop_database(name)


@pytest.fixture
def relational_url(relational_backend, tmp_path, request) -> str:
    """URL of a fresh copy of the seeded demo hospital on this test's relational store."""
    yield from _seeded_copy(relational_backend, tmp_path, request)


@pytest.fixture(scope="module")
def module_relational_url(module_relational_backend, tmp_path_factory, request) -> str:
    """URL of a copy of the seeded demo hospital shared by a module's tests, once per store."""
    yield from _seeded_copy(module_relational_backend, tmp_path_factory.mktemp("relational"), request)


@pytest.fixture
def empty_relational_url(relational_backend, tmp_path, request) -> str:
    """URL of a new, empty (never migrated) database on this test's relational store."""
    if relational_backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("postgres_url")
