"""Utility meters: meters and their validation, hand readings, pulse meters' days rolled up from
a real telemetry store (idempotently, restarts and late readings included), monthly use per
department against the same month last year with its files, and the baseline alert once per
meter and day."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from relational_support import actor, clock, engine, session
from sqlalchemy import func, select
from utilities_support import department_id, local_ms, pulse_meter, steady_day, counter_points

from wardlink.hub.db.models import AuditLog, Notice, UtilityAlert, UtilityDay
from wardlink.hub.errors import InvalidInput, NotFound, PermissionDenied
from wardlink.hub.services.utilities import meters, readings, rollup, usage
from wardlink.hub.telemetry.sqlite import SQLiteStore

__all__ = ["clock", "engine", "session"]


@pytest.fixture
def store(tmp_path):
    with SQLiteStore(tmp_path / "telemetry.db") as opened:
        yield opened


def test_a_meter_read_by_hand_takes_readings_over_periods_and_each_is_audited(session, clock):
    meter = meters.create_meter(session, {"name": "Ward water", "kind": "water", "unit": "L",
                                          "department_id": department_id(session, "ICU")}, actor=None, clock=clock)
    assert (meter.source, meter.unit, meter.baseline_weeks, meter.site.code) == ("manual", "L", 4, "RGH")
    tech = actor(session, "tech")
    row = readings.record_reading(session, meter.id, {"quantity": "1500", "period_start": "2025-12-01",
                                                      "period_end": "2025-12-31", "notes": "monthly"},
                                  actor=tech, clock=clock)
    assert (row.username, row.period_start, row.quantity) == ("tech", dt.date(2025, 12, 1), Decimal("1500"))
    today = readings.record_reading(session, meter.id, {"quantity": "40"}, actor=tech, clock=clock)
    assert today.period_start == today.period_end == dt.date(2026, 1, 1)
    assert [r.id for r in readings.list_readings(session, meter.id, actor=tech).items] == [today.id, row.id]
    actions = session.scalars(select(AuditLog.action).where(AuditLog.entity == "utility_meter")
                              .order_by(AuditLog.id)).all()
    assert actions == ["utility.create", "utility.reading", "utility.reading"]


@pytest.mark.parametrize("fields, message", [
    ({"name": "X", "kind": "gas"}, "kind: must be one of electricity, water, diesel, oxygen"),
    ({"name": "X", "kind": "electricity", "unit": "L"}, "unit: electricity meters count in kWh"),
    ({"name": "X", "kind": "diesel", "unit": "m3"}, "unit: diesel meters count in L"),
    ({"name": "X", "kind": "electricity", "source": "pulse"}, "units_per_pulse: is required for a pulse meter"),
    ({"name": "X", "kind": "electricity", "source": "pulse", "units_per_pulse": "0.001", "gateway_id": "gw"},
     "channel_id: is required for a pulse meter"),
    ({"name": "X", "kind": "electricity", "source": "pulse", "units_per_pulse": "0"}, "units_per_pulse: must be"),
    ({"name": "X", "kind": "electricity", "alert_percent": "-5"}, "alert_percent: must be a percentage"),
    ({"name": "X", "kind": "electricity", "baseline_weeks": "60"}, "baseline_weeks: must be a whole number 1..52"),
    ({"name": "", "kind": "electricity"}, "name: is required"),
    ({"name": "X", "kind": "electricity", "department_id": 99999}, "department_id: no department 99999"),
])
def test_bad_meters_are_refused_with_the_field_named(session, clock, fields, message):
    with pytest.raises(InvalidInput, match=message):
        meters.create_meter(session, fields, actor=None, clock=clock)


def test_meter_names_are_unique_in_a_site_without_case(session, clock):
    pulse_meter(session, clock)
    with pytest.raises(InvalidInput, match="name: the site already has a meter named 'ICU main supply'"):
        meters.create_meter(session, {"name": "icu  MAIN supply", "kind": "electricity"}, actor=None, clock=clock)


@pytest.mark.parametrize("fields, message", [
    ({"quantity": "-1"}, "quantity: must be a number 0 or more"),
    ({"quantity": "1", "period_end": "2026-01-02"}, "period_end: 2026-01-02 is in the future"),
    ({"quantity": "1", "period_start": "2025-12-31", "period_end": "2025-12-01"}, "period_start: must be on or before"),
    ({"quantity": "1", "period_start": "2024-01-01", "period_end": "2025-12-01"}, "a period is at most 366 days"),
])
def test_bad_hand_readings_are_refused_and_nothing_is_written(session, clock, fields, message):
    meter = meters.create_meter(session, {"name": "Diesel tank", "kind": "diesel"}, actor=None, clock=clock)
    with pytest.raises(InvalidInput, match=message):
        readings.record_reading(session, meter.id, fields, actor=None, clock=clock)
    assert readings.list_readings(session, meter.id, actor=None).total == 0


def test_a_pulse_meter_takes_no_hand_readings(session, clock):
    meter = pulse_meter(session, clock)
    with pytest.raises(InvalidInput, match="is read by its gateway; it takes no hand readings"):
        readings.record_reading(session, meter.id, {"quantity": "5"}, actor=None, clock=clock)


def test_people_see_and_change_only_what_their_role_and_department_allow(session, clock):
    icu = pulse_meter(session, clock)
    pharmacy = meters.create_meter(session, {"name": "Pharmacy water", "kind": "water",
                                             "department_id": department_id(session, "PHARM")}, actor=None,
                                   clock=clock)
    pharmtech = actor(session, "pharmtech")
    assert [m.id for m in meters.list_meters(session, actor=pharmtech).items] == [pharmacy.id]
    with pytest.raises(NotFound):
        meters.get_meter(session, icu.id, actor=pharmtech)
    assert readings.record_reading(session, pharmacy.id, {"quantity": "1"}, actor=pharmtech,
                                   clock=clock).username == "pharmtech"
    with pytest.raises(PermissionDenied, match="may not view utility meters"):
        meters.list_meters(session, actor=actor(session, "nurse"))
    with pytest.raises(PermissionDenied, match="may not enter utility meter readings"):
        readings.record_reading(session, pharmacy.id, {"quantity": "1"}, actor=actor(session, "viewer"), clock=clock)
    with pytest.raises(PermissionDenied, match="may not add or change utility meters"):
        meters.create_meter(session, {"name": "Mine", "kind": "water"}, actor=actor(session, "tech"), clock=clock)


def test_count_day_counts_rises_restarts_and_gives_each_interval_to_the_day_of_its_end():
    # (ts, count): a reading at the day's start belongs to the day before; 40 -> 5 is a restart.
    readings_ = [(0, 10.0), (100, 25.0), (200, 40.0), (300, 5.0), (400, 9.0), (500, None), (600, 20.0), (700, 30.0)]
    assert rollup.count_day(readings_, 0, 600) == rollup.DayCount(pulses=15 + 15 + 5 + 4 + 11, points=5)
    assert rollup.count_day(readings_, 600, 1000) == rollup.DayCount(pulses=10, points=1)
    assert rollup.count_day([(50, 7.0)], 0, 600) == rollup.DayCount(pulses=0, points=1)


def test_days_are_rolled_up_from_the_store_in_place_and_late_readings_count_when_they_arrive(session, clock, store):
    pulse_meter(session, clock)
    day = dt.date(2025, 12, 30)
    store.write(steady_day(day, 2000))  # a steady 2 kW on a 1000 imp/kWh meter
    clock.set(local_ms(dt.date(2026, 1, 1), 1) / 1000)
    # The reading at the day's first midnight is the day before's: a day of one reading and nothing used.
    assert rollup.roll_up(session, store, clock=clock) == {"days": 2, "alerts": 0}
    before, row = session.scalars(select(UtilityDay).order_by(UtilityDay.day)).all()
    assert (before.day, before.pulses, before.points) == (day - dt.timedelta(days=1), 0, 1)
    assert (row.day, row.quantity, row.pulses, row.points) == (day, Decimal("48.0000"), 48_000, 144)
    assert rollup.roll_up(session, store, clock=clock) == {"days": 2, "alerts": 0}
    assert session.scalar(select(func.count()).select_from(UtilityDay)) == 2
    # The next day arrives late (a gateway back online), after a restart of its counter.
    store.write(counter_points(local_ms(day + dt.timedelta(days=1)) + 600_000, 3600, [100, 1100, 2100]))
    rollup.roll_up(session, store, clock=clock)
    late = session.scalar(select(UtilityDay).where(UtilityDay.day == day + dt.timedelta(days=1)))
    assert (late.pulses, late.quantity) == (2100, Decimal("2.1000"))


def test_a_day_far_above_its_baseline_alerts_the_managers_exactly_once(session, clock, store):
    meter = pulse_meter(session, clock, alert_percent="25", baseline_weeks=2)
    monday = dt.date(2025, 12, 29)
    for weeks_back, rate in ((2, 1400), (1, 1000)):
        store.write(steady_day(monday - dt.timedelta(weeks=weeks_back), rate))
    day = steady_day(monday, 1500)  # baseline 28.8 kWh; 25 % above it is 36 kWh
    store.write(day[:-1])  # the day's last ten minutes not yet delivered: 35.75 kWh
    clock.set(local_ms(dt.date(2026, 1, 1), 1) / 1000)
    rollup.roll_up(session, store, clock=clock, days=21)
    assert session.scalar(select(func.count()).select_from(UtilityAlert)) == 0
    store.write(counter_points(day[-1].ts_ms, 600, [36_001]))  # they arrive: 36.001 kWh
    for _ in range(3):
        rollup.roll_up(session, store, clock=clock, days=21)
    alert = session.scalars(select(UtilityAlert)).one()
    assert (alert.day, alert.baseline, alert.quantity, alert.share) == (
        monday, Decimal("28.8000"), Decimal("36.0010"), Decimal("0.250"))
    told = session.scalars(select(Notice).where(Notice.event == "utility_high")).all()
    assert told and len({n.user_id for n in told}) == len(told)
    assert "ICU main supply used 36.001 kWh on 2025-12-29, baseline 28.8" in told[0].subject
    assert all(n.link == f"/utilities/meters/{meter.id}" for n in told)


def test_monthly_use_per_department_against_the_same_month_last_year_and_its_files(session, clock, store):
    icu = pulse_meter(session, clock)
    site = meters.create_meter(session, {"name": "Site water", "kind": "water", "unit": "L"}, actor=None, clock=clock)
    ward = meters.create_meter(session, {"name": "ICU water", "kind": "water", "unit": "m3",
                                         "department_id": department_id(session, "ICU")}, actor=None, clock=clock)
    readings.record_reading(session, site.id, {"quantity": "62000", "period_start": "2025-11-16",
                                               "period_end": "2025-12-16"}, actor=None, clock=clock)
    readings.record_reading(session, ward.id, {"quantity": "10", "period_start": "2024-12-01",
                                               "period_end": "2024-12-31"}, actor=None, clock=clock)
    readings.record_reading(session, ward.id, {"quantity": "12.5", "period_start": "2025-12-01",
                                               "period_end": "2025-12-31"}, actor=None, clock=clock)
    report = usage.compute(session, "water", actor=None, clock=clock, start="2025-11", end="2025-12")
    assert report.unit == "m3" and report.labels == ["2025-11", "2025-12"]
    assert [(r.name, r.quantities, r.last_year) for r in report.rows] == [
        ("", [Decimal("30.000"), Decimal("32.000")], [Decimal("0.000"), Decimal("0.000")]),
        ("Intensive Care Unit", [Decimal("0.000"), Decimal("12.500")], [Decimal("0.000"), Decimal("10.000")])]
    assert usage.change_percent(Decimal("12.5"), Decimal("10")) == Decimal("25.0")
    lines = list(csv.reader(io.StringIO(usage.to_file(report, "csv").decode("utf-8-sig"))))
    assert lines[0] == list(usage.HEADER)
    assert lines[-1] == ["ICU", "water", "m3", "2025-12", "12.5", "10", "25"]
    sheet = load_workbook(io.BytesIO(usage.to_file(report, "xlsx"))).active
    assert [c.value for c in list(sheet.iter_rows())[-1]] == ["ICU", "water", "m3", "2025-12", 12.5, 10, 25]
    store.write(steady_day(dt.date(2025, 12, 30), 2000))
    clock.set(local_ms(dt.date(2026, 1, 1), 1) / 1000)
    rollup.roll_up(session, store, clock=clock)
    power = usage.compute(session, "electricity", actor=actor(session, "manager"), clock=clock, end="2025-12")
    assert [(r.name, r.quantities[-1]) for r in power.rows] == [("Intensive Care Unit", Decimal("48.000"))]
    assert power.chart(site_label="Site", last_year_label="Last year")["series"][0]["values"][-1] == 48.0
    assert icu.id in {m.id for m in meters.list_meters(session, actor=None, kind="electricity").items}


def test_periods_are_refused_when_reversed_or_too_long(session, clock):
    with pytest.raises(InvalidInput, match="from: must be a month on or before to"):
        usage.compute(session, "water", actor=None, clock=clock, start="2025-12", end="2025-01")
    with pytest.raises(InvalidInput, match="from: months go from 1901-01 to 9998-12"):
        usage.compute(session, "water", actor=None, clock=clock, end="9999-12")
    with pytest.raises(InvalidInput, match="to: a period is at most 36 months"):
        usage.compute(session, "water", actor=None, clock=clock, start="2020-01", end="2025-01")


def test_two_schedulers_roll_a_day_up_once_and_alert_once_on_an_injected_clock(engine, clock, store):
    from wardlink.hub.db import session_scope
    from wardlink.hub.scheduler import JOBS, Scheduler

    monday = dt.date(2025, 12, 29)
    with session_scope(engine) as s:
        pulse_meter(s, clock, alert_percent="50", baseline_weeks=1)
    store.write(steady_day(monday - dt.timedelta(weeks=1), 1000))
    store.write(steady_day(monday, 1600))  # 38.4 kWh against 24: 60 % above the baseline
    clock.set(local_ms(monday, 23.5) / 1000)  # the day has not ended yet
    job = [j for j in JOBS if j.name == "utility_rollup"]
    north = Scheduler(engine, clock=clock, holder="north", jobs=job, telemetry=store)
    south = Scheduler(engine, clock=clock, holder="south", jobs=job, telemetry=store)
    runs = []
    for _ in range(8):  # two hours in quarter-hour rounds: the day ends at midnight
        runs += [north.run_once(), south.run_once()]
        clock.advance(900)
    assert all(not r.leader for r in runs[1::2]) and all(r.leader and not r.failed for r in runs[0::2])
    alerts = [r.ran["utility_rollup"]["alerts"] for r in runs[0::2]]
    assert alerts == [0, 0, 1, 0, 0, 0, 0, 0]  # judged as soon as the day closed, then never again
    with session_scope(engine, readonly=True) as s:
        (alert,) = s.scalars(select(UtilityAlert)).all()
        assert (alert.day, alert.quantity, alert.baseline) == (monday, Decimal("38.4000"), Decimal("24.0000"))
        told = s.scalars(select(Notice).where(Notice.event == "utility_high")).all()
        assert len(told) == len({n.user_id for n in told}) >= 1
    north.close()
    south.close()
