"""Pulse output of a meter on a GPIO pin: S0 energy meters, water and gas meters.

Each active edge is one pulse worth ``per_pulse`` units (0.001 kWh for a
1000 imp/kWh meter). ``total`` is the count since the device was opened times
``per_pulse``; ``rate`` is the mean rate between the last two reads.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from wardlink.hardware import signals
from wardlink.hardware.device import Device
from wardlink.hardware.emulation import ChipEmulator, Physical
from wardlink.hardware.errors import ConfigError, NotModelledError
from wardlink.hardware.gpio.pins import line_pin, open_contact

#: rate_per -> seconds in that unit.
RATE_SECONDS = {"s": 1.0, "min": 60.0, "h": 3600.0}
#: Above this many pulses between two samples the emulator refuses rather than lag.
MAX_EMULATED_PULSES = 100_000


class PulseCounter(Device):
    """Counts active edges in gpiozero's callback thread; reads are cheap."""

    driver = "pulse_counter"

    def __init__(self, pin: str, *, pin_factory, clock, pull: str = "up", active_high: bool = False,
                 bounce_s: float = 0.01, per_pulse: float = 1.0, unit: str = "pulse",
                 rate_per: str = "h") -> None:
        super().__init__(f"pulse_counter {pin}")
        self._input, inverted = open_contact(pin, pin_factory=pin_factory, pull=pull,
                                             active_high=active_high, bounce_s=bounce_s)
        # Count on gpiozero's activation, or on its deactivation when polarities differ.
        edge = "when_deactivated" if inverted else "when_activated"
        setattr(self._input, edge, self._pulse)
        self.clock = clock
        self.per_pulse = per_pulse
        self.rate_seconds = RATE_SECONDS[rate_per]
        self.quantities = {"total": unit, "rate": f"{unit}/{rate_per}"}
        self._count = 0
        self._lock = threading.Lock()
        self._last = (clock.monotonic(), 0)

    def _pulse(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        """Pulses counted since the device was opened."""
        return self._count

    def _read(self) -> dict[str, float]:
        # Sampling the line costs one register read on a Pi; on an emulated pin it lets
        # the meter deliver the pulses due by now before we look at the count.
        _ = self._input.pin.state
        now = self.clock.monotonic()
        with self._lock:
            count = self._count
        then, before = self._last
        self._last = (now, count)
        elapsed = now - then
        rate = (count - before) * self.per_pulse * self.rate_seconds / elapsed if elapsed > 0 else 0.0
        return {"total": count * self.per_pulse, "rate": rate}

    def _close(self) -> None:
        self._input.close()


class PulseMeterEmulator(ChipEmulator):
    """A meter's pulse output: drives one pulse per unit increase of ``pulses``.

    ``pulses`` is the meter's own count (a signal of kind ``pulses`` or a value a
    test sets). ``emulate`` may also name the driver's quantities: ``total`` (a signal
    in units, divided by ``per_pulse``) or ``rate`` (kind ``constant``, in units per
    ``rate_per``). A meter that stops pulsing is the ``stuck`` property.
    """

    pulses = Physical(0.0, "pulse")

    def __init__(self, clock, *, active_high: bool, per_pulse: float = 1.0, rate_seconds: float = 3600.0) -> None:
        super().__init__(clock)
        self.active_high = active_high
        self.per_pulse = per_pulse
        self.rate_seconds = rate_seconds
        self.delivered = 0

    def attach_signals(self, spec: Mapping | None, *, seed: int) -> None:
        """Accept ``pulses``, ``total`` (in units) or a constant ``rate`` (units per rate_per)."""
        spec = dict(spec or {})
        if len({"pulses", "total", "rate"} & set(spec)) > 1:
            raise ConfigError("emulate: give only one of pulses, total, rate for a pulse counter")
        if "rate" in spec:
            rate = spec.pop("rate")
            if not isinstance(rate, Mapping) or rate.get("kind") != "constant":
                raise ConfigError("emulate.rate: must be {kind: constant, value: <units per rate_per>}")
            value = signals.build(rate, name="rate", seed=seed, origin=0.0)(0.0)
            spec["pulses"] = {"kind": "pulses", "rate_hz": value / self.per_pulse / self.rate_seconds}
        if "total" in spec:
            origin = self.clock.now()
            units = signals.build(spec.pop("total"), name="total", seed=seed, origin=origin)
            self._signals["pulses"] = lambda t: units(t) / self.per_pulse
        super().attach_signals(spec, seed=seed)

    def sync(self, pin) -> None:
        """Drive the pulses due since the last sample as edge pairs on ``pin``."""
        due = int(self.pulses) - self.delivered
        if due > MAX_EMULATED_PULSES:
            raise NotModelledError(f"{due} pulses between two samples; emulation stops at {MAX_EMULATED_PULSES}")
        active, idle = (pin.drive_high, pin.drive_low) if self.active_high else (pin.drive_low, pin.drive_high)
        idle()
        for _ in range(max(0, due)):
            active()
            idle()
        self.delivered = int(self.pulses)


def open_device(params: dict, backend) -> PulseCounter:
    """Open a pulse counter on the backend's pin factory."""
    return PulseCounter(
        params["pin"],
        pin_factory=backend.pin_factory(),
        clock=backend.bus_clock,
        pull=params["pull"],
        active_high=params["active_high"],
        bounce_s=params["bounce_s"],
        per_pulse=params["per_pulse"],
        unit=params["unit"],
        rate_per=params["rate_per"],
    )


def install_emulator(backend, params: dict) -> PulseMeterEmulator:
    """Wire an emulated meter output to the pin (reusing one already there)."""
    pin = line_pin(backend.pin_factory(), params["pin"])
    if not isinstance(pin.emulator, PulseMeterEmulator):
        pin.emulator = PulseMeterEmulator(
            backend.bus_clock, active_high=params["active_high"], per_pulse=params["per_pulse"],
            rate_seconds=RATE_SECONDS[params["rate_per"]],
        )
    return pin.emulator
