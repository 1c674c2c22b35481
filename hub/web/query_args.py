"""Query-argument parsing shared by the JSON API and the pages: one parser for integers and pages."""

from __future__ import annotations

from flask import request

from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.validate import optional_id


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """Return the query argument ``name`` as an integer in ``low..high`` (``default`` when absent)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(N_("%(field)s: must be an integer, got %(raw)r"), field=name, raw=raw) from None
    if not low <= value <= high:
        raise InvalidInput(N_("%(field)s: must be %(low)s..%(high)s, got %(value)s"),
                           field=name, low=low, high=high, value=value)
    return value


def paging(max_per_page: int = 200) -> dict[str, int]:
    """Return ``page`` (1..1,000,000, default 1) and ``per_page`` (1..max, default 50)."""
    return {"page": int_arg("page", 1, 1, 1_000_000), "per_page": int_arg("per_page", 50, 1, max_per_page)}


def page_number(*, lenient: bool = False, high: int | None = None) -> int:
    """Return the ``page`` a listing page asks for (absent or empty: 1), 1 or more (a smaller
    number counts as 1, a larger one than ``high`` as ``high``).

    A value that is not a number is refused with :class:`InvalidInput`, or with ``lenient``
    read as page 1.
    """
    raw = request.args.get("page") or "1"
    try:
        number = max(1, int(raw))
        return number if high is None else min(number, high)
    except ValueError:
        if lenient:
            return 1
        raise InvalidInput(N_("page: must be a number, got %(raw)r"), raw=raw) from None


def asset_filters() -> dict:
    """Return the asset-list filters a request asks for, as keyword arguments of
    :func:`wardlink.hub.services.assets.register.list_assets`: q, department, category, equipment_status,
    maintenance_status and sort."""
    args = request.args
    return {"q": args.get("q"), "department_id": optional_id("department", args.get("department")),
            "category": args.get("category") or None,
            "equipment_status": args.get("equipment_status") or None,
            "maintenance_status": args.get("maintenance_status") or None,
            "sort": args.get("sort", "tag")}
