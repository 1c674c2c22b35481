"""Periods of calendar months and the monthly bar charts drawn over them, shared by the monthly
consumption reports (department consumables, oxygen cylinders).

A period is a list of ``(year, month)`` from a first to a last month written ``YYYY-MM``; by
default the last :data:`DEFAULT_MONTHS` up to the month of ``today``, at most
:data:`MAX_MONTHS`, within :data:`EARLIEST` .. :data:`LATEST` (so that a period, the month after
it and the same months a year before are all dates). Pure: callers pass today's date at their site.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_

MAX_MONTHS = 36
DEFAULT_MONTHS = 12
Month = tuple[int, int]
#: The months a period may cover.
EARLIEST, LATEST = (1901, 1), (9998, 12)


def month_of(name: str, value: Any) -> Month | None:
    """Parse a month written ``YYYY-MM``; empty means None (spaces alone are not a month)."""
    if value is None or value == "":
        return None
    try:
        year, month = (int(part) for part in str(value).strip().split("-"))
        date(year, month, 1)
    except ValueError:
        raise InvalidInput(N_("%(field)s: must be a month as YYYY-MM, got %(value)r"), field=name,
                           value=value) from None
    return year, month


def shift(month: Month, by: int) -> Month:
    """Return the month ``by`` months after ``month`` (before it when negative)."""
    n = month[0] * 12 + month[1] - 1 + by
    return n // 12, n % 12 + 1


def months_between(start: Month, end: Month) -> list[Month]:
    """Return the months from ``start`` to ``end``, both included."""
    out, month = [], start
    while month <= end:
        out.append(month)
        month = shift(month, 1)
    return out


def period(today: date, start: Any, end: Any) -> list[Month]:
    """Return the months from ``start`` to ``end`` (``YYYY-MM``; by default the last twelve up to
    the month of ``today``); refuse a reversed or too long period."""
    last = month_of("to", end) or (today.year, today.month)
    first = month_of("from", start) or shift(last, -(DEFAULT_MONTHS - 1))
    if first > last:
        raise InvalidInput(N_("from: must be a month on or before to"))
    if first < EARLIEST or last > LATEST:
        raise InvalidInput(N_("from: months go from %(first)s to %(last)s"), first="1901-01", last="9998-12")
    months = months_between(first, last)
    if len(months) > MAX_MONTHS:
        raise InvalidInput(N_("to: a period is at most %(most)s months, got %(count)s"), most=MAX_MONTHS,
                           count=len(months))
    return months


def bounds(months: Sequence[Month]) -> tuple[date, date]:
    """Return the first day of a period and the first day after it."""
    (ly, lm) = months[-1]
    return date(*months[0], 1), (date(ly + 1, 1, 1) if lm == 12 else date(ly, lm + 1, 1))


def labels(months: Sequence[Month]) -> list[str]:
    """Return the months as ``YYYY-MM``."""
    return [f"{y:04d}-{m:02d}" for y, m in months]


def bar_chart(months: Sequence[Month], series: Sequence[tuple[str, Sequence[Decimal]]], *,
              unit: str) -> dict[str, Any]:
    """Return the chart spec (drawn by app.js) of bars per month, one series per ``(label,
    values)``; ``unit`` labels the axis."""
    return {"x": "category", "xs": list(range(len(months))), "labels": labels(months), "unit": unit,
            "percent": False, "whole": False,
            "series": [{"label": name, "bars": True, "values": [float(v) for v in values]} for name, values in series]}
