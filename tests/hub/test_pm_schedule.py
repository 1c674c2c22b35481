"""When services fall due: calendar grids, lead time, catch-up, meters and whichever-first,
each on a worked example with the dates written out."""

from __future__ import annotations

from datetime import date

import pytest

from wardlink.hub.services.maintenance.pm_schedule import Due, Previous, Schedule, add_months, next_due, shift, upcoming


@pytest.mark.parametrize("start, months, expected", [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
    (date(2026, 1, 31), 3, date(2026, 4, 30)),
    (date(2026, 11, 15), 2, date(2027, 1, 15)),
    (date(2026, 3, 31), -1, date(2026, 2, 28)),
    (date(2024, 2, 29), 12, date(2025, 2, 28)),
])
def test_month_steps_clamp_to_the_end_of_shorter_months(start, months, expected):
    assert add_months(start, months) == expected


def test_shift_counts_days_weeks_months_and_years():
    assert shift(date(2026, 1, 1), 10, "day") == date(2026, 1, 11)
    assert shift(date(2026, 1, 1), 2, "week", times=3) == date(2026, 2, 12)
    assert shift(date(2026, 1, 31), 1, "month", times=2) == date(2026, 3, 31)
    assert shift(date(2026, 6, 30), 1, "year") == date(2027, 6, 30)
    with pytest.raises(ValueError, match="fortnight"):
        shift(date(2026, 1, 1), 1, "fortnight")


def test_a_monthly_grid_counts_from_the_anchor_so_the_31st_never_drifts():
    plan = Schedule("calendar", anchor_date=date(2026, 1, 31), interval_count=1, interval_unit="month")
    assert [plan.calendar_due(n) for n in range(4)] == [
        date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31)]


def test_a_calendar_service_is_generated_lead_days_before_it_is_due():
    # Annual plan anchored on the last service, 2025-03-01: next due 2026-03-01, lead 14 days.
    plan = Schedule("calendar", anchor_date=date(2025, 3, 1), interval_count=12, interval_unit="month",
                    lead_days=14)
    start = date(2025, 3, 1)
    assert next_due(plan, None, today=date(2026, 2, 14), meter_now=None, start_on=start) is None
    assert next_due(plan, None, today=date(2026, 2, 15), meter_now=None, start_on=start) == Due(
        0, date(2026, 3, 1), None)
    # Once generated, the next one waits for its own lead time, whether or not this one is done.
    done = Previous(seq=0, state="open", due_date=date(2026, 3, 1))
    assert next_due(plan, done, today=date(2026, 4, 1), meter_now=None, start_on=start) is None
    assert next_due(plan, done, today=date(2027, 2, 15), meter_now=None, start_on=start) == Due(
        1, date(2027, 3, 1), None)


def test_a_late_service_does_not_move_the_calendar_grid():
    plan = Schedule("calendar", anchor_date=date(2026, 1, 1), interval_count=3, interval_unit="month",
                    lead_days=7)
    late = Previous(seq=0, state="completed", due_date=date(2026, 4, 1), completed_on=date(2026, 5, 20))
    assert upcoming(plan, late, start_on=date(2026, 1, 1)).due_date == date(2026, 7, 1)


def test_services_whose_window_closed_before_the_plan_existed_are_not_generated():
    # Quarterly grid from 2025-01-10 (window +-10 days); the plan was created on 2025-07-25.
    # 2025-04-10 (window closed 04-20) belongs to no one; 2025-07-10 (window until 07-20) too;
    # the first service is 2025-10-10.
    plan = Schedule("calendar", anchor_date=date(2025, 1, 10), interval_count=3, interval_unit="month",
                    lead_days=14)
    assert upcoming(plan, None, start_on=date(2025, 7, 25)).due_date == date(2025, 10, 10)
    # Created on 2025-07-20, the 07-10 service is still inside its window: it is generated.
    assert upcoming(plan, None, start_on=date(2025, 7, 20)).due_date == date(2025, 7, 10)


