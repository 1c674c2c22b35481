"""Utility meters for the tests: a pulse meter's counter readings in a real telemetry store."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from wardlink.hub.db.models import Department
from wardlink.hub.services.utilities import meters
from wardlink.hub.telemetry.model import Point

LONDON = ZoneInfo("Europe/London")  # the demo site's zone
GATEWAY = "gw-plant-01"
CHANNEL = "main.pulses"


def department_id(session, code: str) -> int:
    """Return the id of the demo department ``code``."""
    return session.scalar(select(Department.id).where(Department.code == code))


def pulse_meter(session, clock, *, name: str = "ICU main supply", code: str | None = "ICU",
                per_pulse: str = "0.001", alert_percent: str | None = "25", **extra):
    """Add an electricity pulse meter of 1000 imp/kWh bound to the test gateway's channel."""
    data = {"name": name, "kind": "electricity", "source": "pulse", "units_per_pulse": per_pulse,
            "gateway_id": GATEWAY, "channel_id": CHANNEL, "alert_percent": alert_percent, **extra}
    if code is not None:
        data["department_id"] = department_id(session, code)
    return meters.create_meter(session, data, actor=None, clock=clock)


def local_ms(day: dt.date, hour: float = 0.0) -> int:
    """Return the UTC milliseconds of ``hour`` o'clock on ``day`` at the demo site."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=LONDON)
    return int(start.timestamp() * 1000 + hour * 3_600_000)


def counter_points(start_ms: int, step_s: int, counts: list[float], *, channel: str = CHANNEL) -> list[Point]:
    """Return a pulse counter's readings: ``counts`` every ``step_s`` seconds from ``start_ms``."""
    return [Point.of("unbound", {"gateway": GATEWAY, "channel": channel}, start_ms + n * step_s * 1000, float(c))
            for n, c in enumerate(counts)]


def steady_day(day: dt.date, pulses_per_hour: int, *, step_s: int = 600, start: float = 0.0) -> list[Point]:
    """Return a day of whole pulse counts at a steady rate, from the midnight starting it (a reading of
    the day before) to the midnight ending it."""
    steps = 86_400 // step_s
    per_step = pulses_per_hour * step_s / 3600
    return counter_points(local_ms(day), step_s, [float(int(start + n * per_step)) for n in range(steps + 1)])


def matrix_meter(engine, clock) -> int:
    """Add an ICU water meter read by hand (for the RBAC matrix and the page checks); return its id."""
    from wardlink.hub.db import session_scope
    from wardlink.hub.db.models import UtilityMeter

    with session_scope(engine) as s:
        found = s.scalar(select(UtilityMeter.id).where(UtilityMeter.name_key == "matrix water"))
        if found is not None:
            return found
        return meters.create_meter(s, {"name": "Matrix water", "kind": "water",
                                       "department_id": department_id(s, "ICU")}, actor=None, clock=clock).id
