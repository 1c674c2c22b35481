"""``wardlink backup``: everything a hub needs to come back, in one archive.

The archive holds the relational store (SQLite's online backup, or ``pg_dump`` in its custom
format), the telemetry store (the SQLite file the same way, or InfluxDB's portable backup),
the configuration file, every file a ``*_file`` setting names (the session key, the audit
chain's key, passwords and tokens, the rules file, the broker CA certificate) and the paths
of ``backup_paths`` (the broker's CA directory, its dynamic-security file, ...). The audit
chain is keyed with a key kept outside the database, so the key travels with it: a restored
chain verifies only with the key it was written under.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

import wardlink
from wardlink.hub.config import FIELDS, HubConfig
from wardlink.hub.db import current_revision, open_engine
from wardlink.hub.db.audit_key import key_path
from wardlink.hub.services.operations import stores
from wardlink.hub.services.operations.archive import BackupError, Manifest, Part, write_archive

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BackupResult:
    """What :func:`make_backup` wrote."""

    path: Path
    manifest: Manifest
    size: int


def setting_path(config: HubConfig, setting: str) -> Path | None:
    """Return the file a ``*_file`` setting names in ``config``, with the defaults of the two
    keys the hub generates (``secret_key_file``, ``audit_key_file``); None when unset."""
    if setting == "secret_key_file":
        return config.resolved_secret_key_path
    if setting == "audit_key_file":
        return key_path(config)
    value = getattr(config, setting)
    return Path(value) if value else None


def file_settings() -> list[str]:
    """Return the settings that name a file, in the configuration's order."""
    return [name for name in FIELDS if name.endswith("_file")]


def output_path(out: Path, now: datetime) -> Path:
    """Return the archive to write: ``out``, or a dated name inside ``out`` when it is a directory."""
    if out.is_dir():
        out = out / f"wardlink-backup-{now.strftime('%Y%m%dT%H%M%SZ')}.tar.gz"
    if out.exists():
        raise BackupError(f"{out} exists; choose another name (an archive is never overwritten)")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent}: no such directory")
    return out