def test_a_service_whose_window_closed_unseen_while_the_next_is_up_is_skipped():
    # Monthly (window +-7), lead 14. The generator was down from 2025-12-15 to 2026-01-20:
    # the 2026-01-01 service closed on 01-08 and the 02-01 one is already up (from 01-18).
    plan = Schedule("calendar", anchor_date=date(2025, 11, 1), interval_count=1, interval_unit="month",
                    lead_days=14)
    before = Previous(seq=0, state="completed", due_date=date(2025, 12, 1))
    first = next_due(plan, before, today=date(2026, 1, 20), meter_now=None, start_on=date(2025, 11, 1))
    assert first == Due(1, date(2026, 1, 1), None, skipped=True)
    skipped = Previous(seq=1, state="skipped", due_date=date(2026, 1, 1))
    assert next_due(plan, skipped, today=date(2026, 1, 20), meter_now=None,
                    start_on=date(2025, 11, 1)) == Due(2, date(2026, 2, 1), None)
    # Back on 2026-01-10 instead, the January service is late but still worth doing.
    assert next_due(plan, before, today=date(2026, 1, 10), meter_now=None,
                    start_on=date(2025, 11, 1)) == Due(1, date(2026, 1, 1), None)


def test_changing_the_interval_never_schedules_before_the_last_service():
    # Monthly services ran to 2026-06-15; the plan is switched to every 2 weeks from the same anchor.
    plan = Schedule("calendar", anchor_date=date(2026, 1, 15), interval_count=2, interval_unit="week")
    last = Previous(seq=4, state="completed", due_date=date(2026, 6, 15), completed_on=date(2026, 6, 15))
    nxt = upcoming(plan, last, start_on=date(2026, 1, 15))
    # The first date of the new grid after 06-15: 2026-01-15 + 11 x 14 days.
    assert (nxt.seq, nxt.due_date) == (10, date(2026, 6, 18))


def test_a_meter_service_falls_due_at_the_last_reading_plus_the_interval():
    # Every 500 run-hours, generated 50 h ahead; the plan started at 100 h.
    plan = Schedule("meter", anchor_date=date(2026, 1, 1), meter_interval=500, anchor_meter=100,
                    meter_lead=50)
    assert next_due(plan, None, today=date(2026, 5, 1), meter_now=549.9, start_on=date(2026, 1, 1)) is None
    assert next_due(plan, None, today=date(2026, 5, 1), meter_now=550, start_on=date(2026, 1, 1)) == Due(
        0, None, 600)
    # While it is open nothing else is generated, however far the meter runs.
    open_ = Previous(seq=0, state="open", due_meter=600)
    assert next_due(plan, open_, today=date(2026, 9, 1), meter_now=2000, start_on=date(2026, 1, 1)) is None
    # Done at 620 h: the next is due at 1120 h (generated from 1070 h).
    done = Previous(seq=0, state="completed", due_meter=600, completed_on=date(2026, 5, 3),
                    completion_meter=620)
    assert next_due(plan, done, today=date(2026, 9, 1), meter_now=1069, start_on=date(2026, 1, 1)) is None
    assert next_due(plan, done, today=date(2026, 9, 1), meter_now=1070, start_on=date(2026, 1, 1)) == Due(
        1, None, 1120)
    # Completed without a reading: assume it was done at its due reading.
    unread = Previous(seq=0, state="completed", due_meter=600, completed_on=date(2026, 5, 3))
    assert upcoming(plan, unread, start_on=date(2026, 1, 1)).due_meter == 1100


def test_whichever_comes_first_restarts_both_counts_from_the_service():
    # Every 6 months or 1,000 h, lead 14 days / 0 h; last service 2026-01-10 at 3,000 h.
    plan = Schedule("whichever_first", anchor_date=date(2026, 1, 10), interval_count=6, interval_unit="month",
                    meter_interval=1000, anchor_meter=3000, lead_days=14)
    start = date(2026, 1, 10)
    # The calendar wins for a lightly used device: due 2026-07-10, generated from 06-26.
    assert next_due(plan, None, today=date(2026, 6, 25), meter_now=3400, start_on=start) is None
    assert next_due(plan, None, today=date(2026, 6, 26), meter_now=3400, start_on=start) == Due(
        0, date(2026, 7, 10), 4000)
    # The meter wins for a busy one: 4,000 h reached in March.
    assert next_due(plan, None, today=date(2026, 3, 20), meter_now=4000, start_on=start) == Due(
        0, date(2026, 7, 10), 4000)
    # Serviced on 2026-03-22 at 4,010 h: next due 2026-09-22 or 5,010 h.
    done = Previous(seq=0, state="completed", due_date=date(2026, 7, 10), due_meter=4000,
                    completed_on=date(2026, 3, 22), completion_meter=4010)
    nxt = upcoming(plan, done, start_on=start)
    assert (nxt.seq, nxt.due_date, nxt.due_meter) == (1, date(2026, 9, 22), 5010)
