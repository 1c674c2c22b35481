"""The telemetry data model shared by every store: points, query rows and the store protocol.

A point's identity is its series (measurement + tags) plus its millisecond timestamp. Both
stores keep one value per identity, so a reading delivered twice is stored once.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Mapping, NamedTuple, Protocol, Self, Sequence, runtime_checkable

from wardlink.hub.errors import InvalidInput, StoreError

#: Quality codes a point may carry (the protocol's reading qualities).
QUALITIES = ("good", "uncertain", "bad")
#: Field names written for every point; a tag may not reuse them.
FIELD_NAMES = ("value", "quality", "late")
#: Tag keys the query API filters on.
INDEXED_TAGS = ("gateway", "channel", "asset")
#: The measurement of readings whose channel has no binding at the reading's time.
UNBOUND = "unbound"

_TAG_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_NAME = 256


# --------------------------------------------------------------------------- errors


class StoreUnavailable(StoreError):
    """The store could not be reached or answered with a server-side failure; retry later."""


class StoreRejected(StoreError):
    """The store refused the data itself; retrying the same write will fail again."""


class InvalidPoint(InvalidInput):
    """A point cannot be stored: a bad name, tag, value or timestamp."""


# --------------------------------------------------------------------------- points


class Point(NamedTuple):
    """One value of one series at one instant; identity = (measurement, tags) + ts_ms.

    An immutable named tuple rather than a frozen dataclass: ingest builds one per reading,
    and a tuple is built several times faster, which matters at 100,000 readings a second.
    """

    measurement: str
    tags: tuple[tuple[str, str], ...]  # sorted by key; low-cardinality identifiers only
    ts_ms: int
    value: float | None
    quality: str = "good"
    late: bool = False

    @classmethod
    def of(cls, measurement: str, tags: Mapping[str, str], ts_ms: int, value: float | None,
           quality: str = "good", late: bool = False) -> Point:
        """Build a point from a tag mapping, sorting the tags into canonical order."""
        return cls(measurement, canonical_tags(tags), ts_ms, value, quality, late)

    @property
    def tag_dict(self) -> dict[str, str]:
        """Return the tags as a dict."""
        return dict(self.tags)


def canonical_tags(tags: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Return ``tags`` as the sorted tuple of pairs a :class:`Point` carries."""
    return tuple(sorted(tags.items()))


def _check_text(what: str, text: object) -> str:
    if not isinstance(text, str):
        raise InvalidPoint(f"{what}: must be a string, got {type(text).__name__}")
    if not text:
        raise InvalidPoint(f"{what}: must not be empty")
    if len(text) > _MAX_NAME:
        raise InvalidPoint(f"{what}: must be at most {_MAX_NAME} characters, got {len(text)}")
    if "\\" in text:
        # InfluxDB 1.x line protocol cannot carry a backslash before a separator or at the end
        # of a tag; refusing it everywhere keeps both stores able to hold the same series.
        raise InvalidPoint(f"{what}: must not contain a backslash, got {text!r}")
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise InvalidPoint(f"{what}: must not contain control characters or surrogates, got {text!r}")
    return text


def check_series(measurement: str, tags: tuple[tuple[str, str], ...]) -> None:
    """Raise :class:`InvalidPoint` unless the series key can be stored by every store.

    Measurement and tag values may be any printable Unicode except a backslash; the
    measurement may not start with ``#`` (a comment in line protocol). Tag keys are short
    lower-case identifiers, sorted and unique, and may not reuse a field name.
    """
    _check_text("measurement", measurement)
    if measurement.startswith("#"):
        raise InvalidPoint(f"measurement: must not start with '#', got {measurement!r}")
    if not isinstance(tags, tuple):
        raise InvalidPoint(f"tags: must be a sorted tuple of (key, value) pairs, got {type(tags).__name__}")
    previous = ""
    for pair in tags:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise InvalidPoint(f"tags: each tag must be a (key, value) pair, got {pair!r}")
        key, value = pair
        if not isinstance(key, str) or not _TAG_KEY_RE.match(key):
            raise InvalidPoint(f"tags: key must match {_TAG_KEY_RE.pattern}, got {key!r}")
        if key in FIELD_NAMES or key == "time":
            raise InvalidPoint(f"tags: key {key!r} is reserved (fields: {', '.join(FIELD_NAMES)}, time)")
        if key <= previous:
            raise InvalidPoint(f"tags: keys must be unique and sorted, got {key!r} after {previous!r}")
        previous = key
        _check_text(f"tags.{key}", value)


