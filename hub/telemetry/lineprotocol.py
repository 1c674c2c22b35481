"""InfluxDB line protocol for telemetry points, and InfluxQL quoting.

Every series key (escaped measurement and tags) is built once and cached by
:class:`LineEncoder`, so the per-reading cost is formatting a value and a timestamp. Names and
tags were checked by :func:`wardlink.hub.telemetry.model.check_series`, which refuses backslashes and
control characters: those cannot round-trip through InfluxDB 1.x line protocol.

A line looks like ``temperature,asset=FR-1,channel=t1,gateway=gw-1 late=false,quality="good",value=4.5 1767225600000``
(fields in name order, as other line-protocol writers emit them; ``value`` is left out when null).
"""

from __future__ import annotations

from typing import Sequence

from wardlink.hub.telemetry.model import InvalidPoint, Point, QUALITIES, check_series

_ESCAPE_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ "})
_ESCAPE_TAG = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_ESCAPE_STRING_FIELD = str.maketrans({'"': r"\"", "\\": r"\\"})

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def escape_measurement(name: str) -> str:
    """Escape a measurement name for line protocol."""
    return name.translate(_ESCAPE_MEASUREMENT)


def escape_tag(text: str) -> str:
    """Escape a tag key or tag value for line protocol."""
    return text.translate(_ESCAPE_TAG)


def escape_string_field(text: str) -> str:
    """Escape a string field value (without the surrounding quotes)."""
    return text.translate(_ESCAPE_STRING_FIELD)


def series_prefix(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """Return ``measurement,k=v,... `` (with the trailing space) for a checked series."""
    parts = [escape_measurement(measurement)]
    parts.extend(f"{escape_tag(k)}={escape_tag(v)}" for k, v in tags)
    return ",".join(parts) + " "


def format_float(value: float) -> str:
    """Return the shortest text that reads back as ``value`` (``21.0`` is written ``21``)."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


# Field text before the value for each (quality, late): fields are written in name order.
_HEADS = {(q, late): f'late={"true" if late else "false"},quality="{escape_string_field(q)}"'
          for q in QUALITIES for late in (False, True)}


class LineEncoder:
    """Turn points into line-protocol lines, caching each series' escaped key and recent value texts."""

    def __init__(self, max_series: int = 200_000, max_values: int = 100_000) -> None:
        self._keys: dict[SeriesKey, str] = {}
        # id(tags) -> (tags, measurement, key, key + the fields of a good live reading before value)
        self._by_id: dict[int, tuple[tuple, str, str, str]] = {}
        self._texts: dict[float, str] = {}  # value -> its text; sensors repeat their values a lot
        self._max_series = max_series
        self._max_values = max_values

    def key(self, measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
        """Return the cached escaped series key, checking the series on first sight."""
        series = (measurement, tags)
        try:
            prefix = self._keys.get(series)
        except TypeError:  # unhashable tags: not a tuple of string pairs
            raise InvalidPoint(f"tags: must be a sorted tuple of (key, value) pairs, got {tags!r}") from None
        if prefix is None:
            check_series(measurement, tags)
            if len(self._keys) >= self._max_series:
                self._keys.clear()  # a bound on memory; keys are rebuilt on demand
            prefix = self._keys[series] = series_prefix(measurement, tags)
        return prefix

    def lines(self, points: Sequence[Point]) -> list[str]:
        """Return one line per point; raise :class:`InvalidPoint` before returning any."""
        by_id = self._by_id
        texts = self._texts
        heads = _HEADS
        out: list[str] = []
        append = out.append
        # One pass, one f-string per point: this runs for every reading ingest stores.
        for measurement, tags, ts, value, quality, late in points:
            # Ingest hands over the same tags object for every reading of a series, so an
            # identity check usually replaces hashing the whole tag tuple.
            hit = by_id.get(id(tags))
            if hit is None or hit[0] is not tags or hit[1] != measurement:
                hit = self._remember(measurement, tags)
            if quality == "good" and late is False:
                head = hit[3]
            else:
                try:
                    head = hit[2] + heads[(quality, late)]
                except (KeyError, TypeError):
                    head = hit[2] + self._head(quality, late)
            if type(ts) is not int:
                raise InvalidPoint(f"ts_ms: must be an integer, got {ts!r}")
            if value is None:
                append(f"{head} {ts}")
                continue
            text = texts.get(value) if type(value) is float else None
            if text is None:
                text = self._text(value)
            append(f"{head},value={text} {ts}")
        return out

    def _remember(self, measurement: str, tags: tuple[tuple[str, str], ...]) -> tuple[tuple, str, str, str]:
        prefix = self.key(measurement, tags)
        if len(self._by_id) >= self._max_series:
            self._by_id.clear()
        # Holding a reference to ``tags`` keeps its id from being reused by another object.
        hit = self._by_id[id(tags)] = (tags, measurement, prefix, prefix + _HEADS[("good", False)])
        return hit

    def _text(self, value: object) -> str:
        """Return the field text of ``value``, remembering it; raise for a non-finite or non-float value."""
        if type(value) is not float:
            value = _coerce(value)
        if value - value != 0.0:  # NaN or infinity
            raise InvalidPoint(f"value: must be finite, got {value!r}")
        text = repr(value)
        if text[-2:] == ".0":
            text = text[:-2]
        if value:  # 0.0 and -0.0 are one dict key but two texts: never cache zero
            if len(self._texts) >= self._max_values:
                self._texts.clear()
            self._texts[value] = text
        return text

    @staticmethod
    def _head(quality: object, late: object) -> str:
        if quality not in QUALITIES:
            raise InvalidPoint(f"quality: must be one of {', '.join(QUALITIES)}, got {quality!r}")
        return _HEADS[(quality, bool(late))]


def _coerce(value: object) -> float:
    if type(value) is int:
        return float(value)
    raise InvalidPoint(f"value: must be a float or None, got {type(value).__name__} {value!r}")


# --------------------------------------------------------------------------- InfluxQL quoting


def quote_ident(name: str) -> str:
    """Return ``name`` as a double-quoted InfluxQL identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def quote_literal(text: str) -> str:
    """Return ``text`` as a single-quoted InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"
