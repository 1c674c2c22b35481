"""``wardlink restore``: put a backup archive back, then prove the audit chain survived.

Order: unpack and check every checksum (an altered or truncated archive is refused before
anything is written); read the configuration (the one in place, or the archive's when none
is); check every target (a database that holds tables, telemetry that holds points, a file
whose content differs: each refused without ``force``); only then write. Afterwards the
database is migrated when the archive's schema is older than this version's, and the audit
chain is verified with the restored key.
"""

from __future__ import annotations

import errno
import filecmp
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from wardlink.hub.config import HubConfig, load_config
from wardlink.hub.db import audit as chain
from wardlink.hub.db import current_revision, head_revision, open_engine, session_scope, upgrade
from wardlink.hub.db.audit_key import use_audit_key
from wardlink.hub.db.migrate import alembic_config
from wardlink.hub.errors import StoreError
from wardlink.hub.services.operations import stores
from wardlink.hub.services.operations.archive import BackupError, Manifest, Part, read_archive
from wardlink.hub.services.operations.backup import Progress, make_folders, restore_owner, setting_path
from wardlink.hub.telemetry import open_store
from wardlink.hub.telemetry.influx import InfluxStore
from wardlink.hub.telemetry.lineprotocol import quote_ident

Step = Callable[[], None]


@dataclass
class RestoreResult:
    """What :func:`restore_backup` did and what the audit verification found."""

    manifest: Manifest
    config: HubConfig
    restored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    upgraded_from: str | None = None
    audit: chain.ChainCheck | None = None


def restore_backup(archive: Path, *, config_path: Path | None, force: bool, progress: Progress,
                   environ: Mapping[str, str] | None = None) -> RestoreResult:
    """Restore ``archive`` into the places ``config_path``'s configuration names (the archive's
    own configuration is written there first when that file does not exist)."""
    if not archive.is_file():
        raise FileNotFoundError(errno.ENOENT, "no such archive", str(archive))
    work = Path(tempfile.mkdtemp(prefix="wardlink-restore-"))
    try:
        progress(f"checking {archive}")
        manifest = read_archive(archive, work)
        _check_revision(manifest, archive)
        config, config_step = _target_config(manifest, work, config_path, environ)
        result = RestoreResult(manifest, config)
        steps = [] if config_step is None else [config_step]
        if config_step is not None:
            result.restored.append(f"config -> {config_path}")
        if config_step is None:
            result.skipped.append(_config_note(manifest, work, config_path))
        steps += _plan(manifest, config, work, force, result, progress)
        for step in steps:
            step()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _finish(result, progress)
    return result


def _check_revision(manifest: Manifest, archive: Path) -> None:
    revision = manifest.alembic_revision
    if revision is None:
        raise BackupError(f"{archive}: the manifest names no schema revision")
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        raise BackupError(f"{archive}: its database is at schema {revision}, which this version "
                          f"({head_revision()} newest) does not know; restore with the version that wrote it "
                          f"({manifest.wardlink_version}) or newer") from None


def _target_config(manifest: Manifest, work: Path, config_path: Path | None,
                   environ: Mapping[str, str] | None) -> tuple[HubConfig, Step | None]:
    part = manifest.part("config")
    if config_path is None or config_path.exists() or part is None:
        return load_config(config_path, environ=environ), None
    staged = work / part.root / part.members[0]
    config = load_config(staged, environ=environ)

    def write() -> None:
        config_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(staged, config_path)
        restore_owner(config_path, part.extra.get("files", {}).get(part.members[0], {"mode": 0o600}))

    return config, write


def _config_note(manifest: Manifest, work: Path, config_path: Path | None) -> str:
    part = manifest.part("config")
    if part is None:
        return "config: the archive holds no configuration file"
    if config_path is None:
        return "config: no --config (or WARDLINK_CONFIG) named a place for the archive's configuration file"
    same = filecmp.cmp(work / part.root / part.members[0], config_path, shallow=False)
    return f"config: {config_path} kept" + ("" if same else " (the archive's copy differs)")


def _announced(progress: Progress, line: str, step: Step) -> Step:
    def run() -> None:
        progress(line)
        step()

    return run


def _plan(manifest: Manifest, config: HubConfig, work: Path, force: bool, result: RestoreResult,
          progress: Progress) -> list[Step]:
    """Check every target and return the steps that restore the parts; write nothing."""
    steps: list[Step] = []
    for part in manifest.parts:
        staged = work / part.root
        if part.name == "relational":
            where = stores.masked(config.resolved_database_url)
            steps.append(_announced(progress, f"relational store -> {where}",
                                    _relational_step(part, config, staged, force)))
            result.restored.append(f"relational store -> {where}")
        elif part.name == "telemetry":
            where = (f"InfluxDB database {config.influx_database!r}" if part.format == "influx-portable"
                     else str(config.resolved_telemetry_path))
            steps.append(_announced(progress, f"telemetry -> {where}",
                                    _telemetry_step(part, manifest, config, staged, force)))
            result.restored.append(f"telemetry -> {where}")
        elif part.name.startswith("file:") and part.setting:
            target = setting_path(config, part.setting) if hasattr(config, part.setting) else None
            if target is None:
                result.skipped.append(f"{part.setting}: not set in this configuration")
                continue
            steps += _file_steps(part, target, staged, force, result)
        elif part.name.startswith(("path:", "data:")):
            # backup_paths go back where they were; the data directory's entries into this one's
            place = Path(part.source) if part.name.startswith("path:") else \
                Path(config.data_dir) / part.name.removeprefix("data:")
            steps += _file_steps(part, place, staged, force, result)
    return steps


