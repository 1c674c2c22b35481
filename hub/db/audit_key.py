"""The audit chain's key: a secret kept outside the database (see :mod:`wardlink.hub.db.audit`).

``audit_key_file`` names it; by default it is ``<data_dir>/audit_key``, generated with mode
0600 the first time a hub service (web, ingest, scheduler) starts. Every hub process that
writes to the same database must read the same key file; keep a copy with the backups of
the secrets, not with the database's. Losing it leaves the rows written under it
unverifiable; a key that does not match is refused rather than used.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from sqlalchemy import Engine

from wardlink.hub.config import HubConfig
from wardlink.hub.db import audit as chain
from wardlink.hub.db.engine import session_scope
from wardlink.hub.errors import ConfigError

log = logging.getLogger(__name__)
#: Shortest key accepted, in bytes of text (the generated one is 64 hex digits).
MIN_KEY_BYTES = 32


def key_path(config: HubConfig) -> Path:
    """Return where the audit key lives for ``config``."""
    return Path(config.audit_key_file) if config.audit_key_file else Path(config.data_dir) / "audit_key"


def load_audit_key(config: HubConfig, *, create: bool) -> bytes | None:
    """Return the audit key; with ``create``, generate it (mode 0600) when the default file is
    missing. Without ``create`` a missing default file gives None; a configured
    ``audit_key_file`` that cannot be read is always an error."""
    path = key_path(config)
    if not path.exists():
        if config.audit_key_file:
            raise ConfigError(f"audit_key_file: {path} does not exist")
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process of this hub generated it first: use theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
            log.info("generated a new audit chain key in %s; back it up with the other secrets", path)
    try:
        mode = path.stat().st_mode
        key = path.read_text().strip().encode()
    except OSError as exc:
        raise ConfigError(f"audit_key_file: cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is accessible to other users (mode %o); run: chmod 600 %s", path, stat.S_IMODE(mode), path)
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"audit_key_file: {path} must hold at least {MIN_KEY_BYTES} bytes of random text")
    return key


def use_audit_key(config: HubConfig, engine: Engine | None = None, *, create: bool = True) -> bytes | None:
    """Load the audit key and key this process's audit rows in ``config``'s database with it.

    With ``engine`` (a service starting), also record at once that the chain is keyed from
    its next row, so the keyed start never waits for the first change.
    """
    key = load_audit_key(config, create=create)
    if key is None:
        return None
    chain.register_key(config.resolved_database_url, key)
    if engine is not None:
        with session_scope(engine) as session:
            chain.ensure_keyed(session)
    return key
