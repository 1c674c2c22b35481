"""Deterministic signal generators that drive emulated physical quantities.

A signal is a function of the injected clock's wall time, so the same clock
reading always gives the same value: tests are repeatable and a demo replays.
Specs come from configuration, for example::

    {"mean": 21.0, "amplitude": 1.0, "period_s": 3600, "noise": 0.05}   # sine (default kind)
    {"kind": "square", "period_s": 300, "duty": 0.1}                   # door open 10 % of the time
    {"kind": "pulses", "rate_hz": 0.5}                                 # pulse count since start
    {"kind": "constant", "value": 4.5}
    {"kind": "manifold", "bank": "a", "flow_lpm": 20, "cylinders": 5}  # see wardlink.hardware.supply
    {"kind": "lox_tank", "capacity_l": 3000, "flow_lpm": 200}
"""

from __future__ import annotations

import math
import random
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass

from wardlink.hardware.errors import ConfigError
from wardlink.hardware.supply import BANKS, LoxTank, Manifold

Signal = Callable[[float], float]


def _noise(seed: int, name: str, t: float, sigma: float) -> float:
    """Return Gaussian noise that depends only on (seed, name, t to the millisecond)."""
    if sigma == 0:
        return 0.0
    # crc32 rather than hash(): str hashes are salted per process.
    key = zlib.crc32(f"{name}".encode() + struct.pack("<qq", seed, round(t * 1000)))
    return random.Random(key).gauss(0.0, sigma)


@dataclass(frozen=True)
class Sine:
    """mean + amplitude * sin(2 pi (t - origin + phase_s) / period_s) + seeded noise."""

    mean: float
    amplitude: float = 0.0
    period_s: float = 86400.0
    noise: float = 0.0
    phase_s: float = 0.0

    def __call__(self, t: float, *, origin: float, seed: int, name: str) -> float:
        angle = 2 * math.pi * (t - origin + self.phase_s) / self.period_s
        return self.mean + self.amplitude * math.sin(angle) + _noise(seed, name, t, self.noise)


@dataclass(frozen=True)
class Square:
    """``high`` during the last ``duty`` fraction of every period, ``low`` otherwise."""

    period_s: float
    duty: float = 0.5
    low: float = 0.0
    high: float = 1.0
    phase_s: float = 0.0

    def __call__(self, t: float, *, origin: float, seed: int, name: str) -> float:
        # Active at the end of the period, so an emulated door starts closed.
        phase = ((t - origin + self.phase_s) % self.period_s) / self.period_s
        return self.high if phase >= 1.0 - self.duty else self.low


@dataclass(frozen=True)
class Pulses:
    """Number of pulses since the origin at a steady ``rate_hz``."""

    rate_hz: float

    def __call__(self, t: float, *, origin: float, seed: int, name: str) -> float:
        return float(math.floor(max(0.0, t - origin) * self.rate_hz))


@dataclass(frozen=True)
class Constant:
    """A fixed value."""

    value: float

    def __call__(self, t: float, *, origin: float, seed: int, name: str) -> float:
        return self.value


# kind -> (class, {field: (minimum, exclusive)}); fields are the dataclass fields.
KINDS: dict[str, tuple[type, dict[str, tuple[float, bool]]]] = {
    "sine": (Sine, {"period_s": (0.0, True), "noise": (0.0, False)}),
    "square": (Square, {"period_s": (0.0, True), "duty": (0.0, False)}),
    "pulses": (Pulses, {"rate_hz": (0.0, False)}),
    "constant": (Constant, {}),
    "manifold": (Manifold, {"flow_lpm": (0.0, False), "cylinders": (0.0, True), "water_l": (0.0, True),
                            "fill_bar": (0.0, True), "changeover_bar": (0.0, True), "start_bar": (0.0, False),
                            "replace_after_s": (0.0, False)}),
    "lox_tank": (LoxTank, {"capacity_l": (0.0, True), "flow_lpm": (0.0, False), "refill_at_percent": (0.0, False)}),
}
#: kind -> {field: allowed words}: the fields that take a word rather than a number.
WORDS: dict[str, dict[str, tuple[str, ...]]] = {"manifold": {"bank": BANKS, "start_bank": BANKS}}


def build(spec: Mapping, *, name: str, seed: int, origin: float) -> Signal:
    """Return a signal function ``t -> value`` for ``spec``; raise ConfigError naming the key."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"emulate.{name}: must be a mapping, got {spec!r}")
    kind = spec.get("kind", "sine")
    if kind not in KINDS:
        raise ConfigError(f"emulate.{name}.kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    cls, minima = KINDS[kind]
    fields = cls.__dataclass_fields__
    values: dict[str, float | str] = {}
    for key, value in spec.items():
        if key == "kind":
            continue
        if key not in fields:
            raise ConfigError(
                f"emulate.{name}.{key}: unknown for kind {kind!r}; allowed: {', '.join(fields)}"
            )
        words = WORDS.get(kind, {}).get(key)
        if words is not None:
            if value not in words:
                raise ConfigError(f"emulate.{name}.{key}: must be one of {', '.join(words)}, got {value!r}")
            values[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"emulate.{name}.{key}: must be a number, got {value!r}")
        low = minima.get(key)
        if low is not None and (value <= low[0] if low[1] else value < low[0]):
            relation = ">" if low[1] else ">="
            raise ConfigError(f"emulate.{name}.{key}: must be {relation} {low[0]:g}, got {value!r}")
        values[key] = float(value)
    missing = [f for f, d in fields.items() if d.default is MISSING and f not in values]
    if missing:
        raise ConfigError(f"emulate.{name}.{missing[0]}: required for kind {kind!r}")
    if kind == "square" and values.get("duty", 0.5) > 1:
        raise ConfigError(f"emulate.{name}.duty: must be <= 1, got {values['duty']!r}")
    try:
        generator = cls(**values)
    except ValueError as exc:  # a rule across fields, worded "field: must ..."
        raise ConfigError(f"emulate.{name}.{exc}") from None

    def signal(t: float) -> float:
        """Return the signal's value at wall time ``t``."""
        return generator(t, origin=origin, seed=seed, name=name)

    signal.generator = generator  # type: ignore[attr-defined]
    return signal