# --------------------------------------------------------------------------- query rows


@dataclass(frozen=True, slots=True)
class LatestRow:
    """The newest point of one series."""

    measurement: str
    tags: dict[str, str]
    ts_ms: int
    value: float | None
    quality: str
    late: bool = False


@dataclass(frozen=True, slots=True)
class RangeRow:
    """A raw point (count 0 or 1, min = max = value) or one time window's aggregate.

    For a window, ``ts_ms`` is the window start (windows align to the Unix epoch), ``value``
    is the mean of the non-null values, ``count`` how many there were, and ``quality`` is
    None. Windows without a single value are left out.
    """

    ts_ms: int
    value: float | None
    min: float | None
    max: float | None
    count: int
    quality: str | None = None


@dataclass(frozen=True, slots=True)
class DailyRow:
    """One local calendar day of a channel, for cold-chain review; count 0 = no values that day."""

    day: dt.date
    start_ms: int
    end_ms: int
    min: float | None
    min_ts_ms: int | None
    max: float | None
    max_ts_ms: int | None
    mean: float | None
    count: int


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class TelemetryStore(Protocol):
    """What the hub needs from a telemetry store; both implementations pass one contract suite."""

    def write(self, points: Sequence[Point]) -> None:
        """Store ``points``; rewriting an existing identity never duplicates it."""

    def latest(self, *, gateway: str | None = None, channels: Sequence[str] | None = None,
               asset: str | None = None) -> list[LatestRow]:
        """Return the newest point of every series matching the filters."""

    def range(self, *, gateway: str, channel: str, start_ms: int, end_ms: int,
              window_ms: int | None = None, measurement: str | None = None) -> list[RangeRow]:
        """Return a channel's points in ``[start_ms, end_ms)``, raw or per window."""

    def daily_minmax(self, *, gateway: str, channel: str, start_ms: int, end_ms: int,
                     tz: str = "UTC", measurement: str | None = None) -> list[DailyRow]:
        """Return min, max, mean and count per local day overlapping ``[start_ms, end_ms)``."""

    def count(self, *, measurement: str | None = None, gateway: str | None = None,
              channel: str | None = None, start_ms: int | None = None,
              end_ms: int | None = None) -> int:
        """Return how many points match (null-valued points included)."""

    def ping(self) -> bool:
        """Return True when the store answers."""

    def close(self) -> None:
        """Release connections; idempotent."""

    # A store is its own context manager (implementations that subclass this protocol inherit it).
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- argument checks


def check_range(start_ms: int, end_ms: int, window_ms: int | None = None) -> None:
    """Raise :class:`InvalidInput` for a reversed interval or a non-positive window."""
    for name, value in (("start_ms", start_ms), ("end_ms", end_ms)):
        if type(value) is not int:
            raise InvalidInput(f"{name}: must be an integer of milliseconds, got {value!r}")
    if end_ms < start_ms:
        raise InvalidInput(f"end_ms: must be >= start_ms ({start_ms}), got {end_ms}")
    if window_ms is not None and (type(window_ms) is not int or window_ms <= 0):
        raise InvalidInput(f"window_ms: must be a positive integer, got {window_ms!r}")


def merge_windows(rows: Sequence[RangeRow]) -> list[RangeRow]:
    """Combine window rows that share a start (from several series) into one row per window."""
    by_start: dict[int, RangeRow] = {}
    for row in rows:
        seen = by_start.get(row.ts_ms)
        if seen is None:
            by_start[row.ts_ms] = row
            continue
        count = seen.count + row.count
        mean = (seen.value * seen.count + row.value * row.count) / count
        by_start[row.ts_ms] = RangeRow(row.ts_ms, mean, min(seen.min, row.min),
                                       max(seen.max, row.max), count)
    return [by_start[k] for k in sorted(by_start)]
