"""Pulse counters: meter pulses driven onto mock pins become totals and rates."""

import pytest

from wardlink.hardware import registry
from wardlink.hardware.errors import ConfigError, NotModelledError

METER = {"pin": 27, "per_pulse": 0.001, "unit": "kWh"}  # 1000 imp/kWh S0 meter


def test_total_and_rate_follow_the_pulse_signal(backend, clock):
    emulate = {"pulses": {"kind": "pulses", "rate_hz": 0.5}}
    with registry.open_device("pulse_counter", METER, backend, emulate=emulate) as meter:
        assert meter.read() == {"total": 0.0, "rate": 0.0}
        clock.advance(3600)
        values = meter.read()
        assert meter.quantities == {"total": "kWh", "rate": "kWh/h"}
    assert values["total"] == pytest.approx(1.8)  # 1800 pulses x 0.001 kWh
    assert values["rate"] == pytest.approx(1.8)  # kWh per hour


def test_each_pulse_is_one_falling_edge_on_an_open_collector_output(backend):
    with registry.open_device("pulse_counter", METER, backend) as meter:
        line = backend.emulator(meter)
        line.pulses = 3
        meter.read()
        assert meter.count == 3
        pin = backend.pin_factory().pin("GPIO27")
        assert [state.state for state in pin.states[-6:]] == [False, True, False, True, False, True]


def test_rate_per_minute_in_litres(backend, clock):
    params = {"pin": 4, "per_pulse": 0.5, "unit": "L", "rate_per": "min", "active_high": True, "pull": "down"}
    with registry.open_device("pulse_counter", params, backend) as meter:
        meter.read()
        backend.emulator(meter).pulses = 40
        clock.advance(120)
        assert meter.read() == pytest.approx({"total": 20.0, "rate": 10.0})


def test_stuck_meter_stops_counting(backend, clock):
    emulate = {"pulses": {"kind": "pulses", "rate_hz": 1}}
    with registry.open_device("pulse_counter", METER, backend, emulate=emulate) as meter:
        clock.advance(10)
        meter.read()
        backend.emulator(meter).stuck = True
        clock.advance(10)
        assert meter.read()["rate"] == 0.0


def test_absurd_pulse_rates_are_refused_rather_than_lagging(backend, clock):
    emulate = {"pulses": {"kind": "pulses", "rate_hz": 1000}}
    with registry.open_device("pulse_counter", METER, backend, emulate=emulate) as meter:
        clock.advance(3600)
        with pytest.raises(NotModelledError):
            meter.read()


def test_emulate_may_name_the_total_in_units(backend, clock):
    emulate = {"total": {"kind": "pulses", "rate_hz": 0.001}}  # 0.001 kWh/s of "total" signal
    with registry.open_device("pulse_counter", METER, backend, emulate=emulate) as meter:
        clock.advance(3600)
        assert meter.read()["total"] == pytest.approx(3.0)  # floor(0.001 x 3600) whole kWh


def test_emulate_may_give_a_constant_rate_in_units_per_hour(backend, clock):
    emulate = {"rate": {"kind": "constant", "value": 2.4}}  # 2.4 kWh/h = 2400 pulses/h
    with registry.open_device("pulse_counter", METER, backend, emulate=emulate) as meter:
        meter.read()
        clock.advance(1800)
        assert meter.read() == pytest.approx({"total": 1.2, "rate": 2.4})


def test_emulate_rate_must_be_constant(backend):
    with pytest.raises(ConfigError, match="emulate.rate: must be"):
        registry.open_device("pulse_counter", METER, backend, emulate={"rate": {"mean": 2.4}})
