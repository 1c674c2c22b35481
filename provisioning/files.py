"""Atomic writes of secret and configuration files."""

from __future__ import annotations

import os
from pathlib import Path

from wardlink.files import write_atomic


def write_private(path: str | os.PathLike, text: str | bytes, *, mode: int = 0o600,
                  keep_mode: bool = True) -> Path:
    """Write ``path`` atomically; a new file gets ``mode``, an existing one keeps mode and owner.

    With ``keep_mode=False`` the file always ends up with ``mode`` (secrets handed to a
    program that checks it).

    The temporary file is created with the final mode before any byte is written, so a secret
    is never readable by others, not even for an instant.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        st = path.stat()
        owner = (st.st_uid, st.st_gid)
        if keep_mode:
            mode = st.st_mode & 0o7777
    except FileNotFoundError:
        owner = None
    return write_atomic(path, data, mode=mode, owner=owner if os.geteuid() == 0 else None)


def write_new_private(path: str | os.PathLike, text: str | bytes, *, mode: int = 0o600) -> Path:
    """Create ``path`` with ``mode``; refuse (FileExistsError) to replace an existing file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)  # the umask may have narrowed it; make it exact
    return path
