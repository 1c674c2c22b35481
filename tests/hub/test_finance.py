"""Asset finance against hand-computed figures: straight-line depreciation by the day across
partial years and leap years down to the salvage floor, the cost of ownership of each year
(depreciation, parts, labour at rates, vendor charges, a share of a contract), and the
repair-or-replace flag, on SQLite and PostgreSQL.

The hand computations are written next to each figure; the clock starts at 2026-01-01 01:00 UTC
(the same day in London).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from relational_support import actor, clock, engine, session

from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.assets import register
from wardlink.hub.services.contracts import register as contracts
from wardlink.hub.services.finance import ownership
from wardlink.hub.services.finance.depreciation import StraightLine, anniversary
from wardlink.hub.services.maintenance import workorder_costs, workorders
from wardlink.clock import ManualClock

D = Decimal


def _straight() -> StraightLine:
    # 10,000.00 bought on 1 July 2021, worth 1,000.00 after 5 years: 9,000.00 over the 1,826 days
    # from 1 July 2021 to 1 July 2026 (365 x 5 + 29 February 2024).
    return StraightLine(D("10000.00"), D("1000.00"), 5, date(2021, 7, 1))


def test_depreciation_accrues_by_the_day_across_partial_and_leap_years():
    line = _straight()
    assert line.end == date(2026, 7, 1) and line.per_year == D("1800.00")
    # 2021: 184 days (1 July - 31 December): 9000 x 184 / 1826 = 906.9003
    # 2022: accumulated 9000 x 549 / 1826 = 2705.9146 -> 2705.91, less 906.90
    # 2023: 9000 x 914 / 1826 = 4504.9288 -> 4504.93, less 2705.91
    # 2024 (366 days): 9000 x 1280 / 1826 = 6308.8719 -> 6308.87, less 4504.93
    # 2025: 9000 x 1645 / 1826 = 8107.8861 -> 8107.89, less 6308.87
    # 2026: the rest, 9000.00 - 8107.89
    assert [(y.year, y.depreciation) for y in line.schedule()] == [
        (2021, D("906.90")), (2022, D("1799.01")), (2023, D("1799.02")), (2024, D("1803.94")),
        (2025, D("1799.02")), (2026, D("892.11"))]
    assert sum(y.depreciation for y in line.schedule()) == D("9000.00")
    assert line.schedule()[0].opening == D("10000.00") and line.schedule()[-1].closing == D("1000.00")
    assert line.book_value(date(2021, 7, 1)) == D("10000.00")
    assert line.book_value(date(2026, 1, 1)) == D("1892.11")  # 10000 - 8107.89
    assert line.in_year(2020) == D("0.00") and line.in_year(2027) == D("0.00")


def test_the_book_value_never_falls_below_the_salvage_value():
    line = _straight()
    assert line.book_value(date(2026, 6, 30)) == D("1004.93")  # 9000 x 1825 / 1826 = 8995.07
    for day in (date(2026, 7, 1), date(2030, 1, 1), date(2099, 12, 31)):
        assert line.book_value(day) == D("1000.00")
    scrap = StraightLine(D("500.00"), D("0.00"), 1, date(2024, 2, 29))
    assert scrap.end == date(2025, 2, 28) and scrap.book_value(date(2025, 3, 1)) == D("0.00")
    assert anniversary(date(2024, 2, 29), -1) == date(2023, 2, 28)
    with pytest.raises(ValueError, match="salvage: must be between 0 and the cost 100.00"):
        StraightLine(D("100.00"), D("150.00"), 3, date(2024, 1, 1))
    with pytest.raises(ValueError, match="life_years: must be 1 or more"):
        StraightLine(D("100.00"), D("0.00"), 0, date(2024, 1, 1))


def test_the_register_takes_the_finance_fields_and_refuses_a_salvage_above_the_cost(session, clock):
    manager = actor(session, "manager")
    asset = register.update_asset(session, "VENT-0001", {"useful_life_years": "10", "salvage_value": "3500",
                                                         "replacement_cost": "42000.00"}, actor=manager, clock=clock)
    assert (asset.useful_life_years, asset.salvage_value, asset.replacement_cost) == (10, D("3500.00"), D("42000.00"))
    with pytest.raises(InvalidInput, match=r"salvage_value: must not be more than the purchase cost \(38500.00\)"):
        register.update_asset(session, "VENT-0001", {"salvage_value": "40000"}, actor=manager, clock=clock)
    with pytest.raises(InvalidInput, match="useful_life_years: must be a whole number 1..100, got '0'"):
        register.update_asset(session, "VENT-0001", {"useful_life_years": "0"}, actor=manager, clock=clock)


def _order(session, clock, kind: str, title: str, *, minutes: int, part: tuple[str, str] | None = None,
           charge: str | None = None) -> int:
    """Open an order on VENT-0001, assign it to the technician, who starts it, logs ``minutes``,
    records ``part`` (quantity, unit cost), and completes it; a vendor ``charge`` is added."""
    manager, tech = actor(session, "manager"), actor(session, "tech")
    order = workorders.create_work_order(session, {"kind": kind, "title": title, "asset_tag": "VENT-0001"},
                                         actor=manager, clock=clock)
    workorders.transition(session, order.id, "assigned", {"assignee_id": tech.user_id}, actor=manager, clock=clock)
    workorders.transition(session, order.id, "in_progress", {}, actor=tech, clock=clock)
    workorders.log_time(session, order.id, minutes=minutes, actor=tech, clock=clock)
    if part is not None:
        workorders.add_part(session, order.id, part_number="FS-200", description="Flow sensor", quantity=part[0],
                            unit_cost=part[1], actor=tech, clock=clock)
    if charge is not None:
        workorder_costs.add_charge(session, order.id, description="Field service visit", amount=charge,
                                   vendor="Hamilton Medical UK", actor=tech, clock=clock)
    outcome = "repaired" if kind == "corrective" else "as_planned"
    workorders.transition(session, order.id, "completed", {"resolution_category": outcome}, actor=tech, clock=clock)
    return order.id


@pytest.fixture
def costed(session, clock):
    """VENT-0001 (38,500.00 bought 2 April 2020) with a 10-year life down to 3,500.00, a new one at
    42,000.00; labour at 60.00 an hour for technicians; one repair in December 2024, and in
    January 2026 a repair and a planned service; a 4,800.00 contract for it and PM-0001."""
    manager = actor(session, "manager")
    register.update_asset(session, "VENT-0001", {"useful_life_years": 10, "salvage_value": "3500.00",
                                                 "replacement_cost": "42000.00"}, actor=manager, clock=clock)
    workorder_costs.set_rate(session, role="technician", hourly_rate="60.00", actor=manager, clock=clock)
    past = ManualClock(datetime(2024, 12, 2, 10, 0, tzinfo=UTC).timestamp())
    _order(session, past, "corrective", "Exhalation valve leak", minutes=60, charge="300.00")
    repair = _order(session, clock, "corrective", "Flow sensor fault", minutes=90, part=("2", "125.50"),
                    charge="1200.00")
    _order(session, clock, "pm", "Annual service", minutes=30)
    workorders.log_time(session, repair, minutes=15, actor=manager, clock=clock)  # no rate for managers
    contracts.create_contract(session, {"reference": "SC-1", "title": "Cover", "vendor_name": "Hamilton Medical UK",
                                        "starts_on": "2025-06-01", "ends_on": "2026-05-31", "cost": "4800.00",
                                        "asset_tags": ["VENT-0001", "PM-0001"]}, actor=manager, clock=clock)
    return repair


def test_the_cost_of_ownership_of_each_year_adds_up_as_computed_by_hand(session, clock, costed):
    found = ownership.asset_finance(session, "VENT-0001", actor=actor(session, "manager"), clock=clock)
    assert found.today == date(2026, 1, 1)
    # 35,000.00 over the 3,652 days from 2 April 2020 to 2 April 2030; 2,100 days to 1 January 2026:
    # 35000 x 2100 / 3652 = 20125.9584 -> book value 38500 - 20125.96
    assert found.book_value == D("18374.04")
    years = {y.year: y for y in found.years}
    assert sorted(years) == [2020, 2021, 2022, 2023, 2024, 2025, 2026]
    # 2024: the December repair, 60 min at 60.00 and a 300.00 call-out.
    assert (years[2024].labour, years[2024].vendor, years[2024].parts) == (D("60.00"), D("300.00"), D("0.00"))
    # The contract: 2,400.00 for each of its two assets over 365 days; 214 of them in 2025
    # (2400 x 214 / 365 = 1407.12) and 151 in 2026 (992.88).
    assert (years[2025].contracts, years[2026].contracts) == (D("1407.12"), D("992.88"))
    # 2026: parts 2 x 125.50; labour (90 + 30) min at 60.00 (the manager's 15 min have no rate);
    # the 1,200.00 charge; depreciation 35000 x 2465 / 3652 = 23624.04 less 20125.96 = 3498.08.
    y = years[2026]
    assert (y.parts, y.labour, y.vendor, y.depreciation) == (D("251.00"), D("120.00"), D("1200.00"), D("3498.08"))
    assert y.maintenance == D("2563.88") and y.total == D("6061.96")
    assert found.unpriced_minutes == 15 and not found.parts_unpriced
    assert sum(row.depreciation for row in found.years) == D("23624.04")


def test_repairs_of_the_last_12_months_flag_an_asset_at_the_configured_share(session, clock, costed):
    manager = actor(session, "manager")
    judged = ownership.asset_finance(session, "VENT-0001", actor=manager, clock=clock).repair
    # Only January's repair (the December 2024 one is 13 months old): 251 + 90 + 1200 = 1541.00,
    # 3.7 % of 42,000.00; flagged above 50 % (21,000.00): not flagged.
    assert (judged.since, judged.repairs, judged.orders, judged.share) == (date(2025, 1, 2), D("1541.00"), 1, D("3.7"))
    assert (judged.basis, judged.threshold, judged.flagged) == ("replacement_cost", D("21000.00"), False)
    strict = ownership.asset_finance(session, "VENT-0001", actor=manager, clock=clock, percent=3).repair
    assert (strict.threshold, strict.flagged) == (D("1260.00"), True)
    register.update_asset(session, "VENT-0001", {"replacement_cost": ""}, actor=manager, clock=clock)
    fallback = ownership.asset_finance(session, "VENT-0001", actor=manager, clock=clock, percent=3).repair
    assert (fallback.basis, fallback.replacement, fallback.threshold) == ("purchase_cost", D("38500.00"), D("1155.00"))


def test_finance_needs_the_figures_and_the_right_to_read_costs(session, clock):
    manager = actor(session, "manager")
    found = ownership.asset_finance(session, "ENV-ICU-1", actor=manager, clock=clock)
    assert found.depreciation is None and found.book_value is None
    assert found.missing == ("purchase_cost", "purchase_date", "useful_life_years")
    assert [y.year for y in found.years] == [2026] and found.years[0].total == D("0.00")
    from wardlink.hub.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match="may not view maintenance KPIs"):
        ownership.asset_finance(session, "VENT-0001", actor=actor(session, "tech"), clock=clock)

