"""The utility meters: what each measures (electricity, water, diesel, oxygen), in which unit,
where (a site, or one department of it), and how it is read.

A meter read by hand (``source = 'manual'``) gets readings people enter (:mod:`.readings`). A
pulse meter (``source = 'pulse'``) names the gateway channel that counts its pulse output (a
``pulse_counter`` channel's ``total``, counting pulses: ``per_pulse = 1`` on the gateway) and
how many units one pulse is worth (``units_per_pulse``: 0.001 for a 1000 imp/kWh meter); its
days are rolled up from the telemetry store (:mod:`.rollup`).

Managers add and change meters (``utility.manage``); everyone with ``utility.view`` sees the
meters of their department (administrators and unscoped people every meter). A meter with
readings is deactivated, never deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Department, Site, UtilityMeter
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import UTILITY_KINDS, UTILITY_SOURCES
from wardlink.hub.errors import InvalidInput, NotFound, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import get_row, key_of, number, tidy
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.validate import boolean, choice, optional_id, parse_fields, text, whole_number
from wardlink.clock import Clock

#: The units each kind of meter may count in; the first is the unit its totals are shown in.
KIND_UNITS: Mapping[str, tuple[str, ...]] = {
    "electricity": ("kWh",), "water": ("m3", "L"), "diesel": ("L",), "oxygen": ("m3", "L"),
}
#: Factors from a meter's unit to its kind's display unit.
TO_DISPLAY: Mapping[tuple[str, str], Decimal] = {
    ("L", "m3"): Decimal("0.001"), ("m3", "L"): Decimal("1000"),
}
MAX_PER_PULSE = Decimal("100000")
#: What :func:`get_row` calls a meter.
ROW_NAME = N_("utility meter")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def display_unit(kind: str) -> str:
    """Return the unit a kind's totals are shown in (kWh, m3 or L)."""
    return KIND_UNITS[kind][0]


def to_display(meter: UtilityMeter, quantity: Decimal) -> Decimal:
    """Return ``quantity`` in the meter's unit converted to its kind's display unit."""
    return quantity * TO_DISPLAY.get((meter.unit, display_unit(meter.kind)), Decimal(1))


def _per_pulse(name: str, value: Any) -> Decimal | None:
    """Parse units per pulse: a number above 0 with at most eight decimals; blank means None."""
    if _blank(value):
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        amount = Decimal("NaN")
    if isinstance(value, bool) or not amount.is_finite() or not 0 < amount < MAX_PER_PULSE \
            or amount != amount.quantize(Decimal("1e-8")):
        raise InvalidInput(N_("%(field)s: must be a number above 0 and below %(most)s with at most eight "
                              "decimals, got %(value)r"), field=name, most=MAX_PER_PULSE, value=value)
    return amount


def _share(name: str, value: Any) -> Decimal | None:
    """Parse a share in percent (25 for 25 %) into a fraction; blank means no alert."""
    if _blank(value):
        return None
    try:
        percent = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        percent = Decimal("NaN")
    if isinstance(value, bool) or not percent.is_finite() or not 0 < percent <= 1000 \
            or percent != percent.quantize(Decimal("0.1")):
        raise InvalidInput(N_("%(field)s: must be a percentage above 0 and up to 1000 with at most one decimal, "
                              "got %(value)r"), field=name, value=value)
    return (percent / 100).quantize(Decimal("0.001"))


def _or_default(parse: Any, default: Any) -> Any:
    """Return ``parse`` where a blank value means ``default``."""
    def parse_or_default(name: str, value: Any) -> Any:
        return default if _blank(value) else parse(name, value)
    return parse_or_default


FIELDS = {
    "site_id": optional_id, "department_id": optional_id, "name": text(200, required=True),
    "kind": choice(UTILITY_KINDS), "unit": text(8), "source": _or_default(choice(UTILITY_SOURCES), "manual"),
    "units_per_pulse": _per_pulse, "gateway_id": text(64), "channel_id": text(128),
    "baseline_weeks": whole_number(1, 52), "alert_percent": _share, "notes": text(2000), "active": boolean,
}


def snapshot(meter: UtilityMeter) -> dict[str, Any]:
    """Return a meter's fields (for audit rows and the API)."""
    return {"id": meter.id, "site_id": meter.site_id, "department_id": meter.department_id, "name": meter.name,
            "kind": meter.kind, "unit": meter.unit, "source": meter.source,
            "units_per_pulse": number(meter.units_per_pulse), "gateway_id": meter.gateway_id,
            "channel_id": meter.channel_id, "baseline_weeks": meter.baseline_weeks,
            "alert_percent": number(meter.alert_share * 100) if meter.alert_share is not None else None,
            "notes": meter.notes, "active": meter.active}


def get_meter(session: Session, meter_id: Any, *, actor: Actor | None, for_update: bool = False) -> UtilityMeter:
    """Return meter ``meter_id`` for someone who may see it (their department's, unless unscoped)."""
    who = resolve_actor(actor)
    require(who, "utility.view")
    meter = get_row(session, UtilityMeter, meter_id, ROW_NAME, for_update=for_update)
    scope = department_scope(who)
    if scope is not None and meter.department_id != scope:
        raise NotFound(N_("utility meter %(meter_id)s does not exist"), meter_id=meter_id)
    return meter


