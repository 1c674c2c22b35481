"""The backup archive: one gzip-compressed tar file whose first member is ``manifest.json``.

The manifest names the version that wrote the archive, the database's schema revision, when
(UTC, with its offset) and for which site, every part (what it is, where it came from, which
members hold it) and every member file's SHA-256 and size. :func:`read_archive` unpacks into
a private directory and refuses the archive unless every member is listed and matches, every
listed member is present, and no member name leaves the directory, so a truncated or altered
archive is refused before anything is restored.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from wardlink.files import atomic_writer
from wardlink.hub.errors import HubError, StoreError

MANIFEST = "manifest.json"
FORMAT = "wardlink-backup"
FORMAT_VERSION = 1
_CHUNK = 1 << 20


class BackupError(HubError):
    """A backup or restore was refused or could not be made; the message says what and why."""


class ToolFailed(BackupError, StoreError):
    """A store's own tool (pg_dump, pg_restore, influxd) failed: usually the store is not reachable."""


@dataclass
class Part:
    """One thing the archive holds: a store's dump, the config file, a secret, a path."""

    name: str  # e.g. "relational", "telemetry", "config", "secret:audit_key_file", "path:/etc/x"
    format: str  # sqlite | pg_dump | influx-portable | file | directory
    source: str  # where it came from (a path, or the database URL without its password)
    members: list[str] = field(default_factory=list)  # archive paths, relative to the part's root
    root: str = ""  # the member folder the part lives in
    setting: str | None = None  # the hub setting that names its place, when one does
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Return the manifest entry of this part."""
        out = {"name": self.name, "format": self.format, "source": self.source, "root": self.root,
               "members": self.members}
        if self.setting:
            out["setting"] = self.setting
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Part:
        """Return the part a manifest entry describes."""
        known = {"name", "format", "source", "root", "members", "setting"}
        return cls(name=str(data["name"]), format=str(data["format"]), source=str(data.get("source", "")),
                   members=[str(m) for m in data.get("members", [])], root=str(data.get("root", "")),
                   setting=data.get("setting"), extra={k: v for k, v in data.items() if k not in known})


@dataclass
class Manifest:
    """What ``manifest.json`` says."""

    wardlink_version: str
    alembic_revision: str | None
    created_at: str
    site: str
    relational: str
    telemetry: str
    parts: list[Part]
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def part(self, name: str) -> Part | None:
        """Return the part called ``name``, or None."""
        return next((p for p in self.parts if p.name == name), None)

    def as_json(self) -> dict[str, Any]:
        """Return the manifest as written."""
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "wardlink_version": self.wardlink_version,
                "alembic_revision": self.alembic_revision, "created_at": self.created_at, "site": self.site,
                "relational": self.relational, "telemetry": self.telemetry,
                "parts": [p.as_json() for p in self.parts], "files": self.files}

    @classmethod
    def from_json(cls, data: Any, source: str) -> Manifest:
        """Return the manifest in ``data``; raise BackupError when it is not one this version reads."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BackupError(f"{source}: not a Wardlink backup (its {MANIFEST} is not one)")
        if data.get("format_version") != FORMAT_VERSION:
            raise BackupError(f"{source}: backup format {data.get('format_version')!r} is not one this version "
                              f"reads ({FORMAT_VERSION}); restore it with the version that wrote it "
                              f"({data.get('wardlink_version')})")
        try:
            return cls(wardlink_version=str(data["wardlink_version"]), alembic_revision=data["alembic_revision"],
                       created_at=str(data["created_at"]), site=str(data["site"]),
                       relational=str(data["relational"]), telemetry=str(data["telemetry"]),
                       parts=[Part.from_json(p) for p in data["parts"]], files=dict(data["files"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupError(f"{source}: {MANIFEST} is incomplete ({exc})") from None


def file_digest(path: Path) -> tuple[str, int]:
    """Return the SHA-256 (hex) and size of the file at ``path``."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _safe_member(name: str) -> bool:
    pure = PurePosixPath(name)
    return bool(name) and not pure.is_absolute() and ".." not in pure.parts and "\\" not in name


def write_archive(staging: Path, manifest: Manifest, out: Path) -> None:
    """Write every file under ``staging`` and the manifest (with their checksums) to ``out``.

    The archive is created with mode 0600 under a temporary name beside ``out`` and renamed
    into place when complete (:func:`wardlink.files.atomic_writer`), so ``out`` is never a
    half-written archive.
    """
    members = sorted(p for p in staging.rglob("*") if p.is_file())
    manifest.files = {}
    for path in members:
        sha, size = file_digest(path)
        manifest.files[path.relative_to(staging).as_posix()] = {"sha256": sha, "size": size}
    (staging / MANIFEST).write_text(json.dumps(manifest.as_json(), indent=2, sort_keys=True) + "\n")
    try:
        with atomic_writer(out, mode=0o600) as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for path in [staging / MANIFEST, *members]:
                info = tar.gettarinfo(str(path), arcname=path.relative_to(staging).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mode = 0o600
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
    except OSError as exc:
        raise BackupError(f"cannot write {out}: {exc.strerror or exc}") from None


def read_archive(path: Path, into: Path) -> Manifest:
    """Unpack the archive at ``path`` into the private directory ``into`` and check it.

    Raise BackupError, naming the archive and the problem, unless the manifest is readable,
    every member is a regular file the manifest lists with the same size and SHA-256, and
    every file it lists is present.
    """
    seen: set[str] = set()
    manifest_data: Any = None
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for info in tar:
                if not info.isfile() or not _safe_member(info.name):
                    raise BackupError(f"{path}: unexpected member {info.name!r}; the archive was not written "
                                      "by wardlink backup or was altered")
                source = tar.extractfile(info)
                assert source is not None  # a regular file always has data
                if info.name == MANIFEST:
                    manifest_data = json.loads(source.read(16 << 20).decode("utf-8"))
                    continue
                if manifest_data is None:
                    raise BackupError(f"{path}: {MANIFEST} is not the first member; not a Wardlink backup")
                _unpack(path, info.name, source, into, manifest_data, seen)
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{path}: cannot read the archive ({exc}); it is truncated or damaged") from None
    if manifest_data is None:
        raise BackupError(f"{path}: no {MANIFEST}; not a Wardlink backup")
    manifest = Manifest.from_json(manifest_data, str(path))
    missing = sorted(set(manifest.files) - seen)
    if missing:
        raise BackupError(f"{path}: {len(missing)} file(s) the manifest lists are missing, e.g. {missing[0]}; "
                          "the archive is truncated or altered")
    return manifest


def _unpack(archive: Path, name: str, source, into: Path, manifest_data: Any, seen: set[str]) -> None:
    files = manifest_data.get("files", {}) if isinstance(manifest_data, dict) else {}
    expected = files.get(name)
    if not isinstance(expected, dict) or name in seen:
        raise BackupError(f"{archive}: member {name!r} is not listed in the manifest; the archive was altered")
    target = into / name
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with open(target, "wb") as out:
        os.fchmod(out.fileno(), stat.S_IRUSR | stat.S_IWUSR)
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if size != expected.get("size") or digest.hexdigest() != expected.get("sha256"):
        raise BackupError(f"{archive}: {name} does not match its checksum in the manifest; "
                          "the archive was altered or damaged, nothing was restored")
    seen.add(name)
