"""Cut a serial byte stream into text lines, and keep what could not be used.

A :class:`Framing` says how a device ends its lines (``\\r\\n``, ``\\n``, ``\\r``), which
encoding it prints in, how long a sane line can be, and optionally start/end markers
(STX/ETX) around every record. :class:`LineFramer` applies it to arbitrary chunks as they
arrive; anything unusable is handed to :class:`Rejects` with a reason, never raised.
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from wardlink.hardware.errors import ConfigError, DecodeError

TERMINATORS = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}
_PRINTER_CONTROL = re.compile(r"\x1b.|[\x0c\x0e\x0f\x12\x14]", re.DOTALL)
_FIELDS = ("terminator", "encoding", "max_line", "start_marker", "end_marker")


class LineRejected(DecodeError):
    """A line (or run of bytes) that a profile or the framer cannot use."""


@dataclass(frozen=True)
class Framing:
    """How a device delimits its records."""

    terminator: bytes = b"\n"
    encoding: str = "ascii"
    max_line: int = 256
    start_marker: bytes | None = None
    end_marker: bytes | None = None

    @classmethod
    def from_config(cls, spec: Mapping | None, key: str = "framing") -> Framing:
        """Validate a ``framing`` config mapping; errors name the key and allowed values."""
        spec = dict(spec or {})
        unknown = set(spec) - set(_FIELDS)
        if unknown:
            raise ConfigError(f"{key}.{sorted(unknown)[0]}: unknown; allowed: {', '.join(_FIELDS)}")
        term = spec.get("terminator", "lf")
        if term not in TERMINATORS:
            raise ConfigError(f"{key}.terminator: must be one of {', '.join(TERMINATORS)}, got {term!r}")
        encoding = spec.get("encoding", "ascii")
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise ConfigError(f"{key}.encoding: not a known text encoding: {encoding!r}") from None
        max_line = spec.get("max_line", 256)
        if isinstance(max_line, bool) or not isinstance(max_line, int) or not 8 <= max_line <= 65536:
            raise ConfigError(f"{key}.max_line: must be an integer 8..65536, got {max_line!r}")
        markers = {}
        for name in ("start_marker", "end_marker"):
            value = spec.get(name)
            if value is not None:
                if not isinstance(value, str) or not value.startswith("0x") or len(value) != 4:
                    raise ConfigError(f"{key}.{name}: must be one byte written like '0x02', got {value!r}")
                markers[name] = bytes([int(value, 16)])
        return cls(TERMINATORS[term], encoding, max_line, markers.get("start_marker"), markers.get("end_marker"))


@dataclass
class Rejects:
    """Counter and bounded memory of rejected input, for inspection."""

    keep: int = 20
    count: int = 0
    recent: deque = field(default_factory=deque)

    def add(self, reason: str, text: str) -> None:
        """Count one rejected line and remember it (the oldest is forgotten beyond ``keep``)."""
        self.count += 1
        self.recent.append((reason, text[:200]))
        while len(self.recent) > self.keep:
            self.recent.popleft()

    def snapshot(self) -> list[dict[str, str]]:
        """Return the remembered rejects, oldest first."""
        return [{"reason": r, "line": t} for r, t in self.recent]


class LineFramer:
    """Turn chunks of bytes into decoded lines according to a :class:`Framing`."""

    def __init__(self, framing: Framing, rejects: Rejects) -> None:
        self.framing = framing
        self.rejects = rejects
        self._buf = bytearray()
        self._overlong = False
        self._tail = b""
        self._in_record = framing.start_marker is None

    def feed(self, data: bytes) -> list[str]:
        """Add bytes; return the complete lines they finish, without terminators."""
        lines: list[str] = []
        term = self.framing.terminator
        for byte in data:
            if self._marker(byte):
                continue
            if not self._in_record:
                self._buf.append(byte)
                if len(self._buf) >= self.framing.max_line:
                    self._reject_buffer("bytes outside a record")
                continue
            if self._overlong:
                # Skip the rest of a rejected line; only its terminator matters.
                self._tail = (self._tail + bytes([byte]))[-len(term):]
                if self._tail == term:
                    self._overlong, self._tail = False, b""
                continue
            self._buf.append(byte)
            if self._buf.endswith(term):
                raw = bytes(self._buf[: -len(term)])
                self._buf.clear()
                line = self._decode(raw)
                if line is not None:
                    lines.append(line)
            elif len(self._buf) > self.framing.max_line + len(term):
                self.rejects.add("line too long", self._buf.decode("latin-1"))
                self._buf.clear()
                self._overlong = True  # drop the rest of this line too
        return lines

    def _marker(self, byte: int) -> bool:
        f = self.framing
        if f.start_marker is not None and byte == f.start_marker[0]:
            if self._buf:
                self._reject_buffer("bytes outside a record" if not self._in_record else "record not closed")
            self._in_record, self._overlong = True, False
            return True
        if f.end_marker is not None and byte == f.end_marker[0]:
            if self._buf and self._in_record:
                self._reject_buffer("record without line terminator")
            self._in_record = f.start_marker is None
            return True
        return False

    def _reject_buffer(self, reason: str) -> None:
        self.rejects.add(reason, self._buf.decode("latin-1"))
        self._buf.clear()

    def _decode(self, raw: bytes) -> str | None:
        try:
            text = raw.decode(self.framing.encoding)
        except UnicodeDecodeError:
            self.rejects.add("undecodable bytes", raw.decode("latin-1"))
            return None
        # Printer ports interleave Epson-style formatting (ESC x, SO/SI, DC2/DC4, form
        # feed) with the text; it carries no data, so it is dropped, not rejected.
        text = _PRINTER_CONTROL.sub("", text).strip("\r\n")
        if any(ch < " " and ch != "\t" for ch in text):
            self.rejects.add("control characters", text)
            return None
        return text
