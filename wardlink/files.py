"""Atomic file writes: a crash or power cut leaves the old file or the new one, never half."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


@contextmanager
def atomic_writer(path: str | os.PathLike, *, mode: int = 0o600, owner: tuple[int, int] | None = None,
                  sync_dir: bool = False) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes ``path`` when the block ends without an exception.

    The file is a temporary one beside ``path``, given ``mode`` (and ``owner``, a ``(uid,
    gid)``) before its first byte, so a secret is never readable by others, not even for an
    instant; at the end it is fsynced and renamed over ``path`` (with ``sync_dir`` the folder
    is fsynced too, so the rename itself survives a power cut). On any failure the temporary
    file is removed and ``path`` is left as it was. For data too large to hold in memory.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def write_atomic(path: str | os.PathLike, data: str | bytes, *, mode: int = 0o600,
                 owner: tuple[int, int] | None = None, sync_dir: bool = False) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_writer`: a crash leaves the old file or
    the new one, never half, and the file has ``mode`` (and ``owner``) from its first byte."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if not isinstance(payload, bytes):
        raise TypeError(f"write_atomic: data must be str or bytes, got {type(data).__name__}")
    with atomic_writer(path, mode=mode, owner=owner, sync_dir=sync_dir) as fh:
        fh.write(payload)
    return Path(path)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename or a new file in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
