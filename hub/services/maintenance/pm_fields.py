"""The fields of a maintenance plan: how each is parsed from a form or a JSON body, and which
of them a plan's trigger uses (:mod:`wardlink.hub.services.maintenance.pm` checks them together)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

from wardlink.hub.db.vocab import PM_INTERVAL_UNITS, PM_TRIGGERS, WORK_ORDER_PRIORITIES
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.maintenance.pm_meters import meter_name, meter_value
from wardlink.hub.services.validate import boolean, choice, optional_date, optional_id, text

MAX_INTERVAL_COUNT = 1000
MAX_LEAD_DAYS = 365
#: Years an anchor date may fall in (schedules are computed decades ahead of it).
MIN_YEAR, MAX_YEAR = 2000, 2100


def _count(name: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise InvalidInput(N_("%(field)s: must be a whole number, got %(value)r"), field=name, value=value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(N_("%(field)s: must be a whole number, got %(value)r"), field=name, value=value) from None
    if not 1 <= number <= MAX_INTERVAL_COUNT:
        raise InvalidInput(N_("%(field)s: must be 1..%(max_interval_count)s, got %(number)s"),
                           field=name, max_interval_count=MAX_INTERVAL_COUNT, number=number)
    return number


def _lead_days(name: str, value: Any) -> int:
    if value is None or value == "":
        return 14
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise InvalidInput(N_("%(field)s: must be a whole number of days, got %(value)r"), field=name, value=value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(N_("%(field)s: must be a whole number of days, got %(value)r"),
                           field=name, value=value) from None
    if not 0 <= number <= MAX_LEAD_DAYS:
        raise InvalidInput(N_("%(field)s: must be 0..%(max_lead_days)s days, got %(number)s"),
                           field=name, max_lead_days=MAX_LEAD_DAYS, number=number)
    return number


def _optional(parser):
    def parse(name: str, value: Any):
        return None if value is None or value == "" else parser(name, value)
    return parse


def _anchor_date(name: str, value: Any) -> date | None:
    day = optional_date(name, value)
    if day is not None and not MIN_YEAR <= day.year <= MAX_YEAR:
        raise InvalidInput(N_("%(field)s: must be a date between %(min_year)s and %(max_year)s, got %(value)r"),
                           field=name, min_year=MIN_YEAR, max_year=MAX_YEAR, value=value)
    return day


def _positive_meter(name: str, value: Any) -> float | None:
    number = _optional(meter_value)(name, value)
    if number is not None and number <= 0:
        raise InvalidInput(N_("%(field)s: must be greater than 0, got %(value)r"), field=name, value=value)
    return number


#: Longest planned duration of one service, in minutes (a week of work).
MAX_PLANNED_MINUTES = 7 * 24 * 60
MAX_PLANNED_PARTS = 50
MAX_PART_QUANTITY = 10_000
#: Who a plan's services go to: a technician or vendor user, a team, or an outside vendor.
ASSIGNEE_FIELDS = ("assignee_id", "assignee_team", "assignee_vendor")


def _minutes(name: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise InvalidInput(N_("%(field)s: must be a whole number of minutes, got %(value)r"), field=name, value=value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(N_("%(field)s: must be a whole number of minutes, got %(value)r"),
                           field=name, value=value) from None
    if not 1 <= number <= MAX_PLANNED_MINUTES:
        raise InvalidInput(N_("%(field)s: must be 1..%(max_planned_minutes)s minutes, got %(number)s"),
                           field=name, max_planned_minutes=MAX_PLANNED_MINUTES, number=number)
    return number


def _part(where: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidInput(N_("%(where)s: must be an object with part_number, description and quantity"), where=where)
    unknown = sorted(set(raw) - {"part_number", "description", "quantity"})
    if unknown:
        raise InvalidInput(N_("%(where)s.%(unknown)s: unknown field; known: description, part_number, quantity"),
                           where=where, unknown=unknown[0])
    part = {"part_number": text(64)(f"{where}.part_number", raw.get("part_number")).strip(),
            "description": text(300)(f"{where}.description", raw.get("description")).strip()}
    if not (part["part_number"] or part["description"]):
        raise InvalidInput(N_("%(where)s.description: give a part number or a description"), where=where)
    quantity = raw.get("quantity")
    if quantity is None or quantity == "":
        quantity = 1
    if isinstance(quantity, bool):
        raise InvalidInput(N_("%(where)s.quantity: must be a number, got %(quantity)r"),
                           where=where, quantity=quantity)
    try:
        quantity = float(quantity)
    except (TypeError, ValueError):
        raise InvalidInput(N_("%(where)s.quantity: must be a number, got %(quantity)r"),
                           where=where, quantity=quantity) from None
    if not (math.isfinite(quantity) and 0 < quantity <= MAX_PART_QUANTITY):
        raise InvalidInput(N_("%(where)s.quantity: must be more than 0 and at most %(max_part_quantity)s, got "
                              "%(get)r"), where=where, max_part_quantity=MAX_PART_QUANTITY, get=raw.get('quantity'))
    part["quantity"] = int(quantity) if quantity.is_integer() else quantity
    return part


def _parts(name: str, value: Any) -> list[dict[str, Any]]:
    if value is None or value == "":
        return []
    if not isinstance(value, (list, tuple)):
        raise InvalidInput(N_("%(field)s: must be a list of parts"), field=name)
    if len(value) > MAX_PLANNED_PARTS:
        raise InvalidInput(N_("%(field)s: must hold at most %(max_planned_parts)s parts, got %(count)s"),
                           field=name, max_planned_parts=MAX_PLANNED_PARTS, count=len(value))
    return [_part(f"{name}[{i}]", raw) for i, raw in enumerate(value)]


def _blank_as_none(parser):
    def parse(name: str, value: Any):
        parsed = parser(name, value)
        return parsed.strip() or None if isinstance(parsed, str) else parsed
    return parse


#: Every writable field of a plan (besides its target) and how to parse it.
PLAN_FIELDS = {
    "name": text(200, required=True),
    "trigger": choice(PM_TRIGGERS),
    "interval_count": _count,
    "interval_unit": _optional(choice(PM_INTERVAL_UNITS)),
    "meter": _optional(meter_name),
    "meter_interval": _positive_meter,
    "meter_lead": lambda n, v: _optional(meter_value)(n, v) or 0.0,
    "anchor_date": _anchor_date,
    "anchor_meter": _optional(meter_value),
    "lead_days": _lead_days,
    "priority": _optional(choice(WORK_ORDER_PRIORITIES)),
    "checklist_template_id": optional_id,
    "instructions": text(5000),
    "active": lambda n, v: True if v is None else boolean(n, v),
    "assignee_id": optional_id,
    "assignee_team": _blank_as_none(text(100)),
    "assignee_vendor": _blank_as_none(text(200)),
    "planned_parts": _parts,
    "planned_minutes": _minutes,
}
TARGET_FIELDS = ("asset_tag", "make", "model")
SNAPSHOT_FIELDS = ("name", "asset_id", "make", "model", *(k for k in PLAN_FIELDS if k != "name"), "retired_at")


#: Fields each trigger uses; a form sends them all, and the others are left out.
TRIGGER_FIELDS = {
    "calendar": frozenset({"interval_count", "interval_unit"}),
    "meter": frozenset({"meter", "meter_interval", "meter_lead", "anchor_meter"}),
    "whichever_first": frozenset({"interval_count", "interval_unit", "meter", "meter_interval", "meter_lead",
                                  "anchor_meter"}),
}
_TIMING_FIELDS = frozenset().union(*TRIGGER_FIELDS.values())


def fields_for_trigger(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``data`` with the timing fields its trigger does not use set blank, and only the
    assignee its ``assign_to`` ("user", "team", "vendor" or "") names kept (a form's view of a plan)."""
    out = dict(data)
    used = TRIGGER_FIELDS.get(out.get("trigger"), _TIMING_FIELDS)
    for key in _TIMING_FIELDS - used:
        out[key] = None
    if "assign_to" in out:
        wanted = {"user": "assignee_id", "team": "assignee_team", "vendor": "assignee_vendor"}.get(out.pop("assign_to"))
        for key in ASSIGNEE_FIELDS:
            if key != wanted:
                out[key] = None
    return out
