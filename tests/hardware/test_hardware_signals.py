"""Signal generators: deterministic functions of the clock."""

import math

import pytest

from wardlink.hardware.errors import ConfigError
from wardlink.hardware.signals import build


def make(spec, seed=1, origin=1000.0):
    return build(spec, name="q", seed=seed, origin=origin)


def test_sine_starts_at_the_mean_and_peaks_a_quarter_period_later():
    signal = make({"mean": 21.0, "amplitude": 1.0, "period_s": 3600})
    assert signal(1000.0) == pytest.approx(21.0)
    assert signal(1900.0) == pytest.approx(22.0)
    assert signal(2800.0) == pytest.approx(21.0, abs=1e-9)


def test_noise_depends_only_on_seed_name_and_time():
    spec = {"mean": 0.0, "noise": 1.0}
    a, b, other_seed = make(spec), make(spec), make(spec, seed=2)
    assert a(1234.5) == b(1234.5)
    assert a(1234.5) != other_seed(1234.5)
    samples = [a(1000.0 + i) for i in range(2000)]
    mean = sum(samples) / len(samples)
    sd = math.sqrt(sum((s - mean) ** 2 for s in samples) / len(samples))
    assert abs(mean) < 0.1 and 0.9 < sd < 1.1


def test_square_is_high_for_the_last_duty_fraction_of_each_period():
    signal = make({"kind": "square", "period_s": 100, "duty": 0.25})
    assert [signal(1000.0 + t) for t in (0, 50, 74, 75, 99, 100)] == [0, 0, 0, 1, 1, 0]


def test_pulses_count_whole_pulses_since_the_origin():
    signal = make({"kind": "pulses", "rate_hz": 0.5})
    assert [signal(1000.0 + t) for t in (-5, 0, 1.9, 2, 3601)] == [0, 0, 0, 1, 1800]


def test_constant():
    assert make({"kind": "constant", "value": 4.5})(0.0) == 4.5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "triangle"}, "emulate.q.kind: must be one of sine, square, pulses, constant"),
        ({"amplitude": 1}, "emulate.q.mean: required for kind 'sine'"),
        ({"mean": 1, "period": 60}, "emulate.q.period: unknown for kind 'sine'"),
        ({"mean": "warm"}, "emulate.q.mean: must be a number"),
        ({"kind": "square", "period_s": 10, "duty": 1.5}, "emulate.q.duty: must be <= 1"),
        ({"kind": "pulses", "rate_hz": -1}, "emulate.q.rate_hz: must be >= 0"),
    ],
)
def test_bad_specs_name_the_key(spec, message):
    with pytest.raises(ConfigError, match=message):
        make(spec)
