"""``wardlink db``: create or migrate the relational store and say which schema it is at."""

from __future__ import annotations

from wardlink.cli import add_command, add_group
from wardlink.hub.cli_common import hub_config as _config
from wardlink.hub.config import mask_secrets


def cmd_db_upgrade(args) -> int:
    """Create or migrate the relational store to the newest schema."""
    from wardlink.hub.db import upgrade

    config = _config(args)
    upgrade(config.resolved_database_url)
    print(f"database at {mask_secrets(config.resolved_database_url)} is at the newest schema")
    return 0


def cmd_db_current(args) -> int:
    """Print the revision the database is at and whether it is the newest; exit 1 when it is not."""
    from wardlink.hub.db import current_revision, head_revision, open_engine, revisions

    config = _config(args)
    engine = open_engine(config.resolved_database_url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    where = f"database at {mask_secrets(config.resolved_database_url)}"
    messages = dict(revisions())
    if current == head:
        print(f"{where} is at {current} (head): {messages.get(current, '')}")
        return 0
    if current is None:
        print(f"{where} is empty (never migrated); the newest revision is {head}; run 'wardlink db upgrade'")
    elif current not in messages:
        print(f"{where} is at {current}, a revision this version does not know (a newer version migrated it?); "
              f"the newest revision here is {head}")
    else:
        behind = [rev for rev, _ in revisions()]
        count = len(behind) - 1 - behind.index(current)
        print(f"{where} is at {current}, {count} {'revision' if count == 1 else 'revisions'} behind the head {head}; "
              "run 'wardlink db upgrade'")
    return 1


def cmd_db_history(args) -> int:
    """Print every revision this version ships, oldest first, with its message."""
    from wardlink.hub.db import head_revision, revisions

    head = head_revision()
    for rev, message in revisions():
        print(f"{rev}{' (head)' if rev == head else ''}  {message}")
    return 0


def add_db_commands(sub) -> None:
    """Add ``wardlink db upgrade|current|history``."""
    db_sub = add_group(sub, "db", "relational store maintenance",
                       "Manage the relational store (SQLite or PostgreSQL).")
    add_command(db_sub, "upgrade", cmd_db_upgrade, "create or migrate the database to the newest schema",
                "Run the Alembic migrations up to the newest revision. Alembic's own progress lines "
                "show with --verbose.")
    add_command(db_sub, "current", cmd_db_current, "say which revision the database is at and whether it is the newest",
                "Print the database's schema revision and whether it is the newest this version ships "
                "(the head); exit 1 when it is not, so scripts can check before starting the services.")
    add_command(db_sub, "history", cmd_db_history, "list the schema revisions this version ships",
                "Print every schema revision this version ships, oldest first: its id and what it "
                "changed. Needs no database.")