def _place(session: Session, who: Actor, meter: UtilityMeter, fields: dict[str, Any]) -> None:
    department_id = fields.pop("department_id", meter.department_id)
    site_id = fields.pop("site_id", None)
    if department_id is not None:
        department = session.get(Department, department_id)
        if department is None:
            raise InvalidInput(N_("department_id: no department %(department_id)s"), department_id=department_id)
        if site_id is not None and site_id != department.site_id:
            raise InvalidInput(N_("site_id: department %(department)s is not at site %(site_id)s"),
                               department=department.name, site_id=site_id)
        site_id = department.site_id
    require_department(who, department_id, N_("the utility meter"))
    site_id = site_id or meter.site_id or session.scalar(select(Site.id).order_by(Site.id).limit(1))
    if site_id is None or session.get(Site, site_id) is None:
        raise InvalidInput(N_("site_id: no site %(site_id)s"), site_id=site_id)
    meter.site_id, meter.department_id = site_id, department_id


def _check_reading(meter: UtilityMeter) -> None:
    allowed = KIND_UNITS[meter.kind]
    if meter.unit not in allowed:
        raise InvalidInput(N_("unit: %(kind)s meters count in %(choices)s, got %(value)r"), kind=Term(meter.kind),
                           choices=", ".join(allowed), value=meter.unit)
    if meter.source == "pulse":
        for field in ("units_per_pulse", "gateway_id", "channel_id"):
            if not getattr(meter, field):
                raise InvalidInput(N_("%(field)s: is required for a pulse meter"), field=field)
    else:
        meter.units_per_pulse = meter.gateway_id = meter.channel_id = None


def _apply(session: Session, who: Actor, meter: UtilityMeter, data: Mapping[str, Any], *, partial: bool) -> None:
    fields = parse_fields(FIELDS, data, partial=partial)
    if not partial or {"site_id", "department_id"} & set(fields):
        _place(session, who, meter, fields)
    fields.pop("site_id", None)
    fields.pop("department_id", None)
    if "alert_percent" in fields:
        meter.alert_share = fields.pop("alert_percent")
    if not partial:
        fields["unit"] = fields["unit"] or display_unit(fields["kind"])
        fields["baseline_weeks"] = fields["baseline_weeks"] or 4
        fields["active"] = data.get("active") is None or fields["active"]
    for key in ("gateway_id", "channel_id"):
        if key in fields:
            fields[key] = fields[key] or None
    if "name" in fields:
        fields["name"] = tidy(fields["name"])
        meter.name_key = key_of(fields["name"])
    for field, value in fields.items():
        setattr(meter, field, value)
    _check_reading(meter)
    other = session.scalar(select(UtilityMeter).where(UtilityMeter.site_id == meter.site_id,
                                                      UtilityMeter.name_key == meter.name_key))
    if other is not None and other is not meter:
        raise InvalidInput(N_("name: the site already has a meter named '%(name)s'"), name=other.name)


def create_meter(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                 clock: Clock | None = None) -> UtilityMeter:
    """Add a meter (``department_id`` left out: a meter of the whole site); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "utility.manage")
    now = utc_now(clock)
    meter = UtilityMeter(created_at=now, updated_at=now, name_key="", notes="")
    _apply(session, who, meter, data, partial=False)
    session.add(meter)
    session.flush()
    audit.record(session, actor=who, action="utility.create", entity="utility_meter", entity_id=meter.id,
                 after=snapshot(meter), clock=clock)
    return meter


def update_meter(session: Session, meter_id: Any, changes: Mapping[str, Any], *, actor: Actor | None,
                 clock: Clock | None = None) -> UtilityMeter:
    """Change a meter; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "utility.manage")
    meter = get_meter(session, meter_id, actor=who, for_update=True)
    before = snapshot(meter)
    _apply(session, who, meter, changes, partial=True)
    session.flush()
    old, new = audit.changes(before, snapshot(meter))
    if new:
        meter.updated_at = utc_now(clock)
        audit.record(session, actor=who, action="utility.update", entity="utility_meter", entity_id=meter.id,
                     before=old, after=new, clock=clock)
    return meter


def list_meters(session: Session, *, actor: Actor | None, kind: str | None = None,
                department_id: int | None = None, active: bool | None = True, page: int = 1,
                per_page: int = 50) -> Page[UtilityMeter]:
    """Return one page of meters by kind and name; a person limited to a department sees its meters."""
    who = resolve_actor(actor)
    require(who, "utility.view")
    stmt = select(UtilityMeter).options(selectinload(UtilityMeter.department), selectinload(UtilityMeter.site))
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(UtilityMeter.department_id == scope)
    if kind:
        stmt = stmt.where(UtilityMeter.kind == choice(UTILITY_KINDS)("kind", kind))
    if department_id is not None:
        stmt = stmt.where(UtilityMeter.department_id == department_id)
    if active is not None:
        stmt = stmt.where(UtilityMeter.active.is_(active))
    return paginate(session, stmt.order_by(UtilityMeter.kind, UtilityMeter.name_key, UtilityMeter.id), page, per_page)


def pulse_meters(session: Session) -> list[UtilityMeter]:
    """Return the active pulse meters (for the roll-up job)."""
    return list(session.scalars(select(UtilityMeter).options(selectinload(UtilityMeter.site))
                                .where(UtilityMeter.source == "pulse", UtilityMeter.active.is_(True))
                                .order_by(UtilityMeter.id)))


def departments(session: Session, *, actor: Actor | None) -> list[Department]:
    """Return the departments whose meters ``actor`` may see, by name."""
    who = resolve_actor(actor)
    require(who, "utility.view")
    stmt = select(Department).order_by(Department.name, Department.id)
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(Department.id == scope)
    return list(session.scalars(stmt))
