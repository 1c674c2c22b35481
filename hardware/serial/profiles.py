"""Line profiles: one parser per kind of device, chosen by name from :data:`PROFILES`.

A profile's ``feed(line)`` returns ``(values, events)``: new quantity values and any
finished events; it raises :class:`LineRejected` for a line it cannot use. Profiles
hold no I/O, so they are tested with plain strings.

``keyvalue`` reads lines like ``T=21.4 RH=45.0`` (or ``temp: 21.4; rh: 45``)::

    {"fields": {"T": {"quantity": "temperature", "unit": "C"},
                "RH": {"quantity": "humidity", "unit": "%", "scale": 1.0}}}

``csv`` reads delimited values, columns named by a header line the device prints or by
configuration::

    {"columns": ["time", "temp", "rh"], "fields": {"temp": {"quantity": "temperature", "unit": "C"}}}
    {"header": true, "delimiter": ";", "fields": {...}}
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wardlink.hardware.errors import ConfigError
from wardlink.hardware.serial.framing import LineRejected
from wardlink.hardware.serial.sterilizer import SterilizerReportParser


@dataclass(frozen=True)
class FieldMap:
    """Where a device field goes: quantity name, unit and linear scaling."""

    quantity: str
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0

    def convert(self, text: str, name: str) -> float:
        """Return the scaled number in ``text`` or raise LineRejected naming the field."""
        try:
            value = float(text)
        except ValueError:
            raise LineRejected(f"field {name!r}: not a number: {text[:30]!r}") from None
        if not math.isfinite(value):
            raise LineRejected(f"field {name!r}: not a finite number: {text!r}")
        return value * self.scale + self.offset


def _fields(spec: object, key: str) -> dict[str, FieldMap]:
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(f"{key}: must map device field names to {{quantity, unit, scale, offset}}")
    fields, quantities = {}, set()
    for name, item in spec.items():
        where = f"{key}.{name}"
        if not isinstance(item, Mapping) or not isinstance(item.get("quantity"), str):
            raise ConfigError(f"{where}.quantity: required, a string")
        unknown = set(item) - {"quantity", "unit", "scale", "offset"}
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown; allowed: quantity, unit, scale, offset")
        for num in ("scale", "offset"):
            value = item.get(num, 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{where}.{num}: must be a finite number, got {value!r}")
        if item["quantity"] in quantities:
            raise ConfigError(f"{where}.quantity: {item['quantity']!r} is mapped twice")
        quantities.add(item["quantity"])
        fields[str(name)] = FieldMap(**item)
    return fields


def _only(options: Mapping, allowed: set[str], key: str) -> None:
    unknown = set(options) - allowed
    if unknown:
        raise ConfigError(f"{key}.{sorted(unknown)[0]}: unknown; allowed: {', '.join(sorted(allowed))}")


class KeyValueParser:
    """``key=value`` pairs separated by spaces, commas or semicolons."""

    name = "keyvalue"
    _PAIR = re.compile(r"([A-Za-z_][\w.-]*)\s*[=:]\s*([^\s,;]+)")

    def __init__(self, options: Mapping, key: str = "profile_options") -> None:
        _only(options, {"fields"}, key)
        self.fields = _fields(options.get("fields"), f"{key}.fields")
        self.quantities = {f.quantity: f.unit for f in self.fields.values()}

    def feed(self, line: str) -> tuple[dict[str, float], list[dict]]:
        """Parse one line of pairs; unmapped keys are ignored, a bad mapped value rejects the line."""
        pairs = self._PAIR.findall(line)
        if not pairs or self._PAIR.sub("", line).strip(" \t,;"):
            raise LineRejected(f"not a key=value line: {line[:60]!r}")
        values = {}
        for name, text in pairs:
            field = self.fields.get(name)
            if field is not None:
                values[field.quantity] = field.convert(text, name)
        if not values:
            raise LineRejected(f"no configured field in line: {line[:60]!r}")
        return values, []


class CsvParser:
    """Delimited values; columns named by configuration or by the device's header line."""

    name = "csv"

    def __init__(self, options: Mapping, key: str = "profile_options") -> None:
        _only(options, {"fields", "columns", "header", "delimiter"}, key)
        self.fields = _fields(options.get("fields"), f"{key}.fields")
        self.quantities = {f.quantity: f.unit for f in self.fields.values()}
        self.delimiter = options.get("delimiter", ",")
        if not isinstance(self.delimiter, str) or len(self.delimiter) != 1:
            raise ConfigError(f"{key}.delimiter: must be one character, got {self.delimiter!r}")
        columns = options.get("columns")
        self.expect_header = bool(options.get("header", columns is None))
        if columns is None and not self.expect_header:
            raise ConfigError(f"{key}.columns: required unless header is true")
        if columns is not None:
            if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
                raise ConfigError(f"{key}.columns: must be a list of column names")
            missing = set(self.fields) - set(columns)
            if missing:
                raise ConfigError(f"{key}.fields.{sorted(missing)[0]}: not among columns {columns}")
        self.columns: list[str] | None = list(columns) if columns is not None else None

    def feed(self, line: str) -> tuple[dict[str, float], list[dict]]:
        """Parse one row (or learn the header); a wrong column count rejects the line."""
        try:
            cells = [c.strip() for c in next(csv.reader([line], delimiter=self.delimiter))]
        except (csv.Error, StopIteration):
            raise LineRejected(f"not a delimited row: {line[:60]!r}") from None
        if self.expect_header and set(self.fields) <= set(cells):
            # Devices reprint their header after a reset; that is not garbage.
            self.columns = cells
            return {}, []
        if self.columns is None:
            raise LineRejected(f"data row before the header line: {line[:60]!r}")
        if len(cells) != len(self.columns):
            raise LineRejected(f"expected {len(self.columns)} columns, got {len(cells)}: {line[:60]!r}")
        row = dict(zip(self.columns, cells))
        return {f.quantity: f.convert(row[name], name) for name, f in self.fields.items()}, []


def _sterilizer(options: Mapping, key: str) -> SterilizerReportParser:
    _only(options, set(), key)
    return SterilizerReportParser()


PROFILES: dict[str, Callable[[Mapping, str], object]] = {
    "sterilizer": _sterilizer,
    "keyvalue": KeyValueParser,
    "csv": CsvParser,
}


def build_profile(name: object, options: object, key: str = "profile"):
    """Return the parser for profile ``name`` configured by ``options``."""
    if name not in PROFILES:
        raise ConfigError(f"{key}: must be one of {', '.join(PROFILES)}, got {name!r}")
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"{key}_options: must be a mapping, got {options!r}")
    return PROFILES[name](options, f"{key}_options")
