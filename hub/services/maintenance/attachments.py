"""Files attached to work orders and assets: allowed types, size limits and content-addressed storage.

Files live under ``<data_dir>/attachments/<first two hex digits>/<sha256>``: the same photo
uploaded twice is stored once, a file's name can never be used to escape the directory, and
a file can be checked against the digest recorded in the database. The type is decided by
the file's first bytes, never by the name or the browser's claim. Markup (HTML, SVG, XML)
is never accepted, not even as text, so no stored file can run script in the hub's origin.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import BinaryIO
from dataclasses import dataclass
from pathlib import Path

from wardlink.hub.errors import InvalidInput, StoreError
from wardlink.hub.i18n import N_
from wardlink.files import write_atomic

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS_PER_ORDER = 50
MAX_FILENAME_CHARS = 200
_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")
#: How a browser recognises markup: a tag or declaration at the start of the text.
_MARKUP_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\s*[!?a-zA-Z/]")
_READ_CHUNK = 64 * 1024


def _is_text(data: bytes) -> bool:
    if b"\x00" in data or looks_like_markup(data):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@dataclass(frozen=True)
class FileType:
    """An accepted kind of file, recognised by its first bytes."""

    content_type: str
    name: str
    matches: Callable[[bytes], bool]


#: Accepted files: photos from phones and cameras, PDF service reports, plain-text logs.
FILE_TYPES = (
    FileType("image/jpeg", "JPEG", lambda d: d.startswith(b"\xff\xd8\xff")),
    FileType("image/png", "PNG", lambda d: d.startswith(b"\x89PNG\r\n\x1a\n")),
    FileType("image/webp", "WebP", lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP"),
    FileType("application/pdf", "PDF", lambda d: d.startswith(b"%PDF-")),
    FileType("text/plain", "plain text (UTF-8)", _is_text),
)


#: Photos: what the public report form and checklist items take, and what may be shown inline.
IMAGE_TYPES = tuple(t for t in FILE_TYPES if t.content_type.startswith("image/"))
IMAGE_CONTENT_TYPES = frozenset(t.content_type for t in IMAGE_TYPES)


def looks_like_markup(data: bytes) -> bool:
    """Return True when ``data`` starts like HTML, SVG or XML (which a browser could render)."""
    head = data[:1024].lower()
    return bool(_MARKUP_START.match(data[:1024])) or b"<script" in head or b"<svg" in head or b"<html" in head


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


def sniff(data: bytes, kinds: tuple[FileType, ...] = FILE_TYPES) -> str:
    """Return the content type of ``data``, or raise :class:`InvalidInput` if it is not one of ``kinds``."""
    if not data:
        raise InvalidInput(N_("file: is empty"))
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise InvalidInput(N_("file: must be at most %(mib)s, got %(count)s bytes"),
                           mib=_mib(MAX_ATTACHMENT_BYTES), count=len(data))
    for kind in kinds:
        if kind.matches(data):
            return kind.content_type
    if looks_like_markup(data):
        raise InvalidInput(N_("file: HTML, SVG and XML files are not accepted; allowed: %(choices)s"),
                           choices=", ".join(k.name for k in kinds))
    raise InvalidInput(N_("file: type not accepted; allowed: %(choices)s"), choices=", ".join(k.name for k in kinds))


def read_limited(stream: BinaryIO, limit: int = MAX_ATTACHMENT_BYTES) -> bytes:
    """Read an upload of at most ``limit`` bytes; refuse a larger one after reading ``limit + 1`` bytes."""
    chunks, total = [], 0
    while total <= limit:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise InvalidInput(N_("file: must be at most %(mib)s; this one is larger"), mib=_mib(limit))
    return b"".join(chunks)


def clean_filename(name: str | None) -> str:
    """Return a display name without path parts or control characters (``file`` if none is left)."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = _UNSAFE_NAME_CHARS.sub("_", base).strip(" ._")
    return base[:MAX_FILENAME_CHARS] or "file"


class AttachmentStore:
    """Content-addressed files under ``root``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        """Return where the file with SHA-256 ``digest`` is kept."""
        if not _DIGEST_RE.match(digest or ""):
            raise InvalidInput(N_("sha256: must be 64 lower-case hex digits, got %(digest)r"), digest=digest)
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store ``data`` (once) and return its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists() and target.stat().st_size == len(data):
            return digest
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write beside the target and rename, so a crash never leaves half a file under
            # a digest that claims to be complete.
            write_atomic(target, data, mode=0o640)
        except OSError as exc:
            raise StoreError(f"cannot store attachment under {self.root}: {exc.strerror}") from exc
        return digest

    def read(self, digest: str) -> bytes:
        """Return the stored bytes of ``digest``, checked against it."""
        try:
            data = self.path(digest).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"attachment file {digest[:12]}... is missing from the store") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise StoreError(f"attachment file {digest[:12]}... does not match its digest")
        return data
