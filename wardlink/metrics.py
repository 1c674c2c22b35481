"""Prometheus' text exposition format (version 0.0.4), written by hand: no client library.

A process describes what it knows as :class:`Family` objects, each a name, a type
(``counter`` or ``gauge``), a help line and its samples (label set -> value), and
:func:`render` writes them as the text Prometheus scrapes::

    # HELP wardlink_ingest_readings_received_total Readings received from the broker.
    # TYPE wardlink_ingest_readings_received_total counter
    wardlink_ingest_readings_received_total{worker="wardlink-ingest-1"} 1200

Counter names end in ``_total`` (checked here); a rate such as readings per second is
Prometheus' ``rate()`` of a counter, never computed by the process. Families are built
from the numbers a process already keeps, when a scrape asks for them, so a scrape costs
nothing between scrapes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

#: The Content-Type of the text format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
KINDS = ("counter", "gauge")
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass
class Family:
    """One metric: its name, type, help text and samples, one per label set."""

    name: str
    kind: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not _NAME.match(self.name):
            raise ValueError(f"{self.name!r}: not a metric name")
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"{self.name}: a counter's name ends in _total")

    def add(self, value: float | int | bool | None, labels: Mapping[str, str] | None = None) -> Family:
        """Add a sample (None is left out: the value is not known); return the family."""
        if value is None:
            return self
        for key in labels or {}:
            if not _LABEL.match(key) or key.startswith("__"):
                raise ValueError(f"{self.name}: {key!r} is not a label name")
        self.samples.append((dict(labels or {}), float(value)))
        return self


def counter(name: str, help: str, value: float | int | None = None, labels: Mapping[str, str] | None = None) -> Family:
    """Return a counter family, with one sample when ``value`` is given."""
    return Family(name, "counter", help).add(value, labels)


def gauge(name: str, help: str, value: float | int | bool | None = None,
          labels: Mapping[str, str] | None = None) -> Family:
    """Return a gauge family, with one sample when ``value`` is given."""
    return Family(name, "gauge", help).add(value, labels)


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def render(families: Iterable[Family]) -> str:
    """Return ``families`` in the text format, one HELP and TYPE line each, then their samples.

    A name given twice is a mistake in the caller (Prometheus would refuse the scrape).
    """
    lines: list[str] = []
    seen: set[str] = set()
    for family in families:
        if family.name in seen:
            raise ValueError(f"{family.name}: described twice")
        seen.add(family.name)
        lines.append(f"# HELP {family.name} {_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in family.samples:
            if labels:
                inner = ",".join(f'{key}="{_label_value(str(val))}"' for key, val in labels.items())
                lines.append(f"{family.name}{{{inner}}} {_number(value)}")
            else:
                lines.append(f"{family.name} {_number(value)}")
    return "\n".join(lines) + "\n"
