"""Expected failures of the ``wardlink`` command: one line on standard error and an exit code
of their own (docs/deployment.md, "Exit codes"); ``--debug`` or WARDLINK_DEBUG adds the traceback.
Also the database commands: Alembic's progress lines only with --verbose, ``db current`` and
``db history``, and the database password read from its file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from servers import free_port

from wardlink.hub import cli_errors
from wardlink.hub.db import head_revision, revisions

ROOT = Path(__file__).resolve().parents[2]


def wardlink(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``wardlink ARGS`` as a program with only the given WARDLINK_* variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("WARDLINK_")}
    base["PYTHONPATH"] = os.pathsep.join(sys.path)
    return subprocess.run([sys.executable, "-m", "wardlink.hub.cli", *args], env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def error_lines(out: subprocess.CompletedProcess) -> list[str]:
    """Return standard error without the hub's own log lines (timestamped)."""
    return [line for line in out.stderr.splitlines() if not re.match(r"\d{4}-\d\d-\d\d ", line)]


@pytest.fixture
def closed_postgres(tmp_path):
    """Settings naming a PostgreSQL server on a port where nothing listens, with a password."""
    port = free_port()
    return port, {"WARDLINK_DATA_DIR": str(tmp_path), "WARDLINK_MQTT_URL": "mqtt://127.0.0.1:1",
                  "WARDLINK_DATABASE_URL": f"postgresql+psycopg://wardlink:s3cret-pw@127.0.0.1:{port}/wardlink"}


@pytest.mark.parametrize("words", [("db", "upgrade"), ("db", "current"), ("admin", "create-user", "alice"),
                                   ("hub", "web", "--port", "0")])
def test_an_unreachable_database_is_one_line_and_exit_3(closed_postgres, words):
    port, env = closed_postgres
    out = wardlink(*words, env=env)
    assert out.returncode == cli_errors.EXIT_UNAVAILABLE == 3, out.stderr
    assert error_lines(out) == [f"wardlink: cannot reach the database at 127.0.0.1:{port}: connection refused"]
    assert "Traceback" not in out.stderr and "s3cret-pw" not in out.stderr + out.stdout


def test_debug_adds_the_traceback_and_keeps_the_exit_code(closed_postgres):
    port, env = closed_postgres
    for debug_env, flags in (({"WARDLINK_DEBUG": "1"}, ()), ({}, ("--debug",))):
        out = wardlink(*flags, "db", "upgrade", env={**env, **debug_env})
        assert out.returncode == 3
        assert "Traceback (most recent call last)" in out.stderr and "OperationalError" in out.stderr
        assert out.stderr.rstrip().splitlines()[-1] == \
            f"wardlink: cannot reach the database at 127.0.0.1:{port}: connection refused"


def test_bad_settings_missing_files_and_denied_access_have_codes_of_their_own(tmp_path):
    env = {"WARDLINK_DATA_DIR": str(tmp_path)}
    typo = wardlink("config", "show", env={**env, "WARDLINK_DATABSE_URL": "sqlite:///x.db"})
    assert (typo.returncode, error_lines(typo)) == (cli_errors.EXIT_USAGE, [
        "wardlink: WARDLINK_DATABSE_URL: unknown environment variable; did you mean WARDLINK_DATABASE_URL?"])
    absent = tmp_path / "absent.json"
    missing = wardlink("protocol", "check", "wardlink/v1/gw-a/telemetry", str(absent), env=env)
    assert (missing.returncode, error_lines(missing)) == (cli_errors.EXIT_NO_FILE,
                                                          [f"wardlink: no such file or directory: {absent}"])
    assert wardlink("db", "upgrade", env=env).returncode == 0
    # the kernel refuses writes to this file whoever asks, root included
    denied = wardlink("audit", "head", "--append", "/proc/sys/kernel/version", env=env)
    assert (denied.returncode, error_lines(denied)) == (cli_errors.EXIT_PERMISSION,
                                                        ["wardlink: permission denied: /proc/sys/kernel/version"])
    codes = [cli_errors.EXIT_FAILURE, cli_errors.EXIT_USAGE, cli_errors.EXIT_UNAVAILABLE, cli_errors.EXIT_NO_FILE,
             cli_errors.EXIT_PERMISSION, cli_errors.EXIT_OS]
    assert len(set(codes)) == len(codes)


