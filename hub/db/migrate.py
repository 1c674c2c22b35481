"""Run the Alembic migrations shipped inside this package, without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from wardlink.hub.db.engine import open_engine
from wardlink.hub.errors import StoreError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine | None = None) -> Config:
    """Return an Alembic config for the packaged scripts, bound to ``engine`` if given."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The engine travels as an attribute, not as a URL option, so a password containing '%'
    # never meets configparser interpolation.
    cfg.attributes["engine"] = engine
    return cfg


def _run(url: str | Engine, action, *args) -> None:
    engine = url if isinstance(url, Engine) else open_engine(url)
    try:
        action(alembic_config(engine), *args)
    finally:
        if engine is not url:
            engine.dispose()


def upgrade(url: str | Engine, revision: str = "head") -> None:
    """Migrate the database at ``url`` (or an engine) up to ``revision``."""
    _run(url, command.upgrade, revision)


def downgrade(url: str | Engine, revision: str) -> None:
    """Migrate the database at ``url`` (or an engine) down to ``revision`` ('base' = empty)."""
    _run(url, command.downgrade, revision)


def head_revision() -> str:
    """Return the newest revision shipped with this version."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None when it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_current(engine: Engine) -> None:
    """Raise :class:`StoreError` unless the database is at the newest revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise StoreError(f"the database is {state} but this version needs {head}; "
                         "run 'wardlink db upgrade' first")


def _down(down: str | tuple[str, ...] | None) -> set[str]:
    """Return the revisions one revision follows (two or more for a merge, none for the first)."""
    return set() if down is None else {down} if isinstance(down, str) else set(down)


def revisions() -> list[tuple[str, str]]:
    """Return (revision id, first paragraph of its message on one line) for every shipped
    revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    revs = {rev.revision: rev for rev in script.walk_revisions()}
    parents = {rid: _down(rev.down_revision) for rid, rev in revs.items()}
    out: list[tuple[str, str]] = []
    while parents:
        # Oldest first; where two branches met (a merge revision), the lower id comes first.
        ready = min(rid for rid, waiting in parents.items() if not waiting)
        out.append((ready, " ".join((revs[ready].doc or "").strip().split("\n\n")[0].split())))
        del parents[ready]
        for waiting in parents.values():
            waiting.discard(ready)
    return out
