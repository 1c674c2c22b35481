"""Pin factories: gpiozero's default on a Pi, its mock factory when emulated.

Emulated inputs use :class:`LinePin`, a gpiozero mock pin whose level belongs to an
emulator: every time a driver samples the pin, the emulator first drives it to the
level its signal has at the injected clock's current time (``drive_high`` /
``drive_low``, which fire gpiozero's edge callbacks as a real edge would).
"""

from __future__ import annotations

import errno
from contextlib import contextmanager

from gpiozero import DigitalInputDevice
from gpiozero.exc import BadPinFactory, GPIOZeroError
from gpiozero.pins.mock import MockFactory, MockPin

from wardlink.hardware.errors import BusError, ConfigError

#: Mock pins record every change; keep the history bounded for long emulated runs.
HISTORY = 1000


class LinePin(MockPin):
    """A mock input pin whose level an emulator owns."""

    def __init__(self, factory, info) -> None:
        super().__init__(factory, info)
        self.emulator = None

    def _get_state(self):
        if self.emulator is not None and self._function == "input":
            self.emulator.sync(self)
        return super()._get_state()

    def _change_state(self, value):
        changed = super()._change_state(value)
        if len(self.states) > HISTORY:
            del self.states[: len(self.states) - HISTORY]
        return changed


class EmulatedPinFactory(MockFactory):
    """gpiozero's mock factory (a Raspberry Pi 3B header by default)."""


def open_real(backend, key):
    """Return gpiozero's default pin factory (shared, so the backend does not close it)."""
    from gpiozero import Device as GpioDevice

    try:
        GpioDevice.ensure_pin_factory()
    except BadPinFactory as exc:
        raise BusError(errno.ENODEV, f"gpio: no usable pin factory on this machine: {exc}") from exc
    return GpioDevice.pin_factory, None


def open_emulated(backend, key) -> EmulatedPinFactory:
    """Return a fresh mock pin factory for this backend."""
    return EmulatedPinFactory()


def line_pin(factory, pin: str) -> LinePin:
    """Return the emulated input pin ``pin``; raise ConfigError if it is taken or invalid."""
    with gpio_errors(pin):
        found = factory.pin(pin, pin_class=LinePin)
    if not isinstance(found, LinePin):
        raise ConfigError(f"pin: {pin} is already used by another emulated device")
    return found


@contextmanager
def gpio_errors(pin: str):
    """Turn gpiozero's exceptions about ``pin`` into ConfigError or BusError."""
    try:
        yield
    except BadPinFactory as exc:
        raise BusError(errno.ENODEV, f"gpio: no usable pin factory: {exc}") from exc
    except GPIOZeroError as exc:
        raise ConfigError(f"pin: {pin}: {exc}") from exc


PULL_UP = {"up": True, "down": False, "none": None}


def open_contact(pin: str, *, pin_factory, pull: str, active_high: bool, bounce_s: float):
    """Open ``pin`` as a gpiozero input for a contact and return ``(device, inverted)``.

    gpiozero takes an active state only for floating pins and treats a pulled-up pin as
    active-low, a pulled-down one as active-high; ``inverted`` is True when that differs from
    the contact's ``active_high``, so the caller applies the polarity itself (a pulled-up
    contact can still be active-high).
    """
    pull_up = PULL_UP[pull]
    with gpio_errors(pin):
        device = DigitalInputDevice(
            pin,
            pull_up=pull_up,
            active_state=active_high if pull_up is None else None,
            bounce_time=bounce_s or None,
            pin_factory=pin_factory,
        )
    gpiozero_active_high = active_high if pull_up is None else not pull_up
    return device, gpiozero_active_high != active_high