def make_backup(config: HubConfig, *, config_path: Path | None, out: Path, progress: Progress,
                now: datetime | None = None) -> BackupResult:
    """Write the archive of ``config``'s hub to ``out`` (a file, or a directory for a dated
    name); say what is being saved through ``progress``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    out = output_path(out, now)
    relational = stores.backend_of(config.resolved_database_url)
    # Staged beside the archive: same file system, and the dumps may be larger than /tmp.
    staging = Path(tempfile.mkdtemp(prefix=".wardlink-backup-", dir=out.parent))
    try:
        parts: list[Part] = []
        revision = _relational(config, staging, parts, progress)
        _telemetry(config, staging, parts, progress)
        if config_path is not None:
            _file_part(parts, staging, "config", config_path, "config")
        _setting_files(config, staging, parts, progress)
        _data_dir_files(config, staging, parts, progress)
        _extra_paths(config, staging, parts, progress)
        manifest = Manifest(wardlink_version=wardlink.__version__, alembic_revision=revision,
                            created_at=now.isoformat(timespec="seconds"), site=config.site_name,
                            relational=relational, telemetry=config.telemetry, parts=parts)
        progress(f"writing {out}")
        write_archive(staging, manifest, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BackupResult(out, manifest, out.stat().st_size)


def _relational(config: HubConfig, staging: Path, parts: list[Part], progress: Progress) -> str | None:
    url = config.resolved_database_url
    engine = open_engine(url)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    if revision is None:
        raise BackupError(f"the database at {stores.masked(url)} was never migrated; nothing to back up")
    progress(f"relational store: {stores.masked(url)} (schema {revision})")
    fmt, name = stores.dump_relational(url, staging / "relational")
    extra = _sqlite_owner(stores.sqlite_file(url), name) if fmt == "sqlite" else {}
    parts.append(Part("relational", fmt, stores.masked(url), [name], root="relational", extra=extra))
    return revision


def _telemetry(config: HubConfig, staging: Path, parts: list[Part], progress: Progress) -> None:
    if config.telemetry == "influxdb":
        progress(f"telemetry: InfluxDB database {config.influx_database!r} "
                 f"(portable backup through {config.resolved_influx_rpc_address})")
        folder = staging / "telemetry"
        stores.influx_backup(config, folder)
        members = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        parts.append(Part("telemetry", "influx-portable", config.influx_url, members, root="telemetry",
                          extra={"database": config.influx_database}))
        return
    path = config.resolved_telemetry_path
    if not path.exists():
        progress(f"telemetry: {path} does not exist yet; nothing to save")
        return
    progress(f"telemetry: {path}")
    (staging / "telemetry").mkdir()
    stores.sqlite_backup(path, staging / "telemetry" / "telemetry.db")
    parts.append(Part("telemetry", "sqlite", str(path), ["telemetry.db"], root="telemetry",
                      extra=_sqlite_owner(path, "telemetry.db")))


def _sqlite_owner(path: Path, member: str) -> dict[str, object]:
    return {"files": {member: _owner(path)}, "parent": _owner(path.parent)}


def _owner(path: Path) -> dict[str, object]:
    info = path.stat()
    try:
        owner = f"{pwd.getpwuid(info.st_uid).pw_name}:{grp.getgrgid(info.st_gid).gr_name}"
    except KeyError:
        owner = f"{info.st_uid}:{info.st_gid}"
    return {"mode": stat.S_IMODE(info.st_mode), "owner": owner}


def _file_part(parts: list[Part], staging: Path, name: str, path: Path, root: str,
               setting: str | None = None) -> None:
    target = staging / root / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(path, target)
    except OSError as exc:
        raise BackupError(f"{setting or name}: cannot read {path}: {exc.strerror}") from None
    parts.append(Part(name, "file", str(path.resolve()), [path.name], root=root, setting=setting,
                      extra={"files": {path.name: _owner(path)}, "parent": _owner(path.resolve().parent)}))


def _setting_files(config: HubConfig, staging: Path, parts: list[Part], progress: Progress) -> None:
    for setting in file_settings():
        path = setting_path(config, setting)
        if path is None:
            continue
        if not path.exists() and not getattr(config, setting):
            progress(f"{setting}: {path} was not generated yet; nothing to save")
            continue
        _file_part(parts, staging, f"file:{setting}", path, f"files/{setting}", setting)


#: what the hub keeps in its data directory besides the stores and keys, by name there
DATA_DIR_ENTRIES = ("attachments", "web.toml")


def _data_dir_files(config: HubConfig, staging: Path, parts: list[Part], progress: Progress) -> None:
    """Save the uploaded files (asset files, work-order photos) and the web UI's own settings."""
    for entry in DATA_DIR_ENTRIES:
        path = Path(config.data_dir) / entry
        if path.is_dir():
            progress(f"data_dir: {path}/")
            _directory_part(parts, staging, f"data:{entry}", path, f"data/{entry}")
        elif path.is_file():
            _file_part(parts, staging, f"data:{entry}", path, f"data/{entry}")


def _extra_paths(config: HubConfig, staging: Path, parts: list[Part], progress: Progress) -> None:
    for index, path in enumerate(config.resolved_backup_paths):
        root = f"paths/{index}"
        if path.is_file():
            progress(f"backup_paths: {path}")
            _file_part(parts, staging, f"path:{path}", path, root)
            continue
        if not path.is_dir():
            raise BackupError(f"backup_paths: {path} does not exist")
        progress(f"backup_paths: {path}/")
        _directory_part(parts, staging, f"path:{path}", path, root)


def _directory_part(parts: list[Part], staging: Path, name: str, path: Path, root: str) -> None:
    files: dict[str, dict[str, object]] = {}
    for item in sorted(path.rglob("*")):
        if item.is_file() and not item.is_symlink():
            member = item.relative_to(path).as_posix()
            (staging / root / member).parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(item, staging / root / member)
            except OSError as exc:
                raise BackupError(f"{name}: cannot read {item}: {exc.strerror}") from None
            files[member] = _owner(item)
    parts.append(Part(name, "directory", str(path.resolve()), sorted(files), root=root,
                      extra={"files": files, "directory": _owner(path), "parent": _owner(path.resolve().parent)}))


def make_folders(path: Path, meta: dict[str, object]) -> None:
    """Create the folder ``path`` and any missing parents, each with the mode and owner of ``meta``."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir()
        restore_owner(folder, meta or {"mode": 0o700})


def restore_owner(path: Path, meta: dict[str, object]) -> None:
    """Give ``path`` the mode and, when running as root and the names exist, the owner recorded."""
    mode = meta.get("mode")
    if isinstance(mode, int):
        os.chmod(path, mode)
    owner = meta.get("owner")
    if os.geteuid() == 0 and isinstance(owner, str) and ":" in owner:
        user, group = owner.split(":", 1)
        try:
            os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
        except KeyError:
            pass  # no such user or group on this machine: root keeps it
