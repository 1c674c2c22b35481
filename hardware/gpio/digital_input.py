"""A contact on a GPIO pin: door or reed switch, alarm panel relay output.

``state`` is 1 when the contact is in its *active* condition. Door contacts are
usually a reed switch to ground with the pull-up on: the magnet holds the switch
closed (line low) while the door is shut, so ``active_high=True`` reads 1 = open.
"""

from __future__ import annotations

from collections.abc import Callable

from wardlink.hardware.device import Device
from wardlink.hardware.emulation import ChipEmulator, Physical
from wardlink.hardware.errors import NotModelledError
from wardlink.hardware.gpio.pins import line_pin, open_contact


class DigitalInput(Device):
    """Polled state of a contact, with optional change callbacks."""

    driver = "digital_input"
    quantities = {"state": "bool"}

    def __init__(self, pin: str, *, pin_factory, pull: str = "up", active_high: bool = True,
                 bounce_s: float = 0.05) -> None:
        super().__init__(f"digital_input {pin}")
        self._input, self._inverted = open_contact(pin, pin_factory=pin_factory, pull=pull,
                                                   active_high=active_high, bounce_s=bounce_s)
        self.active_high = active_high
        self._callback: Callable[[bool], None] | None = None

    @property
    def is_active(self) -> bool:
        """True when the contact is in its active condition (line level matches active_high)."""
        self._check_open()
        return bool(self._input.pin.state) == self.active_high

    def _read(self) -> dict[str, float]:
        return {"state": float(self.is_active)}

    @property
    def when_changed(self) -> Callable[[bool], None] | None:
        """Callback ``f(is_active)`` run on every debounced change of state."""
        return self._callback

    @when_changed.setter
    def when_changed(self, callback: Callable[[bool], None] | None) -> None:
        """Set the callback (None removes it)."""
        self._callback = callback
        if callback is None:
            self._input.when_activated = self._input.when_deactivated = None
            return
        rising, falling = (lambda: callback(True)), (lambda: callback(False))
        if self._inverted:
            rising, falling = falling, rising
        self._input.when_activated, self._input.when_deactivated = rising, falling

    def _close(self) -> None:
        self._input.close()


class DigitalInputEmulator(ChipEmulator):
    """The contact behind an emulated pin: drives the line from ``state``.

    Fault ``open_circuit``: a cut wire leaves the line at its pull level.
    """

    FAULTS = frozenset({"open_circuit"})
    state = Physical(0.0, "bool")

    def __init__(self, clock, *, active_high: bool, pull: str) -> None:
        super().__init__(clock)
        self.active_high = active_high
        self.pull = pull
        self.pin = None

    def level(self) -> bool:
        """Return the electrical level the line has now."""
        if self.is_faulted("open_circuit"):
            if self.pull == "none":
                raise NotModelledError("a floating input with no pull reads noise; not modelled")
            return self.pull == "up"
        return bool(round(self.state)) == self.active_high

    def sync(self, pin) -> None:
        """Drive ``pin`` to the current level (firing edge callbacks on a change)."""
        pin.drive_high() if self.level() else pin.drive_low()


def open_device(params: dict, backend) -> DigitalInput:
    """Open a contact input on the backend's pin factory."""
    return DigitalInput(
        params["pin"],
        pin_factory=backend.pin_factory(),
        pull=params["pull"],
        active_high=params["active_high"],
        bounce_s=params["bounce_s"],
    )


def install_emulator(backend, params: dict) -> DigitalInputEmulator:
    """Wire an emulated contact to the pin (reusing one already there)."""
    pin = line_pin(backend.pin_factory(), params["pin"])
    if not isinstance(pin.emulator, DigitalInputEmulator):
        pin.emulator = DigitalInputEmulator(
            backend.bus_clock, active_high=params["active_high"], pull=params["pull"]
        )
        pin.emulator.pin = pin
    return pin.emulator