def _relational_step(part: Part, config: HubConfig, staged: Path, force: bool) -> Step:
    url = config.resolved_database_url
    backend = stores.backend_of(url)
    if (part.format == "sqlite") != (backend == "sqlite"):
        raise BackupError(f"the archive holds a {'SQLite' if part.format == 'sqlite' else 'PostgreSQL'} "
                          f"database but database_url here is {backend}; restore into the same kind of store")
    if not force and stores.relational_holds_data(url):
        raise BackupError(f"the database at {stores.masked(url)} is not empty; restore into an empty "
                          "database, or give --force to replace what it holds")
    dump = staged / part.members[0]

    def restore() -> None:
        if part.format == "sqlite":
            _make_parents(stores.sqlite_file(url), part)
        stores.restore_relational(url, part.format, dump, replace=force)
        if part.format == "sqlite":
            restore_owner(stores.sqlite_file(url), part.extra.get("files", {}).get(part.members[0], {}))

    return restore


def _telemetry_step(part: Part, manifest: Manifest, config: HubConfig, staged: Path, force: bool) -> Step:
    if manifest.telemetry != config.telemetry:
        raise BackupError(f"the archive holds {manifest.telemetry} telemetry but telemetry = "
                          f"{config.telemetry!r} here; set telemetry to match before restoring")
    if part.format == "sqlite":
        target = config.resolved_telemetry_path
        if not force and target.exists() and target.stat().st_size > 0:
            raise BackupError(f"telemetry: {target} exists; move it away, or give --force to replace it")

        def place() -> None:
            _make_parents(target, part)
            stores.place_sqlite_file(staged / part.members[0], target)
            restore_owner(target, part.extra.get("files", {}).get(part.members[0], {}))

        return place
    stores.check_reachable(config.resolved_influx_rpc_address, "influxd restore")
    exists = _influx_database_exists(config)
    if exists and not force:
        raise BackupError(f"telemetry: InfluxDB database {config.influx_database!r} exists; drop it, or give "
                          "--force to replace it")

    def restore() -> None:
        if exists:
            _influx_drop(config)
        stores.influx_restore(config, str(part.extra.get("database", config.influx_database)), staged)

    return restore


def _influx(config: HubConfig) -> InfluxStore:
    store = open_store(config)
    assert isinstance(store, InfluxStore)  # telemetry = "influxdb"
    return store


def _influx_database_exists(config: HubConfig) -> bool:
    store = _influx(config)
    try:
        results = store.query("SHOW DATABASES")
    except StoreError as exc:
        raise BackupError(f"telemetry: {exc}") from None
    finally:
        store.close()
    names = [row[0] for result in results for series in result.get("series", ()) for row in series.get("values", ())]
    return config.influx_database in names


def _influx_drop(config: HubConfig) -> None:
    store = _influx(config)
    try:
        store.query(f"DROP DATABASE {quote_ident(config.influx_database)}")
    finally:
        store.close()


def _make_parents(target: Path, part: Part) -> None:
    """Create the missing folders above ``target`` with the owner its folder had when saved."""
    make_folders(target.parent, part.extra.get("parent", {}))


def _file_steps(part: Part, place: Path, staged: Path, force: bool, result: RestoreResult) -> list[Step]:
    """Return the steps that copy a file part to ``place``, or a directory part's files into it."""
    directory = part.format == "directory"
    targets = {m: place / m for m in part.members} if directory else {part.members[0]: place}
    label = part.setting or part.name
    steps: list[Step] = []
    metas: dict[str, Any] = part.extra.get("files", {})
    folder_meta = part.extra.get("directory", {}) if directory else part.extra.get("parent", {})
    same = 0
    for member, target in targets.items():
        source = staged / member
        if target.exists():
            if target.is_file() and filecmp.cmp(source, target, shallow=False):
                same += 1
                continue
            if not force:
                raise BackupError(f"{label}: {target} exists with other content; move it away, or give --force "
                                  "to replace it")
        steps.append(_copy_step(source, target, metas.get(member, {"mode": 0o600}), folder_meta))
    if same:
        result.skipped.append(f"{label}: {same} file(s) in {place} already hold the same content")
    if steps:
        result.restored.append(f"{label} -> {place}" + (f" ({len(steps)} files)" if directory else ""))
    if directory and steps:
        steps.insert(0, lambda: _make_directory(place, part))
    return steps


def _make_directory(path: Path, part: Part) -> None:
    if not path.is_dir():
        make_folders(path.parent, part.extra.get("parent", {}))
        make_folders(path, part.extra.get("directory", {}))


def _copy_step(source: Path, target: Path, meta: dict[str, Any], folder_meta: dict[str, Any]) -> Step:
    def copy() -> None:
        make_folders(target.parent, folder_meta)
        incoming = target.with_name(target.name + ".restoring")
        shutil.copyfile(source, incoming)
        os.chmod(incoming, 0o600)
        os.replace(incoming, target)
        restore_owner(target, meta)

    return copy


def _finish(result: RestoreResult, progress: Progress) -> None:
    """Migrate the restored database when its schema is older, then verify the audit chain."""
    config = result.config
    url = config.resolved_database_url
    engine = open_engine(url)
    try:
        revision = current_revision(engine)
        if revision != head_revision():
            progress(f"database schema {revision} is older than this version's {head_revision()}: upgrading")
            upgrade(engine)
            result.upgraded_from = revision
        chain.register_key(url, None)
        use_audit_key(config, create=False)
        with session_scope(engine, readonly=True) as session:
            result.audit = chain.check_chain(session)
    finally:
        engine.dispose()
