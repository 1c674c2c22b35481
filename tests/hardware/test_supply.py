"""Oxygen supply models: a two-bank cylinder manifold and a liquid-oxygen tank, read through the ADS1115."""

from __future__ import annotations

import pytest

from wardlink.hardware import registry, signals
from wardlink.hardware.errors import ConfigError
from wardlink.hardware.supply import ATM_BAR, LOX_EXPANSION, LoxTank, Manifold

# 5 cylinders of 50 L water capacity per bank at 200 bar hold 5 x 50 x 200 / 1.01325 = 49,346 L of gas.
BANK = {"cylinders": 5, "water_l": 50, "fill_bar": 200, "changeover_bar": 10, "flow_lpm": 20}
BANK_S = (200 - 10) * 5 * 50 / ATM_BAR / 20 * 60  # 140,637 s: a full bank lasts about 39 hours


def test_a_full_bank_falls_by_the_gas_drawn_over_its_water_capacity():
    model = Manifold(bank="a", **BANK)
    assert model.bank_s == pytest.approx(BANK_S)
    hour = model.pressures(3600)
    # 1,200 L drawn in an hour from 250 L of water capacity: 1200 x 1.01325 / 250 = 4.8636 bar.
    assert hour == pytest.approx({"a": 200 - 4.8636, "b": 200.0}, abs=1e-4)


def test_the_manifold_changes_over_at_the_changeover_pressure_and_the_emptied_bank_is_replaced():
    model = Manifold(bank="a", start_bar=50, replace_after_s=3600, **BANK)
    first = (50 - 10) * 250 / ATM_BAR / 20 * 60
    assert model.changeovers(first + BANK_S + 1) == pytest.approx([first, first + BANK_S])
    assert model.pressures(first - 60) == pytest.approx({"a": 10 + 20 * ATM_BAR / 250, "b": 200})
    assert model.pressures(first + 60) == pytest.approx({"a": 10, "b": 200 - 20 * ATM_BAR / 250})
    assert model.pressures(first + 3599)["a"] == 10, "the emptied bank waits for its new cylinders"
    assert model.pressures(first + 3600)["a"] == 200, "then it is the full reserve"
    assert model.pressures(first + BANK_S + 60) == pytest.approx({"a": 200 - 20 * ATM_BAR / 250, "b": 10})


def test_without_replacement_the_reserve_runs_down_to_nothing():
    model = Manifold(bank="b", start_bar=20, replace_after_s=0, **BANK)
    first = 10 * 250 / ATM_BAR / 20 * 60
    assert model.changeovers(10 * BANK_S) == pytest.approx([first])
    assert model.pressures(first + BANK_S) == pytest.approx({"a": 10, "b": 10})
    assert model.pressures(first + 2 * BANK_S) == {"a": 10, "b": 0.0}


def test_a_lox_tank_level_falls_by_the_liquid_drawn_and_a_delivery_refills_it():
    tank = LoxTank(capacity_l=3000, flow_lpm=200, start_percent=50, refill_at_percent=20, refill_to_percent=90)
    per_day = 200 * 1440 / LOX_EXPANSION / 3000 * 100  # 11.15 % a day
    assert tank.level(86400) == pytest.approx(50 - per_day)
    at_refill = 30 / per_day * 86400
    assert tank.level(at_refill - 1) == pytest.approx(20, abs=0.001)
    assert tank.level(at_refill + 1) == pytest.approx(90, abs=0.001)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "manifold", "flow_lpm": 20}, "emulate.pressure.bank: required"),
        ({"kind": "manifold", "bank": "c", "flow_lpm": 20}, "emulate.pressure.bank: must be one of a, b"),
        ({"kind": "manifold", "bank": "a", "flow_lpm": 20, "replace_after_s": 200000},
         r"emulate.pressure.replace_after_s: must be shorter than a full bank lasts at flow_lpm \(140637 s\)"),
        ({"kind": "manifold", "bank": "a", "flow_lpm": 20, "changeover_bar": 250},
         "emulate.pressure.changeover_bar: must be below fill_bar"),
        ({"kind": "manifold", "bank": "a", "flow_lpm": -1}, "emulate.pressure.flow_lpm: must be >= 0"),
        ({"kind": "lox_tank", "capacity_l": 3000, "flow_lpm": 100, "start_percent": 120},
         "emulate.pressure.start_percent: must be within 0..100"),
    ],
)
def test_supply_models_refuse_impossible_settings_naming_the_key(spec, message):
    with pytest.raises(ConfigError, match=message):
        signals.build(spec, name="pressure", seed=0, origin=0.0)


PRESSURE = {"transducer": "0.5-4.5V", "fsr_v": 6.144, "scale_to": [0, 250], "quantity": "pressure", "unit": "bar"}


def test_two_bank_transducers_on_one_adc_see_the_changeover(backend, clock):
    common = {"kind": "manifold", "start_bar": 10.5, **BANK}
    with registry.open_device("ads1115", {**PRESSURE, "channel": "a0"}, backend,
                              emulate={"pressure": {**common, "bank": "a"}}) as bank_a, \
            registry.open_device("ads1115", {**PRESSURE, "channel": "a1"}, backend,
                                 emulate={"pressure": {**common, "bank": "b"}}) as bank_b:
        before = bank_a.read()["pressure"], bank_b.read()["pressure"]
        clock.advance(0.5 / (20 * ATM_BAR / 250) * 60 + 60)  # a minute past the changeover
        after = bank_a.read()["pressure"], bank_b.read()["pressure"]
    # 250 bar over 4 V at 187.5 uV per code: 0.0117 bar per code.
    assert before == pytest.approx((10.5, 200.0), abs=0.02)
    assert after == pytest.approx((10.0, 200 - 20 * ATM_BAR / 250), abs=0.02)
