"""What protocol v1 allows: its version, topic root, size and number limits, and the patterns
identifiers and text must follow."""

from __future__ import annotations

import re

SCHEMA_VERSION = 1
TOPIC_ROOT = "wardlink/v1"
#: Largest payload either side accepts. A full telemetry batch (1,000 readings) is ~50 KiB.
MAX_PAYLOAD_BYTES = 256 * 1024
#: Integers must fit a signed 64-bit column in every store.
MAX_INT = 2**63 - 1
#: Largest number of readings in one telemetry batch.
MAX_READINGS_PER_BATCH = 5000
#: How far ahead of the receiver's clock a timestamp may be before it is refused.
DEFAULT_MAX_FUTURE_MS = 5 * 60 * 1000
#: Timestamps before this instant (2000-01-01T00:00:00Z) are refused: a gateway whose clock
#: never synchronised reports 1970, and such readings would land outside every retention window.
MIN_TIMESTAMP_MS = 946_684_800_000

# \Z, not $: Python's $ also matches before a trailing newline, and "gw-1\n" is not an id.
GATEWAY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
CHANNEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\Z")
#: Characters no store can keep, refused in every string of every message: NUL (PostgreSQL
#: text cannot hold it) and lone UTF-16 surrogates (JSON ``"\ud800"``: not encodable as UTF-8).
UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")
#: Characters also refused in identifiers (boot ids, versions, command ids, driver names):
#: C0/C1 controls, soft hyphen, bidirectional marks, embeddings, overrides and isolates
#: (U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069), zero-width and other invisible format
#: characters, line/paragraph separators and BOM — anything that can hide or reorder text.
NOT_IN_IDENTIFIER_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff]")
COMMAND_NAMES = ("identify", "silence-alarm", "reload", "resend-from")
