"""Project-wide pytest fixtures: real Mosquitto, influxd, PostgreSQL, OpenLDAP and SMTP servers.

Every server listens on a free port of 127.0.0.1 and keeps its files in a pytest temp dir, so
system instances on the default ports are never touched. A missing server binary skips the test
(naming the package to install), or fails it when the environment variable ``CI`` is true.
When a test fails, the tail of each server log it used is attached to the report.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import weakref
from pathlib import Path

import pytest

# Under pytest's default "prepend" import mode this directory is on sys.path already; this
# line keeps `servers` importable under other import modes too.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

import servers
from servers import (
    InfluxDatabase,
    InfluxServer,
    MosquittoServer,
    PostgresDatabase,
    PostgresServer,
    ServerNotFound,
    SlapdServer,
    SmtpSink,
    _ProcessServer,
)

TESTS_DIR = Path(__file__).parent
_db_counter = itertools.count(1)


def in_ci() -> bool:
    """Return True when running under CI (env CI=true/1/yes)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _missing(exc: ServerNotFound):
    message = f"{exc} (needed by this test)"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _build(factory, *args, **kwargs):
    try:
        return factory(*args, **kwargs)
    except ServerNotFound as exc:
        _missing(exc)


def _db_name(request) -> str:
    """Return a database name unique in the session that still says which test made it."""
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    return f"t{next(_db_counter):04d}_{slug}"[:63]


def pytest_addoption(parser):
    """Options of the whole suite."""
    parser.addoption("--system-long", action="store_true", default=False,
                     help="run the long variants of tests/system (real-time outages of 10 minutes)")
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run the tests marked slow (the three-minute soak); left out by default "
                          "to keep a whole run under 40 minutes")


def pytest_collection_modifyitems(config, items):
    """Leave out the tests marked ``slow`` unless ``--slow`` asks for them (or ``-m`` names them)."""
    if config.getoption("--slow") or "slow" in (config.getoption("-m") or ""):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


# --------------------------------------------------------------------------- artifacts

@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Directory for screenshots and other test output kept after the run."""
    path = Path(os.environ.get("WARDLINK_TEST_ARTIFACTS") or TESTS_DIR / "_artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- Mosquitto

@pytest.fixture
def mosquitto(tmp_path_factory):
    """A fresh Mosquitto broker for this test (MosquittoServer: host, port, url, stop/start/kill)."""
    server = _build(MosquittoServer, tmp_path_factory.mktemp("mosquitto"))
    try:
        yield server.start()
    finally:
        server.close()


class MosquittoFactory:
    """Callable that starts extra brokers with their own settings; remembers them in `servers`."""

    def __init__(self, tmp_path_factory):
        self._tmp = tmp_path_factory
        self.servers: list[MosquittoServer] = []

    def __call__(self, **kwargs) -> MosquittoServer:
        """Start a broker; kwargs go to MosquittoServer (users=, acl=, extra_config=, port=)."""
        server = _build(MosquittoServer, self._tmp.mktemp("mosquitto"), **kwargs)
        self.servers.append(server)
        return server.start()

    def close(self) -> None:
        """Stop every broker made here."""
        for server in self.servers:
            server.close()


@pytest.fixture
def mosquitto_factory(tmp_path_factory):
    """Make extra brokers, e.g. ``mosquitto_factory(users={"hub": "pw"}, acl="...")``."""
    factory = MosquittoFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def _mosquitto_session_server(tmp_path_factory):
    server = _build(MosquittoServer, tmp_path_factory.mktemp("mosquitto-session"))
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture
def mosquitto_session(_mosquitto_session_server):
    """The broker shared by the whole session; restarted first if an earlier test stopped it."""
    return _mosquitto_session_server.start()


# --------------------------------------------------------------------------- influxd

@pytest.fixture(scope="session")
def influxd_server(tmp_path_factory):
    """The influxd shared by the session (InfluxServer)."""
    server = _build(InfluxServer, tmp_path_factory.mktemp("influxd"))
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture
def influxd(influxd_server, request):
    """A fresh database on the shared influxd (InfluxDatabase: url, database, query, write,
    points, stop/start/restart/kill of the server)."""
    influxd_server.start()
    name = influxd_server.create_database(_db_name(request))
    yield InfluxDatabase(influxd_server, name)
    # Leave the server up and lean for the next test, even if this one stopped it.
    influxd_server.start()
    influxd_server.drop_database(name)


# --------------------------------------------------------------------------- PostgreSQL

@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """The PostgreSQL cluster shared by the session (PostgresServer)."""
    server = _build(PostgresServer, tmp_path_factory.mktemp("postgres"))
    try:
        try:
            import psycopg
        except ImportError:
            _missing(ServerNotFound("python module psycopg", "pypi:psycopg[binary]"))
        yield server.start()
    finally:
        server.close()


@pytest.fixture
def postgres_db(postgres_server, request):
    """A fresh, empty database (PostgresDatabase: name, url, dsn, connect(), stop/start)."""
    postgres_server.start()
    name = postgres_server.create_database(_db_name(request))
    yield PostgresDatabase(postgres_server, name)
    postgres_server.start()
    postgres_server.drop_database(name)


@pytest.fixture
def postgres_url(postgres_db) -> str:
    """SQLAlchemy URL of a fresh database: postgresql+psycopg://postgres@127.0.0.1:PORT/NAME."""
    return postgres_db.url


# --------------------------------------------------------------------------- SMTP

@pytest.fixture
def smtp_server():
    """An SMTP sink for this test (SmtpSink: host, port, messages, wait_for(n, timeout))."""
    sink = _build(SmtpSink)
    try:
        yield sink.start()
    finally:
        sink.stop()


# --------------------------------------------------------------------------- OpenLDAP

@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    """An OpenLDAP slapd for the module's tests (SlapdServer: url, suffix, admin_dn, admin_password, add)."""
    server = _build(SlapdServer, tmp_path_factory.mktemp("slapd"))
    try:
        yield server.start()
    finally:
        server.close()


# --------------------------------------------------------------------------- failure reports

def _servers_of(item) -> list[_ProcessServer]:
    found = []
    for value in getattr(item, "funcargs", {}).values():
        candidates = getattr(value, "servers", None) or [getattr(value, "server", value)]
        for server in candidates:
            if isinstance(server, _ProcessServer) and server not in found:
                found.append(server)
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """Note where the logs of already running (shared) servers stand before this test."""
    marks = weakref.WeakKeyDictionary()
    for server in list(servers._live):
        marks[server] = _log_size(server)
    item.stash[_LOG_MARKS] = marks
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the part of each server log written during a failed test to its report."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    marks = item.stash.get(_LOG_MARKS, {})
    for server in _servers_of(item):
        # Servers made for this test show their whole log, shared ones only this test's part.
        text = _read_from(server, marks.get(server, 0))
        report.sections.append((f"{server.name} log ({server.log_path})", text))


_LOG_MARKS = pytest.StashKey[weakref.WeakKeyDictionary]()


def _log_size(server: _ProcessServer) -> int:
    try:
        return server.log_path.stat().st_size
    except OSError:
        return 0


def _read_from(server: _ProcessServer, offset: int, max_lines: int = 60) -> str:
    try:
        with open(server.log_path, "rb") as fh:
            fh.seek(offset)
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError as exc:
        return f"(unreadable: {exc})"
    if len(lines) > max_lines:
        lines = [f"... {len(lines) - max_lines} earlier lines omitted"] + lines[-max_lines:]
    return "\n".join(lines) or "(nothing logged during the test)"
