"""``wardlink backup`` and ``wardlink restore``: the whole hub in one archive, and back."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from wardlink.cli import add_command


def _config_path(args) -> Path | None:
    name = args.config or os.environ.get("WARDLINK_CONFIG")
    return Path(name) if name else None


def _progress(command: str):
    def say(line: str) -> None:
        print(f"wardlink {command}: {line}", file=sys.stderr, flush=True)

    return say


def cmd_backup(args) -> int:
    """Write one archive of the stores, the configuration and the secrets."""
    from wardlink.hub.config import load_config
    from wardlink.hub.services.operations.backup import make_backup

    config = load_config(args.config)
    result = make_backup(config, config_path=_config_path(args), out=Path(args.out), progress=_progress("backup"))
    names = ", ".join(part.name for part in result.manifest.parts)
    print(f"wrote {result.path} ({result.size} bytes, schema {result.manifest.alembic_revision}): {names}")
    return 0


def cmd_restore(args) -> int:
    """Restore an archive, migrate the database if it is older, and verify the audit chain."""
    from wardlink.hub.services.operations.restore import restore_backup

    result = restore_backup(Path(args.archive), config_path=_config_path(args), force=args.force,
                            progress=_progress("restore"))
    manifest = result.manifest
    print(f"restored the backup of {manifest.site!r} made {manifest.created_at} by wardlink "
          f"{manifest.wardlink_version} (schema {manifest.alembic_revision})")
    for line in result.restored:
        print(f"  restored {line}")
    for line in result.skipped:
        print(f"  left alone {line}")
    if result.upgraded_from:
        print(f"database upgraded from schema {result.upgraded_from} to the newest")
    audit = result.audit
    assert audit is not None  # restore_backup always verifies
    if audit.intact:
        keyed = f"keyed from row {audit.keyed_from}" if audit.keyed_from else "not keyed (no audit key yet)"
        print(f"audit trail intact: {audit.rows} rows, {keyed}, append-only triggers in place")
        return 0
    for problem in audit.problems:
        print(f"audit trail BROKEN: {problem}", file=sys.stderr)
    return 1


def add_backup_commands(sub) -> None:
    """Add ``wardlink backup`` and ``wardlink restore``."""
    p = add_command(
        sub, "backup", cmd_backup, "write one archive of the stores, configuration and secrets",
        "Write one .tar.gz archive (mode 0600) holding the relational store (SQLite online backup or "
        "pg_dump), the telemetry (its SQLite file or InfluxDB's portable backup), the configuration "
        "file, every file a *_file setting names (session key, audit key, passwords) and the "
        "backup_paths (broker CA, dynamic-security file), with a manifest of versions and SHA-256 "
        "checksums. The archive holds secrets: keep it encrypted and off this machine.")
    p.add_argument("--out", default=".", metavar="PATH",
                   help="archive to write, or a directory for a dated name in it (default: the current directory)")
    p = add_command(
        sub, "restore", cmd_restore, "restore a backup archive and verify the audit chain",
        "Check the archive's checksums (an altered or truncated one is refused, nothing written), "
        "write the configuration file when --config names one that does not exist, restore every "
        "part to where the configuration says, migrate the database if its schema is older, and "
        "verify the audit chain; exit 1 when it does not verify. Stop the hub services first.")
    p.add_argument("archive", help="archive written by 'wardlink backup'")
    p.add_argument("--force", action="store_true",
                   help="replace a database, telemetry or files that already hold data (default: refuse)")
