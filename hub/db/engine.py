"""Engines and sessions for SQLite (WAL, foreign keys on) and PostgreSQL (psycopg 3).

SQLite allows one writer at a time. A transaction that reads first and writes later can fail
at once with "database is locked" when another writer committed in between, so on SQLite
:func:`session_scope` starts write transactions with ``BEGIN IMMEDIATE`` (take the write lock
up front, waiting up to the busy timeout) and only ``readonly=True`` sessions use a plain
``BEGIN``. PostgreSQL needs none of this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from wardlink.hub.config import mask_secrets
from wardlink.hub.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "wardlink_sqlite_immediate"


def open_engine(url: str, *, echo: bool = False) -> Engine:
    """Return an engine for ``url`` (sqlite:///FILE or postgresql+psycopg://...)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database_url: not a valid SQLAlchemy URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, echo)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, echo=echo, pool_pre_ping=True,
                             connect_args={k: v for k, v in PG_CONNECT_DEFAULTS.items() if k not in parsed.query})
    raise ConfigError(f"database_url: must be sqlite:/// or postgresql+psycopg://, got {backend!r}")


#: libpq settings unless the URL sets its own: give up on a server that does not answer a connect
#: within 10 s, and find a connection whose peer vanished (a network blackhole) within about a
#: minute, instead of waiting on the kernel's two hours while a service's watchdog runs out.
PG_CONNECT_DEFAULTS = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30,
                       "keepalives_interval": 10, "keepalives_count": 3}


def _sqlite_engine(parsed, echo: bool) -> Engine:
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in str(parsed)
    kwargs: dict = {"connect_args": {"check_same_thread": False,
                                     "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    if in_memory:
        kwargs["poolclass"] = StaticPool
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Hand transaction control to the "begin" hook below instead of pysqlite's own guesses.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_sqlite(engine: Engine) -> bool:
    """Return True when ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def responds(session: Session) -> bool:
    """Return True when the database behind ``session`` answers a trivial query (for health
    checks); any failure means False, its reason is for the caller's log."""
    try:
        session.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def _bind(engine: Engine, readonly: bool) -> Engine:
    if is_sqlite(engine) and not readonly:
        return engine.execution_options(**{_IMMEDIATE: True})
    return engine


def make_session(engine: Engine, *, readonly: bool = False) -> Session:
    """Return a new session; the caller commits and closes it."""
    return Session(_bind(engine, readonly), expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine, *, readonly: bool = False) -> Iterator[Session]:
    """Yield a session in a transaction: commit on success, roll back on error, then close."""
    session = make_session(engine, readonly=readonly)
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def database_place(database_url: str | None) -> str:
    """Return how messages name the database at ``database_url``, never with its password:
    ``the database at HOST:PORT``, ``the database on /run/postgresql`` or ``the database FILE``."""
    if not database_url:
        return "the database"
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError):  # unparsable: name it as written, without a password
        return f"the database at {mask_secrets(database_url)}"
    if url.get_backend_name() == "sqlite":
        return f"the database {url.database}"
    if not url.host:
        return "the database on the local socket"
    return f"the database at {url.host}:{url.port or 5432}"


def failure_reason(exc: BaseException) -> str:
    """Return the driver's reason for a failed database call in a few words on one line.

    psycopg's ``connection failed: connection to server at "h", port 5432 failed: Connection
    refused`` (and SQLAlchemy's wrapping of it) becomes ``connection refused``.
    """
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    first = text[0].strip() if text else type(exc).__name__
    reason = first.rsplit("failed: ", 1)[-1].strip()
    return reason[:1].lower() + reason[1:]
