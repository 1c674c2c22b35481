"""Copying the stores out and back: SQLite's online backup, pg_dump/pg_restore, influxd backup/restore.

The PostgreSQL tools get the connection (and its password) through ``PG*`` environment
variables, never on their command line, where every user of the machine could read it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from wardlink.hub.config import HubConfig
from wardlink.hub.db import open_engine
from wardlink.hub.services.operations.archive import BackupError, ToolFailed

#: URL query options of a PostgreSQL URL and the libpq variables that carry them
_PG_OPTIONS = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
               "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME"}


def masked(url: str) -> str:
    """Return ``url`` with its password hidden, for messages and the manifest."""
    return make_url(url).render_as_string(hide_password=True)


def backend_of(url: str) -> str:
    """Return "sqlite" or "postgresql" for a relational store URL; raise BackupError otherwise."""
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"database_url: backups cover SQLite and PostgreSQL, not {name}")
    return name


def sqlite_file(url: str) -> Path:
    """Return the file of a SQLite URL."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("database_url: an in-memory SQLite database cannot be backed up")
    return Path(database)


def find_program(name: str) -> str:
    """Return the path of ``name``: for PostgreSQL's tools the newest installed version's, else
    the first on PATH; raise BackupError naming the package to install."""
    if name.startswith("pg_"):
        def version(path: Path) -> tuple[int, ...]:
            return tuple(int(n) for n in re.findall(r"\d+", path.parts[-3])) or (0,)

        installed = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=version)
        if installed:
            return str(installed[-1])
    found = shutil.which(name)
    if found:
        return found
    package = "postgresql-client" if name.startswith("pg_") else "influxdb"
    raise BackupError(f"{name} not found: install the {package} package (it must be on PATH)")


def run_program(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    """Run ``cmd``; raise ToolFailed with its last line of error output when it fails."""
    try:
        done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, check=False)
    except OSError as exc:
        raise ToolFailed(f"{what}: cannot run {cmd[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise ToolFailed(f"{what} failed: {reason}")


def pg_environment(url: str) -> dict[str, str]:
    """Return this process's environment with the ``PG*`` variables of ``url`` (password included)."""
    parsed = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    values = {"PGHOST": parsed.host, "PGPORT": parsed.port, "PGUSER": parsed.username,
              "PGPASSWORD": parsed.password, "PGDATABASE": parsed.database}
    for option, variable in _PG_OPTIONS.items():
        value = parsed.query.get(option)
        values[variable] = value if isinstance(value, str) or value is None else value[-1]
    env.update({k: str(v) for k, v in values.items() if v not in (None, "")})
    return env


# ------------------------------------------------------------------ relational store


def dump_relational(url: str, target_dir: Path) -> tuple[str, str]:
    """Write a consistent copy of the relational store into ``target_dir``; return (format, file name)."""
    target_dir.mkdir(parents=True, exist_ok=True)
    if backend_of(url) == "sqlite":
        sqlite_backup(sqlite_file(url), target_dir / "wardlink.db")
        return "sqlite", "wardlink.db"
    run_program([find_program("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                 f"--file={target_dir / 'wardlink.pgdump'}"], f"pg_dump of {masked(url)}", pg_environment(url))
    return "pg_dump", "wardlink.pgdump"


def sqlite_backup(source: Path, target: Path) -> None:
    """Copy the SQLite database ``source`` to ``target`` with SQLite's online backup: a
    consistent snapshot even while the hub writes to it."""
    if not source.is_file():
        raise BackupError(f"{source}: no such SQLite database")
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(target)
            try:
                # One step: a read transaction over the whole file. In WAL mode the hub keeps
                # writing meanwhile; stepping page by page would restart on each of its writes.
                src.backup(dst, pages=-1)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{source}: SQLite backup failed: {exc}") from None


def relational_holds_data(url: str) -> bool:
    """Return True when the database at ``url`` has any table (a missing SQLite file has none)."""
    if backend_of(url) == "sqlite":
        path = sqlite_file(url)
        if not path.exists() or path.stat().st_size == 0:
            return False
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            else:
                sql = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
            return bool(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def restore_relational(url: str, fmt: str, dump: Path, *, replace: bool) -> None:
    """Put the dump back into the database at ``url`` (``replace``: over what it holds)."""
    if fmt == "sqlite":
        place_sqlite_file(dump, sqlite_file(url))
        return
    env = pg_environment(url)
    cmd = [find_program("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
           f"--dbname={env.get('PGDATABASE', '')}"]
    if replace:
        cmd += ["--clean", "--if-exists"]
    run_program([*cmd, str(dump)], f"pg_restore into {masked(url)}", env)


def place_sqlite_file(copy: Path, target: Path) -> None:
    """Put the SQLite file ``copy`` in place as ``target`` (mode 0600), dropping a stale
    write-ahead log of the file it replaces."""
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(target.name + ".restoring")
    shutil.copyfile(copy, incoming)
    os.chmod(incoming, 0o600)
    for stale in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        stale.unlink(missing_ok=True)
    os.replace(incoming, target)


# ------------------------------------------------------------------ telemetry


def check_reachable(address: str, what: str, timeout_s: float = 5.0) -> None:
    """Raise ToolFailed unless a TCP connection to ``address`` (host:port) opens: influxd's
    backup and restore retry a refused connection for minutes before they give up."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s):
            pass
    except ValueError:
        raise BackupError(f"influx_rpc_address: must be host:port, got {address!r}") from None
    except OSError as exc:
        raise ToolFailed(f"{what}: cannot reach InfluxDB's backup service at {address}: "
                         f"{exc.strerror or exc} (influxd's bind-address, see influx_rpc_address)") from None


def influx_backup(config: HubConfig, target_dir: Path) -> None:
    """Write InfluxDB's portable backup of the telemetry database into ``target_dir``."""
    target_dir.mkdir(parents=True, exist_ok=True)
    address = config.resolved_influx_rpc_address
    check_reachable(address, "influxd backup")
    run_program([find_program("influxd"), "backup", "-portable", "-database", config.influx_database,
                 "-host", address, str(target_dir)],
                f"influxd backup of database {config.influx_database!r} at {address}")


def influx_restore(config: HubConfig, source_db: str, backup_dir: Path) -> None:
    """Restore the portable backup in ``backup_dir`` (of database ``source_db``) as the
    configured database, which must not exist."""
    address = config.resolved_influx_rpc_address
    check_reachable(address, "influxd restore")
    run_program([find_program("influxd"), "restore", "-portable", "-db", source_db,
                 "-newdb", config.influx_database, "-host", address, str(backup_dir)],
                f"influxd restore of database {config.influx_database!r} at {address}")
