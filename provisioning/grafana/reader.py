"""The PostgreSQL role Grafana logs in with: it may read the ``reporting`` views and nothing else.

The views (created by the hub's migrations, schema ``reporting``) hold what the dashboards show
and no users, password hashes, sessions, API tokens, secrets or e-mail addresses. Run
:func:`grant_reader` as the role that owns the hub's tables and runs its migrations: it also
sets that role's default privileges in the schema, so views added by later migrations are
readable without running it again. Any role that may grant them can run it (the hub's
login or a PostgreSQL administrator): the default privileges are set for the schema's owner,
the login that runs the migrations.
"""

from __future__ import annotations

import re

from wardlink.provisioning.errors import ProvisioningError, SettingError

SCHEMA = "reporting"
_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _statements(role: str, database: str, owner: str) -> list[str]:
    return [
        # Undo the grants older instructions gave (every table of the hub).
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {role}",
        f"GRANT CONNECT ON DATABASE {database} TO {role}",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {role}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {role}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {SCHEMA} GRANT SELECT ON TABLES TO {role}",
    ]


def grant_reader(url: str, role: str) -> list[str]:
    """Let PostgreSQL role ``role`` read the reporting views of the hub database at ``url`` and
    nothing else; return the views it can read. Raise :class:`SettingError` for a role that
    does not exist or would bypass the grants, or a database that is not PostgreSQL or lacks
    the views."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    if not _ROLE.fullmatch(role):
        raise SettingError(f"role: a PostgreSQL role name of letters, digits and _ (up to 63), got {role!r}")
    if make_url(url).get_backend_name() != "postgresql":
        raise SettingError("database_url: the Grafana reader role needs the hub's store on PostgreSQL")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            found = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
            if found is None:
                raise SettingError(f"role {role!r} does not exist; create it first: "
                                   f"CREATE ROLE {role} LOGIN PASSWORD '...'")
            owner = conn.execute(text("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = :s"),
                                 {"s": SCHEMA}).scalar()
            if found[0] or role in (owner, conn.execute(text("SELECT current_user")).scalar()):
                raise SettingError(f"role {role!r} is a superuser or owns the hub's tables, so grants cannot "
                                   "limit what it reads; create a role of its own for Grafana")
            views = conn.execute(text("SELECT table_name FROM information_schema.views WHERE table_schema = :s "
                                      "ORDER BY 1"), {"s": SCHEMA}).scalars().all()
            if owner is None or not views:
                raise SettingError(f"the database has no {SCHEMA} views yet; run 'wardlink db upgrade' first")
            quote = engine.dialect.identifier_preparer.quote
            database = conn.execute(text("SELECT current_database()")).scalar()
            for statement in _statements(quote(role), quote(str(database)), str(owner)):
                conn.execute(text(statement))
    except SQLAlchemyError as exc:
        raise ProvisioningError(f"database: {exc.orig or exc}".splitlines()[0]) from None
    finally:
        engine.dispose()
    return [f"{SCHEMA}.{name}" for name in views]
