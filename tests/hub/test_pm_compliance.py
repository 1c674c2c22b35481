"""Compliance windows as the Joint Commission applies them, on worked examples: the due date,
the window it gives, and the verdict for completions just inside and just outside it."""

from __future__ import annotations

from datetime import date

import pytest

from wardlink.hub.services.maintenance.compliance import (LATE, MISSED, ON_TIME, PENDING, Tally, Target, Window, window_days,
                                     worst_status)


@pytest.mark.parametrize("count, unit, days", [
    (12, "month", 30), (1, "year", 30),  # annual
    (6, "month", 20),                    # semi-annual
    (3, "month", 10),                    # quarterly
    (1, "month", 7),                     # monthly (Wardlink's choice, see the module)
    (2, "year", 30), (4, "month", 12), (2, "week", 1), (1, "week", 1), (1, "day", 0), (10, "day", 1),
])
def test_window_days_per_interval(count, unit, days):
    assert window_days(count, unit) == days


@pytest.mark.parametrize("interval, due, opens, closes", [
    ((12, "month"), date(2026, 6, 15), date(2026, 5, 16), date(2026, 7, 15)),
    ((6, "month"), date(2026, 3, 1), date(2026, 2, 9), date(2026, 3, 21)),
    ((3, "month"), date(2026, 1, 15), date(2026, 1, 5), date(2026, 1, 25)),
    ((1, "month"), date(2026, 2, 10), date(2026, 2, 3), date(2026, 2, 17)),
])
def test_worked_windows_and_verdicts_at_their_edges(interval, due, opens, closes):
    target = Target(due, window_days(*interval))
    assert target.window == Window(due, opens, closes)
    judge = target.judge
    assert judge(completed_on=opens, completion_meter=None, today=closes, meter_now=None) == ON_TIME
    assert judge(completed_on=closes, completion_meter=None, today=closes, meter_now=None) == ON_TIME
    late_day = date.fromordinal(closes.toordinal() + 1)
    assert judge(completed_on=late_day, completion_meter=None, today=late_day, meter_now=None) == LATE
    # Not done: pending up to the last day of the window, missed the day after.
    assert judge(completed_on=None, completion_meter=None, today=closes, meter_now=None) == PENDING
    assert judge(completed_on=None, completion_meter=None, today=late_day, meter_now=None) == MISSED
    assert target.status(closes, None) == "due" and target.status(late_day, None) == "overdue"


def test_a_service_done_before_its_window_counts_as_on_time():
    target = Target(date(2026, 6, 15), 30)
    assert target.judge(completed_on=date(2026, 4, 1), completion_meter=None,
                        today=date(2026, 8, 1), meter_now=None) == ON_TIME


def test_a_meter_service_may_run_ten_percent_of_its_interval_past_the_due_reading():
    # Every 2,000 h, due at 6,000 h: on time up to 6,200 h.
    target = Target(None, 0, due_meter=6000, tolerance=200)
    assert target.meter_limit == 6200
    assert target.judge(completed_on=date(2026, 5, 1), completion_meter=6200, today=date(2026, 5, 1),
                        meter_now=6200) == ON_TIME
    assert target.judge(completed_on=date(2026, 5, 1), completion_meter=6200.5, today=date(2026, 5, 1),
                        meter_now=6300) == LATE
    assert target.judge(completed_on=None, completion_meter=None, today=date(2026, 5, 1),
                        meter_now=6150) == PENDING
    assert target.judge(completed_on=None, completion_meter=None, today=date(2026, 5, 1),
                        meter_now=6201) == MISSED
    assert target.status(date(2026, 5, 1), None) == "due"  # meter unknown: not judged overdue


def test_whichever_first_must_meet_both_limits():
    # Due 2026-07-10 (semi-annual, +-20 days) or 4,000 h (+-100 h).
    target = Target(date(2026, 7, 10), 20, due_meter=4000, tolerance=100)
    on_date_over_meter = target.judge(completed_on=date(2026, 7, 1), completion_meter=4150,
                                      today=date(2026, 7, 1), meter_now=4150)
    assert on_date_over_meter == LATE
    assert target.judge(completed_on=date(2026, 7, 30), completion_meter=4050, today=date(2026, 7, 30),
                        meter_now=4050) == ON_TIME
    assert target.judge(completed_on=None, completion_meter=None, today=date(2026, 7, 1),
                        meter_now=4101) == MISSED


def test_the_tally_gives_completion_and_on_time_rates_of_judged_services_only():
    tally = Tally()
    for verdict in (ON_TIME, ON_TIME, ON_TIME, LATE, MISSED, PENDING):
        tally.add(verdict)
    assert tally.as_dict() == {"on_time": 3, "late": 1, "missed": 1, "pending": 1, "judged": 5,
                               "completion_pct": 80.0, "on_time_pct": 60.0}
    assert Tally().completion_pct is None


def test_the_worst_status_wins():
    assert worst_status([]) == "compliant"
    assert worst_status(["due", "compliant"]) == "due"
    assert worst_status(["due", "overdue", "compliant"]) == "overdue"
