"""What the modules of the ``wardlink`` command share: the configuration and a database session."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator


def hub_config(args):
    """Return the hub configuration of ``--config`` (or ``$WARDLINK_CONFIG``) and the environment."""
    from wardlink.hub.config import load_config
    from wardlink.hub.db.audit_key import use_audit_key

    config = load_config(args.config)
    # Audit rows this command writes are keyed when the hub's audit key exists already.
    use_audit_key(config, create=False)
    return config


@contextmanager
def db_session(args, *, readonly: bool = False) -> Iterator[Any]:
    """Yield one session on the configured relational store; dispose of the engine afterwards."""
    from wardlink.hub.db import open_engine, session_scope

    config = hub_config(args)
    engine = open_engine(config.resolved_database_url)
    try:
        with session_scope(engine, readonly=readonly) as session:
            yield session
    finally:
        engine.dispose()
