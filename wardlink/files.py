"""Atomic file writes: a crash or power cut leaves the old file or the new one, never half."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: str | bytes, *, mode: int = 0o600,
                 owner: tuple[int, int] | None = None, sync_dir: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it, fsynced, then renamed.

    The temporary file gets ``mode`` (and ``owner``, a ``(uid, gid)``) before its first byte,
    so a secret is never readable by others, not even for an instant. With ``sync_dir`` the
    folder is fsynced too, so the rename itself survives a power cut. On any failure the
    temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)
    return path


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename or a new file in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
