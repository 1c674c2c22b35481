"""The hub's relational store: SQLAlchemy models, engines and sessions, Alembic migrations."""

from wardlink.hub.db.base import Base
from wardlink.hub.db.engine import is_sqlite, make_session, open_engine, session_scope
from wardlink.hub.db.migrate import check_current, current_revision, downgrade, head_revision, revisions, upgrade

__all__ = [
    "Base", "check_current", "current_revision", "downgrade", "head_revision", "is_sqlite",
    "make_session", "open_engine", "revisions", "session_scope", "upgrade",
]

# The change counters are kept by every session of every hub process (see wardlink.hub.db.stamps).
import wardlink.hub.db.stamps  # noqa: F401
