"""Reading a two-bank manifold from its bank pressures: changeovers, replacements, flow and episodes.

The readings come from the hardware package's manifold model, quantised as the ADS1115 reads a
0-250 bar transducer (0.0117 bar a code), one reading a minute per bank.
"""

from __future__ import annotations

import pytest

from wardlink.hardware.supply import ATM_BAR, Manifold
from wardlink.hub.services.manifolds import detection
from wardlink.hub.services.manifolds.detection import Changeover, Replaced, ReserveLow, ReserveRestored

CODE_BAR = 250 / (4 / 0.0001875)
BANK_L = 5 * 50 * 200 / ATM_BAR
SETTINGS = detection.Settings(BANK_L, 200, 10, 36)
MODEL = {"cylinders": 5, "water_l": 50, "fill_bar": 200, "changeover_bar": 10, "flow_lpm": 20.0, "start_bar": 60}


def readings(model: Manifold, minutes: int, creep_bar_per_min: float = 0.0) -> list[tuple[str, int, float]]:
    out = []
    for minute in range(minutes):
        pressures = model.pressures(minute * 60)
        for bank in "ab":
            value = pressures[bank]
            if creep_bar_per_min and value == model.changeover_bar:
                value -= creep_bar_per_min * (minute % 30)  # an emptied bank that creeps and recovers
            out.append((bank, minute * 60_000, round(value / CODE_BAR) * CODE_BAR))
    return out


def test_each_changeover_is_found_where_it_happened_with_the_gas_each_bank_gave():
    model = Manifold(bank="a", replace_after_s=4 * 3600, **MODEL)
    state, events = detection.track(None, readings(model, 3 * 1440), SETTINGS)
    changeovers = [e for e in events if isinstance(e, Changeover)]
    truth = model.changeovers(3 * 86400)
    assert [c.bank for c in changeovers] == ["a", "b"]
    assert [c.at_ms / 1000 for c in changeovers] == pytest.approx(truth, abs=60)
    assert changeovers[0].litres == pytest.approx(BANK_L * 50 / 200, rel=0.005)
    assert changeovers[1].litres == pytest.approx(BANK_L * 190 / 200, rel=0.005)
    assert [e.bank for e in events if isinstance(e, Replaced)] == ["a", "b"]
    assert detection.flow_lpm(state) == pytest.approx(20.0, rel=0.01)
    assert detection.drawn_now(state, SETTINGS) == pytest.approx(20.0 * (3 * 1440 - 1), rel=0.005)


def test_a_reserve_low_episode_starts_once_and_ends_when_the_empty_bank_is_replaced():
    model = Manifold(bank="a", replace_after_s=4 * 3600, **MODEL)
    _, events = detection.track(None, readings(model, 3 * 1440), SETTINGS)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Changeover", "ReserveLow", "Replaced", "ReserveRestored"] * 2
    low = [e for e in events if isinstance(e, ReserveLow)]
    # 36 h at 20 L/min is 43,200 L: bank B (at 10 bar the rest is unusable) is down to 185.1 bar.
    drop_min = (200 - 10 - 36 * 60 * 20 / (BANK_L / 200)) / (20 * ATM_BAR / 250)
    assert low[0].at_ms / 60_000 == pytest.approx(model.changeovers(86400)[0] / 60 + drop_min, abs=2)
    assert all(isinstance(e, ReserveRestored) for e in events[3::4])


def test_batches_of_any_size_give_the_same_changeovers_as_one_run():
    model = Manifold(bank="a", replace_after_s=4 * 3600, **MODEL)
    stream = readings(model, 2 * 1440)
    whole = detection.track(None, stream, SETTINGS)
    state, pieces = None, []
    for start in range(0, len(stream), 333):
        state, events = detection.track(state, stream[start:start + 333], SETTINGS)
        pieces += events
    assert pieces == whole[1]
    assert state == whole[0]


def test_an_emptied_bank_creeping_down_is_never_taken_for_the_bank_in_use():
    model = Manifold(bank="a", replace_after_s=0, **MODEL)
    _, events = detection.track(None, readings(model, 40 * 60, creep_bar_per_min=0.2), SETTINGS)
    assert [type(e).__name__ for e in events] == ["Changeover", "ReserveLow"]


def test_without_a_replacement_the_episode_lasts_while_the_reserve_runs_down():
    model = Manifold(bank="a", replace_after_s=0, **MODEL)
    state, events = detection.track(None, readings(model, 52 * 60), SETTINGS)
    assert [type(e).__name__ for e in events] == ["Changeover", "ReserveLow"]
    assert detection.reserve_in_use(state)
    # At 52 h bank B has run for about 41.7 h of its 39: it is past its changeover pressure.
    assert detection.remaining_l(state, SETTINGS) == 0.0
    assert detection.hours_left(state, SETTINGS) == 0.0


def test_no_flow_means_no_bank_in_use_and_no_time_to_empty():
    model = Manifold(bank="a", **{**MODEL, "flow_lpm": 0.0})
    state, events = detection.track(None, readings(model, 600), SETTINGS)
    assert events == [] and state["active"] is None
    assert detection.hours_left(state, SETTINGS) is None