def test_the_exit_codes_are_documented():
    text = (ROOT / "docs" / "deployment.md").read_text()
    for name in ("EXIT_FAILURE", "EXIT_USAGE", "EXIT_UNAVAILABLE", "EXIT_NO_FILE", "EXIT_PERMISSION", "EXIT_OS"):
        assert f"\n| {getattr(cli_errors, name)} |" in text, f"docs/deployment.md lacks exit code {name}"


def test_alembic_speaks_only_with_verbose_and_db_current_says_where_the_schema_is(tmp_path):
    env = {"WARDLINK_DATA_DIR": str(tmp_path)}
    empty = wardlink("db", "current", env=env)
    assert empty.returncode == 1 and "is empty (never migrated)" in empty.stdout
    assert f"the newest revision is {head_revision()}; run 'wardlink db upgrade'" in empty.stdout
    first = revisions()[0][0]
    wardlink_verbose = wardlink("--verbose", "db", "upgrade", env=env)  # noisy, on request
    assert wardlink_verbose.returncode == 0 and "Running upgrade  -> " + first in wardlink_verbose.stderr
    env2 = {"WARDLINK_DATA_DIR": str(tmp_path / "quiet")}
    quiet = wardlink("db", "upgrade", env=env2)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.strip().endswith("is at the newest schema")
    now = wardlink("db", "current", env=env2)
    assert now.returncode == 0 and f"is at {head_revision()} (head)" in now.stdout


def test_db_current_counts_the_revisions_behind(tmp_path):
    from wardlink.hub.db import upgrade

    ids = [rev for rev, _ in revisions()]
    upgrade(f"sqlite:///{tmp_path / 'wardlink.db'}", ids[-3])
    out = wardlink("db", "current", env={"WARDLINK_DATA_DIR": str(tmp_path)})
    assert out.returncode == 1
    assert f"is at {ids[-3]}, 2 revisions behind the head {ids[-1]}; run 'wardlink db upgrade'" in out.stdout


def test_db_history_lists_every_revision_oldest_first_without_a_database(tmp_path):
    out = wardlink("db", "history", env={"WARDLINK_DATABASE_URL": f"postgresql://x@127.0.0.1:{free_port()}/x"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    files = sorted((ROOT / "hub" / "db" / "migrations" / "versions").glob("0*.py"))
    ids = [re.search(r"""^revision(?:: str)? = ["']([^"']+)["']""", p.read_text(), re.M).group(1) for p in files]
    assert [line.split()[0] for line in lines] == ids
    assert lines[-1].startswith(f"{ids[-1]} (head)  ") and all(len(line.split("  ", 1)[1]) > 5 for line in lines)


def test_the_password_file_reaches_postgresql_and_never_the_output(postgres_db, tmp_path):
    from sqlalchemy import text

    from wardlink.hub.config import load_config
    from wardlink.hub.db import open_engine

    secret = tmp_path / "db.pw"
    secret.write_text("file-only-pw\n")
    secret.chmod(0o600)
    env = {"WARDLINK_DATA_DIR": str(tmp_path), "WARDLINK_DATABASE_URL": postgres_db.url,
           "WARDLINK_DATABASE_PASSWORD_FILE": str(secret)}
    done = wardlink("db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr
    shown = wardlink("config", "show", env=env)
    assert shown.returncode == 0 and f'database_password_file = "{secret}"' in shown.stdout
    for out in (done, shown):
        assert "file-only-pw" not in out.stdout + out.stderr
    engine = open_engine(load_config(environ=env).resolved_database_url)
    try:
        with engine.connect() as conn:
            # the password the driver sent to the server (this test cluster trusts every login)
            assert conn.connection.dbapi_connection.info.password == "file-only-pw"
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
        assert "file-only-pw" not in repr(engine.url) + str(engine.url)
    finally:
        engine.dispose()


def test_config_show_masks_the_password_of_a_url(tmp_path):
    env = {"WARDLINK_DATA_DIR": str(tmp_path), "WARDLINK_DATABASE_URL": "postgresql://wardlink:hunter2@db/wardlink",
           "WARDLINK_MQTT_URL": "mqtt://hub:pw-in-url@broker:1883"}
    out = wardlink("config", "show", env=env)
    assert out.returncode == 0, out.stderr
    assert 'database_url = "postgresql://wardlink:***@db/wardlink"' in out.stdout
    assert 'mqtt_url = "mqtt://hub:***@broker:1883"' in out.stdout
    assert "hunter2" not in out.stdout and "pw-in-url" not in out.stdout
